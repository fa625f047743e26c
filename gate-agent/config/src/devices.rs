//! Driver configuration: transports, Modbus buses and devices.
//!
//! Layer: configuration data only (serde). The lane configuration embeds
//! [`DriversConfig`]; every struct denies unknown keys, and every field's doc
//! comment is its user documentation (defaults included). Semantic checks
//! that serde cannot express (references between sections, exclusive
//! resources such as one serial port used twice) are in
//! [`DriversConfig::validate`]. Nothing here opens a port or a socket.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backoff::BackoffConfig;

/// Serial parity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    #[default]
    None,
    Even,
    Odd,
}

/// A serial port: an RS-485/RS-232 adapter or a pseudo-terminal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialPortConfig {
    /// Device path, e.g. `/dev/ttyUSB0` or a pty link made by socat.
    pub path: PathBuf,
    /// Baud rate (default 9600).
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// "none" (default), "even" or "odd".
    #[serde(default)]
    pub parity: Parity,
    /// Data bits, 5..=8 (default 8; Toledo indicators often use 7 with even parity).
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// Stop bits, 1 or 2 (default 1).
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
}

fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}

impl SerialPortConfig {
    /// A port with the defaults (9600 8N1).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            baud: default_baud(),
            parity: Parity::None,
            data_bits: default_data_bits(),
            stop_bits: default_stop_bits(),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.path.as_os_str().is_empty() {
            return Err("serial port path is empty".into());
        }
        if !(50..=4_000_000).contains(&self.baud) {
            return Err(format!("baud {} not in 50..=4000000", self.baud));
        }
        if !(5..=8).contains(&self.data_bits) {
            return Err(format!("data_bits {} not in 5..=8", self.data_bits));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return Err(format!("stop_bits {} must be 1 or 2", self.stop_bits));
        }
        Ok(())
    }

    /// Bits on the wire per character (start + data + parity + stop).
    pub fn bits_per_char(&self) -> u32 {
        1 + u32::from(self.data_bits)
            + u32::from(self.parity != Parity::None)
            + u32::from(self.stop_bits)
    }

    /// The tokio-serial builder for this port.
    #[cfg(feature = "serial")]
    pub fn builder(&self) -> tokio_serial::SerialPortBuilder {
        let path = self.path.to_string_lossy().into_owned();
        tokio_serial::new(path, self.baud)
            .parity(match self.parity {
                Parity::None => tokio_serial::Parity::None,
                Parity::Even => tokio_serial::Parity::Even,
                Parity::Odd => tokio_serial::Parity::Odd,
            })
            .data_bits(match self.data_bits {
                5 => tokio_serial::DataBits::Five,
                6 => tokio_serial::DataBits::Six,
                7 => tokio_serial::DataBits::Seven,
                _ => tokio_serial::DataBits::Eight,
            })
            .stop_bits(if self.stop_bits == 2 {
                tokio_serial::StopBits::Two
            } else {
                tokio_serial::StopBits::One
            })
    }
}

/// One Modbus bus: a TCP connection or an RS-485 line. One task serves it
/// and serialises the requests of every device on it.
///
/// ```toml
/// [[buses]]
/// name = "rs485-1"
/// rtu = { path = "/dev/ttyUSB0", baud = 19200, parity = "even" }
///
/// [[buses]]
/// name = "board"
/// tcp = "127.0.0.1:1502"
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusBusConfig {
    /// Bus name, referenced by devices (`bus = "..."`).
    pub name: String,
    /// Modbus TCP: `host:port` of the device or gateway. Exactly one of
    /// `tcp` and `rtu` must be given.
    #[serde(default)]
    pub tcp: Option<String>,
    /// Modbus RTU on a serial line.
    #[serde(default)]
    pub rtu: Option<SerialPortConfig>,
    /// Time allowed for one request's answer, ms (default 300).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Time allowed to open the connection / port, ms (default 2000).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Extra attempts after a timeout or transport error (default 1). Never
    /// after a Modbus exception, never for momentary commands (a retried
    /// "raise" could admit two vehicles). A unit that timed out 3 times in a
    /// row gets no retries until it answers again, so a dead unit does not
    /// slow the rest of the line.
    #[serde(default = "default_retries")]
    pub retries: u8,
    /// Requests waiting for the bus, at most (default 32). A full queue
    /// fails new requests at once.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: usize,
    /// A request not started within this time is dropped (default 1000 ms):
    /// a late write (e.g. a raise) is worse than none.
    #[serde(default = "default_queue_timeout")]
    pub queue_timeout_ms: u64,
    /// RTU only: silence kept between two transactions, ms. Default: 3.5
    /// characters at the line's speed, at least 2 ms.
    #[serde(default)]
    pub frame_gap_ms: Option<u64>,
    /// Reconnect delays.
    #[serde(default)]
    pub backoff: BackoffConfig,
}

fn default_request_timeout() -> u64 {
    300
}
fn default_connect_timeout() -> u64 {
    2000
}
fn default_retries() -> u8 {
    1
}
fn default_queue_depth() -> usize {
    32
}
fn default_queue_timeout() -> u64 {
    1000
}

/// The transport of a bus, once validated.
#[derive(Clone, Debug, PartialEq)]
pub enum Transport {
    Tcp(String),
    Rtu(SerialPortConfig),
}

impl ModbusBusConfig {
    /// A TCP bus with default timings.
    pub fn tcp(name: &str, address: &str) -> Self {
        Self::with(name, Some(address.to_owned()), None)
    }

    /// An RTU bus with default timings.
    pub fn rtu(name: &str, port: SerialPortConfig) -> Self {
        Self::with(name, None, Some(port))
    }

    fn with(name: &str, tcp: Option<String>, rtu: Option<SerialPortConfig>) -> Self {
        Self {
            name: name.to_owned(),
            tcp,
            rtu,
            request_timeout_ms: default_request_timeout(),
            connect_timeout_ms: default_connect_timeout(),
            retries: default_retries(),
            queue_depth: default_queue_depth(),
            queue_timeout_ms: default_queue_timeout(),
            frame_gap_ms: None,
            backoff: BackoffConfig::default(),
        }
    }

    /// The transport; errors unless exactly one of `tcp` / `rtu` is set.
    pub fn transport(&self) -> Result<Transport, String> {
        match (&self.tcp, &self.rtu) {
            (Some(a), None) => Ok(Transport::Tcp(a.clone())),
            (None, Some(p)) => Ok(Transport::Rtu(p.clone())),
            _ => Err(format!(
                "bus `{}`: give exactly one of `tcp` and `rtu`",
                self.name
            )),
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    pub fn queue_timeout(&self) -> Duration {
        Duration::from_millis(self.queue_timeout_ms)
    }

    /// RTU inter-transaction silence (see `frame_gap_ms`).
    pub fn frame_gap(&self) -> Duration {
        if let Some(ms) = self.frame_gap_ms {
            return Duration::from_millis(ms);
        }
        match &self.rtu {
            Some(p) => {
                let secs = 3.5 * f64::from(p.bits_per_char()) / f64::from(p.baud.max(1));
                Duration::from_secs_f64(secs).max(Duration::from_millis(2))
            }
            None => Duration::ZERO,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let ctx = |m: String| format!("bus `{}`: {m}", self.name);
        if self.name.trim().is_empty() {
            return Err("bus name is empty".into());
        }
        match self.transport()? {
            Transport::Tcp(a) => {
                let ok = a
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
                if !ok {
                    return Err(ctx(format!("tcp address `{a}` is not host:port")));
                }
            }
            Transport::Rtu(p) => p.validate().map_err(ctx)?,
        }
        if !(10..=60_000).contains(&self.request_timeout_ms) {
            return Err(ctx(format!(
                "request_timeout_ms {} not in 10..=60000",
                self.request_timeout_ms
            )));
        }
        if !(10..=60_000).contains(&self.connect_timeout_ms) {
            return Err(ctx(format!(
                "connect_timeout_ms {} not in 10..=60000",
                self.connect_timeout_ms
            )));
        }
        if self.retries > 5 {
            return Err(ctx(format!("retries {} > 5", self.retries)));
        }
        if !(1..=1024).contains(&self.queue_depth) {
            return Err(ctx(format!(
                "queue_depth {} not in 1..=1024",
                self.queue_depth
            )));
        }
        if self.queue_timeout_ms == 0 {
            return Err(ctx("queue_timeout_ms must be > 0".into()));
        }
        if self.frame_gap_ms.is_some_and(|g| g > 1000) {
            return Err(ctx("frame_gap_ms > 1000".into()));
        }
        self.backoff.validate().map_err(ctx)
    }
}

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

/// How a weighbridge reading is judged stable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StabilityMode {
    /// The device's flag when it has one (a stable bit, a motion bit, the
    /// Toledo motion status), else detection. Default.
    #[default]
    Auto,
    /// Only the device's flag (error at start if the device has none).
    Device,
    /// Only the agent's detection (readings within tolerance for a window).
    Detect,
    /// Both must agree.
    Both,
}

/// Stability detection: the last `min_samples` or more readings all within
/// +-`tolerance_divisions` x `division_kg` of the newest, spanning at least
/// `window_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StabilityConfig {
    /// See [`StabilityMode`] (default "auto").
    #[serde(default)]
    pub mode: StabilityMode,
    /// Scale division (display increment), kg (default 20: a 60 t truck scale).
    #[serde(default = "default_division")]
    pub division_kg: f64,
    /// Allowed deviation, in divisions (default 1).
    #[serde(default = "default_tolerance")]
    pub tolerance_divisions: f64,
    /// Time the readings must stay within tolerance, ms (default 1500).
    #[serde(default = "default_window")]
    pub window_ms: u64,
    /// Readings needed inside the window, at least (default 5).
    #[serde(default = "default_min_samples")]
    pub min_samples: usize,
    /// A gap between readings longer than this restarts detection, ms (default 1000).
    #[serde(default = "default_max_gap")]
    pub max_gap_ms: u64,
}

fn default_division() -> f64 {
    20.0
}
fn default_tolerance() -> f64 {
    1.0
}
fn default_window() -> u64 {
    1500
}
fn default_min_samples() -> usize {
    5
}
fn default_max_gap() -> u64 {
    1000
}

impl Default for StabilityConfig {
    fn default() -> Self {
        Self {
            mode: StabilityMode::Auto,
            division_kg: default_division(),
            tolerance_divisions: default_tolerance(),
            window_ms: default_window(),
            min_samples: default_min_samples(),
            max_gap_ms: default_max_gap(),
        }
    }
}

impl StabilityConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.division_kg.is_finite() && self.division_kg > 0.0) {
            return Err(format!(
                "stability.division_kg {} must be > 0",
                self.division_kg
            ));
        }
        if !(self.tolerance_divisions.is_finite() && self.tolerance_divisions >= 0.0) {
            return Err(format!(
                "stability.tolerance_divisions {} must be >= 0",
                self.tolerance_divisions
            ));
        }
        if !(2..=1000).contains(&self.min_samples) {
            return Err(format!(
                "stability.min_samples {} not in 2..=1000",
                self.min_samples
            ));
        }
        if self.window_ms > 60_000 || self.max_gap_ms == 0 {
            return Err("stability: window_ms <= 60000 and max_gap_ms > 0 required".into());
        }
        Ok(())
    }
}

/// A Modbus weighbridge indicator described by a register profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusScaleConfig {
    /// Bus name.
    pub bus: String,
    /// Unit id.
    pub unit_id: u8,
    /// Profile name (`<profiles_dir>/<name>.toml`) or a path ending in `.toml`.
    /// It must define a numeric point `gross` in kg (after scale/offset) and
    /// may define flags `stable`, `motion`, `overload`, `underload`, `error`.
    pub profile: String,
    /// Poll period, ms (default 200).
    #[serde(default = "default_scale_poll")]
    pub poll_interval_ms: u64,
}

fn default_scale_poll() -> u64 {
    200
}

/// Continuous-output protocol of an ASCII indicator (the wire format lives
/// in `gate-wire`).
pub use gate_wire::weighbridge::AsciiProtocol;

/// A weighbridge indicator streaming ASCII frames on a serial line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsciiScaleConfig {
    /// The serial line.
    pub port: SerialPortConfig,
    /// "toledo" or "xk3190".
    pub protocol: AsciiProtocol,
    /// Toledo: frames carry a checksum byte after CR (default false).
    /// Ignored for XK3190 (always checked).
    #[serde(default)]
    pub checksum: bool,
    /// Kilograms per displayed unit (default 1; 1000 if the indicator shows tonnes).
    #[serde(default = "one")]
    pub kg_per_unit: f64,
    /// No valid frame for this long = reading withdrawn and an error
    /// recorded, ms (default 2000).
    #[serde(default = "default_stale")]
    pub stale_after_ms: u64,
    /// Reopen delays after the port fails (unplugged adapter).
    #[serde(default)]
    pub backoff: BackoffConfig,
}

fn one() -> f64 {
    1.0
}
fn default_stale() -> u64 {
    2000
}

/// The weighbridge: exactly one of `modbus` and `ascii`.
///
/// ```toml
/// [weighbridge]
/// modbus = { bus = "wb", unit_id = 1, profile = "wb-f32-cdab" }
/// stability = { division_kg = 20 }
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeighbridgeConfig {
    /// Device name (default "weighbridge").
    #[serde(default = "default_wb_name")]
    pub name: String,
    #[serde(default)]
    pub modbus: Option<ModbusScaleConfig>,
    #[serde(default)]
    pub ascii: Option<AsciiScaleConfig>,
    /// Stability judgement.
    #[serde(default)]
    pub stability: StabilityConfig,
    /// Modbus only: consecutive failed polls before the reading is withdrawn (default 3).
    #[serde(default = "default_offline_after")]
    pub offline_after_errors: u32,
}

fn default_wb_name() -> String {
    "weighbridge".into()
}

impl WeighbridgeConfig {
    pub fn validate(&self) -> Result<(), String> {
        let ctx = |m: String| format!("weighbridge `{}`: {m}", self.name);
        match (&self.modbus, &self.ascii) {
            (Some(m), None) => {
                check_unit(m.unit_id).map_err(ctx)?;
                check_interval("poll_interval_ms", m.poll_interval_ms).map_err(ctx)?;
            }
            (None, Some(a)) => {
                a.port.validate().map_err(ctx)?;
                if !(a.kg_per_unit.is_finite() && a.kg_per_unit > 0.0) {
                    return Err(ctx(format!("kg_per_unit {} must be > 0", a.kg_per_unit)));
                }
                check_interval("stale_after_ms", a.stale_after_ms).map_err(ctx)?;
                a.backoff.validate().map_err(ctx)?;
            }
            _ => return Err(ctx("give exactly one of `modbus` and `ascii`".into())),
        }
        if self.offline_after_errors == 0 {
            return Err(ctx("offline_after_errors must be > 0".into()));
        }
        self.stability.validate().map_err(ctx)
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

/// A USB (UVC) camera, found by name or serial (feature `usb-camera`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbCameraConfig {
    /// Substring of the device's human name (e.g. "HD USB Camera").
    #[serde(default)]
    pub name: Option<String>,
    /// Substring of the device's serial / misc field (bus path on Linux).
    #[serde(default)]
    pub serial: Option<String>,
    /// Requested resolution (default 1280x720) and frame rate (default 15).
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    #[serde(default = "default_fps")]
    pub fps: u32,
    /// JPEG quality when the camera delivers raw frames, 1..=100 (default 85).
    #[serde(default = "default_quality")]
    pub jpeg_quality: u8,
}

fn default_width() -> u32 {
    1280
}
fn default_height() -> u32 {
    720
}
fn default_fps() -> u32 {
    15
}
fn default_quality() -> u8 {
    85
}

/// Who reads the plate / container codes a camera sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecognitionMode {
    /// The agent reads the camera's frames itself (gate-ocr, the lane
    /// configuration's `[recognition]` section). Needs a frame source.
    Onboard,
    /// The camera's own recognition results (`recognition_url`).
    Camera,
    /// Nobody: the camera gives evidence photos only and reports "nothing read".
    None,
}

impl RecognitionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Onboard => "onboard",
            Self::Camera => "camera",
            Self::None => "none",
        }
    }
}

/// A camera: exactly one of `snapshot_url`, `mjpeg_url` and `usb`, plus an
/// optional recognition endpoint (a camera may also give recognition only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Camera name (e.g. "plate-front", "container-back").
    pub name: String,
    /// HTTP URL returning one JPEG per GET (e.g. `http://cam/snapshot.jpg`).
    #[serde(default)]
    pub snapshot_url: Option<String>,
    /// HTTP URL of a multipart/x-mixed-replace MJPEG stream.
    #[serde(default)]
    pub mjpeg_url: Option<String>,
    /// A USB camera (needs the `usb-camera` feature).
    #[serde(default)]
    pub usb: Option<UsbCameraConfig>,
    /// HTTP URL of the camera's recognition results (ANPR / container OCR JSON).
    #[serde(default)]
    pub recognition_url: Option<String>,
    /// Who reads this camera's frames: `onboard` (the agent, from the
    /// frames), `camera` (the camera's `recognition_url`) or `none`.
    /// Default: `camera` when `recognition_url` is set, else `onboard`.
    /// See [`CameraConfig::recognition_mode`].
    #[serde(default)]
    pub recognition: Option<RecognitionMode>,
    /// Time allowed for one HTTP request / one frame, ms (default 2000).
    #[serde(default = "default_http_timeout")]
    pub timeout_ms: u64,
    /// Largest accepted JPEG, bytes (default 4 MiB).
    #[serde(default = "default_max_frame")]
    pub max_frame_bytes: usize,
    /// MJPEG: a frame older than this is not returned by `grab`, ms (default 1000).
    #[serde(default = "default_max_age")]
    pub max_frame_age_ms: u64,
    /// Reconnect delays of the stream.
    #[serde(default)]
    pub backoff: BackoffConfig,
    /// Read window, ms (default 1500): once the camera's own recognition
    /// has answered "nothing" for this long after a vehicle's
    /// identification started, the camera reports "nothing" for it (a
    /// container camera with no container in view), so the lane does not
    /// wait out its identification bound. Mode `none` reports "nothing"
    /// right after its photo.
    #[serde(default = "default_read_window")]
    pub read_window_ms: u64,
}

fn default_http_timeout() -> u64 {
    2000
}
fn default_max_frame() -> usize {
    4 * 1024 * 1024
}
fn default_max_age() -> u64 {
    1000
}

impl CameraConfig {
    /// A snapshot camera with defaults.
    pub fn snapshot(name: &str, url: &str) -> Self {
        let mut c = Self::blank(name);
        c.snapshot_url = Some(url.to_owned());
        c
    }

    /// An MJPEG camera with defaults.
    pub fn mjpeg(name: &str, url: &str) -> Self {
        let mut c = Self::blank(name);
        c.mjpeg_url = Some(url.to_owned());
        c
    }

    fn blank(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            snapshot_url: None,
            mjpeg_url: None,
            usb: None,
            recognition_url: None,
            recognition: None,
            timeout_ms: default_http_timeout(),
            max_frame_bytes: default_max_frame(),
            max_frame_age_ms: default_max_age(),
            backoff: BackoffConfig::default(),
            read_window_ms: DEFAULT_READ_WINDOW_MS,
        }
    }

    /// Whether the camera gives frames (snapshot, MJPEG or USB).
    pub fn has_frames(&self) -> bool {
        self.snapshot_url.is_some() || self.mjpeg_url.is_some() || self.usb.is_some()
    }

    /// The effective recognition mode: as configured, else `camera` when the
    /// camera has a `recognition_url`, else `onboard`.
    pub fn recognition_mode(&self) -> RecognitionMode {
        match (self.recognition, &self.recognition_url) {
            (Some(m), _) => m,
            (None, Some(_)) => RecognitionMode::Camera,
            (None, None) => RecognitionMode::Onboard,
        }
    }

    /// The recognition mode's own requirements (a problem here is reported
    /// at the camera's `recognition` key by the lane configuration check).
    pub fn validate_recognition(&self) -> Result<(), String> {
        match self.recognition_mode() {
            RecognitionMode::Camera if self.recognition_url.is_none() => Err(format!(
                "camera `{}`: recognition = \"camera\" needs `recognition_url`",
                self.name
            )),
            RecognitionMode::Onboard if !self.has_frames() => Err(format!(
                "camera `{}`: recognition = \"onboard\" needs frames (`snapshot_url`, `mjpeg_url` or `usb`)",
                self.name
            )),
            _ => Ok(()),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let ctx = |m: String| format!("camera `{}`: {m}", self.name);
        let n = usize::from(self.snapshot_url.is_some())
            + usize::from(self.mjpeg_url.is_some())
            + usize::from(self.usb.is_some());
        if n != 1 && !(n == 0 && self.recognition_url.is_some()) {
            return Err(ctx(
                "give exactly one of `snapshot_url`, `mjpeg_url` and `usb`".into(),
            ));
        }
        if !(100..=60_000).contains(&self.read_window_ms) {
            return Err(ctx(format!(
                "read_window_ms = {} must be between 100 and 60000",
                self.read_window_ms
            )));
        }
        for u in [&self.snapshot_url, &self.mjpeg_url, &self.recognition_url]
            .into_iter()
            .flatten()
        {
            if !u.starts_with("http://") {
                return Err(ctx(format!("url `{u}` must start with http://")));
            }
        }
        if let Some(usb) = &self.usb {
            if usb.name.is_none() && usb.serial.is_none() {
                return Err(ctx("usb: give `name` or `serial`".into()));
            }
            if !(1..=100).contains(&usb.jpeg_quality)
                || usb.width == 0
                || usb.height == 0
                || usb.fps == 0
            {
                return Err(ctx(
                    "usb: width, height, fps > 0 and jpeg_quality 1..=100".into()
                ));
            }
        }
        self.validate_recognition()?;
        check_interval("timeout_ms", self.timeout_ms).map_err(ctx)?;
        if !(1024..=64 * 1024 * 1024).contains(&self.max_frame_bytes) {
            return Err(ctx(format!(
                "max_frame_bytes {} not in 1 KiB..=64 MiB",
                self.max_frame_bytes
            )));
        }
        self.backoff.validate().map_err(ctx)
    }
}

/// Everything the drivers need. The lane configuration embeds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
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
mod tests {
    use super::*;

    const FULL: &str = r#"
profiles_dir = "config/profiles"

[[buses]]
name = "board"
tcp = "127.0.0.1:1502"

[[buses]]
name = "rs485"
rtu = { path = "/dev/ttyUSB0", baud = 19200, parity = "even" }
request_timeout_ms = 200
retries = 2
backoff = { initial_ms = 100, max_ms = 5000 }

[board]
bus = "board"
settings = { heartbeat_timeout_ms = 3000 }

[weighbridge]
modbus = { bus = "rs485", unit_id = 3, profile = "wb-f32-cdab" }
stability = { division_kg = 10, window_ms = 2000 }

[[rfid]]
name = "etag"
kind = "e-tag"
bus = "rs485"
unit_id = 4
profile = "rfid-etag"

[[cameras]]
name = "plate-front"
snapshot_url = "http://127.0.0.1:8081/snapshot.jpg"
recognition_url = "http://127.0.0.1:8081/recognition"
"#;

    #[test]
    fn full_config_parses_and_validates() {
        let c: DriversConfig = toml::from_str(FULL).expect("parse");
        c.validate().expect("valid");
        let rs = &c.buses[1];
        assert_eq!(
            rs.transport().expect("t"),
            Transport::Rtu(rs.rtu.clone().expect("rtu"))
        );
        assert_eq!(
            rs.rtu.as_ref().map(|p| (p.baud, p.parity, p.data_bits)),
            Some((19200, Parity::Even, 8))
        );
        // 3.5 chars of 11 bits at 19200 baud = 2.005 ms
        assert!(
            rs.frame_gap() >= Duration::from_millis(2) && rs.frame_gap() < Duration::from_millis(3)
        );
        assert_eq!(c.board.as_ref().map(|b| b.unit_id), Some(1));
        assert_eq!(
            c.weighbridge.as_ref().map(|w| w.stability.min_samples),
            Some(5)
        );
        assert_eq!(c.rfid[0].kind, RfidKind::ETag);
    }

    #[test]
    fn semantic_errors() {
        let c: DriversConfig =
            toml::from_str(&FULL.replace("unit_id = 4", "unit_id = 3")).expect("parse");
        assert!(c
            .validate()
            .expect_err("clash")
            .contains("unit 3 on bus `rs485` is taken"));
        let c: DriversConfig =
            toml::from_str(&FULL.replace("bus = \"board\"\nsettings", "bus = \"nope\"\nsettings"))
                .expect("parse");
        assert!(c
            .validate()
            .expect_err("ref")
            .contains("no bus named `nope`"));
        let c: DriversConfig = toml::from_str(&FULL.replace(
            "tcp = \"127.0.0.1:1502\"",
            "tcp = \"127.0.0.1:1502\"\nrtu = { path = \"/dev/x\" }",
        ))
        .expect("parse");
        assert!(c.validate().expect_err("both").contains("exactly one"));
        let c: DriversConfig = toml::from_str(
            &FULL.replace("heartbeat_timeout_ms = 3000", "heartbeat_timeout_ms = 500"),
        )
        .expect("parse");
        assert!(c.validate().expect_err("hb").contains("heartbeat"));
        let ascii = FULL.replace(
            "modbus = { bus = \"rs485\", unit_id = 3, profile = \"wb-f32-cdab\" }",
            "ascii = { port = { path = \"/dev/ttyUSB0\" }, protocol = \"xk3190\" }",
        );
        let c: DriversConfig = toml::from_str(&ascii).expect("parse");
        assert!(c.validate().expect_err("port").contains("/dev/ttyUSB0"));
        let c: DriversConfig =
            toml::from_str(&FULL.replace("snapshot_url = \"http", "mjpeg_url = \"https"))
                .expect("parse");
        assert!(c.validate().is_err());
    }

    #[test]
    fn camera_recognition_modes() {
        let cam = |extra: &str| -> Result<CameraConfig, String> {
            let text = format!("name = \"c\"\n{extra}");
            toml::from_str::<CameraConfig>(&text).map_err(|e| e.message().to_owned())
        };
        let snap = "snapshot_url = \"http://c/s.jpg\"\n";
        let rec = "recognition_url = \"http://c/r\"\n";
        // Defaults: the camera's own results when it has them, else on board.
        let c = cam(&format!("{snap}{rec}")).expect("parse");
        assert_eq!(c.recognition_mode(), RecognitionMode::Camera);
        c.validate().expect("valid");
        let c = cam(snap).expect("parse");
        assert_eq!(c.recognition_mode(), RecognitionMode::Onboard);
        c.validate().expect("valid");
        let c = cam(rec).expect("parse");
        assert_eq!(c.recognition_mode(), RecognitionMode::Camera);
        // Explicit choices win.
        let c = cam(&format!("{snap}{rec}recognition = \"onboard\"\n")).expect("parse");
        assert_eq!(c.recognition_mode(), RecognitionMode::Onboard);
        c.validate().expect("valid");
        let c = cam(&format!("{snap}recognition = \"none\"\n")).expect("parse");
        assert_eq!(c.recognition_mode(), RecognitionMode::None);
        c.validate().expect("valid");
        // Requirements.
        let e = cam(&format!("{snap}recognition = \"camera\"\n"))
            .expect("parse")
            .validate()
            .expect_err("camera without url");
        assert!(e.contains("needs `recognition_url`"), "{e}");
        let e = cam(&format!("{rec}recognition = \"onboard\"\n"))
            .expect("parse")
            .validate()
            .expect_err("onboard without frames");
        assert!(e.contains("needs frames"), "{e}");
        let e = cam(&format!("{snap}recognition = \"ocr\"\n")).expect_err("bad value");
        assert!(e.contains("unknown variant `ocr`"), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e =
            toml::from_str::<DriversConfig>(&FULL.replace("retries = 2", "retries = 2\nretry = 3"))
                .expect_err("unknown");
        assert!(e.message().contains("unknown field `retry`"), "{e}");
        let e = toml::from_str::<DriversConfig>(
            &FULL.replace("parity = \"even\"", "parity = \"even\", baudrate = 1"),
        )
        .expect_err("unknown");
        assert!(e.message().contains("baudrate"), "{e}");
        assert!(e.span().is_some());
    }
}
