//! The answers' data types, shared by the server (which fills them) and
//! `gatectl` (which reads them): status, devices, board I/O, weights, events,
//! outbox, sync, alarms, self-test.

use lane_io::board::{Outputs, RawInputs};
use serde::{Deserialize, Serialize};

use super::BarrierAction;

// ------------------------------------------------------------------ answer data

/// Where a figure came from: the running agent, or the lane database read
/// directly by `gatectl` while the agent is down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Agent,
    Database,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionData {
    pub agent_version: String,
    pub protocol: u32,
    pub site: String,
    pub lane: String,
}

/// The lane core's view of the board (what the lane decides on).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LaneBoard {
    pub arrival: bool,
    pub safety: bool,
    pub exit: bool,
    pub photocell: bool,
    pub barrier: String,
    pub tailgates: u16,
}

/// One finished event, summarised (with the whole event for `--json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub seq: u64,
    pub event_id: String,
    pub lane: String,
    pub finished_at: String,
    pub plate: Option<String>,
    pub result: String,
    pub reasons: Vec<String>,
    pub outcome: String,
    pub offline: bool,
    pub event: gate_proto::messages::LaneEvent,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusData {
    pub source: Source,
    pub site: Option<String>,
    pub lane: Option<String>,
    pub agent_version: Option<String>,
    /// Lane state (`idle`, `identifying`, ... `hold`); `None` from the database.
    pub state: Option<String>,
    pub seq: Option<u64>,
    pub event_id: Option<String>,
    pub board: Option<LaneBoard>,
    pub led: Option<String>,
    pub link_connected: Option<bool>,
    pub link_last_error: Option<String>,
    pub whitelist_version: u64,
    pub whitelist_out_of_date: Option<bool>,
    pub outbox_depth: Option<u64>,
    pub outbox_pressure: Option<String>,
    /// Why the lane admits no vehicle now (outbox over its quota); `None`:
    /// it admits (or unknown, from the database).
    #[serde(default)]
    pub admission_stopped: Option<String>,
    /// The vehicle held now: seq and reason codes (`None`: no hold, or
    /// unknown from the database).
    #[serde(default)]
    pub hold: Option<HoldRow>,
    pub clock_synced: Option<bool>,
    pub decisions: Option<u64>,
    pub last_decision_us: Option<u64>,
    /// Events finished since the agent started.
    pub finished: Option<u64>,
    /// The last seq given, per lane (database).
    pub last_seq: Option<u64>,
    pub last_event: Option<EventRow>,
    /// What could not be read, and why.
    pub notes: Vec<String>,
}

/// A hold in progress, for `gatectl status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HoldRow {
    pub seq: u64,
    pub event_id: Option<String>,
    /// Reason codes (docs/reasons.md).
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceRow {
    pub name: String,
    /// board, weighbridge, camera, recognition, reader, bus.
    pub kind: String,
    /// Last exchange succeeded and is at most 10 s old.
    pub up: bool,
    pub last_success_at: Option<String>,
    pub last_success_ago_ms: Option<u64>,
    pub consecutive_errors: u32,
    pub total_errors: u64,
    pub total_ok: u64,
    pub last_error: Option<String>,
    pub last_error_class: Option<String>,
    pub last_error_ago_ms: Option<u64>,
    pub latency_ms: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DevicesData {
    pub devices: Vec<DeviceRow>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoCounters {
    pub vehicles: u16,
    pub raises: u16,
    pub tailgates: u16,
    pub reversals: u16,
    pub faults: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoStatus {
    pub heartbeat_lost: bool,
    pub tailgate: bool,
    pub held_by_occupancy: bool,
    pub admit_pending: bool,
    pub manual: bool,
    pub raw: u16,
}

/// One board poll as the driver decoded it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardIo {
    /// Since the driver last published a change (the board is polled
    /// continuously; an unchanged poll is not republished).
    pub age_ms: u64,
    /// The board's field inputs and outputs, as its firmware names them.
    pub inputs: RawInputs,
    pub outputs: Outputs,
    /// closed, opening, open, closing, stopped, fault, or `unknown(N)`.
    pub barrier: String,
    pub fault: String,
    pub last_command: String,
    pub counters: IoCounters,
    pub status: IoStatus,
    /// `major.minor`.
    pub firmware: String,
    /// Board uptime at that change.
    pub uptime_s: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoData {
    pub board: String,
    /// `false` while the board does not answer (then `io` is `None`).
    pub online: bool,
    pub io: Option<BoardIo>,
    /// The LED text the agent last wrote.
    pub led: String,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BarrierData {
    pub action: BarrierAction,
    pub officer: String,
    /// The lane's answer.
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartData {
    /// The device restarted, by its configured name.
    pub device: String,
    pub officer: String,
    /// The driver's verdict (what was reopened).
    pub detail: String,
    /// Time the restart took, ms.
    pub ms: u64,
}

/// The answer to `reload`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadData {
    /// The file read.
    pub file: String,
    /// Sections taken (`policy`, `sequence`).
    pub applied: Vec<String>,
    /// A vehicle is in the lane: they apply when it has gone.
    pub deferred: bool,
    /// Sections that changed and need a restart (not applied).
    pub restart_needed: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightView {
    pub gross_kg: f64,
    /// Usable for a decision (stable and not overloaded).
    pub stable: bool,
    pub tare_kg: Option<f64>,
    pub device_stable: Option<bool>,
    pub detected_stable: bool,
    pub overload: bool,
    /// Under the indicator's range (below zero beyond what it shows).
    #[serde(default)]
    pub underload: bool,
    pub seq: u64,
    pub age_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WeighData {
    pub name: String,
    /// `None`: no trustworthy reading (device silent or failing).
    pub reading: Option<WeightView>,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureData {
    pub camera: String,
    pub bytes: usize,
    pub at: String,
    pub seq: u64,
    pub jpeg_base64: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LookupData {
    pub source: Source,
    pub by: String,
    pub key: String,
    pub whitelist_version: u64,
    pub passes: Vec<gate_proto::messages::GatePass>,
    pub vehicles: Vec<gate_proto::messages::Vehicle>,
    pub enterprises: Vec<gate_proto::messages::Enterprise>,
    pub controls: Vec<gate_proto::messages::Control>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsData {
    pub source: Source,
    /// Newest first.
    pub events: Vec<EventRow>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    pub connected: bool,
    pub connects: u64,
    pub in_flight: usize,
    pub acked: u64,
    pub dropped: u64,
    pub rejected: u64,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OutboxData {
    pub source: Source,
    pub depth: u64,
    pub bytes: u64,
    pub events: u64,
    pub event_bytes: u64,
    pub photos: u64,
    pub photo_bytes: u64,
    /// Alarms, replies, status and sync requests (the store counts them together).
    pub other: u64,
    pub oldest_at: Option<String>,
    pub oldest_age_s: Option<u64>,
    pub quota_bytes: u64,
    pub used_percent: f64,
    /// normal, warn, critical.
    pub pressure: String,
    pub evicted_photos: u64,
    pub link: Option<LinkView>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagingView {
    pub version: u64,
    pub received: u32,
    pub count: u32,
    pub missing: Vec<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhitelistCountsView {
    pub passes: u64,
    /// Containers on passes.
    pub containers: u64,
    pub vehicles: u64,
    pub enterprises: u64,
    pub controls: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncData {
    pub whitelist_version: u64,
    pub out_of_date: bool,
    pub link_connected: bool,
    pub staging: Option<StagingView>,
    pub counts: Option<WhitelistCountsView>,
    pub resync_requested: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmRow {
    pub at: String,
    pub kind: String,
    pub severity: String,
    pub detail: String,
    /// `log`: the lane's alarm log (with `, undelivered` while still in the
    /// outbox, `, acked by ID` once acknowledged); `outbox`: an outbox alarm
    /// item that does not decode; `observed`: seen by the control server
    /// itself since it started.
    pub source: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmsData {
    /// Newest first.
    pub alarms: Vec<AlarmRow>,
    /// Alarms still in the outbox (not yet delivered to the platform).
    pub undelivered: u64,
    /// Outbox items looked at, and whether that was all of them.
    pub outbox_scanned: u64,
    pub outbox_complete: bool,
    /// Where these come from and what is missing.
    pub note: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    pub device: String,
    pub kind: String,
    pub ok: bool,
    /// A failed optional check does not fail the self-test (the platform link:
    /// the lane works offline).
    pub optional: bool,
    pub detail: String,
    pub ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SelftestData {
    pub passed: bool,
    pub checks: Vec<CheckRow>,
}
