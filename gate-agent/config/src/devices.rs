//! Driver configuration: transports, Modbus buses and devices.
//!
//! Layer: configuration data only (serde). The lane configuration embeds
//! [`DriversConfig`]; every struct denies unknown keys, and every field's doc
//! comment is its user documentation (defaults included). Semantic checks
//! that serde cannot express (references between sections, exclusive
//! resources such as one serial port used twice) are in
//! [`DriversConfig::validate`]. Nothing here opens a port or a socket.

mod bus;
mod camera;
mod weighbridge;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Continuous-output protocol of an ASCII indicator (the wire format lives
/// in `gate-wire`).
pub use gate_wire::weighbridge::AsciiProtocol;

pub use bus::{ModbusBusConfig, Parity, SerialPortConfig, Transport};
pub use camera::{CameraConfig, RecognitionMode, UsbCameraConfig};
use weighbridge::default_scale_poll;
pub use weighbridge::{
    AsciiScaleConfig, ModbusScaleConfig, StabilityConfig, StabilityMode, WeighbridgeConfig,
};

/// Optional board settings written to the holding registers whenever the
/// board comes online (after start-up and after every reconnect). Absent =
/// leave the board's value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSettings {
    /// HR HEARTBEAT_TIMEOUT_MS (board default 3000; 0 disables the watchdog).
    pub heartbeat_timeout_ms: Option<u16>,
    /// HR AUTO_CLOSE_DELAY_MS (board default 1000).
    pub auto_close_delay_ms: Option<u16>,
    /// HR MOTOR_RUN_TIMEOUT_MS (board default 8000).
    pub motor_run_timeout_ms: Option<u16>,
    /// HR DEBOUNCE_MS (board default 50).
    pub debounce_ms: Option<u16>,
    /// HR CLEAR_DELAY_MS (board default 5000).
    pub clear_delay_ms: Option<u16>,
    /// HR FLAGS bit 0 (board default true).
    pub auto_close: Option<bool>,
}

/// The lane I/O board (register map: firmware/core/src/regmap.rs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardConfig {
    /// Device name in health reports (default "board").
    #[serde(default = "default_board_name")]
    pub name: String,
    /// Bus name.
    pub bus: String,
    /// Unit id (default 1, the board's factory id).
    #[serde(default = "default_board_unit")]
    pub unit_id: u8,
    /// Input poll period, ms (default 100).
    #[serde(default = "default_board_poll")]
    pub poll_interval_ms: u64,
    /// Heartbeat write period, ms (default 1000; keep well under the board's
    /// HEARTBEAT_TIMEOUT_MS, default 3000).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_interval_ms: u64,
    /// Consecutive failed polls before the snapshot is withdrawn (published
    /// as `None`: state unknown), default 3.
    #[serde(default = "default_offline_after")]
    pub offline_after_errors: u32,
    /// Settings written when the board comes online.
    #[serde(default)]
    pub settings: BoardSettings,
}

fn default_board_name() -> String {
    "board".into()
}
fn default_board_unit() -> u8 {
    lane_io::regmap::DEFAULT_UNIT_ID
}
fn default_board_poll() -> u64 {
    100
}
fn default_heartbeat() -> u64 {
    1000
}
fn default_offline_after() -> u32 {
    3
}

impl BoardConfig {
    pub fn new(bus: &str) -> Self {
        Self {
            name: default_board_name(),
            bus: bus.to_owned(),
            unit_id: default_board_unit(),
            poll_interval_ms: default_board_poll(),
            heartbeat_interval_ms: default_heartbeat(),
            offline_after_errors: default_offline_after(),
            settings: BoardSettings::default(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let ctx = |m: String| format!("board `{}`: {m}", self.name);
        check_unit(self.unit_id).map_err(ctx)?;
        check_interval("poll_interval_ms", self.poll_interval_ms).map_err(ctx)?;
        check_interval("heartbeat_interval_ms", self.heartbeat_interval_ms).map_err(ctx)?;
        if let Some(t) = self.settings.heartbeat_timeout_ms {
            if t != 0 && u64::from(t) <= self.heartbeat_interval_ms {
                return Err(ctx(format!(
                    "settings.heartbeat_timeout_ms {t} must exceed heartbeat_interval_ms {}",
                    self.heartbeat_interval_ms
                )));
            }
        }
        if self.offline_after_errors == 0 {
            return Err(ctx("offline_after_errors must be > 0".into()));
        }
        Ok(())
    }
}

/// What an RFID reader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RfidKind {
    /// Vehicle electronic tag (GB/T 35789).
    ETag,
    /// Container electronic seal.
    ESeal,
}

/// An RFID reader (e-tag or e-seal) over Modbus, described by a profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfidConfig {
    /// Device name (health reports, readings).
    pub name: String,
    /// "e-tag" or "e-seal".
    pub kind: RfidKind,
    /// Bus name.
    pub bus: String,
    /// Unit id.
    pub unit_id: u8,
    /// Profile name or path (see docs/drivers.md for the point names).
    pub profile: String,
    /// Poll period, ms (default 200).
    #[serde(default = "default_scale_poll")]
    pub poll_interval_ms: u64,
    /// Poll period while no vehicle is being identified, ms (default: the
    /// same as `poll_interval_ms`). Between vehicles a reader is polled only
    /// to know it answers; when a vehicle's identification starts it is
    /// polled at once and then every `poll_interval_ms` until its verdict.
    #[serde(default)]
    pub idle_poll_interval_ms: Option<u64>,
    /// Consecutive failed polls before the reading is withdrawn (default 3).
    #[serde(default = "default_offline_after")]
    pub offline_after_errors: u32,
    /// Read window, ms (default 1500): once the reader has answered for this
    /// long after a vehicle's identification started with no tag in its
    /// field, it reports "nothing" for that vehicle, so the lane does not
    /// wait out its identification bound for a tag that is not fitted.
    #[serde(default = "default_read_window")]
    pub read_window_ms: u64,
}

/// Default `read_window_ms` of RFID readers and cameras.
pub const DEFAULT_READ_WINDOW_MS: u64 = 1500;

fn default_read_window() -> u64 {
    DEFAULT_READ_WINDOW_MS
}

impl RfidConfig {
    /// The poll period between vehicles, ms.
    pub fn idle_poll_ms(&self) -> u64 {
        self.idle_poll_interval_ms.unwrap_or(self.poll_interval_ms)
    }

    pub fn validate(&self) -> Result<(), String> {
        let ctx = |m: String| format!("rfid `{}`: {m}", self.name);
        check_unit(self.unit_id).map_err(ctx)?;
        check_interval("poll_interval_ms", self.poll_interval_ms).map_err(ctx)?;
        if self.offline_after_errors == 0 {
            return Err(ctx("offline_after_errors must be > 0".into()));
        }
        if let Some(idle) = self.idle_poll_interval_ms {
            if idle < self.poll_interval_ms || idle > 60_000 {
                return Err(ctx(format!(
                    "idle_poll_interval_ms = {idle} must be between poll_interval_ms ({}) and 60000",
                    self.poll_interval_ms
                )));
            }
        }
        if self.read_window_ms < self.poll_interval_ms || self.read_window_ms > 60_000 {
            return Err(ctx(format!(
                "read_window_ms = {} must be between poll_interval_ms ({}) and 60000",
                self.read_window_ms, self.poll_interval_ms
            )));
        }
        Ok(())
    }
}

/// Everything the drivers need. The lane configuration embeds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriversConfig {
    /// Where profile names are looked up (default `config/profiles`,
    /// relative paths resolved by the caller against the config file).
    #[serde(default = "default_profiles_dir")]
    pub profiles_dir: PathBuf,
    /// Modbus buses.
    #[serde(default)]
    pub buses: Vec<ModbusBusConfig>,
    /// The lane I/O board.
    #[serde(default)]
    pub board: Option<BoardConfig>,
    /// The weighbridge.
    #[serde(default)]
    pub weighbridge: Option<WeighbridgeConfig>,
    /// RFID readers (e-tag, e-seal).
    #[serde(default)]
    pub rfid: Vec<RfidConfig>,
    /// Cameras.
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
}

fn default_profiles_dir() -> PathBuf {
    PathBuf::from("config/profiles")
}

/// The same defaults as a `[devices]` table without keys (a derived
/// `Default` would leave the profiles directory empty: the file's own
/// directory instead of `config/profiles` when `[devices]` is absent).
impl Default for DriversConfig {
    fn default() -> Self {
        Self {
            profiles_dir: default_profiles_dir(),
            buses: Vec::new(),
            board: None,
            weighbridge: None,
            rfid: Vec::new(),
            cameras: Vec::new(),
        }
    }
}

impl DriversConfig {
    /// How long the camera or RFID reader `name` looks at a vehicle before
    /// it reports "nothing" (names are unique across devices; an unknown
    /// name gets the default).
    pub fn read_window_ms(&self, name: &str) -> u64 {
        let camera = self.cameras.iter().find(|c| c.name == name);
        let reader = self.rfid.iter().find(|r| r.name == name);
        camera
            .map(|c| c.read_window_ms)
            .or(reader.map(|r| r.read_window_ms))
            .unwrap_or(DEFAULT_READ_WINDOW_MS)
    }

    /// Semantic checks: every section's own values, unique names, bus
    /// references, one device per (bus, unit id), one user per serial port.
    pub fn validate(&self) -> Result<(), String> {
        let mut buses: BTreeMap<&str, &ModbusBusConfig> = BTreeMap::new();
        for b in &self.buses {
            b.validate()?;
            if buses.insert(b.name.as_str(), b).is_some() {
                return Err(format!("bus `{}` defined twice", b.name));
            }
        }
        let mut names = BTreeSet::new();
        let mut units = BTreeSet::new();
        let mut resources: BTreeMap<String, String> = BTreeMap::new();
        let mut claim = |res: String, who: String| -> Result<(), String> {
            match resources.insert(res.clone(), who.clone()) {
                Some(prev) => Err(format!("{who} and {prev} both use {res}")),
                None => Ok(()),
            }
        };
        for b in &self.buses {
            match b.transport()? {
                Transport::Rtu(p) => claim(
                    format!("serial port {}", p.path.display()),
                    format!("bus `{}`", b.name),
                )?,
                Transport::Tcp(a) => claim(format!("tcp {a}"), format!("bus `{}`", b.name))?,
            }
        }
        let mut device = |name: &str, ep: Option<(&str, u8)>| -> Result<(), String> {
            if name.trim().is_empty() {
                return Err("device name is empty".into());
            }
            if !names.insert(name.to_owned()) {
                return Err(format!("device name `{name}` used twice"));
            }
            if let Some((bus, unit)) = ep {
                if !buses.contains_key(bus) {
                    return Err(format!("device `{name}`: no bus named `{bus}`"));
                }
                if !units.insert((bus.to_owned(), unit)) {
                    return Err(format!(
                        "device `{name}`: unit {unit} on bus `{bus}` is taken"
                    ));
                }
            }
            Ok(())
        };
        if let Some(b) = &self.board {
            b.validate()?;
            device(&b.name, Some((&b.bus, b.unit_id)))?;
        }
        if let Some(w) = &self.weighbridge {
            w.validate()?;
            device(
                &w.name,
                w.modbus.as_ref().map(|m| (m.bus.as_str(), m.unit_id)),
            )?;
            if let Some(a) = &w.ascii {
                claim(
                    format!("serial port {}", a.port.path.display()),
                    format!("weighbridge `{}`", w.name),
                )?;
            }
        }
        for r in &self.rfid {
            r.validate()?;
            device(&r.name, Some((&r.bus, r.unit_id)))?;
        }
        for c in &self.cameras {
            c.validate()?;
            device(&c.name, None)?;
        }
        Ok(())
    }
}

fn check_unit(unit: u8) -> Result<(), String> {
    if unit == 0 || (248..255).contains(&unit) {
        return Err(format!("unit_id {unit} not in 1..=247 (or 255)"));
    }
    Ok(())
}

fn check_interval(field: &str, ms: u64) -> Result<(), String> {
    if !(10..=600_000).contains(&ms) {
        return Err(format!("{field} {ms} not in 10..=600000"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
