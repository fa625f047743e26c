//! Simulated RFID readers with a Modbus TCP interface: the vehicle e-tag
//! reader (tags on windscreens and trailers) and the e-seal reader (seals on
//! container doors).
//!
//! Layer: simulated device (a [`lane_io::modbus::DataModel`] served by
//! lane-io-host). It is given the tags physically present along the lane
//! ([`TagInLane`]) and decides what its antenna reads; it knows nothing about
//! trucks, plates or gate passes. Register map: docs/devices/rfid.md (a test
//! checks the document's table against [`register_table`]).
//!
//! Read model: every `read_interval_ms` of lane time the reader inventories
//! the tags within `range_m` of its antenna; each is read with probability
//! `1 - miss_rate` (seeded RNG). A tag is reported while its last successful
//! read is at most `hold_ms` old. Up to [`SLOTS`] tags are reported, the
//! strongest first. RSSI falls off with distance (free-space slope) plus
//! +-2 dB of noise.

use lane_io::modbus::{DataModel, Exception};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Tags reported at once.
pub const SLOTS: usize = 4;

/// Register addresses (FC 03 and FC 04 read the same registers).
pub mod reg {
    /// bit 0: RF on; bit 1: at least one tag reported.
    pub const STATUS: u16 = 0;
    /// Tags reported (0..=4).
    pub const TAG_COUNT: u16 = 1;
    /// Successful tag reads since power-up, u32, high word first.
    pub const TOTAL_READS_HI: u16 = 2;
    pub const TOTAL_READS_LO: u16 = 3;
    /// 1 = vehicle e-tag reader, 2 = e-seal reader.
    pub const READER_KIND: u16 = 4;
    /// First slot; slot i starts at SLOT_BASE + i * SLOT_LEN.
    pub const SLOT_BASE: u16 = 16;
    pub const SLOT_LEN: u16 = 16;
    /// Offsets within a slot.
    pub const PRESENT: u16 = 0;
    /// EPC, 96 bits, 6 registers, first byte in the high byte of the first register.
    pub const EPC: u16 = 1;
    /// TID, 64 bits, 4 registers, same order.
    pub const TID: u16 = 7;
    /// RSSI in dBm x 10, signed (two's complement).
    pub const RSSI: u16 = 11;
    /// Reads of this tag since it entered the field, u32, high word first.
    pub const READS_HI: u16 = 12;
    pub const READS_LO: u16 = 13;
    /// E-seal state: 0 not an e-seal / unknown, 1 intact, 2 tampered, 3 opened.
    pub const SEAL_STATE: u16 = 14;
    /// Lane ms since the last successful read, saturating at 65535.
    pub const AGE_MS: u16 = 15;
    /// Registers in the map.
    pub const COUNT: u16 = SLOT_BASE + SLOT_LEN * super::SLOTS as u16;

    pub const STATUS_RF_ON: u16 = 1 << 0;
    pub const STATUS_TAG_PRESENT: u16 = 1 << 1;
}

/// `(address, name)` of every named register, for the document check.
pub fn register_table() -> Vec<(u16, String)> {
    let mut v = vec![
        (reg::STATUS, "STATUS".to_string()),
        (reg::TAG_COUNT, "TAG_COUNT".into()),
        (reg::TOTAL_READS_HI, "TOTAL_READS_HI".into()),
        (reg::TOTAL_READS_LO, "TOTAL_READS_LO".into()),
        (reg::READER_KIND, "READER_KIND".into()),
    ];
    for (off, name) in [
        (reg::PRESENT, "PRESENT"),
        (reg::EPC, "EPC"),
        (reg::TID, "TID"),
        (reg::RSSI, "RSSI"),
        (reg::READS_HI, "READS_HI"),
        (reg::READS_LO, "READS_LO"),
        (reg::SEAL_STATE, "SEAL_STATE"),
        (reg::AGE_MS, "AGE_MS"),
    ] {
        v.push((reg::SLOT_BASE + off, format!("SLOT0_{name}")));
    }
    v
}

/// Which reader this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReaderKind {
    Etag = 1,
    Eseal = 2,
}

/// State of an electronic seal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SealState {
    #[default]
    Intact,
    Tampered,
    Opened,
}

impl SealState {
    pub fn code(self) -> u16 {
        match self {
            Self::Intact => 1,
            Self::Tampered => 2,
            Self::Opened => 3,
        }
    }
}

/// Why an id cannot become an EPC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tag id {0:?} is neither 24 hex digits nor at most 12 ASCII characters")]
pub struct TagIdError(pub String);

/// The 96-bit EPC for a tag id: 24 hex digits are the EPC itself; otherwise
/// the id's ASCII bytes, left-aligned and zero-padded (at most 12).
pub fn epc_from_id(id: &str) -> Result<[u8; 12], TagIdError> {
    let mut epc = [0u8; 12];
    if id.len() == 24 && id.bytes().all(|c| c.is_ascii_hexdigit()) {
        for (i, slot) in epc.iter_mut().enumerate() {
            *slot =
                u8::from_str_radix(&id[2 * i..2 * i + 2], 16).map_err(|_| TagIdError(id.into()))?;
        }
        return Ok(epc);
    }
    if id.is_empty() || id.len() > 12 || !id.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(TagIdError(id.into()));
    }
    epc[..id.len()].copy_from_slice(id.as_bytes());
    Ok(epc)
}

/// The chip's TID, derived from the EPC: E2 80 11 60 (a common chip class
/// prefix) followed by the first 4 bytes of FNV-1a-64 of the EPC.
pub fn tid_for(epc: &[u8; 12]) -> [u8; 8] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in epc {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let hb = h.to_be_bytes();
    [0xE2, 0x80, 0x11, 0x60, hb[0], hb[1], hb[2], hb[3]]
}

/// A tag somewhere along the lane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TagInLane {
    pub epc: [u8; 12],
    /// x of the tag along the lane.
    pub x: f64,
    /// For e-seals.
    pub seal: Option<SealState>,
}

/// Reader parameters.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RfidConfig {
    /// x of the antenna's footprint centre along the lane.
    pub antenna_x: f64,
    /// Read range, metres.
    pub range_m: f64,
    /// Probability that a tag in range is not read in one inventory round.
    pub miss_rate: f64,
    /// Inventory period, lane ms. Default 100.
    pub read_interval_ms: u64,
    /// A tag stays reported this long after its last read. Default 1000 ms.
    pub hold_ms: u64,
    /// RSSI at 1 m, dBm. Default -35.
    pub rssi_at_1m_dbm: f64,
    /// Modbus TCP port (0 or absent: ephemeral).
    pub port: Option<u16>,
    /// Modbus unit id to answer (absent: any).
    pub unit_id: Option<u8>,
}

impl RfidConfig {
    /// Vehicle e-tag reader over the stop line (windscreens of trucks waiting there).
    pub fn etag_default() -> Self {
        Self {
            antenna_x: -2.0,
            range_m: 8.0,
            miss_rate: 0.0,
            read_interval_ms: 100,
            hold_ms: 1000,
            rssi_at_1m_dbm: -35.0,
            port: None,
            unit_id: None,
        }
    }
    /// E-seal reader beside the rear of a truck waiting at the line.
    pub fn eseal_default() -> Self {
        Self {
            antenna_x: -15.0,
            range_m: 6.0,
            ..Self::etag_default()
        }
    }
}

impl Default for RfidConfig {
    fn default() -> Self {
        Self::etag_default()
    }
}

#[derive(Clone, Copy, Debug)]
struct Track {
    epc: [u8; 12],
    rssi_x10: i16,
    reads: u32,
    last_read_ms: u64,
    seal: Option<SealState>,
}

/// The reader's state and registers.
pub struct RfidReader {
    kind: ReaderKind,
    cfg: RfidConfig,
    rng: StdRng,
    next_round_ms: u64,
    now_ms: u64,
    total_reads: u32,
    tracks: Vec<Track>,
    rf_on: bool,
}

/// Bound on tracked tags.
const MAX_TRACKS: usize = 64;

impl RfidReader {
    pub fn new(kind: ReaderKind, cfg: RfidConfig, seed: u64, now_ms: u64) -> Self {
        Self {
            kind,
            cfg,
            rng: StdRng::seed_from_u64(seed),
            next_round_ms: now_ms,
            now_ms,
            total_reads: 0,
            tracks: Vec::new(),
            rf_on: true,
        }
    }

    pub fn kind(&self) -> ReaderKind {
        self.kind
    }

    /// Runs the inventory rounds due by `now_ms` against the tags present.
    pub fn advance(&mut self, now_ms: u64, tags: &[TagInLane]) {
        let period = self.cfg.read_interval_ms.max(1);
        if self.next_round_ms + 50 * period < now_ms {
            self.next_round_ms = now_ms; // fell far behind: do not replay history
        }
        while self.next_round_ms <= now_ms {
            let t = self.next_round_ms;
            self.round(t, tags);
            self.next_round_ms += period;
        }
        self.now_ms = now_ms;
        let hold = self.cfg.hold_ms;
        self.tracks.retain(|tr| tr.last_read_ms + hold >= now_ms);
        self.tracks
            .sort_by(|a, b| b.rssi_x10.cmp(&a.rssi_x10).then(a.epc.cmp(&b.epc)));
    }

    fn round(&mut self, t: u64, tags: &[TagInLane]) {
        let miss = self.cfg.miss_rate.clamp(0.0, 1.0);
        for tag in tags {
            let d = (tag.x - self.cfg.antenna_x).abs();
            if d > self.cfg.range_m {
                continue;
            }
            if self.rng.gen::<f64>() < miss {
                continue;
            }
            let noise: f64 = self.rng.gen_range(-2.0..=2.0);
            let rssi = self.cfg.rssi_at_1m_dbm - 20.0 * d.max(0.3).log10() + noise;
            let rssi_x10 = (rssi * 10.0)
                .round()
                .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
            self.total_reads = self.total_reads.wrapping_add(1);
            if let Some(tr) = self.tracks.iter_mut().find(|tr| tr.epc == tag.epc) {
                tr.reads = tr.reads.wrapping_add(1);
                tr.last_read_ms = t;
                tr.rssi_x10 = rssi_x10;
                tr.seal = tag.seal;
            } else if self.tracks.len() < MAX_TRACKS {
                self.tracks.push(Track {
                    epc: tag.epc,
                    rssi_x10,
                    reads: 1,
                    last_read_ms: t,
                    seal: tag.seal,
                });
            }
        }
    }

    /// EPCs currently reported, strongest first.
    pub fn reported(&self) -> Vec<[u8; 12]> {
        self.tracks.iter().take(SLOTS).map(|t| t.epc).collect()
    }

    fn register(&self, addr: u16) -> Result<u16, Exception> {
        if addr >= reg::COUNT {
            return Err(Exception::IllegalDataAddress);
        }
        let n = self.tracks.len().min(SLOTS);
        if addr < reg::SLOT_BASE {
            return Ok(match addr {
                reg::STATUS => {
                    (if self.rf_on { reg::STATUS_RF_ON } else { 0 })
                        | if n > 0 { reg::STATUS_TAG_PRESENT } else { 0 }
                }
                reg::TAG_COUNT => n as u16,
                reg::TOTAL_READS_HI => (self.total_reads >> 16) as u16,
                reg::TOTAL_READS_LO => self.total_reads as u16,
                reg::READER_KIND => self.kind as u16,
                _ => 0,
            });
        }
        let slot = usize::from((addr - reg::SLOT_BASE) / reg::SLOT_LEN);
        let off = (addr - reg::SLOT_BASE) % reg::SLOT_LEN;
        let Some(tr) = self.tracks.get(slot).filter(|_| slot < n) else {
            return Ok(0);
        };
        let word = |b: &[u8], i: u16| -> u16 {
            let i = usize::from(i) * 2;
            u16::from_be_bytes([b[i], b[i + 1]])
        };
        Ok(match off {
            reg::PRESENT => 1,
            o if (reg::EPC..reg::EPC + 6).contains(&o) => word(&tr.epc, o - reg::EPC),
            o if (reg::TID..reg::TID + 4).contains(&o) => word(&tid_for(&tr.epc), o - reg::TID),
            reg::RSSI => tr.rssi_x10 as u16,
            reg::READS_HI => (tr.reads >> 16) as u16,
            reg::READS_LO => tr.reads as u16,
            reg::SEAL_STATE => tr.seal.map_or(0, SealState::code),
            reg::AGE_MS => {
                u16::try_from(self.now_ms.saturating_sub(tr.last_read_ms)).unwrap_or(u16::MAX)
            }
            _ => 0,
        })
    }
}

impl DataModel for RfidReader {
    // Registers only: coils, inputs and writes keep the refusing defaults.
    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception> {
        self.register(addr)
    }
    fn read_input_register(&self, addr: u16) -> Result<u16, Exception> {
        self.register(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epc_mapping() {
        let e = epc_from_id("E2801160600002054CC2A1B3").unwrap();
        assert_eq!(e[0], 0xE2);
        assert_eq!(e[11], 0xB3);
        let e = epc_from_id("ES-00012345").unwrap();
        assert_eq!(&e[..11], b"ES-00012345");
        assert_eq!(e[11], 0);
        assert!(epc_from_id("").is_err());
        assert!(epc_from_id("THIRTEEN-CHAR").is_err());
        assert!(epc_from_id("琼A").is_err());
        assert_eq!(tid_for(&e)[..4], [0xE2, 0x80, 0x11, 0x60]);
        assert_ne!(tid_for(&e), tid_for(&[0; 12]));
    }

    fn tag(id: &str, x: f64) -> TagInLane {
        TagInLane {
            epc: epc_from_id(id).unwrap(),
            x,
            seal: None,
        }
    }

    #[test]
    fn reports_tags_in_range_strongest_first() {
        let mut r = RfidReader::new(ReaderKind::Etag, RfidConfig::etag_default(), 1, 0);
        let tags = [tag("NEAR", -1.5), tag("FAR", -7.0), tag("OUT", -20.0)];
        r.advance(1000, &tags);
        assert_eq!(r.reported(), vec![tags[0].epc, tags[1].epc]);
        assert_eq!(r.read_input_register(reg::TAG_COUNT), Ok(2));
        assert_eq!(r.read_input_register(reg::STATUS), Ok(3));
        assert_eq!(r.read_input_register(reg::READER_KIND), Ok(1));
        assert_eq!(r.read_input_register(reg::SLOT_BASE + reg::PRESENT), Ok(1));
        assert_eq!(
            r.read_input_register(reg::SLOT_BASE + reg::EPC),
            Ok(u16::from_be_bytes(*b"NE"))
        );
        let rssi = r.read_input_register(reg::SLOT_BASE + reg::RSSI).unwrap() as i16;
        // 0.5 m from the antenna: -35 - 20 log10(0.5) = -29 dBm, +-2 dB.
        assert!((-320..=-260).contains(&rssi), "{rssi}");
        assert_eq!(
            r.read_input_register(reg::SLOT_BASE + reg::READS_LO),
            Ok(11)
        );
        assert_eq!(
            r.read_input_register(reg::SLOT_BASE + 2 * reg::SLOT_LEN),
            Ok(0),
            "empty slot"
        );
        assert_eq!(
            r.read_input_register(reg::COUNT),
            Err(Exception::IllegalDataAddress)
        );
        // Tags leave: reported for hold_ms, then gone.
        r.advance(1500, &[]);
        assert_eq!(r.reported().len(), 2);
        r.advance(2500, &[]);
        assert!(r.reported().is_empty());
        assert_eq!(r.read_input_register(reg::STATUS), Ok(1));
        assert_eq!(r.read_input_register(reg::TOTAL_READS_LO), Ok(22));
    }

    #[test]
    fn miss_rate_one_never_reads_and_half_reads_some() {
        let cfg = RfidConfig {
            miss_rate: 1.0,
            ..RfidConfig::etag_default()
        };
        let mut r = RfidReader::new(ReaderKind::Etag, cfg, 1, 0);
        for t in (0..=10_000).step_by(100) {
            r.advance(t, &[tag("A", -2.0)]);
        }
        assert!(r.reported().is_empty());
        let cfg = RfidConfig {
            miss_rate: 0.5,
            ..RfidConfig::etag_default()
        };
        let mut r = RfidReader::new(ReaderKind::Etag, cfg, 1, 0);
        for t in (0..=10_000).step_by(100) {
            r.advance(t, &[tag("A", -2.0)]);
        }
        let reads = u32::from(r.read_input_register(reg::TOTAL_READS_LO).unwrap());
        assert!((30..=70).contains(&reads), "{reads} of 101");
    }

    #[test]
    fn seal_state_is_reported() {
        let mut r = RfidReader::new(ReaderKind::Eseal, RfidConfig::eseal_default(), 1, 0);
        let t = TagInLane {
            seal: Some(SealState::Tampered),
            ..tag("SEAL1", -17.0)
        };
        r.advance(500, &[t]);
        assert_eq!(
            r.read_holding_register(reg::SLOT_BASE + reg::SEAL_STATE),
            Ok(2)
        );
        assert_eq!(r.read_holding_register(reg::READER_KIND), Ok(2));
    }
}
