//! Yaohua XK3190 continuous output (format 0): frame view and validated repr.
//!
//! Layer: wire format only (sans-IO, no clock). Frame (12 bytes):
//!
//! ```text
//! STX SIGN D D D D D D DEC XH XL ETX
//! ```
//! - SIGN '+' or '-'; six digits, most significant first, no decimal point;
//!   DEC = decimal places '0'..'4'.
//! - XH XL: XOR of SIGN..DEC, high and low nibble as hex characters
//!   ('0'-'9', 'A'-'F'; lower case accepted).
//!
//! The format has no stable flag: see [`super::stability`]. Nothing here can
//! panic on any input.

/// Start and end of frame.
pub const STX: u8 = 0x02;
pub const ETX: u8 = 0x03;
/// Frame length.
pub const LEN: usize = 12;

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Xk3190Error {
    #[error("frame of {0} bytes, need 12")]
    Length(usize),
    #[error("missing STX / ETX")]
    Delimiters,
    #[error("bad sign byte 0x{0:02X}")]
    Sign(u8),
    #[error("byte {0} is not a digit")]
    NotDigit(usize),
    #[error("decimal places byte 0x{0:02X} not in '0'..'4'")]
    Decimals(u8),
    #[error("checksum characters are not hex")]
    ChecksumChars,
    #[error("bad checksum: got 0x{got:02X}, want 0x{want:02X}")]
    Checksum { got: u8, want: u8 },
}

fn unhex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// The XOR checksum of SIGN..DEC (bytes 1..9).
pub fn xor(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |a, b| a ^ b)
}

/// A validated XK3190 frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Xk3190Repr {
    /// Displayed value in display counts, signed.
    pub value: i64,
    /// Decimal places 0..=4.
    pub decimals: u8,
}

impl Xk3190Repr {
    /// The displayed value (decimals applied), in the indicator's unit.
    pub fn display_value(&self) -> f64 {
        self.value as f64 / 10f64.powi(i32::from(self.decimals))
    }

    /// Emit the 12-byte frame (for tests and tools).
    pub fn emit(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = STX;
        b[1] = if self.value < 0 { b'-' } else { b'+' };
        let mut v = self.value.unsigned_abs().min(999_999);
        for i in (2..8).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        b[8] = b'0' + self.decimals.min(4);
        let x = xor(&b[1..9]);
        let hex = |n: u8| if n < 10 { b'0' + n } else { b'A' + n - 10 };
        b[9] = hex(x >> 4);
        b[10] = hex(x & 0x0F);
        b[11] = ETX;
        b
    }
}

/// Parse one complete frame (`bytes` starts at STX).
pub fn parse(b: &[u8]) -> Result<Xk3190Repr, Xk3190Error> {
    if b.len() != LEN {
        return Err(Xk3190Error::Length(b.len()));
    }
    if b[0] != STX || b[11] != ETX {
        return Err(Xk3190Error::Delimiters);
    }
    let negative = match b[1] {
        b'+' => false,
        b'-' => true,
        other => return Err(Xk3190Error::Sign(other)),
    };
    let mut mag: i64 = 0;
    for (i, c) in b.iter().enumerate().take(8).skip(2) {
        if !c.is_ascii_digit() {
            return Err(Xk3190Error::NotDigit(i));
        }
        mag = mag * 10 + i64::from(c - b'0');
    }
    if !(b'0'..=b'4').contains(&b[8]) {
        return Err(Xk3190Error::Decimals(b[8]));
    }
    let got = match (unhex(b[9]), unhex(b[10])) {
        (Some(h), Some(l)) => (h << 4) | l,
        _ => return Err(Xk3190Error::ChecksumChars),
    };
    let want = xor(&b[1..9]);
    if got != want {
        return Err(Xk3190Error::Checksum { got, want });
    }
    Ok(Xk3190Repr {
        value: if negative { -mag } else { mag },
        decimals: b[8] - b'0',
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // +032460, 0 decimals: XOR('+','0','3','2','4','6','0','0') = 0x18.
    const W_32460: [u8; 12] = [
        0x02, b'+', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'1', b'8', 0x03,
    ];
    // -000120: XOR = 0x1E.
    const W_NEG_120: [u8; 12] = [
        0x02, b'-', b'0', b'0', b'0', b'1', b'2', b'0', b'0', b'1', b'E', 0x03,
    ];

    #[test]
    fn parses_and_emits_reference_frames() {
        assert_eq!(
            parse(&W_32460),
            Ok(Xk3190Repr {
                value: 32_460,
                decimals: 0
            })
        );
        let r = parse(&W_NEG_120).expect("valid");
        assert_eq!(r.display_value(), -120.0);
        assert_eq!(r.emit(), W_NEG_120);
        let mut lower = W_NEG_120;
        lower[10] = b'e';
        assert_eq!(parse(&lower), Ok(r));
        let d = Xk3190Repr {
            value: 123_456,
            decimals: 3,
        };
        assert_eq!(parse(&d.emit()), Ok(d));
        assert!((d.display_value() - 123.456).abs() < 1e-9);
    }

    #[test]
    fn rejects_damaged_frames() {
        let mut b = W_32460;
        b[4] = b'5';
        assert_eq!(
            parse(&b),
            Err(Xk3190Error::Checksum {
                got: 0x18,
                want: 0x1F
            })
        );
        let mut b = W_32460;
        b[1] = b' ';
        assert_eq!(parse(&b), Err(Xk3190Error::Sign(b' ')));
        let mut b = W_32460;
        b[8] = b'7';
        assert_eq!(parse(&b), Err(Xk3190Error::Decimals(b'7')));
        let mut b = W_32460;
        b[10] = b'x';
        assert_eq!(parse(&b), Err(Xk3190Error::ChecksumChars));
        let mut b = W_32460;
        b[3] = b'a';
        assert_eq!(parse(&b), Err(Xk3190Error::NotDigit(3)));
        assert_eq!(parse(&W_32460[..11]), Err(Xk3190Error::Length(11)));
        let mut b = W_32460;
        b[11] = b'\r';
        assert_eq!(parse(&b), Err(Xk3190Error::Delimiters));
    }
}
