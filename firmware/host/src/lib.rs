//! Host-side transports for the firmware core's Modbus slave: Modbus TCP (MBAP)
//! and Modbus RTU on a serial port (a real one or a pseudo-terminal), around
//! any [`lane_io::modbus::DataModel`] behind a mutex. The simulator serves the
//! board and its simulated devices through this crate; the interop tests run
//! the firmware core through it.
//!
//! Layer: I/O glue. Framing and function semantics are the core's
//! ([`lane_io::modbus::rtu`], [`lane_io::modbus::mbap`],
//! [`lane_io::modbus::pdu`]): this crate only moves bytes between sockets or
//! serial ports and those sans-IO functions, stamps RTU bytes with a
//! monotonic clock, and injects faults. It knows nothing about what the
//! registers mean.
//!
//! - [`serve_tcp`]: Modbus TCP server, one task per connection.
//! - [`serve_rtu`], [`serve_rtu_multi`], [`serve_rtu_line`]: Modbus RTU
//!   slave(s) on one serial line; [`open_serial`] opens a device path.
//! - [`MemoryModel`]: a plain register bank, for simulated devices and tests.
//! - [`FaultSwitch`]: flips a served device between normal, silent and
//!   offline while it runs.
//! - [`Arm`]: a barrier arm without hardware that follows the board's motor.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

mod arm;
mod memory;
mod rtu;
mod tcp;

pub use arm::Arm;
pub use memory::MemoryModel;
pub use rtu::{open_serial, serve_rtu, serve_rtu_line, serve_rtu_multi, RtuDevice, RtuLine};
pub use tcp::{serve_tcp, MAX_TCP_CONNECTIONS};

/// A data model shared between a transport task and whoever drives it (a physics model).
pub type Shared<M> = Arc<Mutex<M>>;

/// Fault injection for a served device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FaultMode {
    /// Answer normally.
    Normal = 0,
    /// Receive requests but never answer (the master times out).
    Silent = 1,
    /// Drop connections / ignore the line entirely (device offline).
    Offline = 2,
}

/// A switch the simulator flips to inject faults into a running server.
#[derive(Debug, Default)]
pub struct FaultSwitch(AtomicU8);

impl FaultSwitch {
    pub fn set(&self, mode: FaultMode) {
        self.0.store(mode as u8, Ordering::SeqCst);
    }
    pub fn get(&self) -> FaultMode {
        match self.0.load(Ordering::SeqCst) {
            1 => FaultMode::Silent,
            2 => FaultMode::Offline,
            _ => FaultMode::Normal,
        }
    }
}
