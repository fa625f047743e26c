//! Reading the replica: lookups for the decision engine (plate, container,
//! e-tag, pass), the staging status and the record counts.

use std::collections::HashSet;

use gate_core::view::{LookupKeys, WhitelistView};
use gate_proto::messages::{Control, Enterprise, GatePass, TargetKind, Vehicle};
use rusqlite::types::Type;
use rusqlite::{params, Row, Transaction};

use crate::codec::{normalize_key, TextEnum};
use crate::error::{Ctx, Result};

use super::{current_version, i64_of, read_stage, split_containers, u64_of, StagingStatus};

// ------------------------------------------------------------------ lookup

macro_rules! select_passes {
    ($where:literal) => {
        concat!(
            "SELECT id, pass_no, status, kind, plate, etag, trailer_plate, containers, ",
            "declared_total_kg, enterprise, goods_category, va_code, valid_from, valid_until, ",
            "uses, eseal FROM passes WHERE ",
            $where
        )
    };
}

pub(super) fn bad(idx: usize, what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        Type::Text,
        format!("unknown {what} `{v}`").into(),
    )
}

fn enum_col<T: TextEnum>(r: &Row<'_>, idx: usize, what: &str) -> rusqlite::Result<T> {
    let s: String = r.get(idx)?;
    T::from_text(&s).ok_or_else(|| bad(idx, what, &s))
}

fn opt_enum_col<T: TextEnum>(r: &Row<'_>, idx: usize, what: &str) -> rusqlite::Result<Option<T>> {
    match r.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(s) => T::from_text(&s).map(Some).ok_or_else(|| bad(idx, what, &s)),
    }
}

fn pass_of(r: &Row<'_>) -> rusqlite::Result<(i64, GatePass)> {
    let containers = split_containers(&r.get::<_, String>(7)?);
    Ok((
        r.get(0)?,
        GatePass {
            pass_no: r.get(1)?,
            status: enum_col(r, 2, "pass status")?,
            kind: enum_col(r, 3, "pass kind")?,
            plate: r.get(4)?,
            etag: r.get(5)?,
            trailer_plate: r.get(6)?,
            containers,
            declared_total_kg: r.get(8)?,
            enterprise: r.get(9)?,
            goods_category: opt_enum_col(r, 10, "goods category")?,
            va_code: r.get(11)?,
            valid_from: r.get(12)?,
            valid_until: r.get(13)?,
            uses: enum_col(r, 14, "pass uses")?,
            eseal: r.get(15)?,
        },
    ))
}

fn vehicle_of(r: &Row<'_>) -> rusqlite::Result<(i64, Vehicle)> {
    Ok((
        r.get(0)?,
        Vehicle {
            plate: r.get(1)?,
            plate_colour: opt_enum_col(r, 2, "plate colour")?,
            etag: r.get(3)?,
            tare_kg: r.get(4)?,
            enterprise: r.get(5)?,
            credit: opt_enum_col(r, 6, "credit")?,
        },
    ))
}

fn enterprise_of(r: &Row<'_>) -> rusqlite::Result<(i64, Enterprise)> {
    Ok((
        r.get(0)?,
        Enterprise {
            id: r.get(1)?,
            name: r.get(2)?,
            credit: enum_col(r, 3, "credit")?,
        },
    ))
}

fn control_of(r: &Row<'_>) -> rusqlite::Result<(i64, Control)> {
    Ok((
        r.get(0)?,
        Control {
            id: r.get(1)?,
            target_kind: enum_col(r, 2, "target kind")?,
            target: r.get(3)?,
            action: enum_col(r, 4, "control action")?,
            note: r.get(5)?,
            valid_until: r.get(6)?,
        },
    ))
}

/// Records found so far, de-duplicated by row id, in discovery order.
struct Found<T> {
    ids: HashSet<i64>,
    items: Vec<T>,
}

impl<T> Found<T> {
    fn new() -> Self {
        Self {
            ids: HashSet::new(),
            items: Vec::new(),
        }
    }
    fn add(&mut self, (id, item): (i64, T)) {
        if self.ids.insert(id) {
            self.items.push(item);
        }
    }
}

/// Push `s` when not already there (the sets are a handful of keys).
fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

fn query_into<T>(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
    map: fn(&Row<'_>) -> rusqlite::Result<(i64, T)>,
    out: &mut Found<T>,
) -> Result<()> {
    let mut stmt = tx.prepare_cached(sql).ctx("preparing a lookup")?;
    let mut rows = stmt.query(params).ctx("looking the whitelist up")?;
    while let Some(r) = rows.next().ctx("looking the whitelist up")? {
        out.add(map(r).ctx("decoding a whitelist record")?);
    }
    Ok(())
}

/// Everything related to `keys`, read in the caller's (read) transaction.
pub(crate) fn lookup(tx: &Transaction<'_>, keys: &LookupKeys) -> Result<WhitelistView> {
    let version = current_version(tx)?;
    let norm = |v: &[String]| -> Vec<String> {
        let mut out = Vec::with_capacity(v.len());
        for k in v {
            let k = normalize_key(k);
            if !k.is_empty() {
                push_unique(&mut out, &k);
            }
        }
        out
    };
    let (plates, etags, containers, pass_nos) = (
        norm(&keys.plates),
        norm(&keys.etags),
        norm(&keys.containers),
        norm(&keys.pass_nos),
    );

    let mut passes = Found::new();
    for p in &plates {
        query_into(tx, select_passes!("plate = ?1"), [p], pass_of, &mut passes)?;
        query_into(
            tx,
            select_passes!("trailer_plate = ?1"),
            [p],
            pass_of,
            &mut passes,
        )?;
    }
    for e in &etags {
        query_into(tx, select_passes!("etag = ?1"), [e], pass_of, &mut passes)?;
    }
    for n in &pass_nos {
        query_into(
            tx,
            select_passes!("pass_no = ?1"),
            [n],
            pass_of,
            &mut passes,
        )?;
    }
    for c in &containers {
        for sql in [
            select_passes!("container1 = ?1"),
            select_passes!("container2 = ?1"),
            select_passes!("id IN (SELECT pass_id FROM pass_containers WHERE container = ?1)"),
        ] {
            query_into(tx, sql, [c], pass_of, &mut passes)?;
        }
    }

    // Vehicles: by the plates read, the plates of the passes found (tractor
    // and trailer), and the e-tags read.
    let mut vehicle_plates = plates.clone();
    for p in &passes.items {
        push_unique(&mut vehicle_plates, &p.plate);
        if let Some(t) = &p.trailer_plate {
            push_unique(&mut vehicle_plates, t);
        }
    }
    let mut vehicles = Found::new();
    for p in &vehicle_plates {
        query_into(tx, "SELECT id, plate, plate_colour, etag, tare_kg, enterprise, credit FROM vehicles WHERE plate = ?1", [p], vehicle_of, &mut vehicles)?;
    }
    for e in &etags {
        query_into(tx, "SELECT id, plate, plate_colour, etag, tare_kg, enterprise, credit FROM vehicles WHERE etag = ?1", [e], vehicle_of, &mut vehicles)?;
    }
    for v in &vehicles.items {
        push_unique(&mut vehicle_plates, &v.plate);
    }

    let mut ent_ids = Vec::new();
    for e in passes.items.iter().filter_map(|p| p.enterprise.as_deref()) {
        push_unique(&mut ent_ids, e);
    }
    for e in vehicles
        .items
        .iter()
        .filter_map(|v| v.enterprise.as_deref())
    {
        push_unique(&mut ent_ids, e);
    }
    let mut enterprises = Found::new();
    for e in &ent_ids {
        query_into(
            tx,
            "SELECT id, ent_id, name, credit FROM enterprises WHERE ent_id = ?1",
            [e],
            enterprise_of,
            &mut enterprises,
        )?;
    }

    let mut all_pass_nos = pass_nos;
    let mut all_containers = containers;
    for p in &passes.items {
        push_unique(&mut all_pass_nos, &p.pass_no);
        for c in &p.containers {
            push_unique(&mut all_containers, c);
        }
    }
    let mut controls = Found::new();
    let sql = "SELECT id, control_id, target_kind, target, action, note, valid_until FROM controls WHERE target_kind = ?1 AND target = ?2";
    for (kind, targets) in [
        (TargetKind::Plate, &vehicle_plates),
        (TargetKind::PassNo, &all_pass_nos),
        (TargetKind::Enterprise, &ent_ids),
        (TargetKind::Container, &all_containers),
    ] {
        for t in targets {
            query_into(
                tx,
                sql,
                params![kind.to_text(), t],
                control_of,
                &mut controls,
            )?;
        }
    }

    Ok(WhitelistView {
        version,
        passes: passes.items,
        vehicles: vehicles.items,
        enterprises: enterprises.items,
        controls: controls.items,
    })
}

pub(crate) fn staging_status(tx: &Transaction<'_>) -> Result<Option<StagingStatus>> {
    let Some((version, count)) = read_stage(tx)? else {
        return Ok(None);
    };
    let mut stmt = tx
        .prepare_cached("SELECT idx FROM snapshot_chunks WHERE version = ?1 ORDER BY idx")
        .ctx("reading staged chunks")?;
    let have: Vec<u32> = stmt
        .query_map([i64_of(version)?], |r| r.get(0))
        .and_then(Iterator::collect)
        .ctx("reading staged chunks")?;
    let missing = (0..count)
        .filter(|i| have.binary_search(i).is_err())
        .take(64)
        .collect();
    Ok(Some(StagingStatus {
        version,
        received: u32::try_from(have.len()).unwrap_or(u32::MAX),
        count,
        missing,
    }))
}

/// Counts of the live tables (diagnostics, tests).
pub(crate) fn counts(tx: &Transaction<'_>) -> Result<WhitelistCounts> {
    let c = |t: &str| -> Result<u64> {
        tx.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .map(u64_of)
        .ctx("counting whitelist records")
    };
    Ok(WhitelistCounts {
        version: current_version(tx)?,
        passes: c("passes")?,
        containers: c("pass_containers")?
            + tx.query_row(
                "SELECT count(container1) + count(container2) FROM passes",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(u64_of)
            .ctx("counting containers")?,
        vehicles: c("vehicles")?,
        enterprises: c("enterprises")?,
        controls: c("controls")?,
    })
}

/// Record counts of the live whitelist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WhitelistCounts {
    pub version: u64,
    pub passes: u64,
    /// Containers on passes (all of them, wherever stored).
    pub containers: u64,
    pub vehicles: u64,
    pub enterprises: u64,
    pub controls: u64,
}
