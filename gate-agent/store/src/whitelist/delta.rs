//! Applying a delta: upserts and deletes of enterprises, vehicles, gate passes
//! (with their containers) and controls, record by record.

use gate_proto::messages::{GatePass, WhitelistBatch};
use rusqlite::{params, OptionalExtension, Transaction};

use crate::codec::{norm_opt, normalize_key, TextEnum};
use crate::error::{Ctx, Result};

use super::{
    control_params, insert_pass_sql, split_containers, vehicle_params, PassRow, CONTAINER_SEP,
};

pub(super) fn apply_delta(tx: &Transaction<'_>, batch: &WhitelistBatch) -> Result<u64> {
    let (u, d) = (&batch.upserts, &batch.deletes);
    // Deletes first, then upserts: a key in both ends up upserted.
    for pass_no in &d.gate_passes {
        if let Some((id, containers)) = find_pass(tx, &normalize_key(pass_no))? {
            let mut del = tx
                .prepare_cached("DELETE FROM pass_containers WHERE container = ?1 AND pass_id = ?2")
                .ctx("preparing container delete")?;
            for c in containers.iter().skip(2) {
                del.execute(params![c, id]).ctx("deleting a container")?;
            }
            tx.prepare_cached("DELETE FROM passes WHERE id = ?1")
                .and_then(|mut s| s.execute([id]))
                .ctx("deleting a gate pass")?;
        }
    }
    for (sql, keys) in [
        ("DELETE FROM vehicles WHERE plate = ?1", &d.vehicles),
        ("DELETE FROM enterprises WHERE ent_id = ?1", &d.enterprises),
        ("DELETE FROM controls WHERE control_id = ?1", &d.controls),
    ] {
        let mut del = tx.prepare_cached(sql).ctx("preparing a delete")?;
        for k in keys {
            del.execute([&*normalize_key(k)]).ctx("deleting a record")?;
        }
    }
    for p in &u.gate_passes {
        upsert_pass(tx, p)?;
    }
    {
        let mut up = tx
            .prepare_cached(
                "INSERT INTO vehicles (plate, plate_colour, etag, tare_kg, enterprise, credit) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (plate) DO UPDATE SET \
                 plate_colour = excluded.plate_colour, etag = excluded.etag, tare_kg = excluded.tare_kg, \
                 enterprise = excluded.enterprise, credit = excluded.credit",
            )
            .ctx("preparing vehicle upsert")?;
        // Fast path: same plate and e-tag (the indexed columns), other
        // fields changed; the upsert (which rewrites the e-tag index entry)
        // only when that matched nothing.
        let mut same_keys = tx
            .prepare_cached(
                "UPDATE vehicles SET plate_colour = ?2, tare_kg = ?4, enterprise = ?5, credit = ?6 \
                 WHERE plate = ?1 AND etag IS ?3 AND NOT (plate_colour IS ?2 AND tare_kg IS ?4 \
                 AND enterprise IS ?5 AND credit IS ?6)",
            )
            .ctx("preparing vehicle update")?;
        for v in &u.vehicles {
            if same_keys
                .execute(vehicle_params!(v))
                .ctx("updating a vehicle")?
                == 1
            {
                continue;
            }
            up.execute(vehicle_params!(v)).ctx("upserting a vehicle")?;
        }
    }
    {
        let mut up = tx
            .prepare_cached(
                "INSERT INTO enterprises (ent_id, name, credit) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (ent_id) DO UPDATE SET name = excluded.name, credit = excluded.credit",
            )
            .ctx("preparing enterprise upsert")?;
        for e in &u.enterprises {
            up.execute(params![&*normalize_key(&e.id), e.name, e.credit.to_text()])
                .ctx("upserting an enterprise")?;
        }
    }
    {
        let mut up = tx
            .prepare_cached(
                "INSERT INTO controls (control_id, target_kind, target, action, note, valid_until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (control_id) DO UPDATE SET \
                 target_kind = excluded.target_kind, target = excluded.target, action = excluded.action, \
                 note = excluded.note, valid_until = excluded.valid_until",
            )
            .ctx("preparing control upsert")?;
        for c in &u.controls {
            up.execute(control_params!(c)).ctx("upserting a control")?;
        }
    }
    Ok(batch.records())
}

/// (row id, stored containers) of a live pass.
fn find_pass(tx: &Transaction<'_>, pass_no: &str) -> Result<Option<(i64, Vec<String>)>> {
    let found: Option<(i64, String)> = tx
        .prepare_cached("SELECT id, containers FROM passes WHERE pass_no = ?1")
        .and_then(|mut s| {
            s.query_row([pass_no], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .ctx("finding a gate pass")?;
    Ok(found.map(|(id, text)| (id, split_containers(&text))))
}

/// A live pass as stored, for comparison with an upsert.
struct StoredPass {
    id: i64,
    plate: String,
    etag: Option<String>,
    trailer: Option<String>,
    containers_text: String,
    status: String,
    kind: String,
    declared_total_kg: Option<f64>,
    enterprise: Option<String>,
    goods_category: Option<String>,
    va_code: Option<String>,
    valid_from: Option<String>,
    valid_until: Option<String>,
    uses: String,
    eseal: Option<String>,
}

impl StoredPass {
    fn same_rest(&self, r: &PassRow<'_>) -> bool {
        let p = r.p;
        self.containers_text == r.containers_text
            && self.status == r.status
            && self.kind == r.kind
            && self.declared_total_kg == p.declared_total_kg
            && self.enterprise.as_deref() == r.enterprise.as_deref()
            && self.goods_category.as_deref() == r.goods_category
            && self.va_code == p.va_code
            && self.valid_from == p.valid_from
            && self.valid_until == p.valid_until
            && self.uses == r.uses
            && self.eseal == p.eseal
    }
}

fn find_pass_full(tx: &Transaction<'_>, pass_no: &str) -> Result<Option<StoredPass>> {
    tx.prepare_cached(
        "SELECT id, plate, etag, trailer_plate, containers, status, kind, declared_total_kg, \
         enterprise, goods_category, va_code, valid_from, valid_until, uses, eseal \
         FROM passes WHERE pass_no = ?1",
    )
    .and_then(|mut s| {
        s.query_row([pass_no], |r| {
            Ok(StoredPass {
                id: r.get(0)?,
                plate: r.get(1)?,
                etag: r.get(2)?,
                trailer: r.get(3)?,
                containers_text: r.get(4)?,
                status: r.get(5)?,
                kind: r.get(6)?,
                declared_total_kg: r.get(7)?,
                enterprise: r.get(8)?,
                goods_category: r.get(9)?,
                va_code: r.get(10)?,
                valid_from: r.get(11)?,
                valid_until: r.get(12)?,
                uses: r.get(13)?,
                eseal: r.get(14)?,
            })
        })
        .optional()
    })
    .ctx("finding a gate pass")
}

/// Insert or update one pass. An identical record is not rewritten; an
/// update sets only the indexed columns whose value changed.
fn upsert_pass(tx: &Transaction<'_>, p: &GatePass) -> Result<()> {
    let row = PassRow::of(p);
    // Fast path, the common delta (a status change): update in place when
    // the pass exists with the same indexed columns and containers and
    // differs otherwise. One statement; no read into Rust, no index touched.
    let v = row.params();
    let updated = tx
        .prepare_cached(
            "UPDATE passes SET status = ?2, kind = ?3, declared_total_kg = ?4, enterprise = ?5, \
             goods_category = ?6, va_code = ?7, valid_from = ?8, valid_until = ?9, uses = ?10, \
             eseal = ?11 \
             WHERE pass_no = ?1 AND plate = ?12 AND etag IS ?13 AND trailer_plate IS ?14 \
             AND containers = ?15 \
             AND NOT (status IS ?2 AND kind IS ?3 AND declared_total_kg IS ?4 \
             AND enterprise IS ?5 AND goods_category IS ?6 AND va_code IS ?7 \
             AND valid_from IS ?8 AND valid_until IS ?9 AND uses IS ?10 AND eseal IS ?11)",
        )
        .and_then(|mut s| {
            s.execute(params![
                v[0], v[1], v[2], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[3],
                v[4], v[5], v[8]
            ])
        })
        .ctx("updating a gate pass")?;
    if updated == 1 {
        return Ok(());
    }
    // New, identical, or with changed keys: read and compare.
    let mut ins_c = tx
        .prepare_cached("INSERT INTO pass_containers (container, pass_id) VALUES (?1, ?2)")
        .ctx("preparing container insert")?;
    let Some(old) = find_pass_full(tx, &row.pass_no)? else {
        tx.prepare_cached(&insert_pass_sql(""))
            .and_then(|mut s| s.execute(row.params()))
            .ctx("inserting a gate pass")?;
        let id = tx.last_insert_rowid();
        for c in row.extra_containers() {
            ins_c
                .execute(params![&**c, id])
                .ctx("inserting a container")?;
        }
        return Ok(());
    };
    // Indexed columns changed: plate, etag, trailer_plate, container1, container2.
    let mut old_c = old.containers_text.split(CONTAINER_SEP);
    let changed = [
        old.plate != *row.plate,
        old.etag.as_deref() != row.etag.as_deref(),
        old.trailer.as_deref() != row.trailer.as_deref(),
        old_c.next().filter(|c| !c.is_empty()) != row.container(0),
        old_c.next() != row.container(1),
    ];
    if !changed.iter().any(|c| *c) && old.same_rest(&row) {
        return Ok(());
    }
    // Only the indexed columns that changed are SET: SQLite rewrites the
    // entries of every index whose column is in the SET list.
    // v: 0 pass_no, 1 status, 2 kind, 3 plate, 4 etag, 5 trailer,
    // 6 container1, 7 container2, 8 containers, 9 declared, 10 enterprise,
    // 11 goods, 12 va_code, 13 valid_from, 14 valid_until, 15 uses, 16 eseal.
    let mut sql = String::from(
        "UPDATE passes SET status = ?2, kind = ?3, containers = ?4, declared_total_kg = ?5, \
         enterprise = ?6, goods_category = ?7, va_code = ?8, valid_from = ?9, \
         valid_until = ?10, uses = ?11, eseal = ?12",
    );
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![
        &old.id, v[1], v[2], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16],
    ];
    for (i, col) in ["plate", "etag", "trailer_plate", "container1", "container2"]
        .iter()
        .enumerate()
    {
        if changed[i] {
            values.push(v[3 + i]);
            sql.push_str(&format!(", {col} = ?{}", values.len()));
        }
    }
    sql.push_str(" WHERE id = ?1");
    tx.prepare_cached(&sql)
        .and_then(|mut s| s.execute(values.as_slice()))
        .ctx("updating a gate pass")?;
    if old.containers_text != row.containers_text {
        let old_c = split_containers(&old.containers_text);
        let old_extra = old_c.get(2..).unwrap_or(&[]);
        let new_extra = row.extra_containers();
        let mut del = tx
            .prepare_cached("DELETE FROM pass_containers WHERE container = ?1 AND pass_id = ?2")
            .ctx("preparing container delete")?;
        for c in old_extra
            .iter()
            .filter(|c| !new_extra.iter().any(|n| n == c.as_str()))
        {
            del.execute(params![c, old.id])
                .ctx("deleting a container")?;
        }
        for c in new_extra
            .iter()
            .filter(|n| !old_extra.iter().any(|c| c == n.as_ref()))
        {
            ins_c
                .execute(params![&**c, old.id])
                .ctx("inserting a container")?;
        }
    }
    Ok(())
}
