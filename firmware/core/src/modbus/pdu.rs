//! Modbus PDU layer: parse one request PDU, execute it against a
//! [`DataModel`], emit the response PDU.
//!
//! Layer: application protocol. It knows function codes, quantity limits and
//! exception rules (Modbus Application Protocol v1.1b3, sections 6 and 7). It
//! knows nothing about unit ids, CRCs, MBAP headers, timing or transports:
//! [`super::rtu`] and [`super::mbap`] wrap and unwrap PDUs.
//!
//! Shape (smoltcp style): [`Packet`] is a zero-copy view of request bytes with
//! field accessors, [`Request`] is the validated value with
//! [`Request::parse`], [`Request::buffer_len`] and [`Request::emit`].
//! [`process`] is the slave's whole job for one request.
//!
//! Validation follows the order of the spec's state diagrams: function code
//! supported (else `IllegalFunction`), quantity and byte count in range and
//! consistent with the PDU length (else `IllegalDataValue`), address range
//! inside 0..=0xFFFF (else `IllegalDataAddress`), then the data model, which
//! reports `IllegalDataAddress` for addresses outside its map and may report
//! `IllegalDataValue` / `ServerDeviceFailure`.
//!
//! Panics: none. Every accessor tolerates short buffers, every index is
//! checked, every output buffer is sized by type ([`MAX_PDU_LEN`]).

use super::{DataModel, Exception};

/// Largest PDU: a 256-byte RTU ADU minus unit id and CRC.
pub const MAX_PDU_LEN: usize = 253;
/// FC 01/02: at most 2000 bits per read.
pub const MAX_READ_BITS: u16 = 0x07D0;
/// FC 03/04: at most 125 registers per read.
pub const MAX_READ_REGISTERS: u16 = 0x007D;
/// FC 15: at most 1968 coils per write.
pub const MAX_WRITE_COILS: u16 = 0x07B0;
/// FC 16: at most 123 registers per write.
pub const MAX_WRITE_REGISTERS: u16 = 0x007B;
/// FC 05 value meaning ON.
pub const COIL_ON: u16 = 0xFF00;
/// FC 05 value meaning OFF.
pub const COIL_OFF: u16 = 0x0000;
/// Set in the function code of an exception response.
pub const EXCEPTION_FLAG: u8 = 0x80;

/// A function code. Codes this slave does not implement are kept as
/// `Unknown(code)` rather than rejected at this level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionCode {
    ReadCoils,
    ReadDiscreteInputs,
    ReadHoldingRegisters,
    ReadInputRegisters,
    WriteSingleCoil,
    WriteSingleRegister,
    WriteMultipleCoils,
    WriteMultipleRegisters,
    Unknown(u8),
}

impl From<u8> for FunctionCode {
    fn from(code: u8) -> Self {
        match code {
            0x01 => Self::ReadCoils,
            0x02 => Self::ReadDiscreteInputs,
            0x03 => Self::ReadHoldingRegisters,
            0x04 => Self::ReadInputRegisters,
            0x05 => Self::WriteSingleCoil,
            0x06 => Self::WriteSingleRegister,
            0x0F => Self::WriteMultipleCoils,
            0x10 => Self::WriteMultipleRegisters,
            other => Self::Unknown(other),
        }
    }
}

impl From<FunctionCode> for u8 {
    fn from(fc: FunctionCode) -> u8 {
        match fc {
            FunctionCode::ReadCoils => 0x01,
            FunctionCode::ReadDiscreteInputs => 0x02,
            FunctionCode::ReadHoldingRegisters => 0x03,
            FunctionCode::ReadInputRegisters => 0x04,
            FunctionCode::WriteSingleCoil => 0x05,
            FunctionCode::WriteSingleRegister => 0x06,
            FunctionCode::WriteMultipleCoils => 0x0F,
            FunctionCode::WriteMultipleRegisters => 0x10,
            FunctionCode::Unknown(other) => other,
        }
    }
}

/// Byte offsets of request fields.
mod field {
    use core::ops::Range;
    pub const FUNCTION: usize = 0;
    /// Starting address (or the address of a single write).
    pub const ADDRESS: Range<usize> = 1..3;
    /// Quantity (reads and multiple writes) or the value of a single write.
    pub const QUANTITY: Range<usize> = 3..5;
    /// FC 15/16 byte count.
    pub const BYTE_COUNT: usize = 5;
    /// FC 15/16 values.
    pub const WRITE_DATA: usize = 6;
    /// Length of a fixed-size request (FC 01..06).
    pub const FIXED_LEN: usize = 5;
}

/// How long a request PDU is, judged from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestLen {
    /// At least this many bytes are needed before the length is known.
    NeedAtLeast(usize),
    /// The request PDU is exactly this long.
    Exact(usize),
    /// The function code does not imply a length (the framer must find the
    /// end another way, e.g. by CRC).
    Unknown,
}

/// The length of the request PDU starting at `prefix[0]` (the function
/// code), as implied by the function code and, for variable-length
/// requests, the byte count. Used by the RTU framer.
///
/// Besides the eight implemented codes, the fixed-layout public codes
/// (07, 0B, 0C, 11, 14, 15, 16, 17, 18) are sized too, so they can be
/// framed and answered with `IllegalFunction` without waiting for silence.
pub fn request_len(prefix: &[u8]) -> RequestLen {
    let Some(&fc) = prefix.first() else {
        return RequestLen::NeedAtLeast(1);
    };
    // (offset of a byte count, bytes before the data) for variable requests.
    let counted = |at: usize, head: usize| match prefix.get(at) {
        Some(&bc) => RequestLen::Exact(head + usize::from(bc)),
        None => RequestLen::NeedAtLeast(at + 1),
    };
    match fc {
        0x01..=0x06 => RequestLen::Exact(field::FIXED_LEN),
        0x0F | 0x10 => counted(field::BYTE_COUNT, field::WRITE_DATA),
        // Read Exception Status, Get Comm Event Counter / Log, Report Server ID.
        0x07 | 0x0B | 0x0C | 0x11 => RequestLen::Exact(1),
        // Read / Write File Record: fc, byte count, data.
        0x14 | 0x15 => counted(1, 2),
        // Mask Write Register.
        0x16 => RequestLen::Exact(7),
        // Read/Write Multiple Registers: fc, 4 x u16, byte count, data.
        0x17 => counted(9, 10),
        // Read FIFO Queue.
        0x18 => RequestLen::Exact(3),
        _ => RequestLen::Unknown,
    }
}

/// A view of request PDU bytes. Accessors never panic: a field that is not
/// in the buffer reads as zero. Use [`Packet::new_checked`] or
/// [`Request::parse`] to know the fields are really there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Errors of [`Packet::check_len`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LenError {
    /// No function code.
    Empty,
    /// Shorter or longer than its function code and byte count imply.
    BadLength,
    /// The function code does not define a length.
    UnknownFunction,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap `buffer` after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, LenError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// The buffer is exactly as long as the function code (and byte count)
    /// imply.
    pub fn check_len(&self) -> Result<(), LenError> {
        let buf = self.buffer.as_ref();
        if buf.is_empty() {
            return Err(LenError::Empty);
        }
        match request_len(buf) {
            RequestLen::Exact(n) if n == buf.len() => Ok(()),
            RequestLen::Exact(_) | RequestLen::NeedAtLeast(_) => Err(LenError::BadLength),
            RequestLen::Unknown => Err(LenError::UnknownFunction),
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, at: core::ops::Range<usize>) -> u16 {
        match self.buffer.as_ref().get(at) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    }

    pub fn function_code(&self) -> FunctionCode {
        FunctionCode::from(self.raw_function_code())
    }

    pub fn raw_function_code(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::FUNCTION)
            .copied()
            .unwrap_or(0)
    }

    /// Starting address, or the address of a single write.
    pub fn address(&self) -> u16 {
        self.u16_at(field::ADDRESS)
    }

    /// Quantity of a read or multiple write.
    pub fn quantity(&self) -> u16 {
        self.u16_at(field::QUANTITY)
    }

    /// Value of a single write (same bytes as the quantity).
    pub fn value(&self) -> u16 {
        self.u16_at(field::QUANTITY)
    }

    /// Byte count of a multiple write.
    pub fn byte_count(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::BYTE_COUNT)
            .copied()
            .unwrap_or(0)
    }

    /// Values of a multiple write (everything after the byte count).
    pub fn write_data(&self) -> &[u8] {
        self.buffer.as_ref().get(field::WRITE_DATA..).unwrap_or(&[])
    }
}

/// The packed coil values of an FC 15 request: `count` bits, first coil in
/// the least significant bit of the first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coils<'a> {
    count: u16,
    bytes: &'a [u8],
}

impl<'a> Coils<'a> {
    /// `bytes` must hold exactly `ceil(count / 8)` bytes.
    pub fn new(count: u16, bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() == usize::from(count).div_ceil(8)).then_some(Self { count, bytes })
    }
    pub fn len(&self) -> u16 {
        self.count
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn get(&self, i: u16) -> Option<bool> {
        if i >= self.count {
            return None;
        }
        let byte = self.bytes.get(usize::from(i / 8))?;
        Some(byte & (1 << (i % 8)) != 0)
    }
    pub fn iter(&self) -> impl Iterator<Item = bool> + 'a {
        let bytes = self.bytes;
        (0..self.count).map(move |i| {
            bytes
                .get(usize::from(i / 8))
                .is_some_and(|b| b & (1 << (i % 8)) != 0)
        })
    }
}

/// The register values of an FC 16 request, big-endian on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registers<'a> {
    bytes: &'a [u8],
}

impl<'a> Registers<'a> {
    /// `bytes` must have an even length.
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() & 1 == 0).then_some(Self { bytes })
    }
    pub fn len(&self) -> u16 {
        u16::try_from(self.bytes.len() / 2).unwrap_or(u16::MAX)
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    pub fn get(&self, i: u16) -> Option<u16> {
        let at = usize::from(i) * 2;
        match self.bytes.get(at..at + 2) {
            Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
            _ => None,
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        self.bytes
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }
}

/// A validated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    ReadCoils {
        start: u16,
        count: u16,
    },
    ReadDiscreteInputs {
        start: u16,
        count: u16,
    },
    ReadHoldingRegisters {
        start: u16,
        count: u16,
    },
    ReadInputRegisters {
        start: u16,
        count: u16,
    },
    WriteSingleCoil {
        addr: u16,
        value: bool,
    },
    WriteSingleRegister {
        addr: u16,
        value: u16,
    },
    WriteMultipleCoils {
        start: u16,
        coils: Coils<'a>,
    },
    WriteMultipleRegisters {
        start: u16,
        registers: Registers<'a>,
    },
}

/// The output buffer passed to [`Request::emit`] is too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooSmall;

/// `start + count` must not run past address 0xFFFF.
fn check_range(start: u16, count: u16) -> Result<(), Exception> {
    if u32::from(start) + u32::from(count) > 0x1_0000 {
        Err(Exception::IllegalDataAddress)
    } else {
        Ok(())
    }
}

impl<'a> Request<'a> {
    /// Parse and validate a request PDU (function code first).
    ///
    /// Errors are the exception the slave must answer with: unknown or
    /// empty function code -> `IllegalFunction`; wrong length, quantity out
    /// of range, byte count inconsistent, FC 05 value not 0xFF00/0x0000 ->
    /// `IllegalDataValue`; range past 0xFFFF -> `IllegalDataAddress`.
    /// Whether the addresses exist is for the data model to say.
    pub fn parse(pdu: &'a [u8]) -> Result<Self, Exception> {
        let p = Packet::new_unchecked(pdu);
        let fc = match pdu.first() {
            Some(&fc) => FunctionCode::from(fc),
            None => return Err(Exception::IllegalFunction),
        };
        if let FunctionCode::Unknown(_) = fc {
            return Err(Exception::IllegalFunction);
        }
        if p.check_len().is_err() {
            return Err(Exception::IllegalDataValue);
        }
        let (start, qty) = (p.address(), p.quantity());
        let write_data: &'a [u8] = pdu.get(field::WRITE_DATA..).unwrap_or(&[]);
        let read = |max: u16| -> Result<(u16, u16), Exception> {
            if qty == 0 || qty > max {
                return Err(Exception::IllegalDataValue);
            }
            check_range(start, qty)?;
            Ok((start, qty))
        };
        Ok(match fc {
            FunctionCode::ReadCoils => {
                let (start, count) = read(MAX_READ_BITS)?;
                Self::ReadCoils { start, count }
            }
            FunctionCode::ReadDiscreteInputs => {
                let (start, count) = read(MAX_READ_BITS)?;
                Self::ReadDiscreteInputs { start, count }
            }
            FunctionCode::ReadHoldingRegisters => {
                let (start, count) = read(MAX_READ_REGISTERS)?;
                Self::ReadHoldingRegisters { start, count }
            }
            FunctionCode::ReadInputRegisters => {
                let (start, count) = read(MAX_READ_REGISTERS)?;
                Self::ReadInputRegisters { start, count }
            }
            FunctionCode::WriteSingleCoil => {
                let value = match p.value() {
                    COIL_ON => true,
                    COIL_OFF => false,
                    _ => return Err(Exception::IllegalDataValue),
                };
                Self::WriteSingleCoil { addr: start, value }
            }
            FunctionCode::WriteSingleRegister => Self::WriteSingleRegister {
                addr: start,
                value: p.value(),
            },
            FunctionCode::WriteMultipleCoils => {
                if qty == 0 || qty > MAX_WRITE_COILS {
                    return Err(Exception::IllegalDataValue);
                }
                let coils = Coils::new(qty, write_data).ok_or(Exception::IllegalDataValue)?;
                check_range(start, qty)?;
                Self::WriteMultipleCoils { start, coils }
            }
            FunctionCode::WriteMultipleRegisters => {
                if qty == 0 || qty > MAX_WRITE_REGISTERS {
                    return Err(Exception::IllegalDataValue);
                }
                let data = write_data;
                if data.len() != usize::from(qty) * 2 {
                    return Err(Exception::IllegalDataValue);
                }
                let registers = Registers::new(data).ok_or(Exception::IllegalDataValue)?;
                check_range(start, qty)?;
                Self::WriteMultipleRegisters { start, registers }
            }
            FunctionCode::Unknown(_) => return Err(Exception::IllegalFunction),
        })
    }

    pub fn function_code(&self) -> FunctionCode {
        match self {
            Self::ReadCoils { .. } => FunctionCode::ReadCoils,
            Self::ReadDiscreteInputs { .. } => FunctionCode::ReadDiscreteInputs,
            Self::ReadHoldingRegisters { .. } => FunctionCode::ReadHoldingRegisters,
            Self::ReadInputRegisters { .. } => FunctionCode::ReadInputRegisters,
            Self::WriteSingleCoil { .. } => FunctionCode::WriteSingleCoil,
            Self::WriteSingleRegister { .. } => FunctionCode::WriteSingleRegister,
            Self::WriteMultipleCoils { .. } => FunctionCode::WriteMultipleCoils,
            Self::WriteMultipleRegisters { .. } => FunctionCode::WriteMultipleRegisters,
        }
    }

    /// Whether the request changes the data model (the only requests a
    /// broadcast executes).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Self::WriteSingleCoil { .. }
                | Self::WriteSingleRegister { .. }
                | Self::WriteMultipleCoils { .. }
                | Self::WriteMultipleRegisters { .. }
        )
    }

    /// Length of the emitted request PDU.
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::WriteMultipleCoils { coils, .. } => field::WRITE_DATA + coils.bytes().len(),
            Self::WriteMultipleRegisters { registers, .. } => {
                field::WRITE_DATA + registers.bytes().len()
            }
            _ => field::FIXED_LEN,
        }
    }

    /// Write the request PDU into `buf`; returns its length. The repr is
    /// written as it is: limits are checked by [`Request::parse`], not here.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(BufferTooSmall)?;
        let (addr, word) = match *self {
            Self::ReadCoils { start, count }
            | Self::ReadDiscreteInputs { start, count }
            | Self::ReadHoldingRegisters { start, count }
            | Self::ReadInputRegisters { start, count } => (start, count),
            Self::WriteSingleCoil { addr, value } => (addr, if value { COIL_ON } else { COIL_OFF }),
            Self::WriteSingleRegister { addr, value } => (addr, value),
            Self::WriteMultipleCoils { start, coils } => (start, coils.len()),
            Self::WriteMultipleRegisters { start, registers } => (start, registers.len()),
        };
        let [a_hi, a_lo] = addr.to_be_bytes();
        let [w_hi, w_lo] = word.to_be_bytes();
        let data: &[u8] = match self {
            Self::WriteMultipleCoils { coils, .. } => coils.bytes(),
            Self::WriteMultipleRegisters { registers, .. } => registers.bytes(),
            _ => &[],
        };
        let head = [u8::from(self.function_code()), a_hi, a_lo, w_hi, w_lo];
        let (h, rest) = out.split_at_mut(field::FIXED_LEN.min(len));
        h.copy_from_slice(&head[..h.len()]);
        if let Some((bc, values)) = rest.split_first_mut() {
            *bc = u8::try_from(data.len()).map_err(|_| BufferTooSmall)?;
            if values.len() != data.len() {
                return Err(BufferTooSmall);
            }
            values.copy_from_slice(data);
        }
        Ok(len)
    }
}

/// Write an exception response `[function | 0x80, code]`; returns 2.
pub fn emit_exception(function: u8, exception: Exception, out: &mut [u8; MAX_PDU_LEN]) -> usize {
    out[0] = function | EXCEPTION_FLAG;
    out[1] = exception as u8;
    2
}

/// The response written by [`process`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// Bytes of the response PDU at the start of the output buffer.
    pub len: usize,
    /// `Some` when the response is an exception response.
    pub exception: Option<Exception>,
}

/// Answer one request PDU: parse, execute against `model`, write the response
/// PDU (normal or exception) into `out`.
///
/// Returns `None` only for an empty PDU (nothing to answer: there is no
/// function code to echo). Never panics.
pub fn process<M: DataModel + ?Sized>(
    request: &[u8],
    model: &mut M,
    out: &mut [u8; MAX_PDU_LEN],
) -> Option<Response> {
    let &function = request.first()?;
    let result = Request::parse(request).and_then(|req| execute(&req, model, out));
    Some(match result {
        Ok(len) => Response {
            len,
            exception: None,
        },
        Err(e) => Response {
            len: emit_exception(function, e, out),
            exception: Some(e),
        },
    })
}

/// Execute a validated request against `model` and write the normal
/// response PDU into `out`; returns its length. On `Err` the caller writes
/// the exception response.
///
/// Multiple writes go through [`DataModel::write_coils`] /
/// [`DataModel::write_holding_registers`] so the model can keep them
/// atomic; FC 15 unpacks up to 1968 coils into a stack array (1968 bytes).
pub fn execute<M: DataModel + ?Sized>(
    request: &Request<'_>,
    model: &mut M,
    out: &mut [u8; MAX_PDU_LEN],
) -> Result<usize, Exception> {
    let fc = u8::from(request.function_code());
    match *request {
        Request::ReadCoils { start, count } => {
            read_bits(fc, start, count, out, |a| model.read_coil(a))
        }
        Request::ReadDiscreteInputs { start, count } => {
            read_bits(fc, start, count, out, |a| model.read_discrete_input(a))
        }
        Request::ReadHoldingRegisters { start, count } => {
            read_registers(fc, start, count, out, |a| model.read_holding_register(a))
        }
        Request::ReadInputRegisters { start, count } => {
            read_registers(fc, start, count, out, |a| model.read_input_register(a))
        }
        Request::WriteSingleCoil { addr, value } => {
            model.write_coil(addr, value)?;
            let v = if value { COIL_ON } else { COIL_OFF };
            Ok(echo(fc, addr, v, out))
        }
        Request::WriteSingleRegister { addr, value } => {
            model.write_holding_register(addr, value)?;
            Ok(echo(fc, addr, value, out))
        }
        Request::WriteMultipleCoils { start, coils } => {
            let mut values = [false; MAX_WRITE_COILS as usize];
            let n = usize::from(coils.len());
            let slot = values.get_mut(..n).ok_or(Exception::IllegalDataValue)?;
            for (dst, v) in slot.iter_mut().zip(coils.iter()) {
                *dst = v;
            }
            model.write_coils(start, slot)?;
            Ok(echo(fc, start, coils.len(), out))
        }
        Request::WriteMultipleRegisters { start, registers } => {
            let mut values = [0u16; MAX_WRITE_REGISTERS as usize];
            let n = usize::from(registers.len());
            let slot = values.get_mut(..n).ok_or(Exception::IllegalDataValue)?;
            for (dst, v) in slot.iter_mut().zip(registers.iter()) {
                *dst = v;
            }
            model.write_holding_registers(start, slot)?;
            Ok(echo(fc, start, registers.len(), out))
        }
    }
}

/// `fc, addr, word`: the response of FC 05/06/15/16.
fn echo(fc: u8, addr: u16, word: u16, out: &mut [u8; MAX_PDU_LEN]) -> usize {
    out[0] = fc;
    out[1..3].copy_from_slice(&addr.to_be_bytes());
    out[3..5].copy_from_slice(&word.to_be_bytes());
    5
}

fn read_bits(
    fc: u8,
    start: u16,
    count: u16,
    out: &mut [u8; MAX_PDU_LEN],
    mut read: impl FnMut(u16) -> Result<bool, Exception>,
) -> Result<usize, Exception> {
    let nbytes = usize::from(count).div_ceil(8);
    let data = out
        .get_mut(2..2 + nbytes)
        .ok_or(Exception::IllegalDataValue)?;
    data.fill(0);
    for i in 0..count {
        if read(start.wrapping_add(i))? {
            if let Some(b) = data.get_mut(usize::from(i / 8)) {
                *b |= 1 << (i % 8);
            }
        }
    }
    out[0] = fc;
    out[1] = u8::try_from(nbytes).map_err(|_| Exception::IllegalDataValue)?;
    Ok(2 + nbytes)
}

fn read_registers(
    fc: u8,
    start: u16,
    count: u16,
    out: &mut [u8; MAX_PDU_LEN],
    mut read: impl FnMut(u16) -> Result<u16, Exception>,
) -> Result<usize, Exception> {
    let nbytes = usize::from(count) * 2;
    let data = out
        .get_mut(2..2 + nbytes)
        .ok_or(Exception::IllegalDataValue)?;
    for (i, chunk) in (0..count).zip(data.chunks_exact_mut(2)) {
        chunk.copy_from_slice(&read(start.wrapping_add(i))?.to_be_bytes());
    }
    out[0] = fc;
    out[1] = u8::try_from(nbytes).map_err(|_| Exception::IllegalDataValue)?;
    Ok(2 + nbytes)
}

#[cfg(test)]
mod tests;
