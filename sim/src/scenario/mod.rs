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
mod setup;
mod timeline;
mod whitelist;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use gate_proto::messages::{Direction, PassKind, PassStatus, PassUses, PlateColour, Reason};
use gate_wire::locate::LocatedError;
use serde::{Deserialize, Serialize};

pub use crate::devices::rfid::SealState;
pub use crate::physics::Behaviour;
pub use crate::truck::{ContainerSpec, EsealSpec, TrailerSpec, TruckSpec};

/// The weighbridge indicator's interface: the simulated device's own type
/// (`wb-f32-cdab`, `wb-i32-scaled`, `toledo`, `xk3190`).
pub use crate::devices::weighbridge::WbProtocol;

/// What an H07 does: the lane core's own type (`hold` or `inspect`).
pub use gate_core::policy::FocusAction;

pub use setup::{
    AgentAssumptions, BoardSetup, Camera, Device, LaneSetup, PlatformSetup, RecognitionSetup,
    Transport, WeighbridgeSetup, DEFAULT_TAIL_S,
};
pub use timeline::{
    Action, CommandEntry, CommandVia, Expect, FaultEntry, FaultKind, StrayEntry, Timed, TimedItem,
    TruckEntry,
};
pub use whitelist::{
    ControlSpec, DeletesSpec, DeltaSpec, EnterpriseSpec, GatePassSpec, UpsertsSpec, VehicleSpec,
    WhitelistSpec,
};

/// Largest scenario file accepted.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

// ---------------------------------------------------------------- errors

/// Why a scenario cannot be used. Syntax errors and semantic problems are
/// located (`file:line:column: message`, lines and columns 1-based, columns
/// in characters) as every configuration file's errors are.
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
    /// Not TOML, or not a scenario's keys and types (at its place, or at
    /// the file's first line and column).
    #[error(transparent)]
    Syntax(LocatedError),
    /// Semantic problems, each message ending with its key path
    /// (`(at trucks[2].containers[0].number)`).
    #[error("{}", fmt_problems(.file, .problems))]
    Invalid {
        file: String,
        problems: Vec<LocatedError>,
    },
}

fn fmt_problems(file: &str, problems: &[LocatedError]) -> String {
    let mut s = format!("{file}: {} problem(s)", problems.len());
    for p in problems {
        s.push_str(&format!("\n{p}"));
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
        let path = Path::new(file);
        let mut s: Scenario = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |sp| sp.start);
            ScenarioError::Syntax(LocatedError::at(path, Some((text, at)), e.message().trim()))
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
        let locator = locate::Locator::new(path, text);
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
mod tests;
