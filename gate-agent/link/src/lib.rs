//! `gate-link`: the lane agent's link to the central platform over MQTT
//! (shared/spec/platform.md; behaviour and bounds in docs/link.md).
//!
//! - [`Link::spawn`] starts the link; the agent keeps a [`LinkHandle`] and
//!   receives verified commands on [`LinkReceivers::commands`].
//! - Everything the lane sends that must arrive (events, photos, alarms,
//!   command replies) is in the store's outbox first; the link publishes it in
//!   id order with a bounded window of QoS 1 publishes and deletes an item only
//!   when its PUBACK arrives ([`window`] has the packet-id correlation).
//! - Signed whitelist batches and commands are verified ([`verify`]) before
//!   they reach the store or the agent; anything refused raises a
//!   `rejected_message` alarm and changes nothing.
//! - [`Link::spawn_observed`] also tells a [`LinkObserver`] (the agent's
//!   metrics) of connections, each outbox item's PUBACK round trip and
//!   applied whitelist versions; gate-link itself has no metrics crate.
//! - Storage is reached only through the traits of [`store`], from
//!   `spawn_blocking`; they are implemented for `gate_store::Store` (pass the
//!   same `Arc<Store>` three times) and, in memory, in [`memory`].
//!
//! Layer: the only crate that knows MQTT, topics and the platform's JSON on
//! the lane side. It knows nothing about SQLite, devices or lane decisions.
#![deny(unsafe_code)]

pub mod backoff;
pub mod config;
mod error;
mod gate_store;
pub mod inbound;
mod link;
pub mod memory;
pub mod observe;
pub mod store;
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
    ApplyOutcome, CommandLog, Outbox, OutboxDepth, OutboxItem, OutboxMessage, StoreError,
    WhitelistSink,
};
pub use tls::client_config as tls_client_config;
