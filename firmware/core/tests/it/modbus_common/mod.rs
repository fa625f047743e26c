//! Test support for the modbus_* integration tests: a small in-memory
//! DataModel seeded with the values of the Modbus Application Protocol
//! spec examples, and helpers to build RTU frames.
#![allow(dead_code)]

use lane_io::modbus::{crc, DataModel, Exception};

/// Holding register that only accepts values <= 1000 (IllegalDataValue otherwise).
pub const HR_LIMITED: u16 = 200;
/// Input register whose read fails with ServerDeviceFailure.
pub const IR_BROKEN: u16 = 250;
/// Coil whose write fails with ServerDeviceFailure.
pub const COIL_BROKEN: u16 = 900;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestModel {
    pub coils: Vec<bool>,
    pub discrete: Vec<bool>,
    pub holding: Vec<u16>,
    pub input: Vec<u16>,
    /// Successful single writes performed (coils and registers).
    pub writes: usize,
}

fn set_bits(dst: &mut [bool], start: usize, bytes: &[u8], count: usize) {
    for i in 0..count {
        dst[start + i] = bytes[i / 8] & (1 << (i % 8)) != 0;
    }
}

impl TestModel {
    /// 1024 coils, 2048 discrete inputs, 256 holding and 256 input registers,
    /// seeded with the spec example values:
    /// coils 20..=38 (addr 19..) = CD 6B 05, discrete inputs 197..=218
    /// (addr 196..) = AC DB 35, holding 108..=110 (addr 107..) = 022B 0000 0064,
    /// input register 9 (addr 8) = 000A.
    pub fn new() -> Self {
        Self::with_coils(1024)
    }

    pub fn with_coils(n: usize) -> Self {
        let mut m = Self {
            coils: vec![false; n],
            discrete: vec![false; 2048],
            holding: vec![0; 256],
            input: vec![0; 256],
            writes: 0,
        };
        set_bits(&mut m.coils, 19, &[0xCD, 0x6B, 0x05], 19);
        set_bits(&mut m.discrete, 196, &[0xAC, 0xDB, 0x35], 22);
        m.holding[107..110].copy_from_slice(&[0x022B, 0x0000, 0x0064]);
        m.input[8] = 0x000A;
        m
    }

    fn reg_ok(&self, addr: u16, value: u16) -> Result<(), Exception> {
        if usize::from(addr) >= self.holding.len() {
            return Err(Exception::IllegalDataAddress);
        }
        if addr == HR_LIMITED && value > 1000 {
            return Err(Exception::IllegalDataValue);
        }
        Ok(())
    }
}

impl Default for TestModel {
    fn default() -> Self {
        Self::new()
    }
}

fn get<T: Copy>(v: &[T], addr: u16) -> Result<T, Exception> {
    v.get(usize::from(addr))
        .copied()
        .ok_or(Exception::IllegalDataAddress)
}

impl DataModel for TestModel {
    fn read_coil(&self, addr: u16) -> Result<bool, Exception> {
        get(&self.coils, addr)
    }
    fn read_discrete_input(&self, addr: u16) -> Result<bool, Exception> {
        get(&self.discrete, addr)
    }
    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception> {
        get(&self.holding, addr)
    }
    fn read_input_register(&self, addr: u16) -> Result<u16, Exception> {
        if addr == IR_BROKEN {
            return Err(Exception::ServerDeviceFailure);
        }
        get(&self.input, addr)
    }
    fn write_coil(&mut self, addr: u16, value: bool) -> Result<(), Exception> {
        if addr == COIL_BROKEN {
            return Err(Exception::ServerDeviceFailure);
        }
        let c = self
            .coils
            .get_mut(usize::from(addr))
            .ok_or(Exception::IllegalDataAddress)?;
        *c = value;
        self.writes += 1;
        Ok(())
    }
    fn write_holding_register(&mut self, addr: u16, value: u16) -> Result<(), Exception> {
        self.reg_ok(addr, value)?;
        self.holding[usize::from(addr)] = value;
        self.writes += 1;
        Ok(())
    }
    fn check_write_coils(&self, start: u16, count: u16) -> Result<(), Exception> {
        let end = usize::from(start) + usize::from(count);
        if end > self.coils.len() {
            return Err(Exception::IllegalDataAddress);
        }
        if (start..start.saturating_add(count)).contains(&COIL_BROKEN) {
            return Err(Exception::ServerDeviceFailure);
        }
        Ok(())
    }
    fn check_write_registers(&self, start: u16, values: &[u16]) -> Result<(), Exception> {
        for (i, v) in values.iter().enumerate() {
            let addr =
                u16::try_from(usize::from(start) + i).map_err(|_| Exception::IllegalDataAddress)?;
            self.reg_ok(addr, *v)?;
        }
        Ok(())
    }
}

/// `unit, pdu, crc`.
pub fn rtu(unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut f = vec![unit];
    f.extend_from_slice(pdu);
    let c = crc::crc16(&f);
    f.extend_from_slice(&c.to_le_bytes());
    f
}
