//! The board: debounced inputs, the barrier controller and the register bank
//! glued together behind [`crate::modbus::DataModel`]. The MCU binary and the
//! simulator run exactly this.
//!
//! STUB SIGNATURES: the implementation is being written (see issue 2).

use crate::modbus::{DataModel, Exception};
use crate::regmap::BarrierState;

/// Raw (undebounced) field inputs, true = active / occupied / beam broken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawInputs {
    pub arrival_loop: bool,
    pub safety_loop: bool,
    pub exit_loop: bool,
    pub photocell: bool,
    pub up_limit: bool,
    pub down_limit: bool,
    pub manual_key: bool,
    pub motor_fault: bool,
}

/// Output pins driven by the board.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    pub motor_up: bool,
    pub motor_down: bool,
    pub light_green: bool,
    pub buzzer: bool,
}

pub struct Board {
    _private: (),
}

impl Default for Board {
    fn default() -> Self {
        Self::new()
    }
}

impl Board {
    pub fn new() -> Self {
        Self { _private: () }
    }
    /// Advance to `now_ms` (monotonic) with the current raw inputs; returns the pins to drive.
    pub fn tick(&mut self, _now_ms: u64, _raw: RawInputs) -> Outputs {
        Outputs::default()
    }
    pub fn outputs(&self) -> Outputs {
        Outputs::default()
    }
    pub fn state(&self) -> BarrierState {
        BarrierState::Closed
    }
    /// The LED board message (UTF-8 bytes as written by the master, may be invalid UTF-8).
    pub fn led_bytes(&self) -> &[u8] {
        &[]
    }
}

impl DataModel for Board {
    fn read_coil(&self, _addr: u16) -> Result<bool, Exception> {
        Err(Exception::ServerDeviceFailure)
    }
    fn read_discrete_input(&self, _addr: u16) -> Result<bool, Exception> {
        Err(Exception::ServerDeviceFailure)
    }
    fn read_holding_register(&self, _addr: u16) -> Result<u16, Exception> {
        Err(Exception::ServerDeviceFailure)
    }
    fn read_input_register(&self, _addr: u16) -> Result<u16, Exception> {
        Err(Exception::ServerDeviceFailure)
    }
    fn write_coil(&mut self, _addr: u16, _value: bool) -> Result<(), Exception> {
        Err(Exception::ServerDeviceFailure)
    }
    fn write_holding_register(&mut self, _addr: u16, _value: u16) -> Result<(), Exception> {
        Err(Exception::ServerDeviceFailure)
    }
    fn check_write_coils(&self, _start: u16, _count: u16) -> Result<(), Exception> {
        Err(Exception::ServerDeviceFailure)
    }
    fn check_write_registers(&self, _start: u16, _values: &[u16]) -> Result<(), Exception> {
        Err(Exception::ServerDeviceFailure)
    }
}
