//! `gate-link-port`: the platform link's storage port. What the link
//! (`gate-link`) needs from durable storage, as three small blocking traits
//! and the types they carry:
//! - [`Outbox`]: the store-and-forward queue of everything the lane sends
//!   that must arrive (events, photos, alarms, command replies). Everything
//!   enters it as an [`OutboxMessage`] whose [`OutboxKind`] its maker states
//!   (the typed constructors build the topic from the kind); nothing
//!   derives a kind from a topic string.
//! - [`WhitelistSink`]: the lane's versioned whitelist, fed verified
//!   batches ([`ApplyOutcome`]).
//! - [`CommandLog`]: the durable log of command ids behind "exactly one
//!   reply per command".
//!
//! Implemented by `gate-store` for its SQLite `Store` (the agent passes the
//! same `Arc<Store>` as outbox, whitelist and command log) and, in memory
//! for tests, by `gate_link::memory`. The link calls every method from
//! `tokio::task::spawn_blocking`, so implementations may block on disk I/O
//! but must be `Send + Sync`.
//!
//! Layer: the boundary between the link and the store; both depend on this
//! crate, neither on the other. Data, traits and pure constructors only: it
//! knows nothing about SQLite, MQTT connections or tokio, and the
//! contract's lane topics only to build a message's topic from its kind.
#![deny(unsafe_code)]

mod outbox;

use std::fmt;

use gate_proto::messages::WhitelistBatch;

pub use outbox::{Outbox, OutboxDepth, OutboxItem, OutboxKind, OutboxMessage};

/// An error from the storage behind a port, opaque to the link (it is
/// logged, counted, put in the link state and, where it matters, raised as
/// an alarm).
#[derive(Debug)]
pub struct StoreError(Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wrap any error of the storage.
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

/// What applying a whitelist batch did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The whitelist is now at `version` (a delta, or the last missing chunk
    /// of a snapshot, applied atomically). `records`: upserts + deletes
    /// applied (for a snapshot, the records of all its chunks).
    Applied { version: u64, records: u64 },
    /// A snapshot chunk was stored; the snapshot applies when all `count`
    /// chunks of `version` are in (`received` of them are).
    Staged {
        version: u64,
        received: u32,
        count: u32,
    },
    /// Nothing changed: the batch is not newer than the current version
    /// `have`, or is a chunk already staged.
    Ignored { have: u64, reason: IgnoreReason },
    /// A delta whose `from_version` is not the current version `have`:
    /// nothing applied; the lane must ask for a resync from `have`.
    NeedResync { have: u64 },
}

/// Why a batch changed nothing ([`ApplyOutcome::Ignored`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// Version not newer than the current one (or than the snapshot being
    /// staged, for a chunk of an older snapshot).
    Stale,
    /// This chunk of this snapshot is already staged.
    DuplicateChunk,
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
    /// not above the current one is ignored (`Stale`); snapshot chunks are
    /// kept until every chunk of that version is in.
    fn apply(&self, batch: &WhitelistBatch) -> Result<ApplyOutcome, StoreError>;
}

/// The durable log of command ids, which makes replay refusal and "exactly
/// one reply per command id" hold across restarts.
pub trait CommandLog: Send + Sync + 'static {
    /// Atomically record `id` as seen (received at `at_ms`, Unix ms) unless it
    /// already is. Returns `true` if the id was new, `false` for a replay.
    fn begin(&self, id: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Atomically, in one transaction: if `id` has no reply yet, enqueue
    /// `reply` (an [`OutboxKind::Reply`] message, [`OutboxMessage::reply`])
    /// in the outbox and mark the id answered (recording it first if it was
    /// never begun). Returns the outbox id, or `None` when the id was
    /// already answered (then nothing is enqueued).
    fn answer(&self, id: &str, reply: &OutboxMessage) -> Result<Option<i64>, StoreError>;
    /// Ids begun but never answered (the lane stopped between the two),
    /// oldest first, at most `limit`. The link answers them at startup.
    fn unanswered(&self, limit: usize) -> Result<Vec<String>, StoreError>;
}
