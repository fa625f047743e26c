//! `gate-store`: the lane's SQLite store — the whitelist replica, the event
//! journal with its gapless per-lane sequence, the outbox the link publishes
//! from, command replay protection and the officers' audit log.
//!
//! Layers (docs/store.md has the full design):
//! - [`Store`] (this file): the thread-safe handle; owns two files and their
//!   connections and decides which transaction each call runs in.
//! - `whitelist`: batch apply (snapshot staging + swap, deltas) and lookups.
//! - `journal`, `outbox`, `admin`: the main file's tables; `command_log`
//!   the link's exactly-one-reply log on the commands table.
//! - `port`: the platform link's storage port (crate `gate-link-port`:
//!   `Outbox`, `WhitelistSink`, `CommandLog`) implemented for [`Store`],
//!   so the agent hands the link the same `Arc<Store>` three times. The
//!   port's types (`OutboxKind`, `OutboxMessage`, `OutboxItem`,
//!   `ApplyOutcome`) are this crate's API too (re-exported).
//! - `conn`: opening files safely, pragmas, migrations, reader pool.
//! - `schema`, `codec`: SQL text and column encodings.
//!
//! Two files, each with ONE writer connection behind a mutex and reader
//! connections beside it (WAL):
//! - `<stem>.whitelist.db`: the replica of the platform's whitelist. A big
//!   snapshot holds its write lock for seconds; lookups keep running on the
//!   readers meanwhile.
//! - `<path>` (the main file): journal, sequence counters, outbox, commands,
//!   audit. Its transactions are short, so `journal_decided` on the
//!   barrier's critical path never waits behind a whitelist apply, and its
//!   fsyncs do not flush whitelist pages.
//!
//! The API is synchronous and blocking; [`Store`] is `Send + Sync + Clone`
//! (an `Arc` inside). Async callers use `spawn_blocking` or own a thread.
//!
//! This crate knows SQLite and the contract's message types; it knows
//! nothing about MQTT, tokio, devices or the decision rules.
#![deny(unsafe_code)]

mod admin;
mod checkpoint;
mod codec;
mod command_log;
mod config;
mod conn;
mod error;
mod event_id;
mod journal;
mod outbox;
mod port;
mod quarantine;
mod schema;
mod whitelist;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use gate_core::view::{LookupKeys, WhitelistView};
use gate_proto::messages::{EventDecision, LaneEvent, WhitelistBatch};
use serde_json::Value;

pub use admin::{AlarmLogEntry, AuditEntry};
pub use codec::normalize_key;
pub use config::{Clock, OpenCheck, StoreConfig};
pub use error::{Result, StoreError};
pub use event_id::{event_id_ms, new_event_id};
pub use journal::{EventRecord, Finished, JournalEntry, JournalState};
pub use outbox::{Enqueued, OutboxStats, Pressure};
pub use quarantine::Quarantined;
pub use whitelist::{LookupKey, StagingStatus, WhitelistCounts};
// The link's storage port, implemented for `Store` in `port`: its types are
// the store's too.
pub use gate_link_port::{ApplyOutcome, IgnoreReason, OutboxItem, OutboxKind, OutboxMessage};

use config::ms;
use conn::{lock, Pool, Role, Writer};
use error::Ctx;

/// Reader connections on the main file (outbox peeks, diagnostics).
pub(crate) const MAIN_READERS: usize = 2;

/// The lane's store. Cheap to clone; all clones share the connections.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    whitelist_path: PathBuf,
    cfg: StoreConfig,
    wl_writer: Mutex<Writer>,
    wl_readers: Pool,
    main: Mutex<Main>,
    main_readers: Pool,
    ckpt: checkpoint::Checkpointer,
}

/// The main file's writer and the outbox totals it keeps current.
struct Main {
    w: Writer,
    totals: outbox::Totals,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("whitelist_path", &self.inner.whitelist_path)
            .finish_non_exhaustive()
    }
}

/// What [`Store::maintenance`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceReport {
    pub journal_purged: u64,
    pub commands_purged: u64,
}

impl Store {
    /// Open (creating if absent) the main file at `path` and the whitelist
    /// file beside it (see [`StoreConfig::whitelist_path`]), migrate both to
    /// the current schema, and open the reader connections.
    ///
    /// Errors: [`StoreError::NotADatabase`] for a file that is not SQLite,
    /// [`StoreError::Corrupt`] for a damaged one, [`StoreError::TooNew`] for
    /// one written by a newer build.
    pub fn open(path: impl AsRef<Path>, cfg: StoreConfig) -> Result<Store> {
        let path = path.as_ref().to_owned();
        let whitelist_path = cfg.whitelist_path_for(&path);
        conn::check_header(&path)?;
        conn::check_header(&whitelist_path)?;

        let mut main_conn = conn::open(&path, &cfg, Role::Writer)?;
        conn::migrate(&mut main_conn, &path, schema::MAIN_MIGRATIONS)?;
        conn::open_check(&main_conn, &path, cfg.open_check)?;
        let totals = outbox::Totals::load(&main_conn)?;

        let mut wl_conn = conn::open(&whitelist_path, &cfg, Role::Writer)?;
        conn::migrate(&mut wl_conn, &whitelist_path, schema::WHITELIST_MIGRATIONS)?;
        conn::open_check(&wl_conn, &whitelist_path, cfg.open_check)?;

        let wl_readers = Pool::new(&whitelist_path, &cfg, cfg.readers)?;
        let main_readers = Pool::new(&path, &cfg, MAIN_READERS)?;
        let ckpt = checkpoint::Checkpointer::start([path.clone(), whitelist_path.clone()], &cfg)?;
        let store = Store {
            inner: Arc::new(Inner {
                wl_writer: Mutex::new(Writer::new(wl_conn, whitelist_path.clone())),
                main: Mutex::new(Main {
                    w: Writer::new(main_conn, path.clone()),
                    totals,
                }),
                path,
                whitelist_path,
                cfg,
                wl_readers,
                main_readers,
                ckpt,
            }),
        };
        let version = store.whitelist_version()?;
        // Migration and the open checks leave pages in the writers' caches
        // that an idle lane never reads again.
        store.release_memory();
        tracing::info!(
            path = %store.inner.path.display(),
            whitelist = %store.inner.whitelist_path.display(),
            version,
            "store open"
        );
        Ok(store)
    }

    /// [`Store::open`], but a file found corrupt (not a database, or SQLite
    /// reports corruption) is moved aside as `<file>.corrupt-<unix ms>`
    /// instead of failing: the main file's lane sequence counters and
    /// unacknowledged outbox items are salvaged into a fresh one as far as
    /// they can be read, a bad whitelist file is simply replaced (version 0:
    /// the platform sends a snapshot again). Returns what was moved; the
    /// caller raises an alarm for each. Any other error is returned as is.
    pub fn open_or_quarantine(
        path: impl AsRef<Path>,
        cfg: StoreConfig,
    ) -> Result<(Store, Vec<Quarantined>)> {
        let path = path.as_ref();
        let first = match Store::open(path, cfg.clone()) {
            Ok(s) => return Ok((s, Vec::new())),
            Err(e) if quarantine::is_corruption(&e) => e,
            Err(e) => return Err(e),
        };
        let stamp = cfg.clock.now_ms();
        let whitelist = cfg.whitelist_path_for(path);
        let mut moved = Vec::new();
        for (file, main) in [(path.to_owned(), true), (whitelist, false)] {
            let Some(why) = quarantine::problem(&file) else {
                continue;
            };
            let to = quarantine::move_aside(&file, stamp)?;
            let mut q = Quarantined {
                file: file.clone(),
                moved_to: to.clone(),
                why,
                seqs_salvaged: 0,
                outbox_salvaged: 0,
                salvage_error: None,
            };
            if main {
                let mut s = quarantine::salvage(&to);
                quarantine::merge_seq_marks(&file, &mut s);
                quarantine::merge_unsent(&file, &mut s);
                let mut c = conn::open(&file, &cfg, Role::Writer)?;
                conn::migrate(&mut c, &file, schema::MAIN_MIGRATIONS)?;
                quarantine::restore(&mut c, &file, &s)?;
                q.seqs_salvaged = s.seqs.len();
                q.outbox_salvaged = s.outbox.len();
                q.salvage_error = s.error;
            }
            tracing::error!(
                file = %q.file.display(),
                moved_to = %q.moved_to.display(),
                why = %q.why,
                seqs = q.seqs_salvaged,
                outbox = q.outbox_salvaged,
                salvage_error = ?q.salvage_error,
                "database file corrupt: quarantined, continuing on a fresh one"
            );
            moved.push(q);
        }
        if moved.is_empty() {
            // Corruption reported, yet no file shows it: nothing to move.
            return Err(first);
        }
        let store = Store::open(path, cfg)?;
        Ok((store, moved))
    }

    /// The main file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The whitelist replica file. It holds nothing the platform cannot
    /// send again: if it is corrupt, deleting it (with its `-wal`/`-shm`)
    /// and resyncing from a snapshot is the recovery.
    pub fn whitelist_path(&self) -> &Path {
        &self.inner.whitelist_path
    }

    fn now(&self) -> i64 {
        self.inner.cfg.clock.now_ms()
    }

    // ------------------------------------------------------------ whitelist

    /// The whitelist version lookups currently see (0: never synced).
    pub fn whitelist_version(&self) -> Result<u64> {
        let mut r = self.inner.wl_readers.get();
        let tx = r.read_tx()?;
        whitelist::current_version(&tx)
    }

    /// Everything in the whitelist related to `keys`, read in one read
    /// transaction: one version, never a mix. Keys are normalised like the
    /// stored identifiers ([`normalize_key`]). Does not wait for a batch
    /// being applied: it sees the version before it.
    pub fn lookup(&self, keys: &LookupKeys) -> Result<WhitelistView> {
        let mut r = self.inner.wl_readers.get();
        let tx = r.read_tx()?;
        whitelist::lookup(&tx, keys)
    }

    /// [`Store::lookup`] by a single key (diagnostics CLI).
    pub fn lookup_by(&self, key: LookupKey) -> Result<WhitelistView> {
        self.lookup(&key.into_keys())
    }

    /// Apply a whitelist batch (the verified body of a signed message).
    ///
    /// - delta: applies only when `from_version` is the current version,
    ///   atomically with the version bump; otherwise `NeedResync` (or
    ///   `Ignored` when it is not newer than what the lane has).
    /// - snapshot chunk: staged (durable across restarts); when every chunk
    ///   of that version is in, the whole snapshot replaces the whitelist
    ///   atomically. Chunks of an older version, and duplicates, are
    ///   ignored; a chunk of a newer version discards the staged one.
    ///
    /// Blocks other applies (one writer), never lookups.
    pub fn apply_batch(&self, batch: &WhitelistBatch) -> Result<ApplyOutcome> {
        let now = self.now();
        let mut w = lock(&self.inner.wl_writer);
        let out = whitelist::apply_batch(&mut w, batch, now)?;
        drop(w);
        if matches!(
            out,
            ApplyOutcome::Applied { .. } | ApplyOutcome::Staged { .. }
        ) {
            self.inner.ckpt.notify(checkpoint::File::Whitelist);
        }
        Ok(out)
    }

    /// Give back the page caches of the writers and of the idle readers
    /// (SQLite keeps pages up to each connection's `cache_size` after a
    /// statement ends). Called after opening (migration and the open checks
    /// read pages an idle lane never reads again); the next statement reads
    /// its pages from the OS cache again. Best effort: a connection that
    /// cannot shrink keeps its cache.
    fn release_memory(&self) {
        conn::release_memory(&lock(&self.inner.wl_writer).conn, "whitelist writer");
        conn::release_memory(&lock(&self.inner.main).w.conn, "main writer");
        self.inner.wl_readers.release_memory();
        self.inner.main_readers.release_memory();
    }

    /// The snapshot being staged, if any.
    pub fn staging_status(&self) -> Result<Option<StagingStatus>> {
        let mut r = self.inner.wl_readers.get();
        let tx = r.read_tx()?;
        whitelist::staging_status(&tx)
    }

    /// Record counts of the live whitelist (diagnostics).
    pub fn whitelist_counts(&self) -> Result<WhitelistCounts> {
        let mut r = self.inner.wl_readers.get();
        let tx = r.read_tx()?;
        whitelist::counts(&tx)
    }

    // ------------------------------------------------------------ journal

    /// Journal a vehicle's arrival under `event_id` (from [`new_event_id`]).
    /// `context` is the agent's draft of the event, kept for recovery.
    /// Calling it again for an unfinished event replaces the context.
    /// Not fsynced (an arrival lost in a power cut has no seq yet, so no
    /// gap follows from it).
    pub fn journal_start(
        &self,
        lane: &str,
        event_id: &str,
        arrived_at: &str,
        context: &Value,
    ) -> Result<()> {
        let now = self.now();
        let mut m = lock(&self.inner.main);
        let tx = m.w.begin(false)?;
        journal::start(&tx, lane, event_id, arrived_at, context, now)?;
        tx.commit().ctx("committing an arrival")?;
        self.inner.ckpt.notify(checkpoint::File::Main);
        Ok(())
    }

    /// Replace the journal record (`context`) of an unfinished event, its
    /// state unchanged: the agent patches one record per passage at each
    /// step that carries no decision (the reads gathered so far). Not
    /// fsynced, like the arrival: it survives a process crash, and a power
    /// cut may lose it (the passage then resumes from its previous record
    /// and reads again). Nothing moves the barrier on the strength of it:
    /// the barrier waits for [`Store::journal_decided`], whose fsync also
    /// makes this earlier commit durable.
    pub fn journal_update(&self, event_id: &str, context: &Value) -> Result<()> {
        let mut m = lock(&self.inner.main);
        let tx = m.w.begin(false)?;
        journal::update(&tx, event_id, context)?;
        tx.commit().ctx("committing a journal record")?;
        self.inner.ckpt.notify(checkpoint::File::Main);
        Ok(())
    }

    /// Journal the decision. DURABLE: when this returns Ok the decision is
    /// on stable storage (WAL fsynced), so the agent may move the barrier.
    /// May be called again (an officer overrides a hold).
    pub fn journal_decided(
        &self,
        event_id: &str,
        decision: &EventDecision,
        decided_at: &str,
        context: &Value,
    ) -> Result<()> {
        let mut m = lock(&self.inner.main);
        let tx = m.w.begin(true)?;
        journal::decided(&tx, event_id, decision, decided_at, context)?;
        tx.commit().ctx("committing a decision")?;
        self.inner.ckpt.notify(checkpoint::File::Main);
        Ok(())
    }

    /// Finish an event: in ONE durable transaction, give it the next seq of
    /// its lane (gapless, persistent), store its final JSON, and enqueue it
    /// on `topic` in the outbox. `event.seq` is ignored (overwritten).
    /// Idempotent: finishing an already finished `event_id` returns its
    /// seq and enqueues nothing. Events are never refused for quota
    /// reasons; check [`Finished::pressure`].
    pub fn journal_finish(&self, event: &LaneEvent, topic: &str) -> Result<Finished> {
        let now = self.now();
        let cfg = &self.inner.cfg;
        let quota = outbox::Quota {
            bytes: cfg.outbox_quota_bytes,
            warn_percent: cfg.outbox_warn_percent,
        };
        let mut guard = lock(&self.inner.main);
        let m = &mut *guard;
        let mut totals = m.totals.clone();
        let tx = m.w.begin(true)?;
        let (seq, json) = match journal::finish(&tx, event, now)? {
            Ok(x) => x,
            Err(seq) => {
                return Ok(Finished {
                    seq,
                    outbox_id: None,
                    already_finished: true,
                    pressure: totals.pressure(quota.bytes, quota.warn_percent),
                })
            }
        };
        let q = outbox::enqueue(
            &tx,
            &mut totals,
            &quota,
            OutboxKind::Event,
            topic,
            &json,
            now,
        )?;
        journal::purge(&tx, now - ms(cfg.journal_keep), cfg.journal_max)?;
        // The counter's copy first: never a number the copy does not hold.
        quarantine::mark_seq(&self.inner.path, &event.lane, seq)?;
        tx.commit().ctx("committing a finished event")?;
        self.inner.ckpt.notify(checkpoint::File::Main);
        m.totals = totals;
        if let Some(id) = q.id {
            quarantine::keep_unsent(&self.inner.path, id, topic, &json);
        }
        tracing::debug!(event_id = %event.event_id, lane = %event.lane, seq, "event finished");
        Ok(Finished {
            seq,
            outbox_id: q.id,
            already_finished: false,
            pressure: q.pressure,
        })
    }

    /// Events started or decided but not finished (open at a crash), oldest
    /// first. The agent settles each with `journal_finish` (e.g. outcome
    /// `timeout`), using the stored context and decision.
    pub fn unfinished_journal(&self) -> Result<Vec<JournalEntry>> {
        let mut r = self.inner.main_readers.get();
        let tx = r.read_tx()?;
        journal::unfinished(&tx)
    }

    /// The most recent finished events, newest first (diagnostics).
    pub fn recent_events(&self, limit: usize) -> Result<Vec<EventRecord>> {
        let mut r = self.inner.main_readers.get();
        let tx = r.read_tx()?;
        journal::recent(&tx, limit)
    }

    /// The last seq given, per lane.
    pub fn last_seqs(&self) -> Result<Vec<(String, u64)>> {
        let mut r = self.inner.main_readers.get();
        let tx = r.read_tx()?;
        journal::last_seqs(&tx)
    }

    // ------------------------------------------------------------ outbox

    /// Enqueue a message to publish, as its kind says (photos, alarms,
    /// status, sync; the lane's events go through [`Store::journal_finish`],
    /// command replies through [`Store::command_answer`]). Applies the quota
    /// policy: over quota, the oldest photos are evicted; a photo that
    /// cannot fit even so is refused (`id: None`); other kinds are always
    /// stored. A `status` or `sync` item replaces any unsent one of its
    /// kind. An alarm is also kept in the alarm log. Fsynced for events
    /// only.
    pub fn outbox_enqueue(&self, msg: &OutboxMessage) -> Result<Enqueued> {
        let (kind, topic, payload) = (msg.kind, msg.topic.as_str(), msg.payload.as_slice());
        let now = self.now();
        let cfg = &self.inner.cfg;
        let quota = outbox::Quota {
            bytes: cfg.outbox_quota_bytes,
            warn_percent: cfg.outbox_warn_percent,
        };
        let mut guard = lock(&self.inner.main);
        let m = &mut *guard;
        let mut totals = m.totals.clone();
        let tx = m.w.begin(kind == OutboxKind::Event)?;
        let q = outbox::enqueue(&tx, &mut totals, &quota, kind, topic, payload, now)?;
        if kind == OutboxKind::Alarm {
            // Every alarm for the platform is also kept in the lane's log
            // (acknowledged at the booth); one that does not decode is
            // still sent.
            match serde_json::from_slice::<gate_proto::messages::Alarm>(payload) {
                Ok(a) => admin::log_alarm(&tx, &a)?,
                Err(e) => tracing::warn!(%e, "alarm not logged: payload does not decode"),
            }
        }
        tx.commit().ctx("committing an outbox item")?;
        self.inner.ckpt.notify(checkpoint::File::Main);
        m.totals = totals;
        Ok(q)
    }

    /// Up to `limit` items with id > `after_id`, in publication order.
    pub fn outbox_peek(&self, after_id: Option<i64>, limit: usize) -> Result<Vec<OutboxItem>> {
        let mut r = self.inner.main_readers.get();
        let tx = r.read_tx()?;
        outbox::peek(&tx, after_id, limit)
    }

    /// Remove an item the broker acknowledged. False when it was not there
    /// (already acked, or an evicted photo / replaced status).
    pub fn outbox_ack(&self, id: i64) -> Result<bool> {
        Ok(self.outbox_ack_all(&[id])? == 1)
    }

    /// Remove every item of `ids` the broker acknowledged, in one
    /// transaction (one commit for a window of PUBACKs). Returns how many
    /// were there; ids already gone are skipped. All or nothing: on an error
    /// none is removed (they are published again: duplicates, never losses).
    pub fn outbox_ack_all(&self, ids: &[i64]) -> Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut guard = lock(&self.inner.main);
        let m = &mut *guard;
        let tx = m.w.begin(false)?;
        let mut gone = Vec::with_capacity(ids.len());
        for id in ids {
            gone.extend(outbox::ack(&tx, *id)?);
        }
        tx.commit().ctx("committing outbox acks")?;
        self.inner.ckpt.notify(checkpoint::File::Main);
        for (kind, bytes) in &gone {
            m.totals.remove(*kind, *bytes);
        }
        quarantine::forget_unsent(&self.inner.path, ids);
        Ok(gone.len())
    }

    /// Depth, bytes, per-kind counts, oldest item, pressure.
    pub fn outbox_stats(&self) -> Result<OutboxStats> {
        let oldest = {
            let mut r = self.inner.main_readers.get();
            let tx = r.read_tx()?;
            outbox::oldest_ms(&tx)?
        };
        let cfg = &self.inner.cfg;
        let m = lock(&self.inner.main);
        Ok(m.totals
            .stats(cfg.outbox_quota_bytes, cfg.outbox_warn_percent, oldest))
    }

    /// Current outbox pressure (no I/O).
    pub fn outbox_pressure(&self) -> Pressure {
        let cfg = &self.inner.cfg;
        lock(&self.inner.main)
            .totals
            .pressure(cfg.outbox_quota_bytes, cfg.outbox_warn_percent)
    }

    // ------------------------------------------------------------ commands, audit

    /// Whether a command id was recorded (within the retention window).
    pub fn command_seen(&self, id: &str) -> Result<bool> {
        let mut r = self.inner.main_readers.get();
        let tx = r.read_tx()?;
        admin::command_seen(&tx, id)
    }

    /// Record a command id with its body and the agent's result. DURABLE.
    /// Returns false when the id was already recorded: a replay, refuse it.
    /// Record BEFORE acting on the command, so a crash after acting cannot
    /// let it be replayed. Ids are kept `command_keep`, at most
    /// `command_max`.
    pub fn record_command(&self, id: &str, body: &str, result: &str) -> Result<bool> {
        let now = self.now();
        let cfg = &self.inner.cfg;
        let mut m = lock(&self.inner.main);
        let tx = m.w.begin(true)?;
        let new = admin::record_command(
            &tx,
            id,
            body,
            result,
            now,
            now - ms(cfg.command_keep),
            cfg.command_max,
        )?;
        tx.commit().ctx("committing a command id")?;
        self.inner.ckpt.notify(checkpoint::File::Main);
        Ok(new)
    }

    /// Append an officer action to the audit log (append-only: the table
    /// refuses UPDATE and DELETE). DURABLE. Returns its id.
    pub fn audit(
        &self,
        officer: &str,
        action: &str,
        detail: &str,
        event_id: Option<&str>,
    ) -> Result<i64> {
        let now = self.now();
        let mut m = lock(&self.inner.main);
        let tx = m.w.begin(true)?;
        let id = admin::audit(&tx, officer, action, detail, event_id, now)?;
        tx.commit().ctx("committing an audit entry")?;
        self.inner.ckpt.notify(checkpoint::File::Main);
        Ok(id)
    }

    /// The lane's alarm log, newest first: every alarm queued for the
    /// platform (kept after delivery, the newest
    /// 10,000), all or only those not yet acknowledged.
    pub fn alarm_log(&self, limit: usize, open_only: bool) -> Result<Vec<AlarmLogEntry>> {
        let mut r = self.inner.main_readers.get();
        let tx = r.read_tx()?;
        admin::alarm_log(&tx, limit, open_only)
    }

    /// How many logged alarms are not acknowledged.
    pub fn open_alarms(&self) -> Result<u64> {
        let mut r = self.inner.main_readers.get();
        let tx = r.read_tx()?;
        admin::open_alarms(&tx)
    }

    /// Acknowledge a logged alarm (who, why). False when the alarm is
    /// unknown or already acknowledged. Durable (fsynced), like the audit.
    pub fn ack_alarm(&self, id: i64, officer: &str, note: &str) -> Result<bool> {
        let now = self.now();
        let mut m = lock(&self.inner.main);
        let tx = m.w.begin(true)?;
        let done = admin::ack_alarm(&tx, id, officer, note, now)?;
        tx.commit().ctx("committing an alarm acknowledgement")?;
        self.inner.ckpt.notify(checkpoint::File::Main);
        Ok(done)
    }

    /// The most recent audit entries, newest first.
    pub fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut r = self.inner.main_readers.get();
        let tx = r.read_tx()?;
        admin::recent_audit(&tx, limit)
    }

    // ------------------------------------------------------------ upkeep

    /// Retention and WAL upkeep; call every few minutes from a blocking
    /// thread. Purges journal entries and command ids past retention and
    /// checkpoints both WALs (passive: never waits for readers; the
    /// whitelist is skipped while a batch is being applied).
    pub fn maintenance(&self) -> Result<MaintenanceReport> {
        let now = self.now();
        let cfg = &self.inner.cfg;
        let mut report = MaintenanceReport::default();
        {
            let mut m = lock(&self.inner.main);
            let tx = m.w.begin(false)?;
            report.journal_purged =
                journal::purge(&tx, now - ms(cfg.journal_keep), cfg.journal_max)?;
            report.commands_purged =
                admin::purge_commands(&tx, now - ms(cfg.command_keep), cfg.command_max)?;
            tx.commit().ctx("committing maintenance")?;
            checkpoint(&m.w)?;
        }
        // Not behind a snapshot being applied: the background thread
        // checkpoints after it anyway.
        if let Ok(w) = self.inner.wl_writer.try_lock() {
            checkpoint(&w)?;
        }
        Ok(report)
    }
}

fn checkpoint(w: &Writer) -> Result<()> {
    w.conn
        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .map_err(|e| StoreError::sqlite(format!("checkpointing {}", w.path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn store_is_send_sync_clone() {
        assert_send_sync::<Store>();
    }
}
