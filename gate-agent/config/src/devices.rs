//! Driver configuration: transports, Modbus buses and devices.
//!
//! Layer: configuration data only (serde). The lane configuration embeds
//! [`DriversConfig`]; every struct denies unknown keys, and every field's doc
//! comment is its user documentation (defaults included). Semantic checks
//! that serde cannot express (references between sections, exclusive
//! resources such as one serial port used twice) are in
//! [`DriversConfig::validate`]. Nothing here opens a port or a socket.
//!
//! A setting the file gives as "exactly one of these keys" (a bus's `tcp` |
//! `rtu`, the weighbridge's `modbus` | `ascii`, a camera's `snapshot_url` |
//! `mjpeg_url` | `usb`) is held as one enum ([`Transport`],
//! [`ScaleSource`], [`CameraSource`]): each such section is read as it is
//! written (a private `Raw*` struct) and typed by `TryFrom`. The lane
//! configuration's loader reads `[devices]` as written first
//! (`RawDrivers`), so a wrong choice is reported by the checks, at its
//! place among them, as any other problem of the section.

mod bus;
mod camera;
mod weighbridge;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Continuous-output protocol of an ASCII indicator (the wire format lives
/// in `gate-wire`).
pub use gate_wire::weighbridge::AsciiProtocol;

use bus::RawBus;
pub use bus::{ModbusBusConfig, Parity, SerialPortConfig, SerialPortError, Transport};
pub use camera::{CameraConfig, CameraSource, RecognitionMode, UsbCameraConfig};
use camera::{CameraRecognition, RawCamera};
use weighbridge::{default_scale_poll, RawWeighbridge};
pub use weighbridge::{
    AsciiScaleConfig, ModbusScaleConfig, ScaleSource, StabilityConfig, StabilityError,
    StabilityMode, WeighbridgeConfig,
};

use crate::backoff::BackoffError;

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

    pub fn validate(&self) -> Result<(), ConfigCheckError> {
        let ctx = in_section(Section::Board, &self.name);
        check_unit(self.unit_id).map_err(ctx)?;
        check_interval("poll_interval_ms", self.poll_interval_ms).map_err(ctx)?;
        check_interval("heartbeat_interval_ms", self.heartbeat_interval_ms).map_err(ctx)?;
        if let Some(t) = self.settings.heartbeat_timeout_ms {
            if t != 0 && u64::from(t) <= self.heartbeat_interval_ms {
                return Err(ctx(Problem::HeartbeatTimeout {
                    timeout_ms: t,
                    interval_ms: self.heartbeat_interval_ms,
                }));
            }
        }
        if self.offline_after_errors == 0 {
            return Err(ctx(Problem::OfflineAfterErrors));
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

    pub fn validate(&self) -> Result<(), ConfigCheckError> {
        let ctx = in_section(Section::Rfid, &self.name);
        check_unit(self.unit_id).map_err(ctx)?;
        check_interval("poll_interval_ms", self.poll_interval_ms).map_err(ctx)?;
        if self.offline_after_errors == 0 {
            return Err(ctx(Problem::OfflineAfterErrors));
        }
        if let Some(idle) = self.idle_poll_interval_ms {
            if idle < self.poll_interval_ms || idle > 60_000 {
                return Err(ctx(Problem::IdlePollInterval {
                    idle_ms: idle,
                    poll_ms: self.poll_interval_ms,
                }));
            }
        }
        if self.read_window_ms < self.poll_interval_ms || self.read_window_ms > 60_000 {
            return Err(ctx(Problem::RfidReadWindow {
                window_ms: self.read_window_ms,
                poll_ms: self.poll_interval_ms,
            }));
        }
        Ok(())
    }
}

/// Everything the drivers need. The lane configuration embeds it.
///
/// The type parameters are the sections with an "exactly one of" choice,
/// typed by default; `RawDrivers` is the same table as the file writes it,
/// which the lane configuration's loader checks before typing it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(
        deserialize = "Bus: Deserialize<'de>, Scale: Deserialize<'de>, Camera: Deserialize<'de>"
    )
)]
pub struct DriversConfig<Bus = ModbusBusConfig, Scale = WeighbridgeConfig, Camera = CameraConfig> {
    /// Where profile names are looked up (default `config/profiles`,
    /// relative paths resolved by the caller against the config file).
    #[serde(default = "default_profiles_dir")]
    pub profiles_dir: PathBuf,
    /// Modbus buses.
    #[serde(default)]
    pub buses: Vec<Bus>,
    /// The lane I/O board.
    #[serde(default)]
    pub board: Option<BoardConfig>,
    /// The weighbridge.
    #[serde(default)]
    pub weighbridge: Option<Scale>,
    /// RFID readers (e-tag, e-seal).
    #[serde(default)]
    pub rfid: Vec<RfidConfig>,
    /// Cameras.
    #[serde(default)]
    pub cameras: Vec<Camera>,
}

/// `[devices]` as the file writes it: each choice as its several keys.
pub(crate) type RawDrivers = DriversConfig<RawBus, RawWeighbridge, RawCamera>;

fn default_profiles_dir() -> PathBuf {
    PathBuf::from("config/profiles")
}

/// The same defaults as a `[devices]` table without keys (a derived
/// `Default` would leave the profiles directory empty: the file's own
/// directory instead of `config/profiles` when `[devices]` is absent).
impl<Bus, Scale, Camera> Default for DriversConfig<Bus, Scale, Camera> {
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

/// A section with an "exactly one of" choice, as read (`Raw*`) or typed:
/// the typed section, or the first problem its checks report that kept it
/// from being typed.
pub(crate) trait Typed<T: Clone> {
    fn typed(&self) -> Result<Cow<'_, T>, ConfigCheckError>;
}

impl<T: Clone> Typed<T> for T {
    fn typed(&self) -> Result<Cow<'_, T>, ConfigCheckError> {
        Ok(Cow::Borrowed(self))
    }
}

/// A camera as read or typed: what the lane configuration's checks ask of
/// it besides [`Typed`] (its recognition, also when its frames are given
/// twice).
pub(crate) trait CameraSection: Typed<CameraConfig> {
    fn name(&self) -> &str;
    fn recognition(&self) -> CameraRecognition<'_>;
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
    pub fn validate(&self) -> Result<(), ConfigCheckError> {
        check(self)
    }
}

impl RawDrivers {
    /// The typed sections (a wrong choice is the first problem
    /// [`check`] reports: after it found none, this cannot
    /// fail).
    pub(crate) fn into_typed(self) -> Result<DriversConfig, ConfigCheckError> {
        fn each<Raw, T: TryFrom<Raw>>(raw: Vec<Raw>) -> Result<Vec<T>, T::Error> {
            raw.into_iter().map(T::try_from).collect()
        }
        Ok(DriversConfig {
            profiles_dir: self.profiles_dir,
            buses: each(self.buses)?,
            board: self.board,
            weighbridge: self.weighbridge.map(TryFrom::try_from).transpose()?,
            rfid: self.rfid,
            cameras: each(self.cameras)?,
        })
    }
}

/// The value given among keys that exclude each other (`None`: none was);
/// `wrong` when the file gives more than one.
fn at_most_one<T, const N: usize>(
    given: [Option<T>; N],
    wrong: impl FnOnce() -> ConfigCheckError,
) -> Result<Option<T>, ConfigCheckError> {
    let mut given = given.into_iter().flatten();
    let first = given.next();
    match given.next() {
        Some(_) => Err(wrong()),
        None => Ok(first),
    }
}

/// The value given among keys of which the file must give exactly one;
/// `wrong` when it gives more, or none.
fn exactly_one<T, const N: usize>(
    given: [Option<T>; N],
    wrong: impl Fn() -> ConfigCheckError,
) -> Result<T, ConfigCheckError> {
    at_most_one(given, &wrong)?.ok_or_else(wrong)
}

/// [`DriversConfig::validate`] of the sections as read or typed: each
/// section is typed where its checks begin, so a choice the file got wrong
/// is reported in the same order as any other problem.
pub(crate) fn check<Bus, Scale, Camera>(
    devices: &DriversConfig<Bus, Scale, Camera>,
) -> Result<(), ConfigCheckError>
where
    Bus: Typed<ModbusBusConfig>,
    Scale: Typed<WeighbridgeConfig>,
    Camera: Typed<CameraConfig>,
{
    let mut bus_names = BTreeSet::new();
    let mut buses = Vec::with_capacity(devices.buses.len());
    for b in &devices.buses {
        let b = b.typed()?;
        b.validate()?;
        if !bus_names.insert(b.name.clone()) {
            return Err(ConfigCheckError::BusDefinedTwice(b.name.clone()));
        }
        buses.push(b);
    }
    let mut names = BTreeSet::new();
    let mut units = BTreeSet::new();
    let mut resources: BTreeMap<String, SectionRef> = BTreeMap::new();
    let mut claim = |resource: Resource, user: SectionRef| -> Result<(), ConfigCheckError> {
        match resources.insert(resource.to_string(), user.clone()) {
            Some(previous) => Err(ConfigCheckError::SharedResource {
                user,
                previous,
                resource,
            }),
            None => Ok(()),
        }
    };
    for b in &buses {
        let user = SectionRef::new(Section::Bus, &b.name);
        match &b.transport {
            Transport::Rtu(p) => claim(Resource::SerialPort(p.path.clone()), user)?,
            Transport::Tcp(a) => claim(Resource::Tcp(a.clone()), user)?,
        }
    }
    let mut device = |name: &str, ep: Option<(&str, u8)>| -> Result<(), ConfigCheckError> {
        if name.trim().is_empty() {
            return Err(ConfigCheckError::EmptyDeviceName);
        }
        if !names.insert(name.to_owned()) {
            return Err(ConfigCheckError::DeviceNameTwice(name.to_owned()));
        }
        if let Some((bus, unit)) = ep {
            if !bus_names.contains(bus) {
                return Err(ConfigCheckError::NoSuchBus {
                    device: name.to_owned(),
                    bus: bus.to_owned(),
                });
            }
            if !units.insert((bus.to_owned(), unit)) {
                return Err(ConfigCheckError::UnitTaken {
                    device: name.to_owned(),
                    bus: bus.to_owned(),
                    unit,
                });
            }
        }
        Ok(())
    };
    if let Some(b) = &devices.board {
        b.validate()?;
        device(&b.name, Some((&b.bus, b.unit_id)))?;
    }
    if let Some(w) = &devices.weighbridge {
        let w = w.typed()?;
        w.validate()?;
        match &w.source {
            ScaleSource::Modbus(m) => device(&w.name, Some((&m.bus, m.unit_id)))?,
            ScaleSource::Ascii(a) => {
                device(&w.name, None)?;
                claim(
                    Resource::SerialPort(a.port.path.clone()),
                    SectionRef::new(Section::Weighbridge, &w.name),
                )?;
            }
        }
    }
    for r in &devices.rfid {
        r.validate()?;
        device(&r.name, Some((&r.bus, r.unit_id)))?;
    }
    for c in &devices.cameras {
        let c = c.typed()?;
        c.validate()?;
        device(&c.name, None)?;
    }
    Ok(())
}

/// The kind of a named section of [`DriversConfig`], as error messages
/// name it (`bus`, `board`, `weighbridge`, `rfid`, `camera`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Bus,
    Board,
    Weighbridge,
    Rfid,
    Camera,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bus => "bus",
            Self::Board => "board",
            Self::Weighbridge => "weighbridge",
            Self::Rfid => "rfid",
            Self::Camera => "camera",
        }
    }
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named section: prints as ``bus `rs485` ``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionRef {
    pub section: Section,
    pub name: String,
}

impl SectionRef {
    pub fn new(section: Section, name: &str) -> Self {
        Self {
            section,
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for SectionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}`", self.section, self.name)
    }
}

/// A resource only one section may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    /// A serial port, by path.
    SerialPort(PathBuf),
    /// A Modbus TCP address (`host:port`).
    Tcp(String),
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SerialPort(p) => write!(f, "serial port {}", p.display()),
            Self::Tcp(a) => write!(f, "tcp {a}"),
        }
    }
}

/// What is wrong inside one section (the [`ConfigCheckError::Section`]
/// error names the section).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("unit_id {0} not in 1..=247 (or 255)")]
    UnitId(u8),
    /// A period (`poll_interval_ms`, `timeout_ms`, ...) out of range.
    #[error("{field} {ms} not in 10..=600000")]
    Interval { field: &'static str, ms: u64 },
    #[error("offline_after_errors must be > 0")]
    OfflineAfterErrors,
    #[error(
        "settings.heartbeat_timeout_ms {timeout_ms} must exceed heartbeat_interval_ms {interval_ms}"
    )]
    HeartbeatTimeout { timeout_ms: u16, interval_ms: u64 },
    #[error(
        "idle_poll_interval_ms = {idle_ms} must be between poll_interval_ms ({poll_ms}) and 60000"
    )]
    IdlePollInterval { idle_ms: u64, poll_ms: u64 },
    #[error("read_window_ms = {window_ms} must be between poll_interval_ms ({poll_ms}) and 60000")]
    RfidReadWindow { window_ms: u64, poll_ms: u64 },
    #[error("read_window_ms = {0} must be between 100 and 60000")]
    CameraReadWindow(u64),
    /// A bus with both or neither of `tcp` and `rtu`.
    #[error("give exactly one of `tcp` and `rtu`")]
    BusTransport,
    #[error("tcp address `{0}` is not host:port")]
    TcpAddress(String),
    #[error("request_timeout_ms {0} not in 10..=60000")]
    RequestTimeout(u64),
    #[error("connect_timeout_ms {0} not in 10..=60000")]
    ConnectTimeout(u64),
    #[error("retries {0} > 5")]
    Retries(u8),
    #[error("queue_depth {0} not in 1..=1024")]
    QueueDepth(usize),
    #[error("queue_timeout_ms must be > 0")]
    QueueTimeout,
    /// `frame_gap_ms` (the value) over 1000.
    #[error("frame_gap_ms > 1000")]
    FrameGap(u64),
    /// A weighbridge with both or neither of `modbus` and `ascii`.
    #[error("give exactly one of `modbus` and `ascii`")]
    ScaleSource,
    #[error("kg_per_unit {0} must be > 0")]
    KgPerUnit(f64),
    /// A camera with no frame source (and no recognition), or several.
    #[error("give exactly one of `snapshot_url`, `mjpeg_url` and `usb`")]
    CameraSource,
    #[error("url `{0}` must start with http://")]
    Url(String),
    #[error("usb: give `name` or `serial`")]
    UsbSelector,
    #[error("usb: width, height, fps > 0 and jpeg_quality 1..=100")]
    UsbFormat,
    #[error("max_frame_bytes {0} not in 1 KiB..=64 MiB")]
    MaxFrameBytes(usize),
    #[error("recognition = \"camera\" needs `recognition_url`")]
    RecognitionNeedsUrl,
    #[error("recognition = \"onboard\" needs frames (`snapshot_url`, `mjpeg_url` or `usb`)")]
    RecognitionNeedsFrames,
    #[error(transparent)]
    SerialPort(#[from] SerialPortError),
    #[error(transparent)]
    Backoff(#[from] BackoffError),
    #[error(transparent)]
    Stability(#[from] StabilityError),
}

/// A semantic problem in the drivers' configuration ([`DriversConfig::validate`]
/// and the sections' own `validate`). The lane configuration check reports
/// it by its message (`Display`).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ConfigCheckError {
    /// A problem inside the named section, e.g. ``board `board`: unit_id 0
    /// not in 1..=247 (or 255)``.
    #[error("{section} `{name}`: {problem}")]
    Section {
        section: Section,
        name: String,
        problem: Problem,
    },
    #[error("bus name is empty")]
    EmptyBusName,
    #[error("bus `{0}` defined twice")]
    BusDefinedTwice(String),
    /// Two sections on one serial port or TCP address.
    #[error("{user} and {previous} both use {resource}")]
    SharedResource {
        user: SectionRef,
        previous: SectionRef,
        resource: Resource,
    },
    #[error("device name is empty")]
    EmptyDeviceName,
    #[error("device name `{0}` used twice")]
    DeviceNameTwice(String),
    #[error("device `{device}`: no bus named `{bus}`")]
    NoSuchBus { device: String, bus: String },
    #[error("device `{device}`: unit {unit} on bus `{bus}` is taken")]
    UnitTaken {
        device: String,
        bus: String,
        unit: u8,
    },
}

/// Locates a [`Problem`] in the section `name`.
fn in_section(section: Section, name: &str) -> impl Fn(Problem) -> ConfigCheckError + Copy + '_ {
    move |problem| ConfigCheckError::Section {
        section,
        name: name.to_owned(),
        problem,
    }
}

fn check_unit(unit: u8) -> Result<(), Problem> {
    if unit == 0 || (248..255).contains(&unit) {
        return Err(Problem::UnitId(unit));
    }
    Ok(())
}

fn check_interval(field: &'static str, ms: u64) -> Result<(), Problem> {
    if !(10..=600_000).contains(&ms) {
        return Err(Problem::Interval { field, ms });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
