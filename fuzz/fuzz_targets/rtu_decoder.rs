//! Fuzz target: arbitrary bytes with arbitrary timing into `RtuSlave`.
//!
//! The input is read as a small header (unit id, baud, silence mode), then
//! chunks of (time step, length, bytes). Invariants checked on every call:
//! no panic; every response is a CRC-valid frame of at most 256 bytes
//! addressed from our unit id; the framer never buffers more than 256
//! bytes; `receive` consumes at least one byte per call while bytes remain.
//! The same bytes also go through the MBAP and PDU layers.
#![no_main]

use lane_io::modbus::rtu::{Adu, RtuConfig, RtuSlave, SilenceMode, MAX_ADU_LEN};
use lane_io::modbus::{crc, mbap, pdu, DataModel, Exception};
use libfuzzer_sys::fuzz_target;

/// 64 of each table, writable, plus one register that refuses large values.
struct Bank {
    bits: [bool; 64],
    regs: [u16; 64],
}

fn slot(addr: u16) -> Result<usize, Exception> {
    let a = usize::from(addr);
    if a < 64 {
        Ok(a)
    } else {
        Err(Exception::IllegalDataAddress)
    }
}

impl DataModel for Bank {
    fn read_coil(&self, addr: u16) -> Result<bool, Exception> {
        Ok(self.bits[slot(addr)?])
    }
    fn read_discrete_input(&self, addr: u16) -> Result<bool, Exception> {
        Ok(!self.bits[slot(addr)?])
    }
    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception> {
        Ok(self.regs[slot(addr)?])
    }
    fn read_input_register(&self, addr: u16) -> Result<u16, Exception> {
        Ok(self.regs[slot(addr)?].rotate_left(3))
    }
    fn write_coil(&mut self, addr: u16, value: bool) -> Result<(), Exception> {
        self.bits[slot(addr)?] = value;
        Ok(())
    }
    fn write_holding_register(&mut self, addr: u16, value: u16) -> Result<(), Exception> {
        if addr == 63 && value > 1000 {
            return Err(Exception::IllegalDataValue);
        }
        self.regs[slot(addr)?] = value;
        Ok(())
    }
    fn check_write_coils(&self, start: u16, count: u16) -> Result<(), Exception> {
        if usize::from(start) + usize::from(count) > 64 {
            return Err(Exception::IllegalDataAddress);
        }
        Ok(())
    }
    fn check_write_registers(&self, start: u16, values: &[u16]) -> Result<(), Exception> {
        if usize::from(start) + values.len() > 64 {
            return Err(Exception::IllegalDataAddress);
        }
        if start as usize + values.len() == 64 && values.last().is_some_and(|v| *v > 1000) {
            return Err(Exception::IllegalDataValue);
        }
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut model = Bank {
        bits: [false; 64],
        regs: [0; 64],
    };
    let (head, mut rest) = data.split_at(data.len().min(3));
    let unit = head.first().copied().unwrap_or(1);
    let baud = [1200, 9600, 19200, 115_200][usize::from(head.get(1).copied().unwrap_or(0) & 3)];
    let mut cfg = RtuConfig::new(unit, baud);
    if head.get(2).is_some_and(|m| m & 1 == 1) {
        cfg.silence = SilenceMode::Strict;
    }
    let mut slave = RtuSlave::with_config(cfg);
    let mut out = heapless::Vec::<u8, MAX_ADU_LEN>::new();
    let mut now: u64 = 0;
    while let [dt, len, tail @ ..] = rest {
        // time steps from 0 to ~16 ms, in 64 us units
        now = now.wrapping_add(u64::from(*dt) * 64);
        let n = usize::from(*len).min(tail.len());
        let (mut chunk, next) = tail.split_at(n);
        rest = next;
        loop {
            let taken = slave.receive(now, chunk, &mut model, &mut out);
            assert!(taken <= chunk.len());
            if !out.is_empty() {
                assert!(out.len() <= MAX_ADU_LEN);
                assert!(
                    crc::check_frame(&out),
                    "response with a bad CRC: {out:02X?}"
                );
                let adu = Adu::new_checked(&out[..]).expect("valid response frame");
                assert_eq!(adu.unit_id(), unit);
            }
            assert!(slave.framer().buffered() <= MAX_ADU_LEN);
            chunk = &chunk[taken..];
            if chunk.is_empty() {
                break;
            }
            assert!(taken > 0, "receive made no progress");
        }
    }

    // The same input through the MBAP and PDU layers.
    let mut adu_out = [0u8; mbap::MAX_ADU_LEN];
    if let Ok(Some(n)) = mbap::process(data, &mut model, &mut adu_out) {
        assert_eq!(mbap::adu_len(&adu_out[..n]), Ok(Some(n)));
    }
    let mut pdu_out = [0u8; pdu::MAX_PDU_LEN];
    if let Some(r) = pdu::process(data, &mut model, &mut pdu_out) {
        assert!((2..=pdu::MAX_PDU_LEN).contains(&r.len));
    }
});
