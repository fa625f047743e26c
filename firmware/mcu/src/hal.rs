//! The hardware seen by the firmware: three small traits (pins, serial line,
//! clock). The control loop ([`crate::app`]) is generic over them; the MPS2
//! drivers ([`crate::mps2`]) and the self-test's scripted lane implement
//! them. Nothing here knows registers, interrupts or Modbus.

use lane_io::board::{Outputs, RawInputs};

/// The field I/O: eight inputs, four outputs.
pub trait Pins {
    /// Sample the raw (undebounced) inputs.
    fn read(&mut self) -> RawInputs;
    /// Drive the outputs.
    fn write(&mut self, out: Outputs);
}

/// A byte-oriented serial line (the RS-485 transceiver).
pub trait Serial {
    /// Move the bytes received so far into `buf` without blocking; returns
    /// how many (0 when none).
    fn read(&mut self, buf: &mut [u8]) -> usize;
    /// Send `bytes` (may block until they are in the transmitter).
    fn write(&mut self, bytes: &[u8]);
}

/// A monotonic clock.
pub trait Clock {
    /// Microseconds since start; never goes back.
    fn now_us(&mut self) -> u64;
}
