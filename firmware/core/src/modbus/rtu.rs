//! Modbus RTU slave: framing of the serial byte stream, unit-id filtering,
//! CRC check, and the glue to the PDU layer.
//!
//! Layer: serial-line link. It knows unit ids, CRCs and inter-frame
//! silence. It knows nothing about UARTs, DMA, interrupts or clocks: the
//! caller hands in byte bursts together with the time they arrived
//! (monotonic microseconds), and sends whatever response is written to the
//! output buffer. Function semantics live in [`super::pdu`].
//!
//! # Framing
//!
//! The standard delimits frames by a 3.5-character silence, but USB-RS485
//! adapters, serial servers and emulated UARTs deliver bytes in bursts with
//! odd gaps. So a frame is delimited primarily by the length its function
//! code (and byte count) implies, plus a valid CRC
//! ([`super::pdu::request_len`]). Codes without an implied length (to be
//! answered `IllegalFunction`) end at the first position with a valid CRC
//! when addressed to a unit answered here, and are skipped as garbage
//! otherwise. Silence is used only to resynchronise:
//!
//! - A silence longer than the gap ([`silent_interval_us`]: 3.5 characters
//!   at the baud rate, at least `min_gap_us`, 1750 us by default as the
//!   spec fixes above 19200 baud) marks a *boundary*: the next byte may
//!   start a frame.
//! - [`SilenceMode::Lazy`] (default): the bytes before a boundary are
//!   discarded as soon as they prove to be garbage (their implied frame
//!   fails the CRC) or the bytes after the boundary form a valid frame on
//!   their own. A frame split by an adapter's latency is still accepted.
//! - [`SilenceMode::Strict`]: a silence discards any partial frame, as the
//!   spec says. Right for a real UART with a hardware idle-line detector.
//! - Garbage with no boundary to fall back to is dropped one byte at a time
//!   (a noise byte glued to the front of a frame costs nothing).
//! - While the front candidate is probably garbage (a function code this
//!   slave does not implement, or an FC 15/16 header whose quantity and
//!   byte count disagree), a complete valid frame ending at the newest byte
//!   is taken at once. A plausible request in progress is never cut short,
//!   so data inside a long write cannot pose as a frame.
//!
//! A CRC-16 accepts a random candidate with probability 2^-16; garbage can
//! in principle decode as a frame, as on any Modbus line.
//!
//! Every buffer is bounded ([`MAX_ADU_LEN`] bytes, at most
//! [`MAX_BOUNDARIES`] remembered boundaries). Nothing here panics, whatever
//! the bytes and times.
//!
//! # Addressing
//!
//! Frames for another unit id are ignored (counted). Broadcasts (unit 0)
//! execute write requests and are never answered; broadcast reads and
//! broadcast garbage are ignored.

use heapless::Vec;

use super::crc::{self, Crc16};
use super::pdu::{self, Request, RequestLen, MAX_PDU_LEN};
use super::DataModel;

/// Largest RTU frame: unit id, 253-byte PDU, CRC.
pub const MAX_ADU_LEN: usize = 256;
/// Smallest RTU frame: unit id, function code, CRC.
pub const MIN_ADU_LEN: usize = 4;
/// The broadcast unit id.
pub const BROADCAST: u8 = 0;
/// Minimum inter-frame gap the spec fixes above 19200 baud.
pub const DEFAULT_MIN_GAP_US: u32 = 1750;
/// How many silence boundaries the framer remembers.
pub const MAX_BOUNDARIES: usize = 8;

/// Bits per character on the line: start, 8 data, parity or second stop, stop.
const BITS_PER_CHAR: u64 = 11;

/// The inter-frame gap: 3.5 character times at `baud`, rounded up, and at
/// least `min_gap_us`. A baud rate of 0 is treated as 1.
pub fn silent_interval_us(baud: u32, min_gap_us: u32) -> u64 {
    let baud = u64::from(baud.max(1));
    // 3.5 characters * 11 bits * 1e6 us / baud
    let t = (BITS_PER_CHAR * 7 * 1_000_000).div_ceil(2 * baud);
    t.max(u64::from(min_gap_us))
}

/// What a silence does to a partial frame. See the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SilenceMode {
    /// A silence marks a possible frame start; the partial frame before it
    /// is dropped only once it proves to be garbage.
    #[default]
    Lazy,
    /// A silence discards any partial frame.
    Strict,
}

/// A view of an RTU frame: unit id, PDU, CRC (low byte first).
/// Accessors never panic; a frame too short to hold a field reads as empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adu<T: AsRef<[u8]>> {
    buffer: T,
}

/// Errors of [`Adu::new_checked`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AduError {
    /// Shorter than [`MIN_ADU_LEN`] or longer than [`MAX_ADU_LEN`].
    BadLength,
    /// The CRC does not match.
    BadCrc,
}

impl<T: AsRef<[u8]>> Adu<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap `buffer` after checking its length and CRC.
    pub fn new_checked(buffer: T) -> Result<Self, AduError> {
        let a = Self::new_unchecked(buffer);
        let len = a.buffer.as_ref().len();
        if !(MIN_ADU_LEN..=MAX_ADU_LEN).contains(&len) {
            return Err(AduError::BadLength);
        }
        if !a.check_crc() {
            return Err(AduError::BadCrc);
        }
        Ok(a)
    }

    pub fn unit_id(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }

    /// The PDU between the unit id and the CRC.
    pub fn pdu(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(1..b.len().saturating_sub(2)).unwrap_or(&[])
    }

    /// The CRC as carried in the frame.
    pub fn crc(&self) -> u16 {
        let b = self.buffer.as_ref();
        match b.get(b.len().saturating_sub(2)..) {
            Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
            _ => 0,
        }
    }

    pub fn check_crc(&self) -> bool {
        crc::check_frame(self.buffer.as_ref())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// The frame does not fit the output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTooLong;

/// Write the frame `unit, pdu, crc` into `out` (cleared first).
pub fn emit_adu<const N: usize>(
    unit_id: u8,
    pdu: &[u8],
    out: &mut Vec<u8, N>,
) -> Result<(), FrameTooLong> {
    out.clear();
    let r = (|| {
        out.push(unit_id).map_err(|_| FrameTooLong)?;
        out.extend_from_slice(pdu).map_err(|_| FrameTooLong)?;
        let c = crc::to_wire(crc::crc16(out));
        out.extend_from_slice(&c).map_err(|_| FrameTooLong)
    })();
    if r.is_err() {
        out.clear();
    }
    r
}

/// Counters of the framer; they wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FramerStats {
    /// Frames with a valid CRC (any unit id).
    pub frames: u32,
    /// Candidate frames whose CRC failed (once per run of garbage).
    pub crc_errors: u32,
    /// Bytes dropped while resynchronising.
    pub discarded_bytes: u32,
    /// Silences that marked a boundary (or discarded, in strict mode).
    pub silences: u32,
}

/// What the bytes at the front of a buffer are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Candidate {
    /// Could still become a frame.
    NeedMore,
    /// A complete frame with a valid CRC, this long.
    Frame(usize),
    /// Cannot be a frame: its implied frame fails the CRC.
    BadCrc,
    /// Cannot be a frame: implied length over [`MAX_ADU_LEN`], or no CRC
    /// match within it.
    TooLong,
    /// A function code without implied length for a unit nobody here
    /// answers: not worth finding its end, skip it like garbage.
    Skip,
}

/// A set of unit ids (a 256-bit map).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitSet([u32; 8]);

impl UnitSet {
    pub const EMPTY: Self = Self([0; 8]);
    pub const ALL: Self = Self([u32::MAX; 8]);

    pub const fn single(unit: u8) -> Self {
        Self::EMPTY.with(unit)
    }

    pub const fn with(mut self, unit: u8) -> Self {
        self.0[(unit / 32) as usize] |= 1 << (unit % 32);
        self
    }

    pub fn insert(&mut self, unit: u8) {
        *self = self.with(unit);
    }

    pub const fn contains(&self, unit: u8) -> bool {
        self.0[(unit / 32) as usize] & (1 << (unit % 32)) != 0
    }
}

/// What the bytes at the front of `s` are. Frames with a function code
/// that implies no length are searched by CRC only for units in `scan`.
fn classify(s: &[u8], scan: &UnitSet) -> Candidate {
    let Some(pdu) = s.get(1..) else {
        return Candidate::NeedMore;
    };
    match pdu::request_len(pdu) {
        RequestLen::NeedAtLeast(_) => Candidate::NeedMore,
        RequestLen::Exact(n) => {
            let total = 1 + n + 2;
            if total > MAX_ADU_LEN {
                Candidate::TooLong
            } else {
                match s.get(..total) {
                    None => Candidate::NeedMore,
                    Some(frame) if crc::check_frame(frame) => Candidate::Frame(total),
                    Some(_) => Candidate::BadCrc,
                }
            }
        }
        RequestLen::Unknown if !s.first().is_some_and(|u| scan.contains(*u)) => Candidate::Skip,
        RequestLen::Unknown => {
            // The frame ends at the first position where the CRC checks.
            let mut c = Crc16::new();
            for (i, &b) in s.iter().enumerate().take(MAX_ADU_LEN) {
                c.update_byte(b);
                if i + 1 >= MIN_ADU_LEN && c.value() == 0 {
                    return Candidate::Frame(i + 1);
                }
            }
            if s.len() >= MAX_ADU_LEN {
                Candidate::TooLong
            } else {
                Candidate::NeedMore
            }
        }
    }
}

/// Whether the incomplete candidate at the front of `s` is likely garbage,
/// so that a valid frame found behind it may be preferred: its function
/// code is not one this slave implements, or it is an FC 15/16 header whose
/// quantity and byte count disagree. A plausible request in progress is
/// never cut short (so data inside a long write cannot pose as a frame).
fn rescuable(s: &[u8]) -> bool {
    let Some(&fc) = s.get(1) else {
        return false;
    };
    let qty = match s.get(4..6) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    };
    let bc = s.get(6).copied().map(usize::from);
    match fc {
        0x01..=0x06 => false,
        0x0F => bc.is_some_and(|bc| {
            !(1..=pdu::MAX_WRITE_COILS).contains(&qty) || bc != usize::from(qty).div_ceil(8)
        }),
        0x10 => bc.is_some_and(|bc| {
            !(1..=pdu::MAX_WRITE_REGISTERS).contains(&qty) || bc != usize::from(qty) * 2
        }),
        _ => true,
    }
}

/// The offset of a complete, CRC-valid frame with a length-implying
/// function code that ends exactly at the end of `s` (not at offset 0).
fn embedded_frame(s: &[u8]) -> Option<usize> {
    (1..s.len().saturating_sub(MIN_ADU_LEN - 1)).find(|&at| {
        let cand = s.get(at..).unwrap_or(&[]);
        matches!(
            pdu::request_len(cand.get(1..).unwrap_or(&[])),
            RequestLen::Exact(n) if n + 3 == cand.len()
        ) && crc::check_frame(cand)
    })
}

/// Turns a stream of timed byte bursts into CRC-valid RTU frames.
#[derive(Clone, Debug)]
pub struct Framer {
    buf: Vec<u8, MAX_ADU_LEN>,
    /// Offsets into `buf` where a silence was seen, increasing, all > 0.
    boundaries: Vec<usize, MAX_BOUNDARIES>,
    /// Length of the complete frame at the front of `buf` (0: none).
    frame_len: usize,
    last_rx_us: Option<u64>,
    gap_us: u64,
    mode: SilenceMode,
    /// Units whose frames without implied length are searched by CRC.
    scan: UnitSet,
    /// Garbage was seen and no valid frame since (counts one CRC error per run).
    resyncing: bool,
    stats: FramerStats,
}

impl Framer {
    /// A framer for `baud` with the default minimum gap and [`SilenceMode::Lazy`].
    pub fn new(baud: u32) -> Self {
        Self::with_gap(
            silent_interval_us(baud, DEFAULT_MIN_GAP_US),
            SilenceMode::Lazy,
        )
    }

    /// A framer with an explicit gap in microseconds. Frames of every unit
    /// are delimited; see [`Framer::set_answering`].
    pub fn with_gap(gap_us: u64, mode: SilenceMode) -> Self {
        Self {
            buf: Vec::new(),
            boundaries: Vec::new(),
            frame_len: 0,
            last_rx_us: None,
            gap_us,
            mode,
            scan: UnitSet::ALL,
            resyncing: false,
            stats: FramerStats::default(),
        }
    }

    /// The units answered on this line. A frame with a function code that
    /// implies no length (answered `IllegalFunction`) is delimited by
    /// searching for a valid CRC only when it is for one of these units;
    /// for any other unit it is skipped as garbage, which avoids most
    /// chance CRC matches in noise. Default: all units.
    pub fn set_answering(&mut self, units: UnitSet) {
        self.scan = units;
    }

    pub fn gap_us(&self) -> u64 {
        self.gap_us
    }

    pub fn stats(&self) -> FramerStats {
        self.stats
    }

    /// Bytes buffered towards the next frame (including a returned frame).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Forget any partial frame and the time of the last byte.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.boundaries.clear();
        self.frame_len = 0;
        self.last_rx_us = None;
        self.resyncing = false;
    }

    /// The complete frame found by the last [`Framer::push`], if any. It is
    /// dropped at the next push.
    pub fn frame(&self) -> Option<&[u8]> {
        if self.frame_len == 0 {
            return None;
        }
        self.buf.get(..self.frame_len)
    }

    /// Take bytes that arrived at `now_us` until one complete frame is
    /// buffered. Returns how many bytes were taken: fewer than
    /// `bytes.len()` only when a frame is ready ([`Framer::frame`]); call
    /// again with the rest.
    pub fn push(&mut self, now_us: u64, bytes: &[u8]) -> usize {
        if self.frame_len > 0 {
            self.discard(self.frame_len);
            self.frame_len = 0;
        }
        if bytes.is_empty() {
            return 0;
        }
        if let Some(last) = self.last_rx_us {
            if now_us.saturating_sub(last) > self.gap_us && !self.buf.is_empty() {
                self.silence();
            }
        }
        self.last_rx_us = Some(now_us);
        for (i, &b) in bytes.iter().enumerate() {
            if self.buf.is_full() {
                // Unreachable while `classify` decides every full buffer;
                // kept so that no input can wedge the framer.
                self.discard(1);
            }
            // Cannot fail: a slot was just made free.
            let _ = self.buf.push(b);
            if self.try_frames() {
                return i + 1;
            }
        }
        bytes.len()
    }

    fn silence(&mut self) {
        self.stats.silences = self.stats.silences.wrapping_add(1);
        self.resyncing = false;
        match self.mode {
            SilenceMode::Strict => {
                let n = self.buf.len();
                self.discard(n);
            }
            SilenceMode::Lazy => {
                let at = self.buf.len();
                if self.boundaries.last() != Some(&at) {
                    if self.boundaries.is_full() {
                        self.boundaries.remove(0);
                    }
                    let _ = self.boundaries.push(at);
                }
            }
        }
    }

    /// Drop `n` bytes from the front, shifting boundaries.
    fn discard(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        if n == 0 {
            return;
        }
        if n > self.frame_len {
            let dropped = u32::try_from(n - self.frame_len).unwrap_or(u32::MAX);
            self.stats.discarded_bytes = self.stats.discarded_bytes.wrapping_add(dropped);
        }
        let len = self.buf.len();
        self.buf.copy_within(n..len, 0);
        self.buf.truncate(len - n);
        self.boundaries.retain(|b| *b > n);
        for b in self.boundaries.iter_mut() {
            *b -= n;
        }
    }

    /// Resolve the front of the buffer; true when a frame is ready there.
    fn try_frames(&mut self) -> bool {
        loop {
            match classify(&self.buf, &self.scan) {
                Candidate::Frame(n) => {
                    self.frame_len = n;
                    self.resyncing = false;
                    self.stats.frames = self.stats.frames.wrapping_add(1);
                    return true;
                }
                c @ (Candidate::BadCrc | Candidate::TooLong | Candidate::Skip) => {
                    if c == Candidate::BadCrc && !self.resyncing {
                        self.stats.crc_errors = self.stats.crc_errors.wrapping_add(1);
                    }
                    self.resyncing = true;
                    let n = self.boundaries.first().copied().unwrap_or(1);
                    self.frame_len = 0;
                    self.discard(n);
                }
                Candidate::NeedMore => {
                    // Does a frame start at a silence boundary?
                    let at_boundary = self.boundaries.iter().copied().find(|&b| {
                        self.buf
                            .get(b..)
                            .is_some_and(|s| matches!(classify(s, &self.scan), Candidate::Frame(_)))
                    });
                    // Or, behind a front that is probably garbage, does a
                    // frame end right here?
                    let found = at_boundary.or_else(|| {
                        if rescuable(&self.buf) {
                            embedded_frame(&self.buf)
                        } else {
                            None
                        }
                    });
                    match found {
                        Some(b) => self.discard(b),
                        None => return false,
                    }
                }
            }
        }
    }
}

/// Counters of an RTU slave; they wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlaveStats {
    /// Valid frames addressed to this unit.
    pub requests: u32,
    /// Responses written (normal and exception).
    pub responses: u32,
    /// Exception responses written.
    pub exceptions: u32,
    /// Broadcast frames seen (writes executed, nothing answered).
    pub broadcasts: u32,
    /// Valid frames for other unit ids.
    pub other_units: u32,
}

/// Settings of an [`RtuSlave`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtuConfig {
    /// Own unit id, 1..=247.
    pub unit_id: u8,
    pub baud: u32,
    /// Lower bound of the inter-frame gap (see [`silent_interval_us`]).
    pub min_gap_us: u32,
    pub silence: SilenceMode,
}

impl RtuConfig {
    pub fn new(unit_id: u8, baud: u32) -> Self {
        Self {
            unit_id,
            baud,
            min_gap_us: DEFAULT_MIN_GAP_US,
            silence: SilenceMode::Lazy,
        }
    }
}

/// An RTU slave: a [`Framer`] plus unit filtering and the PDU layer.
#[derive(Clone, Debug)]
pub struct RtuSlave {
    unit_id: u8,
    framer: Framer,
    stats: SlaveStats,
}

impl RtuSlave {
    /// A slave answering to `unit_id` on a line at `baud`, with the default
    /// gap and [`SilenceMode::Lazy`].
    pub fn new(unit_id: u8, baud: u32) -> Self {
        Self::with_config(RtuConfig::new(unit_id, baud))
    }

    pub fn with_config(cfg: RtuConfig) -> Self {
        let gap = silent_interval_us(cfg.baud, cfg.min_gap_us);
        let mut framer = Framer::with_gap(gap, cfg.silence);
        framer.set_answering(UnitSet::single(cfg.unit_id));
        Self {
            unit_id: cfg.unit_id,
            framer,
            stats: SlaveStats::default(),
        }
    }

    pub fn unit_id(&self) -> u8 {
        self.unit_id
    }

    pub fn stats(&self) -> SlaveStats {
        self.stats
    }

    pub fn framer(&self) -> &Framer {
        &self.framer
    }

    /// Forget any partial frame (e.g. after the line was taken offline).
    pub fn reset(&mut self) {
        self.framer.reset();
    }

    /// Take bytes that arrived at `now_us` (monotonic microseconds).
    ///
    /// `out` is cleared, then holds a complete response frame (CRC
    /// included) if one must be sent. Returns how many bytes were taken:
    /// the slave stops right after a frame that produced a response, so
    /// when the result is less than `bytes.len()`, send `out` and call
    /// again with the rest. Any split of the byte stream gives the same
    /// frames. See [`RtuSlave::receive_all`] for the loop.
    pub fn receive<M: DataModel + ?Sized>(
        &mut self,
        now_us: u64,
        bytes: &[u8],
        model: &mut M,
        out: &mut Vec<u8, MAX_ADU_LEN>,
    ) -> usize {
        out.clear();
        let mut taken = 0;
        loop {
            let rest = bytes.get(taken..).unwrap_or(&[]);
            taken += self.framer.push(now_us, rest);
            let Some(frame) = self.framer.frame() else {
                return taken;
            };
            if handle_frame(self.unit_id, frame, model, out, &mut self.stats) {
                return taken;
            }
            if taken >= bytes.len() {
                return taken;
            }
        }
    }

    /// Take all of `bytes`, calling `on_response` with every response frame
    /// to send, in order.
    pub fn receive_all<M: DataModel + ?Sized>(
        &mut self,
        now_us: u64,
        mut bytes: &[u8],
        model: &mut M,
        mut on_response: impl FnMut(&[u8]),
    ) {
        let mut out = Vec::new();
        loop {
            let n = self.receive(now_us, bytes, model, &mut out);
            if !out.is_empty() {
                on_response(&out);
            }
            bytes = bytes.get(n..).unwrap_or(&[]);
            if bytes.is_empty() {
                return;
            }
        }
    }
}

/// Answer one CRC-valid frame; true when `out` holds a response.
///
/// Public so that a line with several slaves (one [`Framer`], many data
/// models) can dispatch frames itself.
pub fn handle_frame<M: DataModel + ?Sized>(
    unit_id: u8,
    frame: &[u8],
    model: &mut M,
    out: &mut Vec<u8, MAX_ADU_LEN>,
    stats: &mut SlaveStats,
) -> bool {
    out.clear();
    let adu = Adu::new_unchecked(frame);
    let mut pdu_out = [0u8; MAX_PDU_LEN];
    if adu.unit_id() == BROADCAST {
        stats.broadcasts = stats.broadcasts.wrapping_add(1);
        if let Ok(req) = Request::parse(adu.pdu()) {
            if req.is_write() {
                // Broadcasts are never answered, exceptions included.
                let _ = pdu::execute(&req, model, &mut pdu_out);
            }
        }
        return false;
    }
    if adu.unit_id() != unit_id {
        stats.other_units = stats.other_units.wrapping_add(1);
        return false;
    }
    stats.requests = stats.requests.wrapping_add(1);
    let Some(resp) = pdu::process(adu.pdu(), model, &mut pdu_out) else {
        return false;
    };
    let Some(resp_pdu) = pdu_out.get(..resp.len) else {
        return false;
    };
    if emit_adu(unit_id, resp_pdu, out).is_err() {
        return false;
    }
    stats.responses = stats.responses.wrapping_add(1);
    if resp.exception.is_some() {
        stats.exceptions = stats.exceptions.wrapping_add(1);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_interval() {
        // 9600 baud: 3.5 * 11 / 9600 s = 4010.4 us
        assert_eq!(silent_interval_us(9600, DEFAULT_MIN_GAP_US), 4011);
        // 19200 baud: 2005.2 us, still above the 1750 us floor
        assert_eq!(silent_interval_us(19200, DEFAULT_MIN_GAP_US), 2006);
        // 115200 baud: 334 us, raised to the 1750 us floor
        assert_eq!(silent_interval_us(115_200, DEFAULT_MIN_GAP_US), 1750);
        assert_eq!(silent_interval_us(115_200, 0), 335);
        assert!(silent_interval_us(0, 0) > 0);
    }

    #[test]
    fn adu_view() {
        let f = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];
        let a = Adu::new_checked(&f[..]).expect("valid");
        assert_eq!(a.unit_id(), 1);
        assert_eq!(a.pdu(), &f[1..6]);
        assert_eq!(a.crc(), 0x0A84);
        assert_eq!(Adu::new_checked(&f[..3]).err(), Some(AduError::BadLength));
        let mut bad = f;
        bad[2] = 1;
        assert_eq!(Adu::new_checked(&bad[..]).err(), Some(AduError::BadCrc));
        let short = Adu::new_unchecked(&[1u8][..]);
        assert_eq!((short.pdu(), short.crc()), (&[][..], 0));
    }

    #[test]
    fn emit_adu_appends_crc() {
        let mut out: Vec<u8, 256> = Vec::new();
        emit_adu(1, &[0x03, 0x00, 0x00, 0x00, 0x01], &mut out).expect("fits");
        assert_eq!(&out[..], &[0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A]);
        let mut small: Vec<u8, 4> = Vec::new();
        assert_eq!(
            emit_adu(1, &[0x03, 0x00, 0x00], &mut small),
            Err(FrameTooLong)
        );
        assert!(small.is_empty());
    }

    #[test]
    fn classify_candidates() {
        let f = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];
        assert_eq!(classify(&f[..1], &UnitSet::ALL), Candidate::NeedMore);
        assert_eq!(classify(&f[..7], &UnitSet::ALL), Candidate::NeedMore);
        assert_eq!(classify(&f, &UnitSet::ALL), Candidate::Frame(8));
        let mut bad = f;
        bad[7] ^= 0xFF;
        assert_eq!(classify(&bad, &UnitSet::ALL), Candidate::BadCrc);
        // FC 16 with byte count 0xF8: the frame would be 257 bytes long.
        assert_eq!(
            classify(&[0x01, 0x10, 0, 0, 0, 0x7C, 0xF8], &UnitSet::ALL),
            Candidate::TooLong
        );
        // No implied length: searched by CRC for answered units only.
        let mei = [0x01, 0x2B, 0x0E, 0x01, 0x00, 0x70, 0x77];
        assert_eq!(classify(&mei, &UnitSet::single(1)), Candidate::Frame(7));
        assert_eq!(
            classify(&mei[..5], &UnitSet::single(1)),
            Candidate::NeedMore
        );
        assert_eq!(classify(&mei, &UnitSet::single(2)), Candidate::Skip);
    }

    #[test]
    fn unit_set() {
        let s = UnitSet::single(0).with(33).with(255);
        assert!(s.contains(0) && s.contains(33) && s.contains(255));
        assert!(!s.contains(1) && !s.contains(32) && !s.contains(254));
        assert!(UnitSet::ALL.contains(200) && !UnitSet::EMPTY.contains(200));
    }

    #[test]
    fn framer_boundary_rescues_frame_after_truncated_one() {
        let mut fr = Framer::new(19200);
        // Half of an FC 16 request claiming 200 data bytes, then silence.
        assert_eq!(fr.push(0, &[0x01, 0x10, 0, 0, 0, 100, 200, 1, 2]), 9);
        assert_eq!(fr.frame(), None);
        let f = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];
        assert_eq!(fr.push(10_000, &f), 8);
        assert_eq!(fr.frame(), Some(&f[..]));
        assert_eq!(fr.stats().discarded_bytes, 9);
    }

    #[test]
    fn framer_strict_mode_discards_on_silence() {
        let f = [0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A];
        let mut lazy = Framer::with_gap(2000, SilenceMode::Lazy);
        let mut strict = Framer::with_gap(2000, SilenceMode::Strict);
        for fr in [&mut lazy, &mut strict] {
            fr.push(0, &f[..3]);
            fr.push(5_000, &f[3..]);
        }
        assert_eq!(lazy.frame(), Some(&f[..]));
        assert_eq!(strict.frame(), None);
        assert_eq!(strict.stats().discarded_bytes, 3);
    }
}
