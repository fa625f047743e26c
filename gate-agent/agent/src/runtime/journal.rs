//! The passage journal as the runtime keeps it: one [`PassageRecord`] per
//! passage in the store's journal row (`context`), replaced at each step of
//! the lane ([`gate_core::lane::Step`]); and crash recovery, which reads that
//! record back (never anything else) and resumes the passage where it was.
//!
//! Recovery at start (docs/lane-sequence.md, "Restart"):
//! - the newest unfinished passage of this lane is resumed
//!   ([`gate_core::Lane::resume`]): its event id, identity, reads and
//!   decision are kept, and the board says whether its vehicle is still there;
//! - older unfinished passages (only possible after an earlier failure) are
//!   settled as `timeout` events with everything their record holds;
//! - a record that cannot be read (corrupt, or written by an older agent) is
//!   settled with what the store's own columns hold, and raises a
//!   `store_error` alarm: never a silent blank event.

use anyhow::{Context, Result};
use gate_core::lane::{EventRecord, Passage, Step};
use gate_proto::messages::{LaneEvent, Outcome};
use gate_store::{JournalEntry, Store};
use serde::{Deserialize, Serialize};
use tracing::{error, warn};

use super::clock::LaneClock;
use super::event::{self, EventContext};
use crate::config::Config;

/// Schema tag of [`PassageRecord`].
pub const RECORD_FORMAT: &str = "gate.passage/1";

/// The journal record of one passage, replaced at each step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassageRecord {
    /// [`RECORD_FORMAT`].
    pub format: String,
    pub event_id: String,
    /// Wall-clock Unix ms of the arrival and of the decision (lane times in
    /// `passage` belong to the run that wrote them).
    pub arrived_unix_ms: i64,
    pub decided_unix_ms: Option<i64>,
    /// When this record was written (Unix ms).
    pub written_unix_ms: i64,
    /// Everything the lane knows about the vehicle.
    pub passage: Passage,
}

impl PassageRecord {
    pub fn new(event_id: &str, passage: &Passage, clock: &LaneClock) -> Self {
        PassageRecord {
            format: RECORD_FORMAT.into(),
            event_id: event_id.to_owned(),
            arrived_unix_ms: clock.wall_ms(passage.arrived_ms),
            decided_unix_ms: passage.decided_ms.map(|ms| clock.wall_ms(ms)),
            written_unix_ms: gate_proto::time::now_unix_ms(),
            passage: passage.clone(),
        }
    }

    /// Read a journal row's record strictly: the right format, every field.
    pub fn parse(context: Option<&serde_json::Value>) -> Result<Self, RecordError> {
        let v = context.ok_or(RecordError::Missing)?;
        let r: PassageRecord =
            serde_json::from_value(v.clone()).map_err(RecordError::Unreadable)?;
        if r.format != RECORD_FORMAT {
            return Err(RecordError::Format(r.format));
        }
        Ok(r)
    }

    /// The passage with its times as lane ms of this run.
    pub fn passage_now(&self, clock: &LaneClock) -> Passage {
        let mut p = self.passage.clone();
        p.arrived_ms = clock.lane_ms_of_wall(self.arrived_unix_ms);
        p.decided_ms = self.decided_unix_ms.map(|ms| clock.lane_ms_of_wall(ms));
        p
    }
}

/// A journal row whose record cannot be resumed ([`PassageRecord::parse`]).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the journal row has no record")]
    Missing,
    #[error("unreadable record: {0}")]
    Unreadable(#[source] serde_json::Error),
    /// Another record format (the one found).
    #[error("record format `{0}`, not {RECORD_FORMAT}")]
    Format(String),
}

/// What recovery found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The passage to resume, with its event id.
    pub resume: Option<(String, Passage)>,
    /// It comes from the copy beside a quarantined database: its journal
    /// row must be opened again.
    pub from_copy: bool,
    /// Alarms to raise once the link runs (unreadable records).
    pub alarms: Vec<String>,
}

/// Read the unfinished journal of this lane: settle what cannot be resumed,
/// return the passage to resume.
pub async fn recover(
    store: &Store,
    cfg: &Config,
    clock: &LaneClock,
    topic: &str,
) -> Result<Recovered> {
    let s = store.clone();
    let open = tokio::task::spawn_blocking(move || s.unfinished_journal())
        .await
        .context("journal recovery task")?
        .context("reading the unfinished journal")?;
    let mut out = Recovered::default();
    let mut readable: Vec<PassageRecord> = Vec::new();
    for entry in open.into_iter().filter(|e| e.lane == cfg.lane.lane) {
        match PassageRecord::parse(entry.context.as_ref()) {
            Ok(r) if r.event_id == entry.event_id => readable.push(r),
            Ok(r) => {
                let why = format!("record names event {}", r.event_id);
                settle_unreadable(store, cfg, clock, topic, &entry, &why, &mut out).await?;
            }
            Err(why) => {
                let why = why.to_string();
                settle_unreadable(store, cfg, clock, topic, &entry, &why, &mut out).await?;
            }
        }
    }
    // The newest is the passage the lane was in; any older one was left by
    // an earlier failure and is closed with what it holds.
    readable.sort_by_key(|r| (r.arrived_unix_ms, r.written_unix_ms));
    let newest = readable.pop();
    for r in readable {
        warn!(event_id = %r.event_id, step = ?r.passage.step, "settling an older passage left open");
        let mut p = r.passage_now(clock);
        p.note
            .get_or_insert_with(|| "agent restarted before the passage finished".into());
        let rec = record_of(&p, Outcome::Timeout, clock.now_ms());
        let ev = build_event(&rec, &r.event_id, &[], cfg, clock, store);
        finish(store, ev, topic).await?;
    }
    if let Some(r) = newest {
        warn!(event_id = %r.event_id, step = ?r.passage.step, "resuming the passage left open by a restart");
        out.resume = Some((r.event_id.clone(), r.passage_now(clock)));
    }
    Ok(out)
}

/// A row whose record cannot be read: closed as `timeout` with the store's
/// own columns (arrival time, decision), and alarmed.
async fn settle_unreadable(
    store: &Store,
    cfg: &Config,
    clock: &LaneClock,
    topic: &str,
    entry: &JournalEntry,
    why: &str,
    out: &mut Recovered,
) -> Result<()> {
    error!(event_id = %entry.event_id, %why, "journal record unreadable: the event is settled with what the journal row holds");
    let blank = Passage {
        seq: 0,
        step: Step::Arrived,
        arrived_ms: 0,
        decided_ms: None,
        identified: Default::default(),
        reported: Default::default(),
        decision: None,
        officer: None,
        note: None,
        tailgating: false,
        stopped_short: false,
        alarms: Vec::new(),
        vehicles_at_raise: None,
        prior: None,
    };
    // Every time of the event is taken from the row below.
    let rec = record_of(&blank, Outcome::Timeout, 0);
    let mut ev = build_event(&rec, &entry.event_id, &[], cfg, clock, store);
    ev.arrived_at = entry.arrived_at.clone();
    if let Some(d) = entry.decision.clone() {
        ev.decision = d;
    }
    ev.decided_at = entry
        .decided_at
        .clone()
        .unwrap_or_else(|| ev.arrived_at.clone());
    ev.finished_at = gate_proto::time::format_unix_ms(gate_proto::time::now_unix_ms());
    ev.note = Some(format!(
        "agent restarted before the passage finished; its journal record was unreadable ({why})"
    ));
    out.alarms.push(format!(
        "journal record of event {} unreadable ({why}): event settled without its identity",
        entry.event_id
    ));
    finish(store, ev, topic).await
}

/// The lane record of a passage closed by recovery.
pub fn record_of(p: &Passage, outcome: Outcome, finished_ms: u64) -> EventRecord {
    EventRecord {
        seq: p.seq,
        arrived_ms: p.arrived_ms,
        decided_ms: p.decided_ms,
        finished_ms: finished_ms.max(p.arrived_ms),
        identified: p.identified.clone(),
        decision: p.decision.clone(),
        outcome,
        officer: p.officer.clone(),
        note: p.note.clone(),
        tailgating: p.tailgating,
        stopped_short: p.stopped_short,
        alarms: p.alarms.clone(),
    }
}

/// The contract's event for a lane record, stamped with this lane's
/// identity, clock and whitelist version (the runtime's and recovery's one
/// way to build it).
pub(super) fn build_event(
    rec: &EventRecord,
    event_id: &str,
    photos: &[event::Photo],
    cfg: &Config,
    clock: &LaneClock,
    store: &Store,
) -> LaneEvent {
    let wall = |ms: u64| clock.wall_ms(ms);
    event::lane_event(
        rec,
        &EventContext {
            event_id,
            site: &cfg.lane.site,
            lane: &cfg.lane.lane,
            direction: cfg.lane.direction,
            wall_ms: &wall,
            clock_synced: clock.synced(),
            photos,
            whitelist_version: store.whitelist_version().unwrap_or(0),
        },
    )
}

async fn finish(store: &Store, ev: LaneEvent, topic: &str) -> Result<()> {
    let s = store.clone();
    let topic = topic.to_owned();
    let id = ev.event_id.clone();
    tokio::task::spawn_blocking(move || s.journal_finish(&ev, &topic))
        .await
        .context("journal recovery task")?
        .with_context(|| format!("settling event {id}"))?;
    Ok(())
}

/// The open passage's record is also kept beside the database file, in
/// `<lane.db>.passage` (replaced at each step, removed when the passage
/// finishes): when the database itself is found corrupt at start and
/// quarantined, the passage in progress is still resumed from this copy.
/// Best effort (a failure is logged): SQLite is the authority otherwise.
pub fn copy_path(db: &std::path::Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.passage", db.display()))
}

/// Replace `path` with `value` as JSON: a temporary file beside it, then a
/// rename (a reader sees the old file or the new one, never half of one).
/// `sync`: the new file's data is on disk before the rename. The temporary
/// file is removed on failure.
fn replace_json(path: &std::path::Path, value: &impl Serialize, sync: bool) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = std::path::PathBuf::from(format!("{}.tmp", path.display()));
    let r = serde_json::to_vec(value)
        .map_err(std::io::Error::other)
        .and_then(|b| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&b)?;
            if sync {
                f.sync_all()?;
            }
            Ok(())
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Replace the copy (temporary file, then rename).
pub fn write_copy(db: &std::path::Path, record: &PassageRecord) {
    let path = copy_path(db);
    if let Err(e) = replace_json(&path, record, false) {
        warn!(path = %path.display(), %e, "passage copy not written");
    }
}

/// Remove the copy (the passage finished).
pub fn remove_copy(db: &std::path::Path) {
    let path = copy_path(db);
    if let Err(e) = std::fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            warn!(path = %path.display(), %e, "passage copy not removed");
        }
    }
}

/// Writes the passage copy off the lane's path, on its own thread: the
/// journal step that asks for it does not wait for it (the copy is not
/// fsynced and only matters when the database is quarantined at start, so
/// it may lag its SQLite record by the time of one file replace; a crash in
/// between resumes from the step before, as a power cut may). One slot,
/// the latest wins: a write or removal superseded before the thread got to
/// it is skipped; their order is kept.
#[derive(Clone, Debug)]
pub struct CopyWriter(std::sync::Arc<CopySlot>);

#[derive(Debug, Default)]
struct CopySlot {
    state: std::sync::Mutex<CopyState>,
    ready: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct CopyState {
    /// The latest job not yet taken by the thread.
    job: Option<CopyJob>,
    /// No thread (any more): jobs run on the caller's thread.
    inline: bool,
    /// The thread ends once it has done the job it holds.
    stop: bool,
}

#[derive(Debug)]
enum CopyJob {
    Write(Box<PassageRecord>),
    Remove,
}

impl CopyWriter {
    /// Start the writer thread for the copy beside `db`. Without a thread
    /// (the system refused one), each copy is written on the caller's
    /// thread.
    pub fn start(db: &std::path::Path) -> Self {
        let slot = std::sync::Arc::new(CopySlot::default());
        let (s, db) = (slot.clone(), db.to_path_buf());
        let spawned = std::thread::Builder::new()
            .name("passage-copy".into())
            .spawn(move || loop {
                let job = {
                    let mut g = s.state.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        if let Some(j) = g.job.take() {
                            break j;
                        }
                        if g.stop {
                            g.inline = true;
                            return;
                        }
                        g = s.ready.wait(g).unwrap_or_else(|p| p.into_inner());
                    }
                };
                match job {
                    CopyJob::Write(r) => write_copy(&db, &r),
                    CopyJob::Remove => remove_copy(&db),
                }
            });
        if let Err(e) = spawned {
            warn!(%e, "no thread for the passage copy: written inline");
            slot.state.lock().unwrap_or_else(|p| p.into_inner()).inline = true;
        }
        Self(slot)
    }

    /// Hand `job` to the thread; given back when there is none.
    fn put(&self, job: CopyJob) -> Option<CopyJob> {
        let mut g = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        if g.inline {
            return Some(job);
        }
        g.job = Some(job);
        self.0.ready.notify_one();
        None
    }

    /// Replace the copy with `record` (soon, on the writer's thread).
    pub fn write(&self, db: &std::path::Path, record: PassageRecord) {
        if let Some(CopyJob::Write(r)) = self.put(CopyJob::Write(Box::new(record))) {
            write_copy(db, &r);
        }
    }

    /// Remove the copy (the passage finished).
    pub fn remove(&self, db: &std::path::Path) {
        if self.put(CopyJob::Remove).is_some() {
            remove_copy(db);
        }
    }

    /// Let the writer finish what it holds and stop.
    pub fn stop(&self) {
        let mut g = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        g.stop = true;
        self.0.ready.notify_one();
    }
}

/// The copy, when there is a readable one.
pub fn read_copy(db: &std::path::Path) -> Option<PassageRecord> {
    let bytes = std::fs::read(copy_path(db)).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    PassageRecord::parse(Some(&v)).ok()
}

/// A finished event the store could not take (disk full, I/O error) is
/// also kept beside the database file, in `<lane.db>.unfinished/<event id>`
/// (topic and event as JSON), until the store takes it. At start these are
/// journaled before the open journal is settled (so the passage keeps its
/// real outcome, not a recovery `timeout`), and they survive a quarantine
/// of the database. Best effort: with the disk full the copy may fail too
/// (it is tried again with each retry of the event; a clean stop retries
/// the store for a few seconds more).
pub fn unfinished_dir(db: &std::path::Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.unfinished", db.display()))
}

#[derive(Serialize, Deserialize)]
struct KeptEvent {
    topic: String,
    event: LaneEvent,
}

/// Keep a copy of a finished event not yet journaled. True when written.
pub fn keep_unfinished(db: &std::path::Path, event: &LaneEvent, topic: &str) -> bool {
    let dir = unfinished_dir(db);
    let path = dir.join(&event.event_id);
    let kept = KeptEvent {
        topic: topic.to_owned(),
        event: event.clone(),
    };
    match std::fs::create_dir_all(&dir).and_then(|()| replace_json(&path, &kept, true)) {
        Ok(()) => true,
        Err(e) => {
            warn!(path = %path.display(), %e, "copy of an unjournaled event not written (tried again)");
            false
        }
    }
}

/// Remove the copy of an event the store took.
pub fn forget_unfinished(db: &std::path::Path, event_id: &str) {
    let path = unfinished_dir(db).join(event_id);
    if let Err(e) = std::fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            warn!(path = %path.display(), %e, "copy of a journaled event not removed");
        }
    }
}

/// Journal the kept events (oldest event id first: ids sort by arrival),
/// idempotently (an event the store already has is not enqueued again),
/// and remove their copies. An unreadable copy is renamed `<id>.bad` and
/// reported in the returned alarms; a store failure stops here (the copies
/// stay for the next start) and is returned as an error.
pub async fn settle_kept(store: &Store, db: &std::path::Path) -> Result<(usize, Vec<String>)> {
    let dir = unfinished_dir(db);
    let mut names: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_none())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Vec::new())),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    names.sort();
    let mut settled = 0;
    let mut alarms = Vec::new();
    for path in names {
        let kept = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<KeptEvent>(&b).map_err(|e| e.to_string()));
        let kept = match kept {
            Ok(k) => k,
            Err(why) => {
                let bad = path.with_extension("bad");
                error!(path = %path.display(), %why, "kept event unreadable: set aside");
                let _ = std::fs::rename(&path, &bad);
                alarms.push(format!(
                    "an event kept while the store failed is unreadable ({why}): set aside as {}",
                    bad.display()
                ));
                continue;
            }
        };
        let id = kept.event.event_id.clone();
        finish(store, kept.event, &kept.topic).await?;
        warn!(event_id = %id, "event kept while the store failed: journaled at start");
        if let Err(e) = std::fs::remove_file(&path) {
            warn!(path = %path.display(), %e, "copy of a journaled event not removed");
        }
        settled += 1;
    }
    Ok((settled, alarms))
}
