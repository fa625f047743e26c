//! The lane core: sans-IO.
//!
//! - [`view`]: what the decision needs from the whitelist (filled by the store).
//! - [`identified`]: what the lane read about a vehicle, and the
//!   [`view::LookupKeys`] derived from it.
//! - [`policy`]: the configuration of the local checks and the weighing
//!   arithmetic (OIML R76 errors, weight tolerance).
//! - [`decision`]: the clearance decision engine, [`decide`], a pure
//!   function of (identified, whitelist view, policy, now, online) ->
//!   [`Decision`] with reason codes (docs/reasons.md).
//! - [`lane`]: the lane sequence state machine, [`Lane`]: `handle(now,
//!   input) -> commands` and `poll_at()` (docs/lane-sequence.md).
//!
//! How the runtime drives it:
//!
//! ```text
//! loop {
//!     input = next of (board snapshot, device read/fault, officer action,
//!                      decision, timer at lane.poll_at() -> Input::Tick)
//!     for cmd in lane.handle(now_ms, input) {          // in order
//!         Decide { seq, identified } => {
//!             keys = LookupKeys::from(&identified);
//!             view = store.view(&keys);                // one read transaction
//!             d = decide(&identified, &view, &policy, unix_now, online);
//!             lane.handle(now_ms, Input::Decided { seq, decision: d })
//!         }
//!         Journal { step, passage } => store (fsync) before the next command
//!         Raise / Lower / SetLed / SetLight => board
//!         StartIdentification => cameras, readers
//!         Alarm / Finish => outbox (event, alarm)
//!         Ack => reply to the officer / platform command
//!     }
//! }
//! ```
//!
//! This crate knows nothing about tokio, SQLite, MQTT, Modbus or clocks: time
//! is an input, I/O happens in the agent around it.
#![deny(unsafe_code)]

pub mod decision;
pub mod identified;
pub mod lane;
pub mod policy;
pub mod view;

pub use decision::{decide, Decision};
pub use identified::{Device, Identified};
pub use lane::{Command, Input, Lane, LaneConfig, Passage, Step};
pub use policy::Policy;
