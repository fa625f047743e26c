//! Storage ports: what the link needs from durable storage, as three small
//! blocking traits (the outbox, the whitelist, the command log).
//!
//! Layer: the boundary between the link and the lane's store. This module
//! knows nothing about SQLite or MQTT; `gate-store` implements these traits for
//! its `Store`, and [`crate::memory`] has in-memory versions for tests. The link
//! calls every method from `tokio::task::spawn_blocking`, so implementations
//! may block on disk I/O but must be `Send + Sync`.

use std::fmt;

use gate_proto::messages::WhitelistBatch;

/// An error from the store, opaque to the link (it is logged, counted, put in
/// the link state and, where it matters, raised as an alarm).
#[derive(Debug)]
pub struct StoreError(Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wrap any error of the store.
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(e.into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A message to put in the outbox: the MQTT topic and the raw payload (JSON
/// for events, alarms and replies; JPEG bytes for photos).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// A message in the outbox, with its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxItem {
    /// Strictly increasing in enqueue order and never reused, even after the
    /// outbox was emptied (SQLite: `INTEGER PRIMARY KEY AUTOINCREMENT`).
    pub id: i64,
    pub topic: String,
    pub payload: Vec<u8>,
    /// Publish with the MQTT retain flag.
    pub retain: bool,
}

/// How full the outbox is (reported in the lane status).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    /// Messages waiting for a PUBACK.
    pub count: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// The store's byte quota for the outbox (0: none).
    pub quota_bytes: u64,
}

/// The store-and-forward queue of everything the lane sends to the platform
/// (events, photos, alarms, command replies). The agent enqueues; the link
/// publishes in id order and deletes an item only when the broker's PUBACK
/// for it has arrived.
pub trait Outbox: Send + Sync + 'static {
    /// Append a message durably; returns its id.
    fn enqueue(&self, msg: &OutboxMessage) -> Result<i64, StoreError>;
    /// Up to `limit` items with an id greater than `after` (from the oldest
    /// when `None`), in increasing id order.
    fn peek(&self, after: Option<i64>, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;
    /// Delete these items (each was acknowledged by the broker). Ids no longer
    /// present are ignored. Should be one transaction.
    fn ack(&self, ids: &[i64]) -> Result<(), StoreError>;
    /// Current depth.
    fn depth(&self) -> Result<OutboxDepth, StoreError>;
}

/// What applying a whitelist batch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The whitelist is now at `version` (a delta, or the last chunk of a
    /// snapshot, was applied atomically).
    Applied { version: u64 },
    /// A snapshot chunk was stored; the snapshot applies when all `count`
    /// chunks of `version` are in (`have` of them are).
    Partial { version: u64, have: u32, count: u32 },
    /// The batch is not newer than the current version `have`: nothing done.
    Stale { have: u64 },
    /// A delta whose `from_version` is not the current version `have`: not
    /// applied; the lane must ask for a resync.
    NeedResync { have: u64 },
}

/// The lane's versioned whitelist, as the link sees it.
pub trait WhitelistSink: Send + Sync + 'static {
    /// The version the lane currently decides with (0: none yet).
    fn version(&self) -> Result<u64, StoreError>;
    /// Apply a batch that has been verified (signature, schema, site) by the
    /// link. Must be atomic: a lookup sees the old version or the new one,
    /// and a crash mid-apply leaves the old one. The implementation re-checks
    /// versions inside its transaction: a delta applies only when
    /// `from_version` equals the current version; a batch whose `version` is
    /// not above the current one is `Stale`; snapshot chunks are kept until
    /// every chunk of that version is in.
    fn apply(&self, batch: &WhitelistBatch) -> Result<ApplyOutcome, StoreError>;
}

/// The durable log of command ids, which makes replay refusal and "exactly
/// one reply per command id" hold across restarts.
pub trait CommandLog: Send + Sync + 'static {
    /// Atomically record `id` as seen (received at `at_ms`, Unix ms) unless it
    /// already is. Returns `true` if the id was new, `false` for a replay.
    fn begin(&self, id: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Atomically, in one transaction: if `id` has no reply yet, enqueue
    /// `reply` in the outbox and mark the id answered (recording it first if
    /// it was never begun). Returns the outbox id, or `None` when the id was
    /// already answered (then nothing is enqueued).
    fn answer(&self, id: &str, reply: &OutboxMessage) -> Result<Option<i64>, StoreError>;
    /// Ids begun but never answered (the lane stopped between the two),
    /// oldest first, at most `limit`. The link answers them at startup.
    fn unanswered(&self, limit: usize) -> Result<Vec<String>, StoreError>;
}
