//! Mettler Toledo continuous output: frame view and validated repr.
//!
//! Layer: wire format only (sans-IO, no clock). Frame (17 bytes, 18 with the
//! optional checksum):
//!
//! ```text
//! STX SWA SWB SWC W W W W W W T T T T T T CR [CKS]
//! ```
//! - SWA bits 0-2: decimal point / dummy zeros (0 = XXXX00, 1 = XXXXX0,
//!   2 = XXXXXX, 3 = XXXXX.X ... 7 = X.XXXXX); bits 3-4: increment (x1, x2, x5);
//!   bit 5 always 1.
//! - SWB bit 0 net, bit 1 negative, bit 2 out of range, bit 3 motion, bit 4
//!   kg (0 = lb), bit 5 always 1, bit 6 power-up not zeroed.
//! - SWC bits 0-2 unit override (0 = as SWB, 1 = g, 2 = t), bit 3 print
//!   request, bit 4 expanded, bit 5 always 1.
//! - Weight, tare: six ASCII digits, no sign, no decimal point; with the
//!   dummy-zero codes (0, 1) the zeros are part of the digits (as the lane
//!   simulator documents in docs/devices/weighbridge-toledo.md). Leading
//!   blanks are read as zeros.
//! - CKS: two's complement of the 7-bit sum of STX..CR.
//!
//! Bit 7 is ignored everywhere (7E1 lines deliver parity there on some
//! adapters). Nothing in this module can panic on any input.

/// Start of frame.
pub const STX: u8 = 0x02;
/// End of the data part.
pub const CR: u8 = 0x0D;
/// Frame length without / with the checksum byte.
pub const LEN: usize = 17;
pub const LEN_CKS: usize = 18;

mod field {
    use core::ops::Range;
    pub const SWA: usize = 1;
    pub const SWB: usize = 2;
    pub const SWC: usize = 3;
    pub const WEIGHT: Range<usize> = 4..10;
    pub const TARE: Range<usize> = 10..16;
    pub const CR: usize = 16;
    pub const CKS: usize = 17;
}

const ALWAYS_ONE: u8 = 1 << 5;
const SWB_NET: u8 = 1 << 0;
const SWB_NEGATIVE: u8 = 1 << 1;
const SWB_OUT_OF_RANGE: u8 = 1 << 2;
const SWB_MOTION: u8 = 1 << 3;
const SWB_KG: u8 = 1 << 4;
const SWB_NOT_ZEROED: u8 = 1 << 6;

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ToledoError {
    #[error("frame of {0} bytes, need {1}")]
    Length(usize, usize),
    #[error("frame does not start with STX")]
    NoStx,
    #[error("no CR at byte 16")]
    NoCr,
    #[error("status byte {0} lacks its always-one bit")]
    Status(usize),
    #[error("byte {0} is not a digit")]
    NotDigit(usize),
    #[error("bad checksum: got 0x{got:02X}, want 0x{want:02X}")]
    Checksum { got: u8, want: u8 },
    #[error("unsupported unit code {0} in status C")]
    Unit(u8),
}

/// Checksum of the bytes before it: two's complement of the 7-bit sum.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b & 0x7F))
        .wrapping_neg()
        & 0x7F
}

/// A zero-copy view of a frame.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buf: T,
    with_checksum: bool,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Check length, delimiters, status bits, digits and (if expected) the checksum.
    pub fn new_checked(buf: T, with_checksum: bool) -> Result<Self, ToledoError> {
        let f = Self { buf, with_checksum };
        f.check()?;
        Ok(f)
    }

    fn check(&self) -> Result<(), ToledoError> {
        let b = self.buf.as_ref();
        let need = if self.with_checksum { LEN_CKS } else { LEN };
        if b.len() != need {
            return Err(ToledoError::Length(b.len(), need));
        }
        if b[0] & 0x7F != STX {
            return Err(ToledoError::NoStx);
        }
        if b[field::CR] & 0x7F != CR {
            return Err(ToledoError::NoCr);
        }
        for i in [field::SWA, field::SWB, field::SWC] {
            if b[i] & ALWAYS_ONE == 0 {
                return Err(ToledoError::Status(i));
            }
        }
        for i in field::WEIGHT.chain(field::TARE) {
            let c = b[i] & 0x7F;
            if !(c.is_ascii_digit() || c == b' ') {
                return Err(ToledoError::NotDigit(i));
            }
        }
        if self.with_checksum {
            let want = checksum(&b[..LEN]);
            let got = b[field::CKS] & 0x7F;
            if got != want {
                return Err(ToledoError::Checksum { got, want });
            }
        }
        Ok(())
    }

    pub fn swa(&self) -> u8 {
        self.buf.as_ref()[field::SWA] & 0x7F
    }
    pub fn swb(&self) -> u8 {
        self.buf.as_ref()[field::SWB] & 0x7F
    }
    pub fn swc(&self) -> u8 {
        self.buf.as_ref()[field::SWC] & 0x7F
    }
    pub fn weight_digits(&self) -> &[u8] {
        &self.buf.as_ref()[field::WEIGHT]
    }
    pub fn tare_digits(&self) -> &[u8] {
        &self.buf.as_ref()[field::TARE]
    }
}

fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0u32, |a, c| {
        let c = c & 0x7F;
        a * 10
            + if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                0
            }
    })
}

/// A Toledo frame's content: what [`parse`] finds and what
/// [`ToledoRepr::emit`] writes (the lane simulator's indicators emit it).
/// Weight and tare are in display counts; [`ToledoRepr::weight_kg`] applies
/// the decimal point and the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ToledoRepr {
    /// Displayed weight in display counts (the six digits), negative when
    /// SWB says so.
    pub weight: i64,
    /// Tare in display counts.
    pub tare: u32,
    /// SWA bits 0-2: dummy zeros (0-2) or decimals (3-7).
    pub dp_code: u8,
    /// SWA bits 3-4 as the increment size: 1, 2 or 5 (0 for code 00).
    pub increment: u8,
    /// SWC bits 0-2: 0 = the unit SWB says (kg or lb), 1 = g, 2 = t.
    pub unit_code: u8,
    /// The displayed weight is net (gross = net + tare).
    pub net: bool,
    pub motion: bool,
    pub out_of_range: bool,
    /// SWB bit 4: kg (else lb).
    pub kg: bool,
    pub not_zeroed: bool,
    pub print_request: bool,
}

const SWA_INCR_SHIFT: u8 = 3;
const SWC_PRINT_REQUEST: u8 = 1 << 3;

impl ToledoRepr {
    /// Parse a checked frame.
    pub fn parse<T: AsRef<[u8]>>(f: &Frame<T>) -> Result<Self, ToledoError> {
        let (a, b, c) = (f.swa(), f.swb(), f.swc());
        let unit_code = c & 0x07;
        if unit_code > 2 {
            return Err(ToledoError::Unit(unit_code));
        }
        let w = i64::from(number(f.weight_digits()));
        Ok(Self {
            weight: if b & SWB_NEGATIVE != 0 { -w } else { w },
            tare: number(f.tare_digits()),
            dp_code: a & 0x07,
            increment: match (a >> SWA_INCR_SHIFT) & 0b11 {
                0b01 => 1,
                0b10 => 2,
                0b11 => 5,
                _ => 0,
            },
            unit_code,
            net: b & SWB_NET != 0,
            motion: b & SWB_MOTION != 0,
            out_of_range: b & SWB_OUT_OF_RANGE != 0,
            kg: b & SWB_KG != 0,
            not_zeroed: b & SWB_NOT_ZEROED != 0,
            print_request: c & SWC_PRINT_REQUEST != 0,
        })
    }

    /// Kilograms per display count: the decimal point and the unit.
    fn kg_per_count(&self) -> f64 {
        // Codes 0-2: the digits carry any dummy zeros; 3-7: decimals.
        let divisor = if self.dp_code <= 2 {
            1.0
        } else {
            10f64.powi(i32::from(self.dp_code) - 2)
        };
        let unit_kg = match self.unit_code {
            1 => 0.001,
            2 => 1000.0,
            _ if self.kg => 1.0,
            _ => 0.453_592_37,
        };
        unit_kg / divisor
    }

    /// Displayed weight in kg (negative when SWB says so).
    pub fn weight_kg(&self) -> f64 {
        self.weight as f64 * self.kg_per_count()
    }

    /// Tare in kg.
    pub fn tare_kg(&self) -> f64 {
        f64::from(self.tare) * self.kg_per_count()
    }

    /// Gross weight: the displayed weight, plus the tare when it is net.
    pub fn gross_kg(&self) -> f64 {
        if self.net {
            self.weight_kg() + self.tare_kg()
        } else {
            self.weight_kg()
        }
    }

    /// Frame length with or without the checksum byte.
    pub fn buffer_len(with_checksum: bool) -> usize {
        if with_checksum {
            LEN_CKS
        } else {
            LEN
        }
    }

    /// Write the frame into `buf` (at least [`Self::buffer_len`] bytes);
    /// returns its length, or None when `buf` is too short. Values beyond
    /// six digits are written as 999999.
    pub fn emit(&self, buf: &mut [u8], with_checksum: bool) -> Option<usize> {
        let n = Self::buffer_len(with_checksum);
        let buf = buf.get_mut(..n)?;
        let incr = match self.increment {
            1 => 0b01,
            2 => 0b10,
            5 => 0b11,
            _ => 0b00,
        };
        buf[0] = STX;
        buf[field::SWA] = ALWAYS_ONE | (incr << SWA_INCR_SHIFT) | (self.dp_code & 0x07);
        let mut b = ALWAYS_ONE;
        for (on, bit) in [
            (self.net, SWB_NET),
            (self.weight < 0, SWB_NEGATIVE),
            (self.out_of_range, SWB_OUT_OF_RANGE),
            (self.motion, SWB_MOTION),
            (self.kg, SWB_KG),
            (self.not_zeroed, SWB_NOT_ZEROED),
        ] {
            if on {
                b |= bit;
            }
        }
        buf[field::SWB] = b;
        buf[field::SWC] = ALWAYS_ONE
            | (self.unit_code & 0x07)
            | if self.print_request {
                SWC_PRINT_REQUEST
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

    /// The frame as a vector.
    pub fn to_vec(&self, with_checksum: bool) -> Vec<u8> {
        let mut v = vec![0; Self::buffer_len(with_checksum)];
        let n = self.emit(&mut v, with_checksum).unwrap_or(0);
        v.truncate(n);
        v
    }
}

fn put_digits(out: &mut [u8], mut v: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Parse one complete frame (`bytes` starts at STX).
pub fn parse(bytes: &[u8], with_checksum: bool) -> Result<ToledoRepr, ToledoError> {
    ToledoRepr::parse(&Frame::new_checked(bytes, with_checksum)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 32460 kg gross, stable, kg, code 1 (XXXXX0) x2, checksum 0x21.
    const STABLE_32460: [u8; 18] = [
        0x02, b'1', b'0', b' ', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'0', b'0', b'0', b'0',
        b'0', 0x0D, 0x21,
    ];
    // -120 kg in motion (SWB ':' = 0x3A: negative, motion, kg), no checksum.
    const MOTION_NEG_120: [u8; 17] = [
        0x02, b'1', b':', b' ', b'0', b'0', b'0', b'1', b'2', b'0', b'0', b'0', b'0', b'0', b'0',
        b'0', 0x0D,
    ];

    #[test]
    fn parses_reference_frames() {
        let r = parse(&STABLE_32460, true).expect("valid");
        assert_eq!(r.weight_kg(), 32_460.0);
        assert_eq!((r.weight, r.dp_code, r.increment), (32_460, 1, 2));
        assert!(r.kg);
        assert_eq!(r.to_vec(true), STABLE_32460, "re-encodes byte for byte");
        assert!(!r.motion && !r.net && !r.out_of_range);
        let r = parse(&MOTION_NEG_120, false).expect("valid");
        assert_eq!(r.weight_kg(), -120.0);
        assert!(r.motion);
        assert_eq!(r.to_vec(false), MOTION_NEG_120, "re-encodes byte for byte");
        // Checksum: all bytes sum to 0 mod 128.
        let sum: u32 = STABLE_32460.iter().map(|b| u32::from(*b)).sum();
        assert_eq!(sum % 128, 0);
        assert_eq!(checksum(&STABLE_32460[..17]), 0x21);
    }

    #[test]
    fn decimals_units_and_net() {
        // dp code 4 (XXXX.XX), tonnes (SWC unit 2), net with tare.
        let mut f = *b"\x02\x34\x31\x22012345001000\r";
        let r = parse(&f, false).expect("valid");
        assert!((r.weight_kg() - 123_450.0).abs() < 1e-6, "{r:?}");
        assert!((r.tare_kg() - 10_000.0).abs() < 1e-6);
        assert!(r.net);
        assert!((r.gross_kg() - 133_450.0).abs() < 1e-6);
        assert_eq!((r.dp_code, r.increment, r.unit_code), (4, 2, 2));
        assert_eq!(r.to_vec(false), f, "re-encodes byte for byte");
        // Pounds.
        f[2] = 0x20;
        f[3] = 0x20;
        f[1] = 0x32; // XXXXXX
        let r = parse(&f, false).expect("valid");
        assert!((r.weight_kg() - 12_345.0 * 0.453_592_37).abs() < 1e-6);
        // Leading blanks.
        let mut g = MOTION_NEG_120;
        g[4] = b' ';
        g[5] = b' ';
        assert_eq!(parse(&g, false).expect("valid").weight_kg(), -120.0);
        // Unknown unit.
        f[3] = 0x23;
        assert_eq!(parse(&f, false), Err(ToledoError::Unit(3)));
    }

    #[test]
    fn rejects_damaged_frames() {
        let mut b = STABLE_32460;
        b[17] ^= 1;
        assert!(matches!(parse(&b, true), Err(ToledoError::Checksum { .. })));
        let mut b = STABLE_32460;
        b[6] = b'x';
        assert_eq!(parse(&b, true), Err(ToledoError::NotDigit(6)));
        assert_eq!(
            parse(&STABLE_32460[..10], true),
            Err(ToledoError::Length(10, 18))
        );
        assert_eq!(
            parse(&STABLE_32460, false),
            Err(ToledoError::Length(18, 17))
        );
        let mut b = MOTION_NEG_120;
        b[16] = b'\n';
        assert_eq!(parse(&b, false), Err(ToledoError::NoCr));
        let mut b = MOTION_NEG_120;
        b[2] &= !ALWAYS_ONE;
        assert_eq!(parse(&b, false), Err(ToledoError::Status(2)));
        assert_eq!(parse(&[0u8; 17], false), Err(ToledoError::NoStx));
    }
}
