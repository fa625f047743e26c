//! Weighbridge indicators' ASCII continuous output: the frame formats
//! ([`toledo`], [`xk3190`]) and [`AsciiFramer`], which finds frames in a
//! serial byte stream (resynchronises on STX, survives garbage and frames
//! split across reads, keeps a bounded buffer).
//!
//! Layer: wire format only (sans-IO, no clock). The agent's weighbridge
//! driver reads the serial port and judges stability; nothing here can
//! panic on any input.

pub mod toledo;
pub mod xk3190;

use serde::{Deserialize, Serialize};

/// Continuous-output protocol of an ASCII indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AsciiProtocol {
    /// Mettler Toledo continuous output (STX, status A/B/C, weight, tare, CR).
    Toledo,
    /// Yaohua XK3190 continuous output (STX, sign, 6 digits, decimals, XOR, ETX).
    Xk3190,
}

/// A decoded reading before the stability judgement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawWeight {
    pub gross_kg: f64,
    pub tare_kg: Option<f64>,
    pub device_stable: Option<bool>,
    /// Over capacity, or the indicator reports an error.
    pub overload: bool,
    /// Below the indicator's range (under zero beyond what it can show).
    /// Not an overload: the scale is not at risk, the reading is unusable.
    pub underload: bool,
}

/// What the framer found in the byte stream.
#[derive(Clone, Debug, PartialEq)]
pub enum AsciiEvent {
    /// A valid frame.
    Weight(RawWeight),
    /// A frame-shaped run of bytes that failed validation (bad checksum...).
    Bad(FrameError),
    /// Bytes outside any frame were skipped.
    Garbage(usize),
}

/// Why a frame-shaped run of bytes is not a valid frame of the framer's
/// protocol (the protocol's own error, same message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Toledo(#[from] toledo::ToledoError),
    #[error(transparent)]
    Xk3190(#[from] xk3190::Xk3190Error),
}

/// Finds frames in a continuous-output byte stream: resynchronises on STX,
/// survives garbage and frames split across reads, keeps a bounded buffer.
#[derive(Debug)]
pub struct AsciiFramer {
    protocol: AsciiProtocol,
    checksum: bool,
    kg_per_unit: f64,
    buf: Vec<u8>,
}

impl AsciiFramer {
    pub fn new(protocol: AsciiProtocol, checksum: bool, kg_per_unit: f64) -> Self {
        Self {
            protocol,
            checksum,
            kg_per_unit,
            buf: Vec::with_capacity(64),
        }
    }

    fn parse(&self, frame: &[u8]) -> Result<RawWeight, FrameError> {
        match self.protocol {
            AsciiProtocol::Toledo => {
                let r = toledo::parse(frame, self.checksum)?;
                Ok(RawWeight {
                    gross_kg: r.gross_kg(),
                    tare_kg: Some(r.tare_kg()),
                    device_stable: Some(!r.motion),
                    // Toledo's one out-of-range bit: the sign says which end.
                    overload: r.out_of_range && r.gross_kg() >= 0.0,
                    underload: r.out_of_range && r.gross_kg() < 0.0,
                })
            }
            AsciiProtocol::Xk3190 => {
                let r = xk3190::parse(frame)?;
                Ok(RawWeight {
                    gross_kg: r.display_value() * self.kg_per_unit,
                    tare_kg: None,
                    device_stable: None,
                    overload: false,
                    underload: false,
                })
            }
        }
    }

    /// Bytes held back waiting for the rest of a frame: always fewer than
    /// one frame, and starting with STX when not zero.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Length of a frame of this framer's protocol.
    pub fn frame_len(&self) -> usize {
        match self.protocol {
            AsciiProtocol::Toledo if self.checksum => toledo::LEN_CKS,
            AsciiProtocol::Toledo => toledo::LEN,
            AsciiProtocol::Xk3190 => xk3190::LEN,
        }
    }

    /// Feed received bytes; returns what they completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<AsciiEvent> {
        let mut events = Vec::new();
        let len = self.frame_len();
        for chunk in bytes.chunks(256) {
            self.buf.extend_from_slice(chunk);
            loop {
                let Some(p) = self.buf.iter().position(|b| b & 0x7F == 0x02) else {
                    if !self.buf.is_empty() {
                        events.push(AsciiEvent::Garbage(self.buf.len()));
                        self.buf.clear();
                    }
                    break;
                };
                if p > 0 {
                    events.push(AsciiEvent::Garbage(p));
                    self.buf.drain(..p);
                }
                if self.buf.len() < len {
                    break; // wait for the rest of the frame
                }
                match self.parse(&self.buf[..len]) {
                    Ok(w) => {
                        events.push(AsciiEvent::Weight(w));
                        self.buf.drain(..len);
                    }
                    Err(e) => {
                        events.push(AsciiEvent::Bad(e));
                        self.buf.drain(..1); // resync on the next STX
                    }
                }
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLEDO_32460: [u8; 18] = [
        0x02, b'1', b'0', b' ', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'0', b'0', b'0', b'0',
        b'0', 0x0D, 0x21,
    ];
    const XK_32460: [u8; 12] = [
        0x02, b'+', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'1', b'8', 0x03,
    ];

    fn weights(ev: &[AsciiEvent]) -> Vec<f64> {
        ev.iter()
            .filter_map(|e| match e {
                AsciiEvent::Weight(w) => Some(w.gross_kg),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn framer_handles_split_frames_and_garbage() {
        let mut f = AsciiFramer::new(AsciiProtocol::Toledo, true, 1.0);
        // Split across three reads.
        assert!(f.push(&TOLEDO_32460[..5]).is_empty());
        assert!(f.push(&TOLEDO_32460[5..12]).is_empty());
        let ev = f.push(&TOLEDO_32460[12..]);
        assert_eq!(weights(&ev), vec![32_460.0]);
        // Garbage, a truncated frame, then a good one.
        let mut stream = b"\xFFnoise\r\n".to_vec();
        stream.extend_from_slice(&TOLEDO_32460[..9]);
        stream.extend_from_slice(&TOLEDO_32460);
        let ev = f.push(&stream);
        assert_eq!(weights(&ev), vec![32_460.0]);
        assert!(ev.iter().any(|e| matches!(e, AsciiEvent::Garbage(_))));
        assert!(ev.iter().any(|e| matches!(e, AsciiEvent::Bad(_))));
        // Bad checksum is reported, not published.
        let mut bad = TOLEDO_32460;
        bad[17] ^= 0x01;
        let ev = f.push(&bad);
        assert!(weights(&ev).is_empty());
        assert!(
            matches!(&ev[0], AsciiEvent::Bad(m) if m.to_string().contains("checksum")),
            "{ev:?}"
        );
        // Two frames in one read, byte by byte works too.
        let mut two = TOLEDO_32460.to_vec();
        two.extend_from_slice(&TOLEDO_32460);
        let mut n = 0;
        for b in &two {
            n += weights(&f.push(std::slice::from_ref(b))).len();
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn toledo_out_of_range_is_overload_above_zero_and_underload_below() {
        let mut f = AsciiFramer::new(AsciiProtocol::Toledo, false, 1.0);
        // Status B 0x3E: out of range (bit 2), motion, negative; -150 kg.
        let under = *b"\x021> 000150000000\r";
        // Status B 0x34: out of range, kg, positive; 150 kg.
        let over = *b"\x0214 000150000000\r";
        let kinds: Vec<(f64, bool, bool)> = f
            .push(&[under.as_slice(), over.as_slice()].concat())
            .into_iter()
            .filter_map(|e| match e {
                AsciiEvent::Weight(w) => Some((w.gross_kg, w.overload, w.underload)),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, vec![(-150.0, false, true), (150.0, true, false)]);
    }

    #[test]
    fn framer_xk3190_units_and_bad_checksum() {
        let mut f = AsciiFramer::new(AsciiProtocol::Xk3190, false, 1000.0);
        let ev = f.push(&XK_32460);
        assert_eq!(weights(&ev), vec![32_460_000.0]);
        let mut bad = XK_32460;
        bad[4] = b'5';
        let mut s = bad.to_vec();
        s.extend_from_slice(&XK_32460);
        let ev = f.push(&s);
        assert_eq!(weights(&ev), vec![32_460_000.0]);
        assert!(matches!(&ev[0], AsciiEvent::Bad(_)));
        // Endless garbage never grows the buffer.
        for _ in 0..1000 {
            f.push(&[0x55; 100]);
        }
        assert!(f.buf.len() <= xk3190::LEN);
    }
}
