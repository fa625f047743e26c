//! The JSON payloads of the platform contract (shared/spec/platform.md) as
//! serde types. Field names are the contract: renaming one breaks the
//! platform. Extra fields are allowed by the contract and are ignored when
//! reading; our own extensions are marked "extension" below.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const EVENT_SCHEMA: &str = "gate.event/1";
pub const WHITELIST_SCHEMA: &str = "gate.whitelist/1";
pub const COMMAND_SCHEMA: &str = "gate.command/1";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Exit,
    Entry,
}

/// Plate colour, our internal enum (interfaces map their own codes to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateColour {
    Blue,
    Yellow,
    Green,
    YellowGreen,
    White,
    Black,
}

impl PlateColour {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blue => "blue",
            Self::Yellow => "yellow",
            Self::Green => "green",
            Self::YellowGreen => "yellow_green",
            Self::White => "white",
            Self::Black => "black",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "blue" => Self::Blue,
            "yellow" => Self::Yellow,
            "green" => Self::Green,
            "yellow_green" => Self::YellowGreen,
            "white" => Self::White,
            "black" => Self::Black,
            _ => return None,
        })
    }
}

/// Decision reason codes (docs/domain.md; our additions documented in docs/reasons.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reason {
    /// All checks pass; platform/offline policy allows. RELEASE.
    R00,
    /// Empty vehicle, weight within tolerance of tare. RELEASE.
    E00,
    /// No valid gate pass for this plate / e-tag. HOLD.
    H01,
    /// Gate pass not approved (used, deleted, void, expired). HOLD.
    H02,
    /// Plate camera, e-tag and gate pass disagree. HOLD.
    H03,
    /// Container number fails its check digit or does not match the pass. HOLD.
    H04,
    /// E-seal missing, tampered or not matching. HOLD.
    H05,
    /// Measured weight differs from declared beyond tolerance. HOLD.
    H06,
    /// Vehicle, driver or enterprise on focus list / local blacklist. HOLD or INSPECT.
    H07,
    /// Data incomplete or device fault. HOLD, then re-gather.
    H08,
    /// Platform unreachable and offline policy refuses. HOLD.
    H09,
    /// Extension (docs/reasons.md): platform control instruction with action
    /// "hold" on the plate, pass, enterprise or a container. HOLD.
    H10,
    /// Platform risk-control instruction. INSPECT.
    I01,
    /// Extension (docs/reasons.md): officer override, release or raise
    /// (exceptional release; the automatic reasons stay listed). RELEASE.
    O01,
    /// Extension (docs/reasons.md): officer hold. HOLD.
    O02,
}

impl Reason {
    pub const ALL: [Reason; 15] = [
        Reason::R00,
        Reason::E00,
        Reason::H01,
        Reason::H02,
        Reason::H03,
        Reason::H04,
        Reason::H05,
        Reason::H06,
        Reason::H07,
        Reason::H08,
        Reason::H09,
        Reason::H10,
        Reason::I01,
        Reason::O01,
        Reason::O02,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::R00 => "R00",
            Reason::E00 => "E00",
            Reason::H01 => "H01",
            Reason::H02 => "H02",
            Reason::H03 => "H03",
            Reason::H04 => "H04",
            Reason::H05 => "H05",
            Reason::H06 => "H06",
            Reason::H07 => "H07",
            Reason::H08 => "H08",
            Reason::H09 => "H09",
            Reason::H10 => "H10",
            Reason::I01 => "I01",
            Reason::O01 => "O01",
            Reason::O02 => "O02",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionResult {
    Release,
    Hold,
    Inspect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    Local,
    Officer,
    Platform,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Held,
    Inspection,
    Reversed,
    Timeout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerPosition {
    Front,
    Back,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VehicleIds {
    pub plate: Option<String>,
    pub plate_colour: Option<PlateColour>,
    pub plate_confidence: Option<f32>,
    pub etag: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrailerIds {
    pub plate: Option<String>,
    pub etag: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerRead {
    pub number: String,
    pub position: ContainerPosition,
    pub check_digit_ok: bool,
    pub confidence: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EsealRead {
    pub id: String,
    pub intact: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightRead {
    pub gross_kg: f64,
    pub stable: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventDecision {
    pub result: DecisionResult,
    pub reasons: Vec<Reason>,
    pub by: DecidedBy,
    pub officer: Option<String>,
    pub offline: bool,
    pub whitelist_version: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoRef {
    pub camera: String,
    pub sha256: String,
    pub bytes: u64,
}

/// A lane event: one per vehicle passage attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaneEvent {
    pub schema: String,
    pub event_id: String,
    pub seq: u64,
    pub site: String,
    pub lane: String,
    pub direction: Direction,
    pub arrived_at: String,
    pub decided_at: String,
    pub finished_at: String,
    pub vehicle: Option<VehicleIds>,
    pub trailer: Option<TrailerIds>,
    pub containers: Vec<ContainerRead>,
    pub eseal: Option<EsealRead>,
    pub weight: Option<WeightRead>,
    pub gate_pass: Option<String>,
    pub decision: EventDecision,
    pub outcome: Outcome,
    pub photos: Vec<PhotoRef>,
    /// Extension: false when the timestamps were taken before the lane clock was
    /// trustworthy (no RTC/NTP yet); they are then monotonic estimates.
    #[serde(default = "default_true")]
    pub clock_synced: bool,
    /// Extension: the operator hint shown on the LED board.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub led_text: Option<String>,
    /// Extension: free-text officer note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Extension: the data an officer typed for this passage, beside what
    /// the devices had read (absent when nobody typed anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer_entry: Option<OfficerEntryReport>,
}

/// Data an officer typed for a passage (at the booth's console or with
/// `gatectl entry`). Each field given replaces what the devices read for
/// that field when the lane decides again.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManualEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailer_plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_no: Option<String>,
    /// Container numbers (replace all container reads when not empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// E-seal id checked by hand (intact as seen by the officer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eseal: Option<String>,
    /// A gross weight taken elsewhere (replaces the scale reading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_kg: Option<f64>,
}

/// Extension of the lane event: who typed what, and what the devices had
/// read before (the platform sees both: the entry and the original read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfficerEntryReport {
    pub officer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The fields typed.
    pub entered: ManualEntry,
    /// What the lane's devices read for this passage.
    pub read: DeviceReads,
}

/// What the lane's devices read for a passage, as read (before any repair
/// or entry).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceReads {
    pub plates: Vec<PlateReadReport>,
    pub trailer_plate: Option<String>,
    pub etags: Vec<String>,
    pub containers: Vec<String>,
    pub gross_kg: Option<f64>,
}

/// One plate read by a camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateReadReport {
    pub text: String,
    pub confidence: f32,
    pub camera: String,
}

fn default_true() -> bool {
    true
}

/// The required top-level keys of a lane event (the contract's list).
pub const EVENT_REQUIRED: &[&str] = &[
    "schema",
    "event_id",
    "seq",
    "site",
    "lane",
    "direction",
    "arrived_at",
    "decided_at",
    "finished_at",
    "vehicle",
    "trailer",
    "containers",
    "eseal",
    "weight",
    "gate_pass",
    "decision",
    "outcome",
    "photos",
];

/// Check a received event against the contract: every required key present
/// (null allowed where the contract says so), types right, schema name,
/// timestamps RFC 3339, ids well formed. Returns every problem found.
pub fn validate_event(v: &Value) -> Result<LaneEvent, Vec<String>> {
    let mut errs = Vec::new();
    let Some(obj) = v.as_object() else {
        return Err(vec!["event is not a JSON object".into()]);
    };
    for k in EVENT_REQUIRED {
        if !obj.contains_key(*k) {
            errs.push(format!("missing required field `{k}`"));
        }
    }
    if let Some(d) = obj.get("decision").and_then(Value::as_object) {
        for k in [
            "result",
            "reasons",
            "by",
            "officer",
            "offline",
            "whitelist_version",
        ] {
            if !d.contains_key(k) {
                errs.push(format!("missing required field `decision.{k}`"));
            }
        }
    }
    if let Some(veh) = obj.get("vehicle").and_then(Value::as_object) {
        for k in ["plate", "plate_colour", "plate_confidence", "etag"] {
            if !veh.contains_key(k) {
                errs.push(format!("missing required field `vehicle.{k}`"));
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let ev: LaneEvent = match serde_json::from_value(v.clone()) {
        Ok(ev) => ev,
        Err(e) => return Err(vec![format!("bad event: {e}")]),
    };
    if ev.schema != EVENT_SCHEMA {
        errs.push(format!(
            "schema is `{}`, expected `{EVENT_SCHEMA}`",
            ev.schema
        ));
    }
    if ev.event_id.is_empty() || ev.event_id.len() > 64 {
        errs.push("event_id empty or too long".into());
    }
    if !crate::valid_id(&ev.site) {
        errs.push(format!("site `{}` is not [A-Z0-9-]{{1,16}}", ev.site));
    }
    if !crate::valid_id(&ev.lane) {
        errs.push(format!("lane `{}` is not [A-Z0-9-]{{1,16}}", ev.lane));
    }
    for (name, t) in [
        ("arrived_at", &ev.arrived_at),
        ("decided_at", &ev.decided_at),
        ("finished_at", &ev.finished_at),
    ] {
        if crate::time::parse_unix_ms(t).is_none() {
            errs.push(format!("{name} `{t}` is not RFC 3339"));
        }
    }
    if ev.decision.reasons.is_empty() {
        errs.push("decision.reasons is empty".into());
    }
    if errs.is_empty() {
        Ok(ev)
    } else {
        Err(errs)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// `gate/v1/{site}/{lane}/alarm`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub alarm_id: String,
    pub kind: String,
    pub severity: Severity,
    pub at: String,
    pub detail: String,
}

/// `gate/v1/{site}/{lane}/sync`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub have_version: u64,
}

/// `gate/v1/{site}/{lane}/reply`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub command_id: String,
    pub ok: bool,
    pub detail: String,
}

/// Retained `gate/v1/{site}/{lane}/status`. The MQTT will publishes
/// `{"state":"offline"}`; the agent publishes the full form when online.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// "online" | "offline".
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whitelist_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox: Option<OutboxStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_synced: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The vehicle held in the lane now, while the hold lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldStatus>,
}

/// A hold in progress (in `status` while it lasts; the event follows when
/// the passage ends).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldStatus {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub reasons: Vec<Reason>,
    /// What the LED board shows the driver.
    #[serde(default)]
    pub led: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxStatus {
    pub depth: u64,
    pub bytes: u64,
    pub quota_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceStatus {
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ok_at: Option<String>,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

// ---------------------------------------------------------------- whitelist

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchKind {
    Snapshot,
    Delta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub index: u32,
    pub count: u32,
}

/// A whitelist batch body (the signed envelope's `body`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhitelistBatch {
    pub schema: String,
    pub site: String,
    pub kind: BatchKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u64>,
    pub version: u64,
    pub chunk: Chunk,
    pub issued_at: String,
    #[serde(default)]
    pub upserts: Upserts,
    #[serde(default)]
    pub deletes: Deletes,
}

impl WhitelistBatch {
    /// How many records the batch carries: upserts + deletes.
    pub fn records(&self) -> u64 {
        let (u, d) = (&self.upserts, &self.deletes);
        (u.gate_passes.len()
            + u.vehicles.len()
            + u.enterprises.len()
            + u.controls.len()
            + d.gate_passes.len()
            + d.vehicles.len()
            + d.enterprises.len()
            + d.controls.len()) as u64
    }

    /// Structural checks beyond serde: schema name, chunk bounds, versions.
    pub fn validate(&self) -> Result<(), BatchError> {
        if self.schema != WHITELIST_SCHEMA {
            return Err(BatchError::Schema(self.schema.clone()));
        }
        if self.chunk.count == 0 || self.chunk.index >= self.chunk.count {
            return Err(BatchError::ChunkRange(self.chunk));
        }
        if self.chunk.count > 100_000 {
            return Err(BatchError::ChunkCount(self.chunk.count));
        }
        match (self.kind, self.from_version) {
            (BatchKind::Delta, None) => return Err(BatchError::DeltaWithoutFrom),
            (BatchKind::Delta, Some(f)) if f >= self.version => {
                return Err(BatchError::DeltaNotAdvancing {
                    from: f,
                    to: self.version,
                })
            }
            (BatchKind::Delta, Some(_)) if self.chunk.count != 1 => {
                return Err(BatchError::DeltaChunked(self.chunk.count))
            }
            (BatchKind::Snapshot, Some(f)) => return Err(BatchError::SnapshotWithFrom(f)),
            _ => {}
        }
        if crate::time::parse_unix_ms(&self.issued_at).is_none() {
            return Err(BatchError::IssuedAt(self.issued_at.clone()));
        }
        Ok(())
    }
}

/// A whitelist batch that breaks the contract's structure
/// ([`WhitelistBatch::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("schema `{0}` is not `{WHITELIST_SCHEMA}`")]
    Schema(String),
    #[error("chunk {}/{} out of range", .0.index, .0.count)]
    ChunkRange(Chunk),
    #[error("chunk count {0} too large")]
    ChunkCount(u32),
    #[error("delta without from_version")]
    DeltaWithoutFrom,
    #[error("delta from {from} to {to} does not advance")]
    DeltaNotAdvancing { from: u64, to: u64 },
    /// A delta in several chunks (the chunk count).
    #[error("a delta is a single chunk")]
    DeltaChunked(u32),
    /// A snapshot with a `from_version` (its value).
    #[error("snapshot with from_version")]
    SnapshotWithFrom(u64),
    #[error("issued_at `{0}` is not RFC 3339")]
    IssuedAt(String),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Upserts {
    #[serde(default)]
    pub gate_passes: Vec<GatePass>,
    #[serde(default)]
    pub vehicles: Vec<Vehicle>,
    #[serde(default)]
    pub enterprises: Vec<Enterprise>,
    #[serde(default)]
    pub controls: Vec<Control>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletes {
    #[serde(default)]
    pub gate_passes: Vec<String>,
    #[serde(default)]
    pub vehicles: Vec<String>,
    #[serde(default)]
    pub enterprises: Vec<String>,
    #[serde(default)]
    pub controls: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassStatus {
    Approved,
    Used,
    Void,
    Deleted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassKind {
    Goods,
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoodsCategory {
    ZeroTariff,
    Relaxed,
    ValueAdded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassUses {
    Single,
    Multi,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GatePass {
    pub pass_no: String,
    pub status: PassStatus,
    pub kind: PassKind,
    pub plate: String,
    pub etag: Option<String>,
    pub trailer_plate: Option<String>,
    #[serde(default)]
    pub containers: Vec<String>,
    pub declared_total_kg: Option<f64>,
    pub enterprise: Option<String>,
    pub goods_category: Option<GoodsCategory>,
    pub va_code: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    pub uses: PassUses,
    /// Extension: the e-seal id bound to the pass, when the declaration has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eseal: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vehicle {
    pub plate: String,
    pub plate_colour: Option<PlateColour>,
    pub etag: Option<String>,
    pub tare_kg: Option<f64>,
    pub enterprise: Option<String>,
    /// Extension: driver/vehicle credit ("whitelist" | "focus"), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit: Option<Credit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credit {
    Aeo,
    Whitelist,
    General,
    Focus,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enterprise {
    pub id: String,
    pub name: String,
    pub credit: Credit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Plate,
    PassNo,
    Enterprise,
    Container,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlAction {
    Inspect,
    Hold,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub id: String,
    pub target_kind: TargetKind,
    pub target: String,
    pub action: ControlAction,
    pub note: Option<String>,
    pub valid_until: Option<String>,
}

// ---------------------------------------------------------------- commands

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    Raise,
    Lower,
    Release,
    Hold,
    Regather,
    Resync,
    RestartDevice,
}

/// A command body (the signed envelope's `body`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub schema: String,
    pub id: String,
    pub site: String,
    pub lane: String,
    pub issued_at: String,
    pub expires_at: String,
    pub kind: CommandKind,
    #[serde(default)]
    pub officer: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
}

impl Command {
    /// Schema-level checks (not signature, replay or expiry).
    pub fn validate(&self) -> Result<(), CommandError> {
        if self.schema != COMMAND_SCHEMA {
            return Err(CommandError::Schema(self.schema.clone()));
        }
        if self.id.is_empty() || self.id.len() > 128 {
            return Err(CommandError::Id);
        }
        for (field, t) in [
            ("issued_at", &self.issued_at),
            ("expires_at", &self.expires_at),
        ] {
            if crate::time::parse_unix_ms(t).is_none() {
                return Err(CommandError::Time {
                    field,
                    value: t.clone(),
                });
            }
        }
        let needs_officer = matches!(
            self.kind,
            CommandKind::Raise | CommandKind::Release | CommandKind::Hold
        );
        if needs_officer && self.officer.as_deref().is_none_or(str::is_empty) {
            return Err(CommandError::NeedsOfficer(self.kind));
        }
        if self.kind == CommandKind::Release && self.note.as_deref().is_none_or(str::is_empty) {
            return Err(CommandError::ReleaseWithoutNote);
        }
        if self.kind == CommandKind::RestartDevice
            && self.device.as_deref().is_none_or(str::is_empty)
        {
            return Err(CommandError::RestartWithoutDevice);
        }
        Ok(())
    }
}

/// A command body that breaks the contract's schema ([`Command::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("schema `{0}` is not `{COMMAND_SCHEMA}`")]
    Schema(String),
    #[error("id empty or too long")]
    Id,
    /// `issued_at` or `expires_at` (`field`) is not a timestamp.
    #[error("{field} `{value}` is not RFC 3339")]
    Time { field: &'static str, value: String },
    #[error("{0:?} requires an officer")]
    NeedsOfficer(CommandKind),
    #[error("an exceptional release requires a note")]
    ReleaseWithoutNote,
    #[error("restart_device requires a device")]
    RestartWithoutDevice,
}

#[cfg(test)]
mod tests;
