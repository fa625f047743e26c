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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

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

// ---------------------------------------------------------------- file format

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    /// Largest hole (unmapped addresses) a read block may span. Default 0:
    /// only adjacent points share a request (strict slaves refuse unmapped
    /// addresses with an exception).
    #[serde(default)]
    max_gap: u16,
    /// Largest request, registers (or bits for coil/discrete): default the
    /// Modbus limit (125 registers, 2000 bits).
    #[serde(default)]
    max_block: Option<Spanned<u16>>,
    #[serde(default)]
    points: Vec<Spanned<PointDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PointDef {
    name: String,
    function: Function,
    address: u16,
    #[serde(rename = "type")]
    ty: ValueType,
    #[serde(default)]
    order: Order,
    #[serde(default = "one")]
    scale: f64,
    #[serde(default)]
    offset: f64,
    /// Bytes, for string and hex points.
    #[serde(default)]
    length: Option<u16>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    bits: Vec<BitDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BitDef {
    name: String,
    mask: u32,
    #[serde(default)]
    active_low: bool,
    #[serde(default)]
    description: Option<String>,
}

fn one() -> f64 {
    1.0
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

/// A profile that failed to load, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProfileError {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl ProfileError {
    fn at(file: &Path, text: &str, offset: Option<usize>, message: impl Into<String>) -> Self {
        let (line, column) = match offset {
            Some(o) => {
                let (l, c) = line_col(text, o);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

use crate::locate::line_col;

impl Profile {
    /// Read and validate a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProfileError::at(path, "", None, format!("cannot read profile: {e}")))?;
        Self::parse(&text, path)
    }

    /// Load profile `name` from `dir` (`<dir>/<name>.toml`); the file's
    /// `name` must match.
    pub fn load_named(dir: &Path, name: &str) -> Result<Self, ProfileError> {
        let path = dir.join(format!("{name}.toml"));
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(ProfileError::at(
                &path,
                "",
                None,
                format!("bad profile name `{name}`"),
            ));
        }
        let p = Self::load(&path)?;
        if p.name != name {
            return Err(ProfileError::at(
                &path,
                "",
                None,
                format!("profile file declares name `{}`, expected `{name}`", p.name),
            ));
        }
        Ok(p)
    }

    /// Parse and validate profile text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ProfileError> {
        let file: ProfileFile = toml::from_str(text).map_err(|e| {
            ProfileError::at(origin, text, e.span().map(|s| s.start), e.message().trim())
        })?;
        let err = |offset: usize, msg: String| ProfileError::at(origin, text, Some(offset), msg);

        let name = file.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err(err(file.name.span().start, "profile name is empty".into()));
        }
        let mut seen_points = BTreeSet::new();
        let mut seen_flags = BTreeSet::new();
        let mut points = Vec::with_capacity(file.points.len());
        for sp in file.points {
            let at = sp.span().start;
            let def = sp.into_inner();
            let point = validate_point(def).map_err(|e| err(at, e.to_string()))?;
            if !seen_points.insert(point.name.clone()) {
                return Err(err(at, format!("duplicate point name `{}`", point.name)));
            }
            for b in &point.bits {
                if !seen_flags.insert(b.name.clone()) {
                    return Err(err(at, format!("duplicate bit name `{}`", b.name)));
                }
            }
            if point.ty == ValueType::Bool && !seen_flags.insert(point.name.clone()) {
                return Err(err(
                    at,
                    format!("bool point `{}` clashes with a bit name", point.name),
                ));
            }
            points.push(point);
        }
        if points.is_empty() {
            return Err(err(0, "profile has no points".into()));
        }
        let max_block = match &file.max_block {
            Some(m) => {
                let v = *m.get_ref();
                if v == 0 {
                    return Err(err(m.span().start, "max_block must be > 0".into()));
                }
                Some(v)
            }
            None => None,
        };
        let (blocks, placement) =
            plan(&points, file.max_gap, max_block).map_err(|e| err(0, e.to_string()))?;
        Ok(Self {
            name,
            description: file.description,
            points,
            origin: origin.to_path_buf(),
            blocks,
            placement,
        })
    }

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

/// Load the profile a device config refers to: a bare name is looked up as
/// `<profiles_dir>/<name>.toml` (and must declare that name); a reference
/// ending in `.toml` is a file path (relative to `profiles_dir` unless
/// absolute).
pub fn resolve(profiles_dir: &Path, reference: &str) -> Result<Profile, ProfileError> {
    if reference.ends_with(".toml") {
        Profile::load(&profiles_dir.join(reference))
    } else {
        Profile::load_named(profiles_dir, reference)
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

/// A point definition the profile loader refuses (reported located, by its
/// message, in a [`ProfileError`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
enum PointError {
    #[error("point name is empty")]
    EmptyName,
    #[error("point `{point}`: {problem}")]
    Invalid {
        point: String,
        problem: PointProblem,
    },
}

/// What is wrong with the point named by [`PointError::Invalid`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
enum PointProblem {
    #[error("{} points must have type \"bool\"", format!("{:?}", .0).to_lowercase())]
    BitNotBool(Function),
    #[error("scale {0} must be finite and non-zero")]
    Scale(f64),
    #[error("offset {0} must be finite")]
    Offset(f64),
    #[error("length {0} not in 1..={MAX_TEXT_BYTES}")]
    Length(u16),
    #[error("string and hex points need `length` (bytes)")]
    LengthMissing,
    #[error("`length` is only for string and hex points")]
    LengthNotExpected,
    #[error("`bits` are only for integer points (u16, i16, u32, i32)")]
    BitsNotInteger,
    #[error("bit name is empty")]
    EmptyBitName,
    #[error("bit `{bit}`: mask 0x{mask:X} is zero or wider than the value")]
    BitMask { bit: String, mask: u32 },
    #[error("address {address} + {width} runs past 65535")]
    PastEnd { address: u16, width: u16 },
}

fn validate_point(d: PointDef) -> Result<Point, PointError> {
    let name = d.name.trim().to_owned();
    if name.is_empty() {
        return Err(PointError::EmptyName);
    }
    let ctx = |problem: PointProblem| PointError::Invalid {
        point: name.clone(),
        problem,
    };
    if d.function.is_bit() && d.ty != ValueType::Bool {
        return Err(ctx(PointProblem::BitNotBool(d.function)));
    }
    if !(d.scale.is_finite() && d.scale != 0.0) {
        return Err(ctx(PointProblem::Scale(d.scale)));
    }
    if !d.offset.is_finite() {
        return Err(ctx(PointProblem::Offset(d.offset)));
    }
    let length = match (d.ty.is_text(), d.length) {
        (true, Some(l)) if (1..=MAX_TEXT_BYTES).contains(&l) => l,
        (true, Some(l)) => return Err(ctx(PointProblem::Length(l))),
        (true, None) => return Err(ctx(PointProblem::LengthMissing)),
        (false, Some(_)) => return Err(ctx(PointProblem::LengthNotExpected)),
        (false, None) => 0,
    };
    if !d.bits.is_empty() && !d.ty.is_integer() {
        return Err(ctx(PointProblem::BitsNotInteger));
    }
    let width_mask: u32 = if d.ty.bit_width() == 32 {
        u32::MAX
    } else {
        0xFFFF
    };
    let mut bits = Vec::with_capacity(d.bits.len());
    for b in d.bits {
        let bname = b.name.trim().to_owned();
        if bname.is_empty() {
            return Err(ctx(PointProblem::EmptyBitName));
        }
        if b.mask == 0 || b.mask & !width_mask != 0 {
            return Err(ctx(PointProblem::BitMask {
                bit: bname,
                mask: b.mask,
            }));
        }
        bits.push(BitFlag {
            name: bname,
            mask: b.mask,
            active_low: b.active_low,
            description: b.description,
        });
    }
    let point = Point {
        name: name.clone(),
        function: d.function,
        address: d.address,
        ty: d.ty,
        order: d.order,
        scale: d.scale,
        offset: d.offset,
        length,
        unit: d.unit,
        description: d.description,
        bits,
    };
    if u32::from(point.address) + u32::from(point.width()) > 0x1_0000 {
        return Err(ctx(PointProblem::PastEnd {
            address: point.address,
            width: point.width(),
        }));
    }
    Ok(point)
}

type Plan = (Vec<ReadBlock>, Vec<(usize, u16)>);

/// A point too wide for one read request (`width` registers or bits over
/// the block `limit`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("point `{point}` ({width} registers) exceeds the block limit {limit}")]
struct BlockLimitError {
    point: String,
    width: u16,
    limit: u16,
}

/// Group points into read blocks: per function, by address, merging points
/// that are adjacent or at most `max_gap` apart while the block stays within
/// the Modbus limit (or `max_block`).
fn plan(points: &[Point], max_gap: u16, max_block: Option<u16>) -> Result<Plan, BlockLimitError> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|i| (points[*i].function, points[*i].address));
    let mut blocks: Vec<ReadBlock> = Vec::new();
    let mut placement = vec![(0usize, 0u16); points.len()];
    for i in order {
        let p = &points[i];
        let limit = if p.function.is_bit() {
            MAX_READ_BITS
        } else {
            MAX_READ_REGISTERS
        };
        let limit = max_block.map_or(limit, |m| m.min(limit));
        let (start, end) = (
            u32::from(p.address),
            u32::from(p.address) + u32::from(p.width()),
        );
        if end - start > u32::from(limit) {
            return Err(BlockLimitError {
                point: p.name.clone(),
                width: p.width(),
                limit,
            });
        }
        if let Some(last) = blocks.last_mut() {
            let (bs, be) = (
                u32::from(last.start),
                u32::from(last.start) + u32::from(last.count),
            );
            if last.function == p.function
                && start <= be + u32::from(max_gap)
                && end.max(be) - bs <= u32::from(limit)
            {
                last.count = (end.max(be) - bs) as u16;
                placement[i] = (blocks.len() - 1, (start - bs) as u16);
                continue;
            }
        }
        blocks.push(ReadBlock {
            function: p.function,
            start: p.address,
            count: p.width(),
        });
        placement[i] = (blocks.len() - 1, 0);
    }
    Ok((blocks, placement))
}

#[cfg(test)]
mod tests;
