//! Host-side transports for the firmware core's Modbus slave: Modbus TCP (MBAP)
//! and Modbus RTU on a serial port (a real one or a pseudo-terminal), around
//! any [`lane_io::modbus::DataModel`] behind a mutex. The simulator serves the
//! board and its simulated devices through this crate; the interop tests run
//! the firmware core through it.
//!
//! STUB SIGNATURES: being written (issue 2).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

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
