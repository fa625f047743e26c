//! A database file found corrupt at start is quarantined, not fatal.
//!
//! [`crate::Store::open_or_quarantine`]: when opening fails because a file
//! is not a database or SQLite reports corruption, each bad file (with its
//! `-wal` and `-shm`) is renamed `<file>.corrupt-<unix ms>` beside it, what
//! can still be read from a quarantined main file is salvaged into the new
//! one (the per-lane `seq` counters, so numbering goes on, and the outbox
//! items not yet acknowledged by the platform, in order), and the store opens
//! on fresh files. The whitelist file holds nothing the platform cannot send
//! again: it starts at version 0 and the link asks for a snapshot.
//!
//! The per-lane counters are also kept outside SQLite, in `<file>.seq`
//! (one `lane seq` line each, replaced after every finished event): when
//! the damage makes them unreadable in the file, numbering still goes on
//! from the last number given (never reused: the platform sees no
//! duplicate `seq`).
//!
//! Likewise every event in the outbox has a copy in `<file>.unsent/<id>`
//! (topic line, then the payload) from its commit until the platform
//! acknowledges it: events the damaged file no longer yields are enqueued
//! again from these copies, in their order.
//!
//! The caller (the agent) raises an alarm for every [`Quarantined`] file:
//! the lane keeps serving, and someone must look at the file kept aside.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::error::{Result, StoreError};

/// One file moved aside at open.
#[derive(Clone, Debug, PartialEq)]
pub struct Quarantined {
    /// Where the file was.
    pub file: PathBuf,
    /// Where it is now.
    pub moved_to: PathBuf,
    /// What was wrong with it.
    pub why: String,
    /// Lane sequence counters recovered from it (main file).
    pub seqs_salvaged: usize,
    /// Outbox items recovered from it (main file).
    pub outbox_salvaged: usize,
    /// Why salvaging stopped early, if it did.
    pub salvage_error: Option<String>,
}

/// Whether `e` means a file is unusable as it is (as opposed to a
/// permission problem, a full disk, a newer schema...).
pub(crate) fn is_corruption(e: &StoreError) -> bool {
    match e {
        StoreError::NotADatabase { .. } | StoreError::Corrupt { .. } => true,
        StoreError::Sqlite { source, .. } => matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        ),
        _ => false,
    }
}

/// What is wrong with the database file at `path`, if anything: a header
/// that is not SQLite's, or a failed `quick_check`.
pub(crate) fn problem(path: &Path) -> Option<String> {
    if !path.exists() {
        return None;
    }
    if let Err(e) = crate::conn::check_header(path) {
        return Some(e.to_string());
    }
    let conn = match Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE) {
        Ok(c) => c,
        Err(e) => return Some(format!("cannot open: {e}")),
    };
    let rows: std::result::Result<Vec<String>, _> = conn
        .prepare("PRAGMA quick_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    match rows {
        Ok(r) if r.len() == 1 && r[0] == "ok" => None,
        Ok(r) => Some(format!("quick_check: {}", r.join("; "))),
        Err(e) => Some(format!("quick_check failed: {e}")),
    }
}

/// Move `path` and its `-wal`/`-shm` aside; returns the new main path.
pub(crate) fn move_aside(path: &Path, stamp: i64) -> Result<PathBuf> {
    let to = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            let dest = PathBuf::from(format!("{}{suffix}", to.display()));
            std::fs::rename(&from, &dest).map_err(|source| StoreError::Io {
                context: format!("quarantining {} to {}", from.display(), dest.display()),
                source,
            })?;
        }
    }
    Ok(to)
}

/// An outbox row as stored: kind, topic, payload, qos, retain, created_ms,
/// bytes.
pub(crate) type OutboxRow = (String, String, Vec<u8>, i64, i64, i64, i64);

/// Rows readable from a quarantined main file, oldest outbox item first.
pub(crate) struct Salvage {
    pub seqs: Vec<(String, i64)>,
    pub outbox: Vec<OutboxRow>,
    pub error: Option<String>,
}

/// Read what can be read from a quarantined main file (read-only; stops at
/// the first error and says so).
pub(crate) fn salvage(path: &Path) -> Salvage {
    let mut out = Salvage {
        seqs: Vec::new(),
        outbox: Vec::new(),
        error: None,
    };
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) => {
            out.error = Some(format!("cannot open: {e}"));
            return out;
        }
    };
    let seqs = conn
        .prepare("SELECT lane, last_seq FROM lane_seq")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<std::result::Result<Vec<_>, _>>()
        });
    match seqs {
        Ok(s) => out.seqs = s,
        Err(e) => {
            out.error = Some(format!("lane_seq: {e}"));
            return out;
        }
    }
    let mut stmt = match conn.prepare(
        "SELECT kind, topic, payload, qos, retain, created_ms, bytes FROM outbox ORDER BY id",
    ) {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(format!("outbox: {e}"));
            return out;
        }
    };
    let rows = match stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    }) {
        Ok(rows) => rows,
        Err(e) => {
            out.error = Some(format!("outbox: {e}"));
            return out;
        }
    };
    for row in rows {
        match row {
            Ok(r) => out.outbox.push(r),
            Err(e) => {
                out.error = Some(format!("outbox row: {e}"));
                break;
            }
        }
    }
    out
}

/// Write salvaged rows into the fresh main file (one transaction).
pub(crate) fn restore(conn: &mut Connection, main: &Path, s: &Salvage) -> Result<()> {
    let tx = conn
        .transaction()
        .map_err(|e| StoreError::sqlite("restoring salvaged rows", e))?;
    // An unsent event's number was given, even if no counter says so.
    let mut seqs = s.seqs.clone();
    for (kind, _, payload, ..) in &s.outbox {
        if kind != "event" {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
            continue;
        };
        if let (Some(lane), Some(seq)) = (
            v.get("lane").and_then(|l| l.as_str()),
            v.get("seq").and_then(|s| s.as_i64()),
        ) {
            match seqs.iter_mut().find(|(l, _)| l == lane) {
                Some((_, n)) => *n = (*n).max(seq),
                None => seqs.push((lane.to_owned(), seq)),
            }
        }
    }
    for (lane, seq) in &seqs {
        tx.execute(
            "INSERT INTO lane_seq (lane, last_seq) VALUES (?1, ?2) \
             ON CONFLICT (lane) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
            rusqlite::params![lane, seq],
        )
        .map_err(|e| StoreError::sqlite("restoring a lane sequence", e))?;
    }
    let mut copies = Vec::new();
    for (kind, topic, payload, qos, retain, created, bytes) in &s.outbox {
        tx.execute(
            "INSERT INTO outbox (kind, topic, payload, qos, retain, created_ms, bytes) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![kind, topic, payload, qos, retain, created, bytes],
        )
        .map_err(|e| StoreError::sqlite("restoring an outbox item", e))?;
        if kind == "event" {
            copies.push((tx.last_insert_rowid(), topic, payload));
        }
    }
    tx.commit()
        .map_err(|e| StoreError::sqlite("committing salvaged rows", e))?;
    for (id, topic, payload) in copies {
        keep_unsent(main, id, topic, payload);
    }
    Ok(())
}

/// The counters' copy beside the main file.
fn seq_mark_path(main: &Path) -> PathBuf {
    PathBuf::from(format!("{}.seq", main.display()))
}

/// Record `seq` as the last number given to `lane` in `<main>.seq` (written
/// to a temporary file, then renamed over it), before the event that takes
/// it is committed: a number the copy does not hold is never handed out, so
/// a quarantine can never give it again (the chaos run of 1,000 faults
/// found a full disk that let the commit through and not this copy, then a
/// corrupt file: the number was given twice). A failure fails the finish
/// (the runtime retries it, admission stopped); a mark whose commit then
/// fails costs at most a gap after a quarantine, never a reused number.
pub(crate) fn mark_seq(main: &Path, lane: &str, seq: u64) -> Result<()> {
    let path = seq_mark_path(main);
    let mut marks = read_seq_marks(&path);
    let e = marks.entry(lane.to_owned()).or_insert(0);
    *e = (*e).max(seq);
    let text: String = marks.iter().map(|(l, s)| format!("{l} {s}\n")).collect();
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::Io {
                context: format!("writing the lane counter copy {}", path.display()),
                source,
            }
        })
}

fn read_seq_marks(path: &Path) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (lane, seq) = l.split_once(' ')?;
            Some((lane.to_owned(), seq.trim().parse().ok()?))
        })
        .collect()
}

/// Fold the counters' copy into what was salvaged (the larger wins).
pub(crate) fn merge_seq_marks(main: &Path, s: &mut Salvage) {
    for (lane, seq) in read_seq_marks(&seq_mark_path(main)) {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        match s.seqs.iter_mut().find(|(l, _)| *l == lane) {
            Some((_, v)) => *v = (*v).max(seq),
            None => s.seqs.push((lane, seq)),
        }
    }
}

fn unsent_dir(main: &Path) -> PathBuf {
    PathBuf::from(format!("{}.unsent", main.display()))
}

/// Keep a copy of outbox event `id` until it is acknowledged. Best effort.
pub(crate) fn keep_unsent(main: &Path, id: i64, topic: &str, payload: &[u8]) {
    let dir = unsent_dir(main);
    let path = dir.join(id.to_string());
    let tmp = dir.join(format!("{id}.tmp"));
    let mut bytes = Vec::with_capacity(topic.len() + 1 + payload.len());
    bytes.extend_from_slice(topic.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(payload);
    let r = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&tmp, &bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = r {
        tracing::warn!(path = %path.display(), %e, "copy of an unsent event not written");
    }
}

/// Drop the copies of acknowledged outbox items (ids without a copy, such
/// as photos and alarms, are skipped).
pub(crate) fn forget_unsent(main: &Path, ids: &[i64]) {
    let dir = unsent_dir(main);
    for id in ids {
        let _ = std::fs::remove_file(dir.join(id.to_string()));
    }
}

/// Fold the copies of unsent events into what was salvaged: those whose
/// payload the damaged file did not yield are appended, by id.
pub(crate) fn merge_unsent(main: &Path, s: &mut Salvage) {
    let dir = unsent_dir(main);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut copies: Vec<(i64, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let id: i64 = e.file_name().to_str()?.parse().ok()?;
            Some((id, e.path()))
        })
        .collect();
    copies.sort();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    for (_, path) in copies {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Some(nl) = bytes.iter().position(|b| *b == b'\n') else {
            continue;
        };
        let topic = String::from_utf8_lossy(&bytes[..nl]).into_owned();
        let payload = bytes[nl + 1..].to_vec();
        if s.outbox.iter().any(|r| r.2 == payload) {
            continue;
        }
        let size = i64::try_from(payload.len() + topic.len()).unwrap_or(i64::MAX);
        s.outbox
            .push(("event".into(), topic, payload, 1, 0, now, size));
    }
    // Replaced by the copies `restore` writes under the new ids.
    let _ = std::fs::remove_dir_all(&dir);
}
