//! The lane agent: configuration, device drivers, the runtime that connects
//! them to the lane core, the store and the platform link, and the local
//! control endpoint used by `gatectl`.
//!
//! Layer: the edge. Everything with I/O lives here or below (drivers); the
//! lane logic itself is in `gate-core` and knows nothing of this crate.

pub use gate_config as config;
use gate_drivers as drivers;
pub mod console;
pub mod control;
pub mod metrics;
pub mod recognition;
pub mod runtime;
pub mod service;
pub mod startcheck;
