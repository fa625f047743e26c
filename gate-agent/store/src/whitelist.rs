//! The whitelist replica: applying platform batches (snapshot chunks and
//! deltas) and looking records up for the decision engine.
//!
//! Atomicity: a delta, or the last chunk of a snapshot together with the
//! swap of the staged tables, applies in ONE write transaction that also
//! bumps the version, so a reader (its own read transaction, WAL snapshot)
//! sees the old version or the new one, and a crash or power cut mid-apply
//! leaves the old one. Snapshot chunks are staged in `stage_*` tables
//! (committed per chunk, so they survive a restart) and become the live
//! tables by `ALTER TABLE .. RENAME` once every chunk of the version is in.
//!
//! This module knows the batch and record types of the platform contract
//! and SQL; it knows nothing about MQTT, signatures or the decision rules.

use std::borrow::Cow;
use std::collections::HashSet;

use gate_core::view::{LookupKeys, WhitelistView};
use gate_proto::messages::{
    BatchKind, Control, Enterprise, GatePass, TargetKind, Vehicle, WhitelistBatch,
};
use rusqlite::types::Type;
use rusqlite::{params, ErrorCode, OptionalExtension, Row, Transaction};

use crate::codec::{norm_opt, normalize_key, TextEnum};
use crate::conn::Writer;
use crate::error::{Ctx, Result, StoreError};
use crate::schema::{whitelist_tables_sql, STAGE, WHITELIST_INDEXES, WHITELIST_TABLES};

/// What [`crate::Store::apply_batch`] did with a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The whitelist is now at `version` (a delta, or the last missing chunk
    /// of a snapshot). `records`: upserts + deletes applied (for a snapshot,
    /// the records of all its chunks).
    Applied { version: u64, records: u64 },
    /// A snapshot chunk was staged; the snapshot applies when all `count`
    /// chunks are in.
    Staged {
        version: u64,
        received: u32,
        count: u32,
    },
    /// Nothing changed: the batch is older than what the lane has, or a
    /// chunk already staged.
    Ignored { have: u64, reason: IgnoreReason },
    /// A delta that does not start at the current version: nothing applied;
    /// the link must ask for a resync from `have`.
    NeedResync { have: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Version not newer than the current one (or than the snapshot being
    /// staged, for a chunk of an older snapshot).
    Stale,
    /// This chunk of this snapshot is already staged.
    DuplicateChunk,
}

/// The snapshot being staged, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagingStatus {
    pub version: u64,
    pub received: u32,
    pub count: u32,
    /// Chunk indexes still missing (at most the first 64).
    pub missing: Vec<u32>,
}

/// A single key for the diagnostics CLI ([`crate::Store::lookup_by`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupKey {
    Plate(String),
    Etag(String),
    PassNo(String),
    Container(String),
}

impl LookupKey {
    pub(crate) fn into_keys(self) -> LookupKeys {
        let mut k = LookupKeys::default();
        match self {
            Self::Plate(s) => k.plates.push(s),
            Self::Etag(s) => k.etags.push(s),
            Self::PassNo(s) => k.pass_nos.push(s),
            Self::Container(s) => k.containers.push(s),
        }
        k
    }
}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::InvalidBatch(format!("version {v} out of range")))
}

pub(crate) fn current_version(tx: &rusqlite::Connection) -> Result<u64> {
    let v = tx
        .prepare_cached("SELECT version FROM whitelist_state WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)).optional())
        .ctx("reading the whitelist version")?;
    // The migration inserts the row and nothing deletes it: if it is gone,
    // the file is damaged (SQLite does not detect every bad page).
    v.map(u64_of).ok_or_else(|| StoreError::Corrupt {
        context: "whitelist_state".into(),
        detail: "the version row is missing".into(),
    })
}

// ------------------------------------------------------------------ apply

pub(crate) fn apply_batch(
    w: &mut Writer,
    batch: &WhitelistBatch,
    now_ms: i64,
) -> Result<ApplyOutcome> {
    batch.validate().map_err(StoreError::InvalidBatch)?;
    let tx = w.begin(false)?;
    let have = current_version(&tx)?;
    let outcome = match batch.kind {
        BatchKind::Delta => {
            let from = batch.from_version.unwrap_or(u64::MAX);
            if batch.version <= have {
                return Ok(ApplyOutcome::Ignored {
                    have,
                    reason: IgnoreReason::Stale,
                });
            }
            if from != have {
                return Ok(ApplyOutcome::NeedResync { have });
            }
            let records = apply_delta(&tx, batch)?;
            set_version(&tx, batch.version, "delta", now_ms)?;
            // A staged snapshot not newer than this is useless now.
            if let Some((staged, _)) = read_stage(&tx)? {
                if staged <= batch.version {
                    drop_stage(&tx)?;
                }
            }
            ApplyOutcome::Applied {
                version: batch.version,
                records,
            }
        }
        BatchKind::Snapshot => match stage_chunk(&tx, batch, have, now_ms)? {
            Some(o) => o,
            None => {
                return Ok(ApplyOutcome::Ignored {
                    have,
                    reason: IgnoreReason::DuplicateChunk,
                })
            }
        },
    };
    tx.commit().ctx("committing a whitelist batch")?;
    match &outcome {
        ApplyOutcome::Applied { version, records } => {
            tracing::info!(kind = ?batch.kind, from = have, version, records, "whitelist applied");
        }
        ApplyOutcome::Staged {
            version,
            received,
            count,
        } => tracing::debug!(version, received, count, "snapshot chunk staged"),
        _ => {}
    }
    Ok(outcome)
}

fn set_version(tx: &Transaction<'_>, version: u64, kind: &str, now_ms: i64) -> Result<()> {
    tx.execute(
        "UPDATE whitelist_state SET version = ?1, kind = ?2, applied_ms = ?3 WHERE id = 1",
        params![i64_of(version)?, kind, now_ms],
    )
    .ctx("bumping the whitelist version")?;
    Ok(())
}

/// (version, chunk count) of the staged snapshot.
fn read_stage(tx: &rusqlite::Connection) -> Result<Option<(u64, u32)>> {
    tx.query_row(
        "SELECT version, chunk_count FROM snapshot_stage ORDER BY version DESC LIMIT 1",
        [],
        |r| Ok((u64_of(r.get(0)?), r.get::<_, u32>(1)?)),
    )
    .optional()
    .ctx("reading the staged snapshot")
}

fn drop_stage(tx: &Transaction<'_>) -> Result<()> {
    for t in WHITELIST_TABLES {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {STAGE}{t}"))
            .ctx("dropping staging tables")?;
    }
    tx.execute_batch("DELETE FROM snapshot_chunks; DELETE FROM snapshot_stage;")
        .ctx("clearing the staged snapshot")?;
    Ok(())
}

/// Stage one snapshot chunk; apply the snapshot when it was the last one.
/// `None`: a duplicate chunk (the caller rolls back).
fn stage_chunk(
    tx: &Transaction<'_>,
    batch: &WhitelistBatch,
    have: u64,
    now_ms: i64,
) -> Result<Option<ApplyOutcome>> {
    let stale = ApplyOutcome::Ignored {
        have,
        reason: IgnoreReason::Stale,
    };
    let staged = read_stage(tx)?;
    if batch.version <= have {
        if staged.is_some_and(|(v, _)| v <= have) {
            drop_stage(tx)?;
        }
        return Ok(Some(stale));
    }
    let count = batch.chunk.count;
    match staged {
        Some((v, _)) if v > batch.version => return Ok(Some(stale)),
        Some((v, c)) if v == batch.version => {
            if c != count {
                return Err(StoreError::InvalidBatch(format!(
                    "snapshot {v}: chunk count {count} differs from the {c} already staged"
                )));
            }
        }
        other => {
            if let Some((v, _)) = other {
                tracing::info!(
                    dropped = v,
                    new = batch.version,
                    "newer snapshot: staging restarted"
                );
            }
            drop_stage(tx)?;
            tx.execute_batch(&whitelist_tables_sql(STAGE))
                .ctx("creating staging tables")?;
            tx.execute(
                "INSERT INTO snapshot_stage (version, chunk_count, issued_at, started_ms) VALUES (?1, ?2, ?3, ?4)",
                params![i64_of(batch.version)?, count, batch.issued_at, now_ms],
            )
            .ctx("recording the staged snapshot")?;
        }
    }
    let version = i64_of(batch.version)?;
    let seen: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM snapshot_chunks WHERE version = ?1 AND idx = ?2)",
            params![version, batch.chunk.index],
            |r| r.get(0),
        )
        .ctx("checking a staged chunk")?;
    if seen {
        return Ok(None);
    }
    let records = insert_records(tx, STAGE, batch)?;
    tx.execute(
        "INSERT INTO snapshot_chunks (version, idx, records) VALUES (?1, ?2, ?3)",
        params![version, batch.chunk.index, records],
    )
    .ctx("recording a staged chunk")?;
    let (received, total): (u32, i64) = tx
        .query_row(
            "SELECT count(*), coalesce(sum(records), 0) FROM snapshot_chunks WHERE version = ?1",
            [version],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ctx("counting staged chunks")?;
    if received < count {
        return Ok(Some(ApplyOutcome::Staged {
            version: batch.version,
            received,
            count,
        }));
    }
    swap_in_stage(tx, batch.version)?;
    set_version(tx, batch.version, "snapshot", now_ms)?;
    Ok(Some(ApplyOutcome::Applied {
        version: batch.version,
        records: u64_of(total),
    }))
}

/// Index the staged tables and make them the live ones.
fn swap_in_stage(tx: &Transaction<'_>, version: u64) -> Result<()> {
    for idx in WHITELIST_INDEXES {
        let sql = idx.create_sql(STAGE, version);
        match tx.execute_batch(&sql) {
            Ok(()) => {}
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                // Duplicate keys across chunks: the last one received wins.
                tracing::warn!(
                    index = idx.stem,
                    version,
                    "snapshot has duplicate keys; keeping the last"
                );
                for d in idx.dedupe {
                    tx.execute_batch(&d.replace("{p}", STAGE))
                        .ctx("removing duplicate snapshot records")?;
                }
                tx.execute_batch(&sql).ctx("indexing the staged snapshot")?;
            }
            Err(e) => return Err(StoreError::sqlite("indexing the staged snapshot", e)),
        }
    }
    for t in WHITELIST_TABLES {
        tx.execute_batch(&format!("DROP TABLE {t}"))
            .ctx("dropping the previous whitelist")?;
    }
    for t in WHITELIST_TABLES {
        tx.execute_batch(&format!("ALTER TABLE {STAGE}{t} RENAME TO {t}"))
            .ctx("swapping in the staged whitelist")?;
    }
    tx.execute_batch("DELETE FROM snapshot_chunks; DELETE FROM snapshot_stage;")
        .ctx("clearing the staged snapshot")?;
    Ok(())
}

/// Bulk insert of a batch's upserts into `{prefix}` tables that have no
/// rows with the same keys (staging). Returns the number of records.
fn insert_records(tx: &Transaction<'_>, prefix: &str, batch: &WhitelistBatch) -> Result<u64> {
    let u = &batch.upserts;
    {
        let mut ins = tx
            .prepare_cached(&insert_pass_sql(prefix))
            .ctx("preparing pass insert")?;
        let mut ins_c = tx
            .prepare_cached(&format!(
                "INSERT INTO {prefix}pass_containers (container, pass_id) VALUES (?1, ?2)"
            ))
            .ctx("preparing container insert")?;
        for p in &u.gate_passes {
            let row = PassRow::of(p);
            ins.execute(row.params()).ctx("staging a gate pass")?;
            let id = tx.last_insert_rowid();
            for c in row.extra_containers() {
                ins_c
                    .execute(params![&**c, id])
                    .ctx("staging a container")?;
            }
        }
    }
    {
        let mut ins = tx
            .prepare_cached(&format!(
                "INSERT INTO {prefix}vehicles (plate, plate_colour, etag, tare_kg, enterprise, credit) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .ctx("preparing vehicle insert")?;
        for v in &u.vehicles {
            ins.execute(vehicle_params!(v)).ctx("staging a vehicle")?;
        }
    }
    {
        let mut ins = tx
            .prepare_cached(&format!(
                "INSERT INTO {prefix}enterprises (ent_id, name, credit) VALUES (?1, ?2, ?3)"
            ))
            .ctx("preparing enterprise insert")?;
        for e in &u.enterprises {
            ins.execute(params![&*normalize_key(&e.id), e.name, e.credit.to_text()])
                .ctx("staging an enterprise")?;
        }
    }
    {
        let mut ins = tx
            .prepare_cached(&format!(
                "INSERT INTO {prefix}controls (control_id, target_kind, target, action, note, valid_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))
            .ctx("preparing control insert")?;
        for c in &u.controls {
            ins.execute(control_params!(c)).ctx("staging a control")?;
        }
    }
    Ok((u.gate_passes.len() + u.vehicles.len() + u.enterprises.len() + u.controls.len()) as u64)
}

fn insert_pass_sql(prefix: &str) -> String {
    format!(
        "INSERT INTO {prefix}passes (pass_no, status, kind, plate, etag, trailer_plate, \
         container1, container2, containers, declared_total_kg, enterprise, goods_category, \
         va_code, valid_from, valid_until, uses, eseal) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
    )
}

/// Containers of a pass are stored normalised, sorted, de-duplicated and
/// joined by '\n' (normalised keys contain no whitespace). The first two
/// also go in the indexed `container1`/`container2` columns, the rest (rare:
/// a truck carries one or two) in `pass_containers`.
const CONTAINER_SEP: char = '\n';

fn split_containers(s: &str) -> Vec<String> {
    s.split(CONTAINER_SEP)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

macro_rules! vehicle_params {
    ($v:expr) => {
        params![
            &*normalize_key(&$v.plate),
            $v.plate_colour.map(TextEnum::to_text),
            norm_opt(&$v.etag).as_deref(),
            $v.tare_kg,
            norm_opt(&$v.enterprise).as_deref(),
            $v.credit.map(TextEnum::to_text),
        ]
    };
}
use vehicle_params;

macro_rules! control_params {
    ($c:expr) => {
        params![
            &*normalize_key(&$c.id),
            $c.target_kind.to_text(),
            &*normalize_key(&$c.target),
            $c.action.to_text(),
            $c.note,
            $c.valid_until,
        ]
    };
}
use control_params;

/// A gate pass as bound to the insert/update statements (identifiers
/// normalised, containers sorted and de-duplicated).
struct PassRow<'a> {
    p: &'a GatePass,
    pass_no: Cow<'a, str>,
    plate: Cow<'a, str>,
    etag: Option<Cow<'a, str>>,
    trailer: Option<Cow<'a, str>>,
    enterprise: Option<Cow<'a, str>>,
    containers: Vec<Cow<'a, str>>,
    /// The first two containers again (bound to the indexed columns).
    first: [Option<Cow<'a, str>>; 2],
    containers_text: String,
    status: &'static str,
    kind: &'static str,
    goods_category: Option<&'static str>,
    uses: &'static str,
}

impl<'a> PassRow<'a> {
    fn of(p: &'a GatePass) -> Self {
        let mut containers: Vec<Cow<'a, str>> = p
            .containers
            .iter()
            .map(|c| normalize_key(c))
            .filter(|c| !c.is_empty())
            .collect();
        containers.sort_unstable();
        containers.dedup();
        let mut containers_text = String::with_capacity(containers.len() * 12);
        for (i, c) in containers.iter().enumerate() {
            if i > 0 {
                containers_text.push(CONTAINER_SEP);
            }
            containers_text.push_str(c);
        }
        let first = [containers.first().cloned(), containers.get(1).cloned()];
        Self {
            p,
            first,
            pass_no: normalize_key(&p.pass_no),
            plate: normalize_key(&p.plate),
            etag: norm_opt(&p.etag),
            trailer: norm_opt(&p.trailer_plate),
            enterprise: norm_opt(&p.enterprise),
            containers,
            containers_text,
            status: p.status.to_text(),
            kind: p.kind.to_text(),
            goods_category: p.goods_category.map(TextEnum::to_text),
            uses: p.uses.to_text(),
        }
    }

    fn container(&self, i: usize) -> Option<&str> {
        self.containers.get(i).map(|c| &**c)
    }

    /// The containers beyond the first two (kept in `pass_containers`).
    fn extra_containers(&self) -> &[Cow<'a, str>] {
        self.containers.get(2..).unwrap_or(&[])
    }

    /// In the column order of [`insert_pass_sql`].
    fn params(&self) -> [&dyn rusqlite::ToSql; 17] {
        let p = self.p;
        [
            &self.pass_no,
            &self.status,
            &self.kind,
            &self.plate,
            &self.etag,
            &self.trailer,
            &self.first[0],
            &self.first[1],
            &self.containers_text,
            &p.declared_total_kg,
            &self.enterprise,
            &self.goods_category,
            &p.va_code,
            &p.valid_from,
            &p.valid_until,
            &self.uses,
            &p.eseal,
        ]
    }
}

fn apply_delta(tx: &Transaction<'_>, batch: &WhitelistBatch) -> Result<u64> {
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
    Ok((u.gate_passes.len()
        + u.vehicles.len()
        + u.enterprises.len()
        + u.controls.len()
        + d.gate_passes.len()
        + d.vehicles.len()
        + d.enterprises.len()
        + d.controls.len()) as u64)
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

fn bad(idx: usize, what: &str, v: &str) -> rusqlite::Error {
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
