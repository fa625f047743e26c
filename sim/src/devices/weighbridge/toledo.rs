//! Mettler Toledo continuous output: the 17-byte frame (18 with checksum) a
//! Toledo-compatible indicator streams on its serial port.
//!
//! Layer: wire format only (view + validated repr, parse and emit); no I/O.
//! Byte-by-byte description: docs/devices/weighbridge-toledo.md.
//!
//! ```text
//! STX SWA SWB SWC W W W W W W T T T T T T CR [CKS]
//! ```
//! - SWA: bits 0-2 decimal point / dummy zeros (0 = XXXX00, 1 = XXXXX0,
//!   2 = XXXXXX, 3 = XXXXX.X ... 7 = X.XXXXX), bits 3-4 increment size
//!   (01 = x1, 10 = x2, 11 = x5; bit 3 is the low bit), bit 5 = 1, bit 6 = 0.
//! - SWB: bit 0 net, bit 1 negative, bit 2 out of range, bit 3 motion,
//!   bit 4 kg (0 = lb), bit 5 = 1, bit 6 power-up not zeroed.
//! - SWC: bit 0 grams, bits 1-2 = 0, bit 3 print request, bit 4 expanded,
//!   bit 5 = 1, bit 6 = 0.
//! - Weight and tare: six ASCII digits each, no sign, no decimal point,
//!   leading zeros sent as '0'; dummy zeros are part of the digits.
//! - CKS: two's complement of the sum of all preceding bytes (STX..CR), 7 bits.
//! - Bit 7 of every byte is 0 (8N1 framing; with 7E1 the UART puts parity there).

use super::scale::{division_digits, ScaleReading};

pub const STX: u8 = 0x02;
pub const CR: u8 = 0x0D;
/// Frame length without / with checksum.
pub const LEN: usize = 17;
pub const LEN_CKS: usize = 18;

mod field {
    use core::ops::Range;
    pub const STX: usize = 0;
    pub const SWA: usize = 1;
    pub const SWB: usize = 2;
    pub const SWC: usize = 3;
    pub const WEIGHT: Range<usize> = 4..10;
    pub const TARE: Range<usize> = 10..16;
    pub const CR: usize = 16;
    pub const CKS: usize = 17;
}

pub mod swa {
    pub const DP_MASK: u8 = 0b0000_0111;
    pub const INCR_SHIFT: u8 = 3;
    pub const INCR_MASK: u8 = 0b0001_1000;
    pub const ALWAYS_ONE: u8 = 1 << 5;
}

pub mod swb {
    pub const NET: u8 = 1 << 0;
    pub const NEGATIVE: u8 = 1 << 1;
    pub const OUT_OF_RANGE: u8 = 1 << 2;
    pub const MOTION: u8 = 1 << 3;
    pub const KG: u8 = 1 << 4;
    pub const ALWAYS_ONE: u8 = 1 << 5;
    pub const NOT_ZEROED: u8 = 1 << 6;
}

pub mod swc {
    pub const GRAMS: u8 = 1 << 0;
    pub const PRINT_REQUEST: u8 = 1 << 3;
    pub const EXPANDED: u8 = 1 << 4;
    pub const ALWAYS_ONE: u8 = 1 << 5;
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("frame too short ({0} bytes)")]
    Truncated(usize),
    #[error("no STX at the start")]
    NoStx,
    #[error("no CR at byte 17")]
    NoCr,
    #[error("byte {0} is not an ASCII digit")]
    NotDigit(usize),
    #[error("bad checksum (got {got:#04x}, want {want:#04x})")]
    Checksum { got: u8, want: u8 },
    #[error("status byte {0} has a fixed bit wrong")]
    FixedBit(usize),
}

/// A zero-copy view of a frame (17 or 18 bytes).
pub struct Frame<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn new_unchecked(buf: T) -> Self {
        Self { buf }
    }

    /// Checks length, delimiters, digits, fixed bits and (if present) the checksum.
    pub fn new_checked(buf: T) -> Result<Self, ParseError> {
        let f = Self::new_unchecked(buf);
        f.check()?;
        Ok(f)
    }

    fn check(&self) -> Result<(), ParseError> {
        let b = self.buf.as_ref();
        if b.len() < LEN {
            return Err(ParseError::Truncated(b.len()));
        }
        if b[field::STX] != STX {
            return Err(ParseError::NoStx);
        }
        if b[field::CR] != CR {
            return Err(ParseError::NoCr);
        }
        for i in field::WEIGHT.chain(field::TARE) {
            if !b[i].is_ascii_digit() {
                return Err(ParseError::NotDigit(i));
            }
        }
        // Bit 5 is always 1, bits 6 and 7 always 0 (bit 7 = parity in 7E1).
        if b[field::SWA] & 0xC0 != 0 || b[field::SWA] & swa::ALWAYS_ONE == 0 {
            return Err(ParseError::FixedBit(field::SWA));
        }
        if b[field::SWB] & swb::ALWAYS_ONE == 0 || b[field::SWB] & 0x80 != 0 {
            return Err(ParseError::FixedBit(field::SWB));
        }
        if b[field::SWC] & swc::ALWAYS_ONE == 0 || b[field::SWC] & 0xC6 != 0 {
            return Err(ParseError::FixedBit(field::SWC));
        }
        if b.len() >= LEN_CKS {
            let want = checksum(&b[..LEN]);
            if b[field::CKS] != want {
                return Err(ParseError::Checksum {
                    got: b[field::CKS],
                    want,
                });
            }
        }
        Ok(())
    }

    pub fn swa(&self) -> u8 {
        self.buf.as_ref()[field::SWA]
    }
    pub fn swb(&self) -> u8 {
        self.buf.as_ref()[field::SWB]
    }
    pub fn swc(&self) -> u8 {
        self.buf.as_ref()[field::SWC]
    }
    pub fn weight_digits(&self) -> &[u8] {
        &self.buf.as_ref()[field::WEIGHT]
    }
    pub fn tare_digits(&self) -> &[u8] {
        &self.buf.as_ref()[field::TARE]
    }
    pub fn checksum(&self) -> Option<u8> {
        self.buf.as_ref().get(field::CKS).copied()
    }
}

/// Checksum: two's complement of the 7-bit sum of `bytes`.
pub fn checksum(bytes: &[u8]) -> u8 {
    let sum = bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    sum.wrapping_neg() & 0x7F
}

/// A decoded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// Displayed weight in display counts (the six digits as a number), signed.
    pub weight: i64,
    /// Tare in display counts.
    pub tare: u32,
    /// SWA bits 0-2.
    pub dp_code: u8,
    /// Increment size 1, 2 or 5 (SWA bits 3-4); 0 if the code is 00.
    pub increment: u8,
    pub net: bool,
    pub motion: bool,
    pub out_of_range: bool,
    pub kg: bool,
    pub not_zeroed: bool,
    pub print_request: bool,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(f: &Frame<T>) -> Result<Self, ParseError> {
        f.check()?;
        let a = f.swa();
        let b = f.swb();
        let magnitude = digits(f.weight_digits());
        Ok(Self {
            weight: if b & swb::NEGATIVE != 0 {
                -(magnitude as i64)
            } else {
                magnitude as i64
            },
            tare: digits(f.tare_digits()),
            dp_code: a & swa::DP_MASK,
            increment: match (a & swa::INCR_MASK) >> swa::INCR_SHIFT {
                0b01 => 1,
                0b10 => 2,
                0b11 => 5,
                _ => 0,
            },
            net: b & swb::NET != 0,
            motion: b & swb::MOTION != 0,
            out_of_range: b & swb::OUT_OF_RANGE != 0,
            kg: b & swb::KG != 0,
            not_zeroed: b & swb::NOT_ZEROED != 0,
            print_request: f.swc() & swc::PRINT_REQUEST != 0,
        })
    }

    /// Weight in kg: with dummy-zero codes the digits already carry the
    /// zeros; with decimal codes the digits are scaled down.
    pub fn weight_kg(&self) -> f64 {
        match self.dp_code {
            0..=2 => self.weight as f64,
            c => self.weight as f64 / 10f64.powi(i32::from(c) - 2),
        }
    }

    /// The frame for a kg reading on a scale with `division_kg` (gross mode, no tare).
    /// Returns None for a division the format cannot express.
    pub fn from_reading(r: &ScaleReading, division_kg: u32) -> Option<Self> {
        let (m, p) = division_digits(division_kg)?;
        Some(Self {
            weight: r.weight_kg.clamp(-999_999, 999_999),
            tare: 0,
            dp_code: match p {
                0 => 2,
                1 => 1,
                _ => 0,
            },
            increment: m as u8,
            net: false,
            motion: !r.stable,
            out_of_range: r.overload || r.weight_kg.abs() > 999_999,
            kg: true,
            not_zeroed: false,
            print_request: false,
        })
    }

    pub fn buffer_len(with_checksum: bool) -> usize {
        if with_checksum {
            LEN_CKS
        } else {
            LEN
        }
    }

    /// Writes the frame into `buf` (at least [`Repr::buffer_len`] bytes); returns the length.
    pub fn emit(&self, buf: &mut [u8], with_checksum: bool) -> Option<usize> {
        let n = Self::buffer_len(with_checksum);
        let buf = buf.get_mut(..n)?;
        let incr = match self.increment {
            1 => 0b01,
            2 => 0b10,
            5 => 0b11,
            _ => 0b00,
        };
        buf[field::STX] = STX;
        buf[field::SWA] =
            swa::ALWAYS_ONE | (incr << swa::INCR_SHIFT) | (self.dp_code & swa::DP_MASK);
        let mut b = swb::ALWAYS_ONE;
        for (on, bit) in [
            (self.net, swb::NET),
            (self.weight < 0, swb::NEGATIVE),
            (self.out_of_range, swb::OUT_OF_RANGE),
            (self.motion, swb::MOTION),
            (self.kg, swb::KG),
            (self.not_zeroed, swb::NOT_ZEROED),
        ] {
            if on {
                b |= bit;
            }
        }
        buf[field::SWB] = b;
        buf[field::SWC] = swc::ALWAYS_ONE
            | if self.print_request {
                swc::PRINT_REQUEST
            } else {
                0
            };
        put_digits(
            &mut buf[field::WEIGHT],
            self.weight.unsigned_abs().min(999_999),
        );
        put_digits(&mut buf[field::TARE], u64::from(self.tare).min(999_999));
        buf[field::CR] = CR;
        if with_checksum {
            buf[field::CKS] = checksum(&buf[..LEN]);
        }
        Some(n)
    }

    /// Convenience: the frame as a vector.
    pub fn to_vec(&self, with_checksum: bool) -> Vec<u8> {
        let mut v = vec![0; Self::buffer_len(with_checksum)];
        let n = self.emit(&mut v, with_checksum).unwrap_or(0);
        v.truncate(n);
        v
    }
}

fn digits(d: &[u8]) -> u32 {
    d.iter()
        .fold(0u32, |a, &c| a * 10 + u32::from(c.wrapping_sub(b'0') % 10))
}

fn put_digits(out: &mut [u8], mut v: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 32460 kg, stable, gross, kg, division 20 (XXXXX0, x2), with checksum.
    static STABLE_32460: [u8; 18] = [
        0x02, b'1', b'0', b' ', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'0', b'0', b'0', b'0',
        b'0', 0x0D, 0x21,
    ];
    // -120 kg in motion, no checksum.
    static MOTION_NEG_120: [u8; 17] = [
        0x02, b'1', b':', b' ', b'0', b'0', b'0', b'1', b'2', b'0', b'0', b'0', b'0', b'0', b'0',
        b'0', 0x0D,
    ];

    #[test]
    fn deconstruct() {
        let f = Frame::new_checked(&STABLE_32460[..]).unwrap();
        assert_eq!(f.swa(), 0x31);
        assert_eq!(f.swb(), 0x30);
        assert_eq!(f.swc(), 0x20);
        assert_eq!(f.weight_digits(), b"032460");
        assert_eq!(f.tare_digits(), b"000000");
        assert_eq!(f.checksum(), Some(0x21));
        let sum: u32 = STABLE_32460.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(
            sum % 128,
            0,
            "bytes including the checksum sum to 0 mod 128"
        );
    }

    #[test]
    fn parse() {
        let r = Repr::parse(&Frame::new_unchecked(&STABLE_32460[..])).unwrap();
        assert_eq!(r.weight, 32_460);
        assert_eq!(r.weight_kg(), 32_460.0);
        assert_eq!((r.dp_code, r.increment), (1, 2));
        assert!(r.kg && !r.motion && !r.net && !r.out_of_range);
        let r = Repr::parse(&Frame::new_unchecked(&MOTION_NEG_120[..])).unwrap();
        assert_eq!(r.weight, -120);
        assert!(r.motion && r.kg);
    }

    #[test]
    fn emit() {
        let reading = ScaleReading {
            weight_kg: 32_460,
            stable: true,
            overload: false,
            seq: 1,
            t_ms: 0,
        };
        let repr = Repr::from_reading(&reading, 20).unwrap();
        assert_eq!(repr.to_vec(true), STABLE_32460);
        let reading = ScaleReading {
            weight_kg: -120,
            stable: false,
            overload: false,
            seq: 1,
            t_ms: 0,
        };
        let repr = Repr::from_reading(&reading, 20).unwrap();
        assert_eq!(repr.to_vec(false), MOTION_NEG_120);
    }

    #[test]
    fn rejects_damaged_frames() {
        let mut b = STABLE_32460;
        b[17] ^= 1;
        assert!(matches!(
            Frame::new_checked(&b[..]),
            Err(ParseError::Checksum { .. })
        ));
        let mut b = STABLE_32460;
        b[6] = b'x';
        assert_eq!(
            Frame::new_checked(&b[..]).err(),
            Some(ParseError::NotDigit(6))
        );
        assert_eq!(
            Frame::new_checked(&STABLE_32460[..10]).err(),
            Some(ParseError::Truncated(10))
        );
        let mut b = STABLE_32460;
        b[0] = 0;
        assert_eq!(Frame::new_checked(&b[..]).err(), Some(ParseError::NoStx));
        let mut b = STABLE_32460;
        b[16] = b'\n';
        assert_eq!(Frame::new_checked(&b[..]).err(), Some(ParseError::NoCr));
        let mut b = MOTION_NEG_120;
        b[2] &= !swb::ALWAYS_ONE;
        assert_eq!(
            Frame::new_checked(&b[..]).err(),
            Some(ParseError::FixedBit(2))
        );
    }

    #[test]
    fn divisions_map_to_codes() {
        let r = ScaleReading {
            weight_kg: 5,
            stable: true,
            ..ScaleReading::default()
        };
        let x = Repr::from_reading(&r, 5).unwrap();
        assert_eq!((x.dp_code, x.increment), (2, 5));
        let x = Repr::from_reading(&r, 100).unwrap();
        assert_eq!((x.dp_code, x.increment), (0, 1));
        assert!(Repr::from_reading(&r, 30).is_none());
    }
}
