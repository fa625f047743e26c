//! Command replay protection, the officers' audit log and the lane's
//! alarm log.
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

/// One alarm of the lane's log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AlarmLogEntry {
    pub id: i64,
    pub alarm_id: String,
    /// RFC 3339, as sent to the platform.
    pub at: String,
    pub kind: String,
    pub severity: String,
    pub detail: String,
    pub acked_by: Option<String>,
    pub acked_ms: Option<i64>,
    pub ack_note: Option<String>,
}

/// Alarms kept in the log, at most: the oldest beyond are dropped as new
/// ones come (acknowledged or not; the platform has them all).
pub(crate) const ALARM_LOG_MAX: i64 = 10_000;

/// Log an alarm queued for the platform, and keep the log bounded.
pub(crate) fn log_alarm(tx: &Transaction<'_>, a: &gate_proto::messages::Alarm) -> Result<()> {
    let severity = serde_json::to_value(a.severity)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    tx.prepare_cached(
        "INSERT INTO alarm_log (alarm_id, at, kind, severity, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![a.alarm_id, a.at, a.kind, severity, a.detail]))
    .ctx("logging an alarm")?;
    let id = tx.last_insert_rowid();
    tx.prepare_cached("DELETE FROM alarm_log WHERE id <= ?1")
        .and_then(|mut s| s.execute([id - ALARM_LOG_MAX]))
        .ctx("bounding the alarm log")?;
    Ok(())
}

/// The newest alarms (all, or only those not acknowledged), newest first.
pub(crate) fn alarm_log(
    tx: &Transaction<'_>,
    limit: usize,
    open_only: bool,
) -> Result<Vec<AlarmLogEntry>> {
    let sql = if open_only {
        "SELECT id, alarm_id, at, kind, severity, detail, acked_by, acked_ms, ack_note \
         FROM alarm_log WHERE acked_ms IS NULL ORDER BY id DESC LIMIT ?1"
    } else {
        "SELECT id, alarm_id, at, kind, severity, detail, acked_by, acked_ms, ack_note \
         FROM alarm_log ORDER BY id DESC LIMIT ?1"
    };
    let mut stmt = tx.prepare_cached(sql).ctx("preparing the alarm log")?;
    stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok(AlarmLogEntry {
            id: r.get(0)?,
            alarm_id: r.get(1)?,
            at: r.get(2)?,
            kind: r.get(3)?,
            severity: r.get(4)?,
            detail: r.get(5)?,
            acked_by: r.get(6)?,
            acked_ms: r.get(7)?,
            ack_note: r.get(8)?,
        })
    })
    .and_then(Iterator::collect)
    .ctx("reading the alarm log")
}

/// Alarms not acknowledged.
pub(crate) fn open_alarms(tx: &Transaction<'_>) -> Result<u64> {
    tx.query_row(
        "SELECT count(*) FROM alarm_log WHERE acked_ms IS NULL",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| u64::try_from(n).unwrap_or(0))
    .ctx("counting open alarms")
}

/// Acknowledge one alarm; false when it is unknown or already acknowledged.
pub(crate) fn ack_alarm(
    tx: &Transaction<'_>,
    id: i64,
    officer: &str,
    note: &str,
    now_ms: i64,
) -> Result<bool> {
    let n = tx
        .prepare_cached(
            "UPDATE alarm_log SET acked_by = ?2, acked_ms = ?3, ack_note = ?4 \
             WHERE id = ?1 AND acked_ms IS NULL",
        )
        .and_then(|mut s| s.execute(params![id, officer, now_ms, note]))
        .ctx("acknowledging an alarm")?;
    Ok(n == 1)
}
