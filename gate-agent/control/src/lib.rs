//! `gate-control`: the client side of the agent's control socket
//! (docs/control-protocol.md), shared by `gatectl`, the simulator and the
//! agent's own server.
//!
//! - [`Client`]: connect to the socket, send one request line, read one
//!   bounded answer line with a deadline (blocking std I/O).
//! - [`db`]: the answers read from the lane database, the same for the
//!   agent's server and for `gatectl` while the agent is down.
//! - [`protocol`]: the wire format and the answers' types (`gate-wire`'s
//!   `control`, re-exported), framed by its `line` module on both ends.
//!
//! Layer: above `gate-wire` (the sans-IO protocol) and `gate-store`; knows
//! nothing of the agent's runtime, drivers or lane.

mod client;
pub mod db;
pub use gate_wire::control as protocol;

pub use client::{Client, ClientError};
