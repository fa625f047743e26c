//! `gate-wire`: the lane agent's wire formats, sans-IO.
//!
//! - [`weighbridge`]: the ASCII continuous-output frames of weighbridge
//!   indicators (Mettler Toledo, Yaohua XK3190) and the stream framer that
//!   finds them in a serial byte stream.
//! - [`profile`]: Modbus register profiles (TOML) and their value codec.
//! - [`control`]: the control-socket protocol spoken by `gatectl`.
//! - [`locate`]: line and column of an offset, for every located error.
//!
//! Layer: bytes and text in, validated values out (and back). No I/O besides
//! reading a profile file, no clock, no tokio: the agent's drivers and
//! control server do the I/O and re-export these modules where they always
//! were (`gate_agent::drivers::profile`, `gate_agent::control::protocol`,
//! `gate_agent::drivers::weighbridge::{toledo, xk3190}`). Nothing here panics
//! on any input; the fuzz targets in `fuzz/` check that.
#![deny(unsafe_code)]

pub mod control;
pub mod locate;
pub mod profile;
pub mod weighbridge;
