//! Yaohua XK3190 continuous output (format 0, "tf = 0"): the 12-byte frame
//! the indicator streams on its serial port. It has no stable flag: the
//! receiver must detect stability itself.
//!
//! Layer: wire format only (view + validated repr, parse and emit); no I/O.
//! Byte-by-byte description: docs/devices/weighbridge-xk3190.md.
//!
//! ```text
//! 02 SIGN D D D D D D DEC XH XL 03
//! ```
//! - SIGN: '+' or '-'.
//! - D x 6: displayed value, most significant digit first, no decimal point.
//! - DEC: number of decimal places, '0'..'4' (counted from the right).
//! - XH, XL: XOR of bytes 2..=9 (SIGN..DEC, 1-based), high and low nibble,
//!   each sent as '0'..'9' (+0x30) or 'A'..'F' (+0x37).

pub const STX: u8 = 0x02;
pub const ETX: u8 = 0x03;
pub const LEN: usize = 12;

mod field {
    use core::ops::Range;
    pub const STX: usize = 0;
    pub const SIGN: usize = 1;
    pub const DIGITS: Range<usize> = 2..8;
    pub const DEC: usize = 8;
    /// Bytes covered by the XOR.
    pub const XOR: Range<usize> = 1..9;
    pub const XH: usize = 9;
    pub const XL: usize = 10;
    pub const ETX: usize = 11;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("frame too short ({0} bytes)")]
    Truncated(usize),
    #[error("no STX/ETX delimiters")]
    Delimiters,
    #[error("bad sign byte {0:#04x}")]
    Sign(u8),
    #[error("byte {0} is not an ASCII digit")]
    NotDigit(usize),
    #[error("decimal places {0:#04x} not in '0'..'4'")]
    Decimals(u8),
    #[error("checksum characters are not hex")]
    ChecksumChars,
    #[error("bad checksum (got {got:#04x}, want {want:#04x})")]
    Checksum { got: u8, want: u8 },
}

/// A zero-copy view of a 12-byte frame.
pub struct Frame<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn new_unchecked(buf: T) -> Self {
        Self { buf }
    }

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
        if b[field::STX] != STX || b[field::ETX] != ETX {
            return Err(ParseError::Delimiters);
        }
        if b[field::SIGN] != b'+' && b[field::SIGN] != b'-' {
            return Err(ParseError::Sign(b[field::SIGN]));
        }
        for i in field::DIGITS {
            if !b[i].is_ascii_digit() {
                return Err(ParseError::NotDigit(i));
            }
        }
        if !(b'0'..=b'4').contains(&b[field::DEC]) {
            return Err(ParseError::Decimals(b[field::DEC]));
        }
        let got = match (unhex(b[field::XH]), unhex(b[field::XL])) {
            (Some(h), Some(l)) => (h << 4) | l,
            _ => return Err(ParseError::ChecksumChars),
        };
        let want = xor(&b[field::XOR]);
        if got != want {
            return Err(ParseError::Checksum { got, want });
        }
        Ok(())
    }

    pub fn sign(&self) -> u8 {
        self.buf.as_ref()[field::SIGN]
    }
    pub fn digits(&self) -> &[u8] {
        &self.buf.as_ref()[field::DIGITS]
    }
    pub fn decimals_char(&self) -> u8 {
        self.buf.as_ref()[field::DEC]
    }
    pub fn checksum_chars(&self) -> [u8; 2] {
        let b = self.buf.as_ref();
        [b[field::XH], b[field::XL]]
    }
}

/// XOR of `bytes`.
pub fn xor(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |a, &b| a ^ b)
}

/// A nibble as the indicator sends it: 0-9 -> '0'-'9', 10-15 -> 'A'-'F'.
pub fn hex_char(n: u8) -> u8 {
    let n = n & 0x0F;
    if n <= 9 {
        n + 0x30
    } else {
        n + 0x37
    }
}

fn unhex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - 0x30),
        b'A'..=b'F' => Some(c - 0x37),
        _ => None,
    }
}

/// A decoded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// Displayed value in display counts (signed).
    pub value: i64,
    /// Decimal places (0..=4).
    pub decimals: u8,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(f: &Frame<T>) -> Result<Self, ParseError> {
        f.check()?;
        let mag = f
            .digits()
            .iter()
            .fold(0i64, |a, &c| a * 10 + i64::from(c - b'0'));
        Ok(Self {
            value: if f.sign() == b'-' { -mag } else { mag },
            decimals: f.decimals_char() - b'0',
        })
    }

    /// The value in kg (assuming the indicator is set to kg).
    pub fn weight_kg(&self) -> f64 {
        self.value as f64 / 10f64.powi(i32::from(self.decimals))
    }

    /// A whole-kg reading, clamped to six digits.
    pub fn from_kg(kg: i64) -> Self {
        Self {
            value: kg.clamp(-999_999, 999_999),
            decimals: 0,
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let buf = buf.get_mut(..LEN)?;
        buf[field::STX] = STX;
        buf[field::SIGN] = if self.value < 0 { b'-' } else { b'+' };
        let mut v = self.value.unsigned_abs().min(999_999);
        for i in field::DIGITS.rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        buf[field::DEC] = b'0' + self.decimals.min(4);
        let x = xor(&buf[field::XOR]);
        buf[field::XH] = hex_char(x >> 4);
        buf[field::XL] = hex_char(x & 0x0F);
        buf[field::ETX] = ETX;
        Some(LEN)
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0; LEN];
        let n = self.emit(&mut v).unwrap_or(0);
        v.truncate(n);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // +032460 kg, 0 decimals: XOR('+','0','3','2','4','6','0','0') = 0x18.
    static W_32460: [u8; 12] = [
        0x02, b'+', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'1', b'8', 0x03,
    ];
    // -000120: XOR = 0x1E -> "1E".
    static W_NEG_120: [u8; 12] = [
        0x02, b'-', b'0', b'0', b'0', b'1', b'2', b'0', b'0', b'1', b'E', 0x03,
    ];

    #[test]
    fn deconstruct() {
        let f = Frame::new_checked(&W_32460[..]).unwrap();
        assert_eq!(f.sign(), b'+');
        assert_eq!(f.digits(), b"032460");
        assert_eq!(f.decimals_char(), b'0');
        assert_eq!(f.checksum_chars(), *b"18");
    }

    #[test]
    fn parse() {
        assert_eq!(
            Repr::parse(&Frame::new_unchecked(&W_32460[..])),
            Ok(Repr {
                value: 32_460,
                decimals: 0
            })
        );
        let r = Repr::parse(&Frame::new_unchecked(&W_NEG_120[..])).unwrap();
        assert_eq!(r.value, -120);
        assert_eq!(r.weight_kg(), -120.0);
    }

    #[test]
    fn emit() {
        assert_eq!(Repr::from_kg(32_460).to_vec(), W_32460);
        assert_eq!(Repr::from_kg(-120).to_vec(), W_NEG_120);
        assert_eq!(
            Repr {
                value: 12_345,
                decimals: 2
            }
            .to_vec()[8],
            b'2'
        );
    }

    #[test]
    fn hex_chars() {
        assert_eq!(hex_char(6), b'6');
        assert_eq!(hex_char(0xB), b'B');
        assert_eq!(unhex(b'B'), Some(11));
        assert_eq!(unhex(b'b'), None);
    }

    #[test]
    fn rejects_damaged_frames() {
        let mut b = W_32460;
        b[4] = b'5';
        assert!(matches!(
            Frame::new_checked(&b[..]),
            Err(ParseError::Checksum { .. })
        ));
        let mut b = W_32460;
        b[1] = b' ';
        assert_eq!(
            Frame::new_checked(&b[..]).err(),
            Some(ParseError::Sign(b' '))
        );
        let mut b = W_32460;
        b[8] = b'7';
        assert_eq!(
            Frame::new_checked(&b[..]).err(),
            Some(ParseError::Decimals(b'7'))
        );
        let mut b = W_32460;
        b[10] = b'x';
        assert_eq!(
            Frame::new_checked(&b[..]).err(),
            Some(ParseError::ChecksumChars)
        );
        assert_eq!(
            Frame::new_checked(&W_32460[..11]).err(),
            Some(ParseError::Truncated(11))
        );
    }
}
