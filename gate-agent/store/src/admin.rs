//! Command replay protection and the officers' audit log.
//!
//! This module knows SQL only; what a command means is the agent's business.

use rusqlite::{params, Transaction};

use crate::error::{Ctx, Result};

/// One officer action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub officer: String,
    pub action: String,
    pub detail: String,
    pub event_id: Option<String>,
}

/// Record a command id; false when it was already there (a replay). Also
/// drops ids older than `cutoff_ms` and the oldest beyond `max`.
pub(crate) fn record_command(
    tx: &Transaction<'_>,
    id: &str,
    body: &str,
    result: &str,
    now_ms: i64,
    cutoff_ms: i64,
    max: u64,
) -> Result<bool> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO commands (id, received_ms, body, result) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![id, now_ms, body, result]))
        .ctx("recording a command")?
        == 1;
    purge_commands(tx, cutoff_ms, max)?;
    Ok(inserted)
}

pub(crate) fn purge_commands(tx: &Transaction<'_>, cutoff_ms: i64, max: u64) -> Result<u64> {
    let mut n = tx
        .prepare_cached("DELETE FROM commands WHERE received_ms < ?1")
        .and_then(|mut s| s.execute([cutoff_ms]))
        .ctx("purging old command ids")?;
    let count: i64 = tx
        .query_row("SELECT count(*) FROM commands", [], |r| r.get(0))
        .ctx("counting command ids")?;
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    if count > max {
        n += tx
            .execute(
                "DELETE FROM commands WHERE id IN \
                 (SELECT id FROM commands ORDER BY received_ms, id LIMIT ?1)",
                [count - max],
            )
            .ctx("capping command ids")?;
    }
    Ok(n as u64)
}

pub(crate) fn command_seen(tx: &Transaction<'_>, id: &str) -> Result<bool> {
    tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM commands WHERE id = ?1)")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)))
        .ctx("checking a command id")
}

pub(crate) fn audit(
    tx: &Transaction<'_>,
    officer: &str,
    action: &str,
    detail: &str,
    event_id: Option<&str>,
    now_ms: i64,
) -> Result<i64> {
    tx.prepare_cached(
        "INSERT INTO audit (at_ms, officer, action, detail, event_id) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![now_ms, officer, action, detail, event_id]))
    .ctx("appending to the audit log")?;
    Ok(tx.last_insert_rowid())
}

pub(crate) fn recent_audit(tx: &Transaction<'_>, limit: usize) -> Result<Vec<AuditEntry>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT id, at_ms, officer, action, detail, event_id FROM audit ORDER BY id DESC LIMIT ?1",
        )
        .ctx("preparing recent audit")?;
    stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok(AuditEntry {
            id: r.get(0)?,
            at_ms: r.get(1)?,
            officer: r.get(2)?,
            action: r.get(3)?,
            detail: r.get(4)?,
            event_id: r.get(5)?,
        })
    })
    .and_then(Iterator::collect)
    .ctx("reading recent audit")
}
