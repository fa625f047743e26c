//! Modbus slave: CRC-16/MODBUS, RTU framing, PDU processing, MBAP framing.
//!
//! The PDU layer ([`pdu`]) answers requests against any [`DataModel`]; the
//! RTU layer ([`rtu`]) and the MBAP layer ([`mbap`]) only frame bytes. No
//! layer reads a clock: the RTU framer is given the time of each byte burst.

pub mod crc;
pub mod mbap;
pub mod pdu;
pub mod rtu;

/// Modbus exception codes returned by a [`DataModel`] or the PDU layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exception {
    IllegalFunction = 0x01,
    IllegalDataAddress = 0x02,
    IllegalDataValue = 0x03,
    ServerDeviceFailure = 0x04,
}

/// The registers a slave serves. Addresses are zero-based PDU addresses.
///
/// Multi-register writes must be atomic: either every value is written or the
/// request fails and nothing changes. The default multi-write methods check
/// every address with [`DataModel::check_write_coils`] /
/// [`DataModel::check_write_registers`] first.
pub trait DataModel {
    fn read_coil(&self, addr: u16) -> Result<bool, Exception>;
    fn read_discrete_input(&self, addr: u16) -> Result<bool, Exception>;
    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception>;
    fn read_input_register(&self, addr: u16) -> Result<u16, Exception>;
    fn write_coil(&mut self, addr: u16, value: bool) -> Result<(), Exception>;
    fn write_holding_register(&mut self, addr: u16, value: u16) -> Result<(), Exception>;

    /// Whether `count` coils from `start` are writable (address check only).
    fn check_write_coils(&self, start: u16, count: u16) -> Result<(), Exception>;
    /// Whether `values` may be written from `start` (address and value check).
    fn check_write_registers(&self, start: u16, values: &[u16]) -> Result<(), Exception>;

    fn write_coils(&mut self, start: u16, values: &[bool]) -> Result<(), Exception> {
        let count = u16::try_from(values.len()).map_err(|_| Exception::IllegalDataValue)?;
        self.check_write_coils(start, count)?;
        for (i, v) in values.iter().enumerate() {
            self.write_coil(start.wrapping_add(i as u16), *v)?;
        }
        Ok(())
    }

    fn write_holding_registers(&mut self, start: u16, values: &[u16]) -> Result<(), Exception> {
        self.check_write_registers(start, values)?;
        for (i, v) in values.iter().enumerate() {
            self.write_holding_register(start.wrapping_add(i as u16), *v)?;
        }
        Ok(())
    }
}
