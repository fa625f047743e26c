//! Reading a register profile: the file format (unknown keys refused),
//! each point validated, the points planned into read requests within the
//! Modbus limits; every error located in the file ([`ProfileError`]).

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{
    BitFlag, Function, Order, Point, Profile, ProfileError, ReadBlock, ValueType, MAX_READ_BITS,
    MAX_READ_REGISTERS, MAX_TEXT_BYTES,
};

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

impl Profile {
    /// Read and validate a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProfileError::at(path, None, format!("cannot read profile: {e}")))?;
        Self::parse(&text, path)
    }

    /// Load profile `name` from `dir` (`<dir>/<name>.toml`); the file's
    /// `name` must match.
    pub fn load_named(dir: &Path, name: &str) -> Result<Self, ProfileError> {
        let path = dir.join(format!("{name}.toml"));
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(ProfileError::at(
                &path,
                None,
                format!("bad profile name `{name}`"),
            ));
        }
        let p = Self::load(&path)?;
        if p.name != name {
            return Err(ProfileError::at(
                &path,
                None,
                format!("profile file declares name `{}`, expected `{name}`", p.name),
            ));
        }
        Ok(p)
    }

    /// Parse and validate profile text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ProfileError> {
        let file: ProfileFile =
            toml::from_str(text).map_err(|e| ProfileError::toml(origin, text, &e))?;
        let err = |offset: usize, msg: String| ProfileError::at(origin, Some((text, offset)), msg);

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
