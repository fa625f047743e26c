//! Device drivers: the agent's I/O edge towards the lane's field devices.
//!
//! Layer: below the runtime, above the wire. Drivers turn bytes on a Modbus
//! bus, a serial line or an HTTP connection into typed readings
//! ([`board::BoardSnapshot`], [`weighbridge::WeightReading`], [`rfid::TagRead`],
//! [`camera::Frame`]) published on tokio `watch` channels, and turn commands
//! into writes. They know nothing about the lane sequence, decisions, the
//! store or the platform link: the runtime wires them together.
//!
//! Structure:
//! - [`config`]: serde structs for transports, buses and devices (what the
//!   runtime embeds in the lane configuration).
//! - [`profile`]: register profiles (reusable TOML files under
//!   `config/profiles/`) and the sans-IO value codec (word/byte orders,
//!   scale, offset, status bits).
//! - [`bus`]: one task per Modbus bus (a TCP connection or an RS-485 line)
//!   that owns the tokio-modbus context, serialises requests of every device
//!   on it, times every request out and reconnects with capped backoff.
//! - [`health`]: per-device health shared with the runtime.
//! - [`board`], [`weighbridge`], [`rfid`], [`camera`]: the device drivers.
//!
//! Invariants: a dead or stuck device never stalls a caller (bounded queues,
//! deadlines on every request); a Modbus exception (the device answered "no")
//! is never confused with a transport failure (nobody answered); bad input
//! from a device never panics.

pub mod backoff;
pub mod board;
pub mod bus;
pub mod camera;
pub mod config;
pub mod error;
pub mod health;
pub mod profile;
pub mod rfid;
pub mod weighbridge;

pub use bus::{spawn_bus, BusHandle, ModbusDevice};
pub use error::DeviceError;
pub use health::{DeviceHealth, HealthRegistry};
