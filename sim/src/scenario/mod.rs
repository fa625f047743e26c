//! Scenario files: what a simulated lane run is made of, in TOML
//! (docs/scenarios.md): the lane configuration, the platform's whitelist
//! fixture with timed deltas, a timed sequence of trucks each with its
//! EXPECTED decision, reasons and outcome, timed faults and timed officer or
//! platform commands.
//!
//! Layer: simulator data. Parsing ([`Scenario::load`], [`Scenario::parse`])
//! refuses unknown keys and reports syntax errors with file, line and column;
//! semantic checks ([`check`]) then report every problem found, each located
//! in the file. This module knows the contract's record types (gate-proto) and
//! the driver behaviours of the physics, nothing about how the run is driven.

pub mod alarms;
pub mod check;
mod locate;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use gate_proto::messages::{
    CommandKind, Control, ControlAction, Credit, DecidedBy, DecisionResult, Deletes, Direction,
    Enterprise, GatePass, GoodsCategory, Outcome, PassKind, PassStatus, PassUses, PlateColour,
    Reason, TargetKind, Upserts, Vehicle,
};
use serde::{Deserialize, Serialize};

pub use crate::devices::rfid::SealState;
use crate::fixture::Delta;
pub use crate::physics::Behaviour;
pub use crate::truck::{ContainerSpec, EsealSpec, TrailerSpec, TruckSpec};
pub use check::Problem;

/// Largest scenario file accepted.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

// ---------------------------------------------------------------- errors

/// Why a scenario cannot be used. Lines and columns are 1-based; columns
/// count characters.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {bytes} bytes, over the {MAX_FILE_BYTES}-byte limit")]
    TooLarge { file: String, bytes: u64 },
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}", fmt_problems(.file, .problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
}

fn fmt_problems(file: &str, problems: &[Problem]) -> String {
    let mut s = format!("{file}: {} problem(s)", problems.len());
    for p in problems {
        s.push_str(&format!("\n{file}:{p}"));
    }
    s
}

// ---------------------------------------------------------------- the format

/// A scenario file. See docs/scenarios.md for every key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub scenario: Meta,
    pub lane: LaneSetup,
    /// Settings the expectations depend on; the runner configures the agent
    /// with them.
    #[serde(default)]
    pub agent: AgentAssumptions,
    #[serde(default)]
    pub platform: PlatformSetup,
    #[serde(default)]
    pub whitelist: WhitelistSpec,
    #[serde(default)]
    pub trucks: Vec<TruckEntry>,
    #[serde(default)]
    pub faults: Vec<FaultEntry>,
    #[serde(default)]
    pub commands: Vec<CommandEntry>,
    /// Stray publishers: messages the lane must refuse (docs/scenarios.md).
    #[serde(default)]
    pub stray: Vec<StrayEntry>,
    /// Where it was loaded from (not in the file).
    #[serde(skip)]
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seed for every random choice of the run (jitter, OCR confidence).
    #[serde(default = "one")]
    pub seed: u64,
    /// Lane seconds after which the run ends; default: the last timed item
    /// plus [`DEFAULT_TAIL_S`].
    #[serde(default)]
    pub end_s: Option<f64>,
    /// A held truck's driver turns back after this many lane seconds of
    /// hold (each truck may say otherwise). Absent: a held truck stays held
    /// until an officer command, the agent's hold timeout
    /// (`[agent] hold_timeout_s`) or the end of the run.
    #[serde(default)]
    pub leaves_after_hold_s: Option<f64>,
}

/// Lane seconds a run goes on after its last timed item, by default.
pub const DEFAULT_TAIL_S: f64 = 120.0;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneSetup {
    pub site: String,
    pub lane: String,
    #[serde(default = "exit")]
    pub direction: Direction,
    /// Lane seconds per real second (10.0 runs ten times faster than real time).
    #[serde(default = "one_f")]
    pub time_scale: f64,
    #[serde(default)]
    pub board: BoardSetup,
    #[serde(default)]
    pub weighbridge: WeighbridgeSetup,
    /// Cameras fitted; default all four.
    #[serde(default = "all_cameras")]
    pub cameras: Vec<Camera>,
    #[serde(default = "yes")]
    pub etag_reader: bool,
    #[serde(default = "yes")]
    pub eseal_reader: bool,
    /// Who reads plates and container codes: the cameras' own recognition
    /// (`camera`, their `/recognition` JSON) or the agent from the frames
    /// (`onboard`, gate-ocr).
    #[serde(default)]
    pub recognition: RecognitionSetup,
}

/// Who reads the cameras' frames in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecognitionSetup {
    /// The simulated cameras' recognition JSON (ANPR cameras).
    #[default]
    Camera,
    /// The agent reads the JPEG frames itself; the cameras' recognition
    /// endpoint is not given to it.
    Onboard,
}

impl RecognitionSetup {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Onboard => "onboard",
        }
    }
}

/// How a Modbus device or serial indicator is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Modbus TCP, or the indicator's stream over a TCP serial server.
    Tcp,
    /// A serial line (a pty in the simulator): Modbus RTU for the board and
    /// the Modbus weighbridge profiles, the ASCII stream for toledo/xk3190.
    #[serde(alias = "rtu")]
    Serial,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Serial => "serial",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSetup {
    #[serde(default = "tcp")]
    pub transport: Transport,
    /// Modbus unit id.
    #[serde(default = "one_u8")]
    pub unit: u8,
}

impl Default for BoardSetup {
    fn default() -> Self {
        Self {
            transport: Transport::Tcp,
            unit: 1,
        }
    }
}

/// The weighbridge indicator's interface: the simulated device's own type
/// (`wb-f32-cdab`, `wb-i32-scaled`, `toledo`, `xk3190`).
pub use crate::devices::weighbridge::WbProtocol;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeighbridgeSetup {
    #[serde(default = "f32_cdab")]
    pub profile: WbProtocol,
    /// Default: tcp for the Modbus profiles, serial for toledo/xk3190.
    #[serde(default)]
    pub transport: Option<Transport>,
    #[serde(default = "capacity")]
    pub capacity_kg: f64,
    #[serde(default = "division")]
    pub division_kg: f64,
}

impl Default for WeighbridgeSetup {
    fn default() -> Self {
        Self {
            profile: f32_cdab(),
            transport: None,
            capacity_kg: capacity(),
            division_kg: division(),
        }
    }
}

impl WeighbridgeSetup {
    pub fn transport(&self) -> Transport {
        self.transport.unwrap_or(if self.profile.is_modbus() {
            Transport::Tcp
        } else {
            Transport::Serial
        })
    }
}

/// The lane's cameras.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Camera {
    PlateFront,
    PlateRear,
    ContainerFront,
    ContainerBack,
}

impl Camera {
    pub const ALL: [Camera; 4] = [
        Camera::PlateFront,
        Camera::PlateRear,
        Camera::ContainerFront,
        Camera::ContainerBack,
    ];
    pub fn as_str(self) -> &'static str {
        Device::from(self).as_str()
    }
}

/// Every device a fault or a command can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Board,
    Weighbridge,
    EtagReader,
    EsealReader,
    PlateFront,
    PlateRear,
    ContainerFront,
    ContainerBack,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Board => "board",
            Device::Weighbridge => "weighbridge",
            Device::EtagReader => "etag_reader",
            Device::EsealReader => "eseal_reader",
            Device::PlateFront => "plate_front",
            Device::PlateRear => "plate_rear",
            Device::ContainerFront => "container_front",
            Device::ContainerBack => "container_back",
        }
    }
    pub fn camera(self) -> Option<Camera> {
        Some(match self {
            Device::PlateFront => Camera::PlateFront,
            Device::PlateRear => Camera::PlateRear,
            Device::ContainerFront => Camera::ContainerFront,
            Device::ContainerBack => Camera::ContainerBack,
            _ => return None,
        })
    }
}

impl From<Camera> for Device {
    fn from(c: Camera) -> Self {
        match c {
            Camera::PlateFront => Device::PlateFront,
            Camera::PlateRear => Device::PlateRear,
            Camera::ContainerFront => Device::ContainerFront,
            Camera::ContainerBack => Device::ContainerBack,
        }
    }
}

/// Decision settings the expected results assume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentAssumptions {
    /// k of the weight tolerance max(k% of declared, 2 x in-service scale
    /// error) (docs/domain.md; default 3).
    #[serde(default = "three")]
    pub weight_tolerance_pct: f64,
    /// What H07 (focus list) leads to: hold (default) or inspect.
    #[serde(default = "hold")]
    pub focus_action: FocusAction,
    /// The agent's hold timeout, lane seconds (`sequence.hold_timeout_ms`;
    /// absent: the agent's default, 900 s): a held truck still there then
    /// ends its passage as `timeout`.
    #[serde(default)]
    pub hold_timeout_s: Option<f64>,
}

impl Default for AgentAssumptions {
    fn default() -> Self {
        Self {
            weight_tolerance_pct: three(),
            focus_action: FocusAction::Hold,
            hold_timeout_s: None,
        }
    }
}

/// What an H07 does: the lane core's own type (`hold` or `inspect`).
pub use gate_core::policy::FocusAction;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSetup {
    #[serde(default = "per_chunk")]
    pub records_per_chunk: usize,
    #[serde(default = "sixty")]
    pub command_ttl_s: f64,
    /// The seq the lane starts at, for gap reports (default: the lowest seen).
    #[serde(default)]
    pub expect_first_seq: Option<u64>,
}

impl Default for PlatformSetup {
    fn default() -> Self {
        Self {
            records_per_chunk: per_chunk(),
            command_ttl_s: sixty(),
            expect_first_seq: None,
        }
    }
}

// ---------------------------------------------------------------- whitelist

/// The platform's whitelist at the start and its timed changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhitelistSpec {
    /// Version of the initial whitelist (>= 1); each delta adds 1.
    #[serde(default = "one")]
    pub version: u64,
    #[serde(default)]
    pub enterprises: Vec<EnterpriseSpec>,
    #[serde(default)]
    pub vehicles: Vec<VehicleSpec>,
    #[serde(default)]
    pub gate_passes: Vec<GatePassSpec>,
    #[serde(default)]
    pub controls: Vec<ControlSpec>,
    #[serde(default)]
    pub deltas: Vec<DeltaSpec>,
}

impl Default for WhitelistSpec {
    fn default() -> Self {
        Self {
            version: 1,
            enterprises: Vec::new(),
            vehicles: Vec::new(),
            gate_passes: Vec::new(),
            controls: Vec::new(),
            deltas: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseSpec {
    pub id: String,
    pub name: String,
    pub credit: Credit,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleSpec {
    pub plate: String,
    #[serde(default)]
    pub plate_colour: Option<PlateColour>,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub tare_kg: Option<f64>,
    #[serde(default)]
    pub enterprise: Option<String>,
    #[serde(default)]
    pub credit: Option<Credit>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatePassSpec {
    pub pass_no: String,
    #[serde(default = "approved")]
    pub status: PassStatus,
    #[serde(default = "goods")]
    pub kind: PassKind,
    pub plate: String,
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub trailer_plate: Option<String>,
    #[serde(default)]
    pub containers: Vec<String>,
    #[serde(default)]
    pub declared_total_kg: Option<f64>,
    #[serde(default)]
    pub enterprise: Option<String>,
    #[serde(default)]
    pub goods_category: Option<GoodsCategory>,
    #[serde(default)]
    pub va_code: Option<String>,
    /// RFC 3339, or relative to the start of the run: `+2h`, `-30m`, `now`.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// As `valid_from`.
    #[serde(default)]
    pub valid_until: Option<String>,
    #[serde(default = "single")]
    pub uses: PassUses,
    #[serde(default)]
    pub eseal: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSpec {
    pub id: String,
    pub target_kind: TargetKind,
    pub target: String,
    pub action: ControlAction,
    #[serde(default)]
    pub note: Option<String>,
    /// As `GatePassSpec::valid_from`.
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// A timed whitelist change, published as one delta batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaSpec {
    pub at_s: f64,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub upserts: UpsertsSpec,
    #[serde(default)]
    pub deletes: DeletesSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertsSpec {
    #[serde(default)]
    pub enterprises: Vec<EnterpriseSpec>,
    #[serde(default)]
    pub vehicles: Vec<VehicleSpec>,
    #[serde(default)]
    pub gate_passes: Vec<GatePassSpec>,
    #[serde(default)]
    pub controls: Vec<ControlSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletesSpec {
    #[serde(default)]
    pub enterprises: Vec<String>,
    #[serde(default)]
    pub vehicles: Vec<String>,
    #[serde(default)]
    pub gate_passes: Vec<String>,
    #[serde(default)]
    pub controls: Vec<String>,
}

// ---------------------------------------------------------------- trucks

/// One truck arriving at the lane, and what the platform must receive for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruckEntry {
    /// Name used by commands (`truck = "..."`); default `truck-N` (1-based).
    #[serde(default)]
    pub id: String,
    /// Lane second at which the truck appears upstream of the arrival loop.
    pub at_s: f64,
    pub plate: String,
    #[serde(default = "yellow")]
    pub plate_colour: PlateColour,
    /// EPC of the customs e-tag, 24 hex digits; absent: no tag fitted.
    #[serde(default)]
    pub etag: Option<String>,
    /// Tractor (or rigid truck) tare.
    pub tare_kg: f64,
    #[serde(default)]
    pub trailer: Option<TrailerSpec>,
    #[serde(default)]
    pub containers: Vec<ContainerSpec>,
    #[serde(default)]
    pub eseal: Option<EsealSpec>,
    /// Goods in the containers or on the deck.
    #[serde(default)]
    pub cargo_kg: f64,
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Approach speed, km/h (default: the lane's driver setting).
    #[serde(default)]
    pub speed: Option<f64>,
    /// Tractor length, m (default: the simulator's).
    #[serde(default)]
    pub tractor_length_m: Option<f64>,
    #[serde(default)]
    pub note: Option<String>,
    /// Held, the driver turns back after this many lane seconds (overrides
    /// `[scenario] leaves_after_hold_s`).
    #[serde(default)]
    pub leaves_after_hold_s: Option<f64>,
    pub expect: Expect,
}

/// What the platform must receive for a truck: its final event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub decision: DecisionResult,
    /// Codes the event's reasons must include (the lane lists every reason
    /// that applies).
    pub reasons: Vec<Reason>,
    pub outcome: Outcome,
    #[serde(default)]
    pub by: Option<DecidedBy>,
    #[serde(default)]
    pub offline: Option<bool>,
    /// The gate pass the lane should link the truck to.
    #[serde(default)]
    pub gate_pass: Option<String>,
    /// The alarms the platform must receive during the truck's passage
    /// (docs/scenarios.md, "Alarms"): when given, the exact set; absent, not
    /// compared.
    #[serde(default)]
    pub alarms: Option<Vec<alarms::AlarmExpect>>,
}

impl TruckEntry {
    /// The truck itself, as the simulated lane takes it.
    pub fn to_spec(&self) -> TruckSpec {
        TruckSpec {
            plate: self.plate.clone(),
            plate_colour: self.plate_colour,
            etag: self.etag.clone(),
            tare_kg: self.tare_kg,
            trailer: self.trailer.clone(),
            containers: self.containers.clone(),
            eseal: self.eseal.clone(),
            cargo_kg: self.cargo_kg,
            behaviour: self.behaviour,
            speed: self.speed,
            tractor_length_m: self.tractor_length_m,
        }
    }
}

// ---------------------------------------------------------------- faults, commands

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The device stops answering entirely (connection refused / no bytes).
    DeviceOffline,
    /// The device accepts requests but answers too late (past the agent's timeout).
    DeviceTimeout,
    /// The broker goes away for the duration (every lane connection cut).
    BrokerDown,
    /// A camera keeps answering but its images are black: no read.
    CameraDark,
    /// The broker restarts without persistence: every lane connection is
    /// cut for the duration and the broker forgets the lanes' sessions
    /// (subscriptions and messages queued for them).
    BrokerRestart,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::DeviceOffline,
        FaultKind::DeviceTimeout,
        FaultKind::BrokerDown,
        FaultKind::CameraDark,
        FaultKind::BrokerRestart,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::DeviceOffline => "device_offline",
            FaultKind::DeviceTimeout => "device_timeout",
            FaultKind::BrokerDown => "broker_down",
            FaultKind::CameraDark => "camera_dark",
            FaultKind::BrokerRestart => "broker_restart",
        }
    }
    /// A fault of the broker (no device).
    pub fn is_broker(self) -> bool {
        matches!(self, FaultKind::BrokerDown | FaultKind::BrokerRestart)
    }
}

/// A stray publisher: at `at_s`, a message on the platform's topics that
/// the lane must refuse (`rejected_message` alarm) without any effect.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrayEntry {
    pub at_s: f64,
    pub kind: crate::platform::stray::StrayKind,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultEntry {
    pub at_s: f64,
    pub kind: FaultKind,
    /// Required for device faults and camera_dark (a camera); absent for broker_down.
    #[serde(default)]
    pub device: Option<Device>,
    pub duration_s: f64,
    #[serde(default)]
    pub note: Option<String>,
}

impl FaultEntry {
    pub fn end_s(&self) -> f64 {
        self.at_s + self.duration_s
    }
    /// Active at lane second `t`.
    pub fn active_at(&self, t: f64) -> bool {
        t >= self.at_s && t < self.end_s()
    }
}

/// Who sends a timed command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandVia {
    /// A signed command from the platform over MQTT.
    Platform,
    /// An officer at the lane's control socket (gatectl).
    Officer,
    /// An officer at the booth's web console (docs/console.md): the runner
    /// serves the lane's console, logs in and sends the action over HTTP
    /// like the page does (session, CSRF token).
    Console,
}

/// What a timed command does: the platform's command kinds, and the
/// officer-only actions (`inspect`, `entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Raise,
    Lower,
    Release,
    Hold,
    Regather,
    Resync,
    RestartDevice,
    /// Send the truck to the inspection area (officer, console or gatectl).
    Inspect,
    /// Typed data (`entry = { plate = ... }`); the lane decides again.
    Entry,
}

impl Action {
    /// The platform command of this action (None: officer-only).
    pub fn platform(self) -> Option<CommandKind> {
        Some(match self {
            Action::Raise => CommandKind::Raise,
            Action::Lower => CommandKind::Lower,
            Action::Release => CommandKind::Release,
            Action::Hold => CommandKind::Hold,
            Action::Regather => CommandKind::Regather,
            Action::Resync => CommandKind::Resync,
            Action::RestartDevice => CommandKind::RestartDevice,
            Action::Inspect | Action::Entry => return None,
        })
    }
    /// The name the console's `/api/action` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Raise => "raise",
            Action::Lower => "lower",
            Action::Release => "release",
            Action::Hold => "hold",
            Action::Regather => "regather",
            Action::Resync => "resync",
            Action::RestartDevice => "restart_device",
            Action::Inspect => "inspect",
            Action::Entry => "entry",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandEntry {
    pub at_s: f64,
    #[serde(default = "via_platform")]
    pub via: CommandVia,
    pub kind: Action,
    /// For `entry`: what the officer types.
    #[serde(default)]
    pub entry: Option<gate_proto::messages::ManualEntry>,
    #[serde(default)]
    pub officer: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// The truck (by id) whose event the command refers to (release/hold).
    #[serde(default)]
    pub truck: Option<String>,
    /// For restart_device.
    #[serde(default)]
    pub device: Option<Device>,
    /// The reply's `ok` the lane must give (default true).
    #[serde(default = "yes")]
    pub expect_ok: bool,
}

// ---------------------------------------------------------------- timeline

/// One timed thing of a scenario, in lane seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimedItem {
    pub at_s: f64,
    pub what: Timed,
}

/// What happens at a [`TimedItem`]; indices point into the scenario's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timed {
    Delta(usize),
    FaultStart(usize),
    FaultEnd(usize),
    Command(usize),
    Stray(usize),
    Truck(usize),
}

impl Timed {
    /// Order of items at the same second: whitelist first, then faults
    /// ending and starting, commands, trucks.
    fn rank(self) -> u8 {
        match self {
            Timed::Delta(_) => 0,
            Timed::FaultEnd(_) => 1,
            Timed::FaultStart(_) => 2,
            Timed::Command(_) | Timed::Stray(_) => 3,
            Timed::Truck(_) => 4,
        }
    }
}

impl fmt::Display for Timed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timed::Delta(i) => write!(f, "whitelist.deltas[{i}]"),
            Timed::FaultStart(i) => write!(f, "faults[{i}] start"),
            Timed::FaultEnd(i) => write!(f, "faults[{i}] end"),
            Timed::Command(i) => write!(f, "commands[{i}]"),
            Timed::Stray(i) => write!(f, "stray[{i}]"),
            Timed::Truck(i) => write!(f, "trucks[{i}]"),
        }
    }
}

// ---------------------------------------------------------------- loading

impl Scenario {
    /// Read, parse and check a scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let io = |source| ScenarioError::Io {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_BYTES {
            return Err(ScenarioError::TooLarge {
                file: path.display().to_string(),
                bytes: len,
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse and check scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |sp| gate_wire::locate::line_col(text, sp.start));
            ScenarioError::Syntax {
                file: file.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        })?;
        s.source = file.to_owned();
        for (i, t) in s.trucks.iter_mut().enumerate() {
            if t.id.is_empty() {
                t.id = format!("truck-{}", i + 1);
            }
        }
        let problems = check::check(&s);
        if problems.is_empty() {
            return Ok(s);
        }
        let locator = locate::Locator::new(text);
        let problems = problems
            .into_iter()
            .map(|(path, message)| locator.problem(&path, message))
            .collect();
        Err(ScenarioError::Invalid {
            file: file.to_owned(),
            problems,
        })
    }

    /// Lane second at which the run ends.
    pub fn end_s(&self) -> f64 {
        self.scenario
            .end_s
            .unwrap_or_else(|| self.last_item_s() + DEFAULT_TAIL_S)
    }

    fn last_item_s(&self) -> f64 {
        self.timeline().last().map_or(0.0, |t| t.at_s)
    }

    /// Every timed item, in order (stable for equal times, see [`Timed`]).
    pub fn timeline(&self) -> Vec<TimedItem> {
        let mut v = Vec::new();
        for (i, d) in self.whitelist.deltas.iter().enumerate() {
            v.push(TimedItem {
                at_s: d.at_s,
                what: Timed::Delta(i),
            });
        }
        for (i, f) in self.faults.iter().enumerate() {
            v.push(TimedItem {
                at_s: f.at_s,
                what: Timed::FaultStart(i),
            });
            v.push(TimedItem {
                at_s: f.end_s(),
                what: Timed::FaultEnd(i),
            });
        }
        for (i, c) in self.commands.iter().enumerate() {
            v.push(TimedItem {
                at_s: c.at_s,
                what: Timed::Command(i),
            });
        }
        for (i, t) in self.trucks.iter().enumerate() {
            v.push(TimedItem {
                at_s: t.at_s,
                what: Timed::Truck(i),
            });
        }
        for (i, t) in self.stray.iter().enumerate() {
            v.push(TimedItem {
                at_s: t.at_s,
                what: Timed::Stray(i),
            });
        }
        v.sort_by(|a, b| {
            a.at_s
                .total_cmp(&b.at_s)
                .then(a.what.rank().cmp(&b.what.rank()))
        });
        v
    }

    pub fn truck(&self, id: &str) -> Option<&TruckEntry> {
        self.trucks.iter().find(|t| t.id == id)
    }

    /// Reason codes the trucks' expectations cover.
    pub fn reasons_covered(&self) -> BTreeSet<Reason> {
        self.trucks
            .iter()
            .flat_map(|t| t.expect.reasons.iter().copied())
            .collect()
    }

    /// Fault kinds the scenario injects.
    pub fn faults_covered(&self) -> BTreeSet<FaultKind> {
        self.faults.iter().map(|f| f.kind).collect()
    }
}

// ---------------------------------------------------------------- to contract records

impl WhitelistSpec {
    /// The initial records as contract types; relative times are resolved
    /// against `start_unix_ms` (the run's start on the platform's clock).
    pub fn initial_records(&self, start_unix_ms: i64) -> Upserts {
        UpsertsSpec {
            enterprises: self.enterprises.clone(),
            vehicles: self.vehicles.clone(),
            gate_passes: self.gate_passes.clone(),
            controls: self.controls.clone(),
        }
        .to_records(start_unix_ms)
    }
}

impl UpsertsSpec {
    pub fn to_records(&self, start_unix_ms: i64) -> Upserts {
        Upserts {
            gate_passes: self
                .gate_passes
                .iter()
                .map(|g| g.to_record(start_unix_ms))
                .collect(),
            vehicles: self.vehicles.iter().map(VehicleSpec::to_record).collect(),
            enterprises: self
                .enterprises
                .iter()
                .map(EnterpriseSpec::to_record)
                .collect(),
            controls: self
                .controls
                .iter()
                .map(|c| c.to_record(start_unix_ms))
                .collect(),
        }
    }
}

impl DeltaSpec {
    pub fn to_delta(&self, start_unix_ms: i64) -> Delta {
        Delta {
            upserts: self.upserts.to_records(start_unix_ms),
            deletes: Deletes {
                gate_passes: self.deletes.gate_passes.clone(),
                vehicles: self.deletes.vehicles.clone(),
                enterprises: self.deletes.enterprises.clone(),
                controls: self.deletes.controls.clone(),
            },
        }
    }
}

impl EnterpriseSpec {
    pub fn to_record(&self) -> Enterprise {
        Enterprise {
            id: self.id.clone(),
            name: self.name.clone(),
            credit: self.credit,
        }
    }
}

impl VehicleSpec {
    pub fn to_record(&self) -> Vehicle {
        Vehicle {
            plate: self.plate.clone(),
            plate_colour: self.plate_colour,
            etag: self.etag.clone(),
            tare_kg: self.tare_kg,
            enterprise: self.enterprise.clone(),
            credit: self.credit,
        }
    }
}

/// A time spec as RFC 3339 (relative ones resolved); kept verbatim if it does
/// not parse (the checks refuse such files, so only hand-built specs get here).
fn time_field(spec: &Option<String>, start_unix_ms: i64) -> Option<String> {
    spec.as_ref().map(|s| {
        resolve_time(s, start_unix_ms).map_or_else(|| s.clone(), gate_proto::time::format_unix_ms)
    })
}

impl GatePassSpec {
    pub fn to_record(&self, start_unix_ms: i64) -> GatePass {
        GatePass {
            pass_no: self.pass_no.clone(),
            status: self.status,
            kind: self.kind,
            plate: self.plate.clone(),
            etag: self.etag.clone(),
            trailer_plate: self.trailer_plate.clone(),
            containers: self.containers.clone(),
            declared_total_kg: self.declared_total_kg,
            enterprise: self.enterprise.clone(),
            goods_category: self.goods_category,
            va_code: self.va_code.clone(),
            valid_from: time_field(&self.valid_from, start_unix_ms),
            valid_until: time_field(&self.valid_until, start_unix_ms),
            uses: self.uses,
            eseal: self.eseal.clone(),
        }
    }
}

impl ControlSpec {
    pub fn to_record(&self, start_unix_ms: i64) -> Control {
        Control {
            id: self.id.clone(),
            target_kind: self.target_kind,
            target: self.target.clone(),
            action: self.action,
            note: self.note.clone(),
            valid_until: time_field(&self.valid_until, start_unix_ms),
        }
    }
}

// ---------------------------------------------------------------- time specs

/// Resolve a validity time: RFC 3339, or relative to `start_unix_ms`
/// (`now`, `+90s`, `-30m`, `+2h`, `+7d`). `None` if malformed.
pub fn resolve_time(spec: &str, start_unix_ms: i64) -> Option<i64> {
    relative_ms(spec)
        .map(|d| start_unix_ms.saturating_add(d))
        .or_else(|| gate_proto::time::parse_unix_ms(spec))
}

/// The offset of a relative time spec in ms (`None` for RFC 3339 or junk).
pub fn relative_ms(spec: &str) -> Option<i64> {
    let s = spec.trim();
    if s == "now" {
        return Some(0);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1i64, &s[1..]),
        b'-' => (-1i64, &s[1..]),
        _ => return None,
    };
    let unit = rest.chars().last()?;
    let digits = &rest[..rest.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let mul = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    n.checked_mul(mul)?.checked_mul(sign)
}

// ---------------------------------------------------------------- serde defaults

fn one() -> u64 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn one_u8() -> u8 {
    1
}
fn three() -> f64 {
    3.0
}
fn sixty() -> f64 {
    60.0
}
fn per_chunk() -> usize {
    500
}
fn capacity() -> f64 {
    60_000.0
}
fn division() -> f64 {
    20.0
}
fn yes() -> bool {
    true
}
fn exit() -> Direction {
    Direction::Exit
}
fn tcp() -> Transport {
    Transport::Tcp
}
fn f32_cdab() -> WbProtocol {
    WbProtocol::Modbus(crate::devices::weighbridge::WbModbusProfile::F32Cdab)
}
fn all_cameras() -> Vec<Camera> {
    Camera::ALL.to_vec()
}
fn hold() -> FocusAction {
    FocusAction::Hold
}
fn approved() -> PassStatus {
    PassStatus::Approved
}
fn goods() -> PassKind {
    PassKind::Goods
}
fn single() -> PassUses {
    PassUses::Single
}
fn yellow() -> PlateColour {
    PlateColour::Yellow
}
fn via_platform() -> CommandVia {
    CommandVia::Platform
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        assert_eq!(relative_ms("now"), Some(0));
        assert_eq!(relative_ms("+90s"), Some(90_000));
        assert_eq!(relative_ms("-30m"), Some(-1_800_000));
        assert_eq!(relative_ms("+2h"), Some(7_200_000));
        assert_eq!(relative_ms("+7d"), Some(604_800_000));
        for bad in [
            "",
            "+",
            "+h",
            "2h",
            "+2w",
            "+-2h",
            "+99999999999999999d",
            "-",
        ] {
            assert_eq!(relative_ms(bad), None, "{bad}");
        }
        assert_eq!(resolve_time("+1s", 1000), Some(2000));
        assert_eq!(
            resolve_time("2025-11-25T00:00:00.123Z", 0),
            Some(1_764_028_800_123)
        );
        assert_eq!(resolve_time("tomorrow", 0), None);
    }
}
