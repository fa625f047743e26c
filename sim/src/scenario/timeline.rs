//! The scenario's timeline: trucks with their expectations, faults, commands,
//! and the merged timed items.

use std::fmt;

use gate_proto::messages::{CommandKind, DecidedBy, DecisionResult, Outcome, PlateColour, Reason};
use serde::{Deserialize, Serialize};

use crate::physics::Behaviour;
use crate::truck::{ContainerSpec, EsealSpec, TrailerSpec, TruckSpec};

use super::{alarms, via_platform, yellow, yes, Device};

// ---------------------------------------------------------------- trucks

/// One truck arriving at the lane, and what the platform must receive for it.
///
/// It repeats [`TruckSpec`]'s fields rather than flattening one in: serde
/// does not support `deny_unknown_fields` with `flatten`, and a mistyped
/// key must stay an error that names the key, its line and the keys
/// expected. [`TruckEntry::to_spec`] is the one place that maps them: a
/// field added to [`TruckSpec`] fails to compile there until the entry has
/// it too.
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
    pub(super) fn rank(self) -> u8 {
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
