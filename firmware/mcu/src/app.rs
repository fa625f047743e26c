//! The control loop: serial line -> Modbus RTU slave -> board registers;
//! pins -> board tick -> pins. Generic over the [`crate::hal`] traits, so the
//! same loop runs on the MPS2 peripherals and in the self-test.

use heapless::Vec;
use lane_io::board::{Board, Outputs};
use lane_io::modbus::rtu::{RtuSlave, MAX_ADU_LEN};
use lane_io::regmap::DEFAULT_UNIT_ID;

use crate::hal::{Clock, Pins, Serial};

/// Serial line speed (8N1 framing is assumed by the RTU gap computation).
pub const BAUD: u32 = 19_200;

/// Bytes taken from the serial line per loop iteration.
const RX_CHUNK: usize = 32;

/// The board, its Modbus slave and the hardware it runs on.
pub struct App<P, S, C> {
    board: Board,
    rtu: RtuSlave,
    pins: P,
    serial: S,
    clock: C,
    out: Vec<u8, MAX_ADU_LEN>,
}

impl<P: Pins, S: Serial, C: Clock> App<P, S, C> {
    pub fn new(pins: P, serial: S, clock: C) -> Self {
        Self {
            board: Board::new(),
            rtu: RtuSlave::new(DEFAULT_UNIT_ID, BAUD),
            pins,
            serial,
            clock,
            out: Vec::new(),
        }
    }

    /// One iteration: serve the bytes that arrived, then tick the board with
    /// fresh inputs and drive the outputs. Returns the outputs driven.
    pub fn step(&mut self) -> Outputs {
        let now_us = self.clock.now_us();
        let mut rx = [0u8; RX_CHUNK];
        loop {
            let n = self.serial.read(&mut rx);
            let Some(mut bytes) = rx.get(..n).filter(|b| !b.is_empty()) else {
                break;
            };
            while !bytes.is_empty() {
                let taken = self
                    .rtu
                    .receive(now_us, bytes, &mut self.board, &mut self.out);
                if !self.out.is_empty() {
                    self.serial.write(&self.out);
                }
                bytes = bytes.get(taken..).unwrap_or(&[]);
                if taken == 0 {
                    break;
                }
            }
        }
        let raw = self.pins.read();
        let out = self.board.tick(now_us / 1000, raw);
        self.pins.write(out);
        out
    }

    #[cfg(feature = "selftest")]
    pub fn pins(&mut self) -> &mut P {
        &mut self.pins
    }

    #[cfg(feature = "selftest")]
    pub fn serial(&mut self) -> &mut S {
        &mut self.serial
    }

    #[cfg(feature = "selftest")]
    pub fn clock(&mut self) -> &mut C {
        &mut self.clock
    }
}
