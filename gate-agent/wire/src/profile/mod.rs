//! Register profiles: which registers of a Modbus device hold which value,
//! and how to decode them.
//!
//! Layer: sans-IO data description and codec. A profile is a reusable TOML
//! file (`config/profiles/*.toml`, see docs/drivers.md) listing *points*:
//! function (holding | input | coil | discrete), address, type (u16, i16,
//! u32, i32, f32, bool, string, hex), byte order for 32-bit values (ABCD,
//! CDAB, BADC, DCBA), scale and offset, and named status bits. This module
//! parses and validates profiles (errors carry file, line and column; unknown
//! keys are errors), plans the reads (contiguous blocks within Modbus
//! limits) and decodes the read data into a [`Sample`]. It does no I/O
//! besides reading the file and knows nothing about what a point means: the
//! drivers look points up by name (`gross`, `stable`, `epc`...).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Largest register count of one read request (Modbus FC 03/04 limit).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Largest bit count of one read request (Modbus FC 01/02 limit).
pub const MAX_READ_BITS: u16 = 2000;
/// Largest string / hex point, bytes.
pub const MAX_TEXT_BYTES: u16 = 240;

/// Modbus object type (and so read function) of a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Function {
    /// Holding registers, FC 03.
    Holding,
    /// Input registers, FC 04.
    Input,
    /// Coils, FC 01.
    Coil,
    /// Discrete inputs, FC 02.
    Discrete,
}

impl Function {
    /// Coils and discrete inputs are single bits.
    pub fn is_bit(self) -> bool {
        matches!(self, Self::Coil | Self::Discrete)
    }
}

/// Value type of a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    U16,
    I16,
    U32,
    I32,
    F32,
    /// A coil / discrete input, or a register that is true when non-zero.
    Bool,
    /// UTF-8 text of `length` bytes, NUL-padded or space-padded.
    String,
    /// `length` raw bytes rendered as upper-case hex (EPC, TID, seal ids).
    Hex,
}

impl ValueType {
    fn is_integer(self) -> bool {
        matches!(self, Self::U16 | Self::I16 | Self::U32 | Self::I32)
    }
    fn is_text(self) -> bool {
        matches!(self, Self::String | Self::Hex)
    }
    fn bit_width(self) -> u32 {
        match self {
            Self::U32 | Self::I32 | Self::F32 => 32,
            _ => 16,
        }
    }
}

/// Byte order of a value across registers, naming the value's bytes from
/// most significant (A) to least (D) in the order they appear on the wire
/// (register 0 high byte, register 0 low byte, register 1 high byte, ...).
///
/// ABCD: big-endian (the Modbus norm). CDAB: words swapped ("little-endian
/// word order", common on indicators). BADC: bytes swapped inside each word.
/// DCBA: fully little-endian. For 16-bit values only the byte part counts
/// (BADC and DCBA swap the two bytes); for string and hex, BADC and DCBA put
/// the low byte of each register first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    #[default]
    #[serde(rename = "ABCD")]
    Abcd,
    #[serde(rename = "CDAB")]
    Cdab,
    #[serde(rename = "BADC")]
    Badc,
    #[serde(rename = "DCBA")]
    Dcba,
}

impl Order {
    /// For each value byte (A..D), the index of the wire byte holding it.
    fn permutation(self) -> [usize; 4] {
        match self {
            Self::Abcd => [0, 1, 2, 3],
            Self::Cdab => [2, 3, 0, 1],
            Self::Badc => [1, 0, 3, 2],
            Self::Dcba => [3, 2, 1, 0],
        }
    }
    fn swaps_bytes(self) -> bool {
        matches!(self, Self::Badc | Self::Dcba)
    }
}

// ---------------------------------------------------------------- validated model

/// A named status bit inside an integer point.
#[derive(Clone, Debug, PartialEq)]
pub struct BitFlag {
    pub name: String,
    /// Bits of the raw value; the flag is active when any of them is set
    /// (or, with `active_low`, when none is).
    pub mask: u32,
    pub active_low: bool,
    pub description: Option<String>,
}

/// One validated point of a profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub name: String,
    pub function: Function,
    /// Zero-based PDU address.
    pub address: u16,
    pub ty: ValueType,
    pub order: Order,
    /// Engineering value = raw * scale + offset (numeric types).
    pub scale: f64,
    pub offset: f64,
    /// Bytes, for string and hex points (0 otherwise).
    pub length: u16,
    pub unit: Option<String>,
    pub description: Option<String>,
    pub bits: Vec<BitFlag>,
}

impl Point {
    /// Registers (or bits) the point occupies.
    pub fn width(&self) -> u16 {
        if self.function.is_bit() {
            return 1;
        }
        match self.ty {
            ValueType::U16 | ValueType::I16 | ValueType::Bool => 1,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 2,
            ValueType::String | ValueType::Hex => self.length.div_ceil(2),
        }
    }

    /// Decode the point's registers (exactly [`Point::width`] of them).
    /// Adds the value and its flags to `out`.
    pub fn decode_registers(&self, regs: &[u16], out: &mut Sample) {
        if regs.len() != usize::from(self.width()) {
            out.problems.push(format!(
                "{}: got {} registers, expected {}",
                self.name,
                regs.len(),
                self.width()
            ));
            return;
        }
        let wire: Vec<u8> = regs.iter().flat_map(|r| r.to_be_bytes()).collect();
        let raw_int: Option<(i64, u32)> = match self.ty {
            ValueType::U16 => Some((i64::from(self.u16_of(&wire)), u32::from(self.u16_of(&wire)))),
            ValueType::I16 => {
                let v = self.u16_of(&wire);
                Some((i64::from(v as i16), u32::from(v)))
            }
            ValueType::U32 => {
                let v = self.u32_of(&wire);
                Some((i64::from(v), v))
            }
            ValueType::I32 => {
                let v = self.u32_of(&wire);
                Some((i64::from(v as i32), v))
            }
            _ => None,
        };
        match self.ty {
            ValueType::F32 => {
                let f = f32::from_bits(self.u32_of(&wire));
                if f.is_finite() {
                    self.put_number(f64::from(f), out);
                } else {
                    out.problems
                        .push(format!("{}: not a finite number ({f})", self.name));
                }
            }
            ValueType::Bool => {
                let b = regs.iter().any(|r| *r != 0);
                out.values.insert(self.name.clone(), Value::Bool(b));
                out.flags.insert(self.name.clone(), b);
            }
            ValueType::String => {
                let bytes = self.text_bytes(&wire);
                let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
                let s = String::from_utf8_lossy(&bytes[..end]);
                out.values.insert(
                    self.name.clone(),
                    Value::Text(s.trim_end_matches(' ').to_owned()),
                );
            }
            ValueType::Hex => {
                let bytes = self.text_bytes(&wire);
                let s: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
                out.values.insert(self.name.clone(), Value::Text(s));
            }
            _ => {}
        }
        if let Some((int, bits)) = raw_int {
            self.put_number(int as f64, out);
            for b in &self.bits {
                out.flags
                    .insert(b.name.clone(), (bits & b.mask != 0) != b.active_low);
            }
        }
    }

    /// Add the engineering value of `raw` (scale and offset applied), or a
    /// problem when it is not a finite number: a huge scale (both are only
    /// checked to be finite) must not turn a register into an infinite
    /// weight.
    fn put_number(&self, raw: f64, out: &mut Sample) {
        let x = raw * self.scale + self.offset;
        if x.is_finite() {
            out.values.insert(self.name.clone(), Value::Number(x));
        } else {
            out.problems.push(format!(
                "{}: {raw} * scale {} + offset {} is not a finite number",
                self.name, self.scale, self.offset
            ));
        }
    }

    /// Decode a coil / discrete input point.
    pub fn decode_bit(&self, bit: bool, out: &mut Sample) {
        out.values.insert(self.name.clone(), Value::Bool(bit));
        out.flags.insert(self.name.clone(), bit);
    }

    /// The registers that hold engineering value `x` (numeric register
    /// points): the inverse of decoding, for writes, tests and simulators.
    pub fn encode_number(&self, x: f64) -> Result<Vec<u16>, EncodeError> {
        if self.function.is_bit() || !(self.ty.is_integer() || self.ty == ValueType::F32) {
            return Err(EncodeError::NotNumeric {
                point: self.name.clone(),
            });
        }
        let raw = (x - self.offset) / self.scale;
        if !raw.is_finite() {
            return Err(EncodeError::NotRepresentable {
                point: self.name.clone(),
                value: x,
            });
        }
        let in_range = |lo: f64, hi: f64| -> Result<f64, EncodeError> {
            let r = raw.round();
            if r < lo || r > hi {
                Err(EncodeError::OutOfRange {
                    point: self.name.clone(),
                    raw: r,
                })
            } else {
                Ok(r)
            }
        };
        let word = |v: u16| -> Vec<u16> {
            let b = v.to_be_bytes();
            if self.order.swaps_bytes() {
                vec![u16::from_be_bytes([b[1], b[0]])]
            } else {
                vec![v]
            }
        };
        Ok(match self.ty {
            ValueType::U16 => word(in_range(0.0, 65535.0)? as u16),
            ValueType::I16 => word(in_range(-32768.0, 32767.0)? as i16 as u16),
            ValueType::U32 => self.wire_u32(in_range(0.0, 4_294_967_295.0)? as u32),
            ValueType::I32 => {
                self.wire_u32(in_range(-2_147_483_648.0, 2_147_483_647.0)? as i32 as u32)
            }
            _ => self.wire_u32((raw as f32).to_bits()),
        })
    }

    fn u16_of(&self, wire: &[u8]) -> u16 {
        let (a, b) = (
            wire.first().copied().unwrap_or(0),
            wire.get(1).copied().unwrap_or(0),
        );
        if self.order.swaps_bytes() {
            u16::from_be_bytes([b, a])
        } else {
            u16::from_be_bytes([a, b])
        }
    }

    fn u32_of(&self, wire: &[u8]) -> u32 {
        let p = self.order.permutation();
        let byte = |i: usize| wire.get(p[i]).copied().unwrap_or(0);
        u32::from_be_bytes([byte(0), byte(1), byte(2), byte(3)])
    }

    fn wire_u32(&self, v: u32) -> Vec<u16> {
        let value = v.to_be_bytes();
        let mut wire = [0u8; 4];
        for (i, w) in self.order.permutation().iter().enumerate() {
            wire[*w] = value[i];
        }
        vec![
            u16::from_be_bytes([wire[0], wire[1]]),
            u16::from_be_bytes([wire[2], wire[3]]),
        ]
    }

    fn text_bytes(&self, wire: &[u8]) -> Vec<u8> {
        let mut bytes = wire.to_vec();
        if self.order.swaps_bytes() {
            for pair in bytes.chunks_exact_mut(2) {
                pair.swap(0, 1);
            }
        }
        bytes.truncate(usize::from(self.length));
        bytes
    }
}

/// One read request of a [`ReadPlan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadBlock {
    pub function: Function,
    pub start: u16,
    /// Registers or bits.
    pub count: u16,
}

/// Data returned by one [`ReadBlock`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockData {
    Words(Vec<u16>),
    Bits(Vec<bool>),
}

/// A decoded value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    /// Engineering value (scale and offset applied).
    Number(f64),
    Text(String),
}

/// The decoded values of one poll of a profile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Point values by point name.
    pub values: BTreeMap<String, Value>,
    /// Status bits by bit name, and bool points by point name.
    pub flags: BTreeMap<String, bool>,
    /// Points that could not be decoded (e.g. a NaN float), with the reason.
    pub problems: Vec<String>,
}

impl Sample {
    /// Numeric value of a point.
    pub fn number(&self, name: &str) -> Option<f64> {
        match self.values.get(name)? {
            Value::Number(x) => Some(*x),
            _ => None,
        }
    }
    /// A status bit or bool point.
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.flags.get(name).copied()
    }
    /// Text of a string / hex point.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name)? {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// A validated register profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: String,
    pub description: Option<String>,
    pub points: Vec<Point>,
    /// Where the profile came from (file path or a label).
    pub origin: PathBuf,
    blocks: Vec<ReadBlock>,
    /// For each point: (block index, offset inside the block).
    placement: Vec<(usize, u16)>,
}

/// A profile that failed to load, located in its file (the located error
/// of every configuration file).
pub use crate::locate::LocatedError as ProfileError;

impl Profile {
    /// The read requests that fetch every point.
    pub fn blocks(&self) -> &[ReadBlock] {
        &self.blocks
    }

    /// A point by name.
    pub fn point(&self, name: &str) -> Option<&Point> {
        self.points.iter().find(|p| p.name == name)
    }

    /// Whether a flag (status bit or bool point) of that name exists.
    pub fn has_flag(&self, name: &str) -> bool {
        self.points.iter().any(|p| {
            (p.ty == ValueType::Bool && p.name == name) || p.bits.iter().any(|b| b.name == name)
        })
    }

    /// Decode the data of [`Profile::blocks`] (same order) into a sample.
    pub fn decode(&self, data: &[BlockData]) -> Sample {
        let mut out = Sample::default();
        if data.len() != self.blocks.len() {
            out.problems.push(format!(
                "got {} blocks, expected {}",
                data.len(),
                self.blocks.len()
            ));
            return out;
        }
        for (point, (bi, off)) in self.points.iter().zip(&self.placement) {
            let off = usize::from(*off);
            let w = usize::from(point.width());
            match &data[*bi] {
                BlockData::Words(words) if !point.function.is_bit() => {
                    match words.get(off..off + w) {
                        Some(regs) => point.decode_registers(regs, &mut out),
                        None => out.problems.push(format!("{}: short read", point.name)),
                    }
                }
                BlockData::Bits(bits) if point.function.is_bit() => match bits.get(off) {
                    Some(b) => point.decode_bit(*b, &mut out),
                    None => out.problems.push(format!("{}: short read", point.name)),
                },
                _ => out
                    .problems
                    .push(format!("{}: wrong data kind", point.name)),
            }
        }
        out
    }
}

/// A value [`Point::encode_number`] cannot put in the point's registers.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EncodeError {
    /// A bit, text or hex point.
    #[error("{point}: not a numeric register point")]
    NotNumeric { point: String },
    /// The value maps to no finite raw value (scale and offset undone).
    #[error("{point}: {value} is not representable")]
    NotRepresentable { point: String, value: f64 },
    /// The rounded raw value does not fit the point's type.
    #[error("{point}: raw value {raw} out of range")]
    OutOfRange { point: String, raw: f64 },
}

mod parse;

pub use parse::resolve;

#[cfg(test)]
mod tests;
