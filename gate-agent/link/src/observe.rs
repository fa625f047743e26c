//! What the link tells an observer as it happens (the agent's metrics):
//! connections, the PUBACK of each outbox item with its round trip, and
//! whitelist versions applied.
//!
//! Layer: a plain trait with no dependency; the link calls it from its
//! tasks, so an implementation must be cheap and must never block (count,
//! observe, store a value). Give it to [`crate::Link::spawn_observed`].

use std::time::Duration;

/// Receives the link's events. Every method has a default that does
/// nothing.
pub trait LinkObserver: Send + Sync + 'static {
    /// A connection to the broker is up (CONNACK received). `nth`: the
    /// successful connections since the link started, this one included
    /// (1 for the first; more is a reconnect).
    fn connected(&self, nth: u64) {
        let _ = nth;
    }

    /// The broker acknowledged (PUBACK) an outbox item `latency` after its
    /// publish went out on the connection (rumqttc wrote the packet).
    fn outbox_acked(&self, latency: Duration) {
        let _ = latency;
    }

    /// A whitelist version was applied (a delta, or the last chunk of a
    /// snapshot): the lane now decides with `version`.
    fn whitelist_applied(&self, version: u64) {
        let _ = version;
    }
}

/// The observer of a link spawned without one.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl LinkObserver for NoObserver {}
