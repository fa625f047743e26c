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

mod delta;
mod read;

use std::borrow::Cow;

use gate_core::view::LookupKeys;
use gate_link_port::{ApplyOutcome, IgnoreReason};
use gate_proto::messages::{BatchKind, GatePass, WhitelistBatch};
use rusqlite::{params, ErrorCode, OptionalExtension, Transaction};

use crate::codec::{norm_opt, normalize_key, TextEnum};
use crate::conn::Writer;
use crate::error::{Ctx, Result, StoreError};
use crate::schema::{whitelist_tables_sql, STAGE, WHITELIST_INDEXES, WHITELIST_TABLES};

use delta::apply_delta;
pub use read::WhitelistCounts;
pub(crate) use read::{counts, lookup, staging_status};

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
    batch
        .validate()
        .map_err(|e| StoreError::InvalidBatch(e.to_string()))?;
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
