//! A plain in-memory register bank implementing
//! [`lane_io::modbus::DataModel`]: four tables of fixed size, every address
//! inside them readable and writable (coils and holding registers), every
//! address outside them `IllegalDataAddress`.
//!
//! Layer: data model for simulated devices and tests; knows no transport.

use lane_io::modbus::{DataModel, Exception};

/// Coils, discrete inputs, holding and input registers, each starting at
/// address 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryModel {
    pub coils: Vec<bool>,
    pub discrete_inputs: Vec<bool>,
    pub holding_registers: Vec<u16>,
    pub input_registers: Vec<u16>,
}

impl MemoryModel {
    /// All tables zeroed, with the given sizes (each at most 65536).
    pub fn new(coils: usize, discrete_inputs: usize, holding: usize, input: usize) -> Self {
        Self {
            coils: vec![false; coils.min(0x1_0000)],
            discrete_inputs: vec![false; discrete_inputs.min(0x1_0000)],
            holding_registers: vec![0; holding.min(0x1_0000)],
            input_registers: vec![0; input.min(0x1_0000)],
        }
    }
}

fn get<T: Copy>(table: &[T], addr: u16) -> Result<T, Exception> {
    table
        .get(usize::from(addr))
        .copied()
        .ok_or(Exception::IllegalDataAddress)
}

fn in_range(len: usize, start: u16, count: usize) -> Result<(), Exception> {
    if usize::from(start) + count > len {
        Err(Exception::IllegalDataAddress)
    } else {
        Ok(())
    }
}

impl DataModel for MemoryModel {
    fn read_coil(&self, addr: u16) -> Result<bool, Exception> {
        get(&self.coils, addr)
    }
    fn read_discrete_input(&self, addr: u16) -> Result<bool, Exception> {
        get(&self.discrete_inputs, addr)
    }
    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception> {
        get(&self.holding_registers, addr)
    }
    fn read_input_register(&self, addr: u16) -> Result<u16, Exception> {
        get(&self.input_registers, addr)
    }
    fn write_coil(&mut self, addr: u16, value: bool) -> Result<(), Exception> {
        let c = self
            .coils
            .get_mut(usize::from(addr))
            .ok_or(Exception::IllegalDataAddress)?;
        *c = value;
        Ok(())
    }
    fn write_holding_register(&mut self, addr: u16, value: u16) -> Result<(), Exception> {
        let r = self
            .holding_registers
            .get_mut(usize::from(addr))
            .ok_or(Exception::IllegalDataAddress)?;
        *r = value;
        Ok(())
    }
    fn check_write_coils(&self, start: u16, count: u16) -> Result<(), Exception> {
        in_range(self.coils.len(), start, usize::from(count))
    }
    fn check_write_registers(&self, start: u16, values: &[u16]) -> Result<(), Exception> {
        in_range(self.holding_registers.len(), start, values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let mut m = MemoryModel::new(10, 5, 4, 3);
        assert_eq!(m.read_coil(9), Ok(false));
        assert_eq!(m.read_coil(10), Err(Exception::IllegalDataAddress));
        assert_eq!(m.read_input_register(3), Err(Exception::IllegalDataAddress));
        assert_eq!(m.write_holding_registers(2, &[1, 2]), Ok(()));
        assert_eq!(
            m.write_holding_registers(3, &[7, 8]),
            Err(Exception::IllegalDataAddress)
        );
        assert_eq!(
            m.holding_registers,
            [0, 0, 1, 2],
            "failed write changed nothing"
        );
        assert_eq!(m.check_write_coils(8, 2), Ok(()));
        assert_eq!(
            m.check_write_coils(9, 2),
            Err(Exception::IllegalDataAddress)
        );
    }
}
