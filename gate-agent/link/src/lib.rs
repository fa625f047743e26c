//! `gate-link`: the lane agent's link to the central platform over MQTT
//! (shared/spec/platform.md; behaviour and bounds in docs/link.md).
//!
//! - [`Link::spawn`] starts the link; the agent keeps a [`LinkHandle`] and
//!   receives verified commands on [`LinkReceivers::commands`].
//! - Everything the lane sends that must arrive (events, photos, alarms,
//!   command replies) is in the store's outbox first, each message with its
//!   kind ([`OutboxMessage`]); the link publishes it in id order with a
//!   bounded window of QoS 1 publishes and deletes an item only when its
//!   PUBACK arrives ([`window`] has the packet-id correlation). Its own
//!   alarms (and the agent's, [`LinkHandle::alarm`]) and command replies
//!   enter the outbox through the same port, as `Alarm` and `Reply`
//!   messages.
//! - Signed whitelist batches and commands are verified ([`verify`]) before
//!   they reach the store or the agent; anything refused raises a
//!   `rejected_message` alarm and changes nothing.
//! - [`Link::spawn_observed`] also tells a [`LinkObserver`] (the agent's
//!   metrics) of connections, each outbox item's PUBACK round trip and
//!   applied whitelist versions; gate-link itself has no metrics crate.
//! - Storage is reached only through the storage port, [`store`] (the crate
//!   `gate-link-port`, re-exported), from `spawn_blocking`: `gate-store`
//!   implements it for its `Store` (the agent passes the same `Arc<Store>`
//!   three times), [`memory`] in memory for tests.
//!
//! Layer: the only crate that knows MQTT, topics and the platform's JSON on
//! the lane side. It knows nothing about SQLite (it does not depend on
//! gate-store), devices or lane decisions.
#![deny(unsafe_code)]

pub mod backoff;
pub mod config;
mod error;
pub mod inbound;
mod link;
pub mod memory;
pub mod observe;
/// The storage port: the crate `gate-link-port`, re-exported.
pub use gate_link_port as store;
mod tls;
pub use gate_proto::verify;
pub mod window;

pub use config::{LinkConfig, TlsFiles};
pub use error::LinkError;
pub use link::{
    CommandRequest, CommandResult, Link, LinkDeps, LinkHandle, LinkReceivers, LinkState,
    StatusInput, DROPPED, OFFLINE_STATUS,
};
pub use observe::{LinkObserver, NoObserver};
pub use store::{
    ApplyOutcome, CommandLog, IgnoreReason, Outbox, OutboxDepth, OutboxItem, OutboxKind,
    OutboxMessage, StoreError, WhitelistSink,
};
pub use tls::client_config as tls_client_config;
