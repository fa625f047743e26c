//! CRC-16/MODBUS: the checksum that closes every RTU frame.
//!
//! Layer: wire checksum only. It knows nothing about frames, unit ids or
//! timing; [`super::rtu`] decides where a frame starts and ends.
//!
//! Parameters (the "CRC-16/MODBUS" entry of the usual CRC catalogues):
//! polynomial 0x8005 (reflected 0xA001), initial value 0xFFFF, input and
//! output reflected, no final XOR; check value for `b"123456789"` is 0x4B37.
//! On the wire the CRC is sent low byte first.
//!
//! The table is computed at compile time, so it lives in flash on the MCU.
//! Nothing here can panic.

/// The reflected polynomial 0x8005.
const POLY_REFLECTED: u16 = 0xA001;

/// Initial register value.
pub const INIT: u16 = 0xFFFF;

/// Byte-at-a-time lookup table, built at compile time.
pub static TABLE: [u16; 256] = make_table();

const fn make_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// An incremental CRC-16/MODBUS computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc16(u16);

impl Default for Crc16 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc16 {
    pub const fn new() -> Self {
        Self(INIT)
    }

    /// Feed one byte.
    #[inline]
    pub fn update_byte(&mut self, byte: u8) {
        let idx = usize::from((self.0 as u8) ^ byte);
        self.0 = (self.0 >> 8) ^ TABLE[idx];
    }

    /// Feed a slice.
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.update_byte(b);
        }
    }

    /// The CRC of everything fed so far.
    pub const fn value(&self) -> u16 {
        self.0
    }
}

/// CRC-16/MODBUS of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    let mut c = Crc16::new();
    c.update(data);
    c.value()
}

/// The two CRC bytes as sent on the wire (low byte first).
pub fn to_wire(crc: u16) -> [u8; 2] {
    crc.to_le_bytes()
}

/// Whether `frame` ends with the correct CRC of the bytes before it.
///
/// Frames shorter than 3 bytes (one byte of data plus the CRC) are never valid.
pub fn check_frame(frame: &[u8]) -> bool {
    if frame.len() < 3 {
        return false;
    }
    // A message followed by its own CRC (low byte first) leaves a zero
    // register: the "residue" of CRC-16/MODBUS is 0.
    crc16(frame) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_check_value() {
        assert_eq!(crc16(b"123456789"), 0x4B37);
    }

    #[test]
    fn empty_input_is_init() {
        assert_eq!(crc16(&[]), 0xFFFF);
    }

    #[test]
    fn table_matches_bitwise() {
        fn bitwise(data: &[u8]) -> u16 {
            let mut crc = 0xFFFFu16;
            for &b in data {
                crc ^= u16::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        (crc >> 1) ^ 0xA001
                    } else {
                        crc >> 1
                    };
                }
            }
            crc
        }
        let data: [u8; 64] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        for n in 0..data.len() {
            assert_eq!(crc16(&data[..n]), bitwise(&data[..n]), "length {n}");
        }
    }

    /// Frames from the Modbus over Serial Line spec and common references;
    /// the last two bytes are the CRC, low byte first.
    #[test]
    fn known_frames() {
        let frames: [&[u8]; 3] = [
            &[0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A],
            &[0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD],
            &[0x01, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x74, 0x17],
        ];
        for f in frames {
            let (body, tail) = f.split_at(f.len() - 2);
            assert_eq!(to_wire(crc16(body)), [tail[0], tail[1]]);
            assert!(check_frame(f));
        }
    }

    #[test]
    fn check_frame_rejects_corruption_and_short() {
        let mut f = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];
        f[3] ^= 0x01;
        assert!(!check_frame(&f));
        assert!(!check_frame(&[]));
        assert!(!check_frame(&[0xFF, 0xFF]));
    }

    #[test]
    fn incremental_equals_oneshot() {
        let mut c = Crc16::new();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.value(), 0x4B37);
    }
}
