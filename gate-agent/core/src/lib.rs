//! The lane core: sans-IO.
//!
//! - [`view`]: what the decision needs from the whitelist (filled by the store).
//! - `decision`: the clearance decision engine, a pure function of (what was
//!   identified, a whitelist view, the policy) -> decision + reason codes.
//! - `lane`: the lane sequence state machine, a pure function of
//!   (state, input, now) -> (state, commands).
//!
//! This crate knows nothing about tokio, SQLite, MQTT, Modbus or clocks: time
//! is an input, I/O happens in the agent around it.
#![deny(unsafe_code)]

pub mod view;
