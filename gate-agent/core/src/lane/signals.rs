//! The lane's vocabulary with the runtime: what the board reports, the reads,
//! officer actions and other [`Input`]s, and the [`Command`]s the lane emits.

use gate_proto::messages::{EsealRead, Outcome, WeightRead};
use serde::{Deserialize, Serialize};

use crate::decision::Decision;
use crate::identified::{ContainerSeen, Device, Identified, ManualData, PlateSeen};

use super::{Passage, Step};

/// Barrier position as the board reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BarrierPos {
    #[default]
    Unknown,
    Closed,
    Opening,
    Open,
    Closing,
    Stopped,
    Fault,
}

/// The board's inputs as last read (true = occupied / beam broken).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardSnapshot {
    pub arrival: bool,
    pub safety: bool,
    pub exit: bool,
    pub photocell: bool,
    pub barrier: BarrierPos,
    /// The board's tailgate counter (wrapping).
    pub tailgates: u16,
    /// The board's counter of vehicles that passed under the arm (wrapping):
    /// tells a resumed passage whether its vehicle went through while the
    /// agent was down.
    #[serde(default)]
    pub vehicles: u16,
}

impl BoardSnapshot {
    /// Something is under the arm: lowering is forbidden.
    pub fn under_arm(&self) -> bool {
        self.safety || self.photocell
    }
}

/// One result from an identification device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Read {
    Plate(PlateSeen),
    /// `trailer`: the tag belongs to the trailer.
    Etag {
        id: String,
        trailer: bool,
    },
    Container(ContainerSeen),
    Eseal(EsealRead),
    Weight(WeightRead),
    /// The device finished and found nothing (no container, no e-seal, ...).
    Nothing(Device),
}

/// What an officer (local console, or a verified platform command) does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OfficerKind {
    /// Raise the barrier now (override); a sequence in progress is released.
    Raise,
    /// Lower the barrier (refused while the area under the arm is occupied).
    Lower,
    /// Exceptional release of the vehicle in the lane (note required).
    Release,
    /// Hold the vehicle in the lane.
    Hold,
    /// Send the vehicle to the inspection area (note required): the arm
    /// opens towards it, like a release (O01, result inspect).
    Inspect,
    /// Re-trigger the identification devices.
    Regather,
    /// Typed data; the lane decides again.
    Manual(ManualData),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfficerAction {
    pub officer: String,
    pub note: Option<String>,
    pub kind: OfficerKind,
}

/// Inputs to [`Lane::handle`](super::Lane::handle).
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Time passed (call at [`Lane::poll_at`](super::Lane::poll_at)).
    Tick,
    Board(BoardSnapshot),
    Read(Read),
    DeviceFault {
        device: Device,
        detail: String,
    },
    DeviceOk(Device),
    /// The runtime's answer to [`Command::Decide`] with the same `seq`.
    Decided {
        seq: u64,
        decision: Box<Decision>,
    },
    Officer(OfficerAction),
    /// Stop (`Some(why)`) or resume (`None`) admitting vehicles: while
    /// stopped, a vehicle on the arrival loop starts no sequence (it waits
    /// there, barrier down, LED `closed_led`); a sequence in progress runs
    /// to its end; on resume a waiting vehicle starts at once. An officer's
    /// raise still opens a sequence. (The runtime stops admission when its
    /// outbox holds more events than its quota: docs/store.md.)
    Admission(Option<String>),
    /// The journal record of `seq` could not be written (disk full, I/O
    /// error). A release that record carried was not acted on (the runtime
    /// drops the `Raise` that followed it: journal before barrier), so the
    /// vehicle is held (H08) unless it is already under the arm.
    JournalFailed {
        seq: u64,
        detail: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Light {
    Red,
    Green,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Tailgating,
    StuckVehicle,
    DeviceFault,
    /// A device reported at fault answers again (the fault is cleared).
    DeviceRecovered,
    BarrierFault,
    DecisionTimeout,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::Tailgating => "tailgating",
            AlarmKind::StuckVehicle => "stuck_vehicle",
            AlarmKind::DeviceFault => "device_fault",
            AlarmKind::DeviceRecovered => "device_recovered",
            AlarmKind::BarrierFault => "barrier_fault",
            AlarmKind::DecisionTimeout => "decision_timeout",
        }
    }
}

/// The record of one passage attempt (the runtime turns it into a lane
/// event: wall-clock times, ids, photos, whitelist version).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub seq: u64,
    pub arrived_ms: u64,
    /// When the (last) decision was taken; `None` if the vehicle left first.
    pub decided_ms: Option<u64>,
    pub finished_ms: u64,
    pub identified: Identified,
    /// The last decision; `None` when the vehicle reversed before one.
    pub decision: Option<Decision>,
    pub outcome: Outcome,
    /// The last officer who acted on this vehicle.
    pub officer: Option<String>,
    pub note: Option<String>,
    /// A second vehicle followed under the open arm.
    pub tailgating: bool,
    /// The vehicle stopped short of the readers (nothing read in time).
    pub stopped_short: bool,
    pub alarms: Vec<AlarmKind>,
}

/// Outputs of [`Lane::handle`](super::Lane::handle), to execute in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Journal the passage `seq` as it is now: one record per passage,
    /// replaced at each [`Step`] (write-ahead: durable before the next
    /// command runs). The first one ([`Step::Arrived`]) opens the record.
    Journal {
        seq: u64,
        step: Step,
        passage: Box<Passage>,
    },
    /// Trigger the identification devices (cameras, readers).
    StartIdentification {
        seq: u64,
        devices: Vec<Device>,
    },
    /// Look up the whitelist and call [`crate::decide`]; answer with
    /// [`Input::Decided`] carrying the same `seq`.
    Decide {
        seq: u64,
        identified: Box<Identified>,
    },
    Raise,
    Lower,
    SetLed(String),
    SetLight(Light),
    Alarm {
        kind: AlarmKind,
        detail: String,
    },
    /// The answer to one officer action (exactly one per action).
    Ack {
        ok: bool,
        detail: String,
    },
    Finish(Box<EventRecord>),
}
