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
///
/// Only the register reads are required: a device without coils, discrete
/// inputs or writable registers (a weighbridge indicator, an RFID reader)
/// keeps the defaults, which refuse every such address
/// ([`Exception::IllegalDataAddress`]) and so change nothing.
pub trait DataModel {
    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception>;
    fn read_input_register(&self, addr: u16) -> Result<u16, Exception>;

    fn read_coil(&self, _addr: u16) -> Result<bool, Exception> {
        Err(Exception::IllegalDataAddress)
    }
    fn read_discrete_input(&self, _addr: u16) -> Result<bool, Exception> {
        Err(Exception::IllegalDataAddress)
    }
    fn write_coil(&mut self, _addr: u16, _value: bool) -> Result<(), Exception> {
        Err(Exception::IllegalDataAddress)
    }
    fn write_holding_register(&mut self, _addr: u16, _value: u16) -> Result<(), Exception> {
        Err(Exception::IllegalDataAddress)
    }

    /// Whether `count` coils from `start` are writable (address check only).
    fn check_write_coils(&self, _start: u16, _count: u16) -> Result<(), Exception> {
        Err(Exception::IllegalDataAddress)
    }
    /// Whether `values` may be written from `start` (address and value check).
    fn check_write_registers(&self, _start: u16, _values: &[u16]) -> Result<(), Exception> {
        Err(Exception::IllegalDataAddress)
    }

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
