//! The lane sequence: a sans-IO state machine (smoltcp style).
//!
//! The runtime feeds [`Input`]s with the monotonic time to [`Lane::handle`],
//! executes the returned [`Command`]s **in order**, and calls
//! `handle(now, Input::Tick)` at [`Lane::poll_at`]. The lane never reads a
//! clock, never does I/O and knows nothing about Modbus, MQTT, SQLite or
//! tokio; whitelist lookups and [`crate::decide`] happen in the runtime
//! between [`Command::Decide`] and [`Input::Decided`].
//!
//! # Sequence (docs/lane-sequence.md)
//! `Idle` -(arrival loop occupied: ARRIVED, new seq)-> `Identifying` (bounded
//! wait for every expected device) -> `Weighing` (stable reading or timeout)
//! -> `Deciding` (waits for the runtime's decision) -> `Releasing` (barrier
//! raised; release or inspect) -> `Passing` (vehicle under the arm / on the
//! exit loop) -> cleared: event finished, back to `Idle`; or `Hold` (LED
//! reason, wait for an officer or for the vehicle to back out).
//!
//! # Rules the lane enforces
//! - Write-ahead: the [`Command::Journal`] record with the decision comes
//!   before the [`Command::Raise`] it allows, in the same batch.
//! - One journal record per passage, replaced at each [`Step`] (arrived,
//!   identified, decided, raised, passing); [`Lane::resume`] takes it back
//!   after a restart.
//! - [`Command::Raise`] is only emitted after a journaled release/inspect
//!   decision (the lane's, or an officer override journaled as one).
//! - [`Command::Lower`] is never emitted while the last known safety loop or
//!   photocell is occupied.
//! - The first [`Command::Journal`] of a seq is followed by exactly one
//!   [`Command::Finish`] for the same seq; a new sequence starts only after
//!   the previous one finished, on a vehicle that arrived after it started.

use std::collections::BTreeSet;

use gate_proto::formats::plate::{self, PlateKind};
use gate_proto::messages::{DecisionResult, EsealRead, Outcome, Reason, WeightRead};
use serde::{Deserialize, Serialize};

use crate::decision::{Decision, LED_MAX_BYTES};
use crate::identified::{ContainerSeen, Device, Identified, ManualData, OfficerEntry, PlateSeen};

/// Timeouts (ms) and what to wait for. Defaults in docs/lane-sequence.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LaneConfig {
    /// Identification devices to wait for (each must report a read, nothing,
    /// or a fault before the identification is complete).
    pub expect: Vec<Device>,
    /// The lane has a scale: wait for a stable reading.
    pub weigh: bool,
    /// Most time for identification; with nothing read: stopped short.
    pub identify_timeout_ms: u64,
    /// Most time for a stable weight after identification.
    pub weigh_timeout_ms: u64,
    /// Most time for the runtime to answer [`Command::Decide`].
    pub decide_timeout_ms: u64,
    /// After the raise, most time for the vehicle to reach the arm.
    pub pass_timeout_ms: u64,
    /// Most time for the vehicle to clear the arm and the exit loop.
    pub clear_timeout_ms: u64,
    /// Most time a held vehicle waits before the event closes as timeout.
    pub hold_timeout_ms: u64,
    /// Send [`Command::Lower`] once the vehicle cleared (false: the board's
    /// auto-close lowers the arm).
    pub lower_on_clear: bool,
    /// LED text while idle.
    pub idle_led: String,
    /// LED text while the lane admits no vehicle ([`Input::Admission`]).
    pub closed_led: String,
    /// Reads kept per kind (more are dropped): bounds the event.
    pub max_reads: usize,
}

impl Default for LaneConfig {
    fn default() -> Self {
        Self {
            expect: Device::IDENTIFY.to_vec(),
            weigh: true,
            identify_timeout_ms: 8_000,
            weigh_timeout_ms: 10_000,
            decide_timeout_ms: 3_000,
            pass_timeout_ms: 60_000,
            clear_timeout_ms: 120_000,
            hold_timeout_ms: 900_000,
            lower_on_clear: false,
            idle_led: "海关通道 Customs lane".into(),
            closed_led: "暂停通行 请等候 Lane paused".into(),
            max_reads: 8,
        }
    }
}

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

/// Inputs to [`Lane::handle`].
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Time passed (call at [`Lane::poll_at`]).
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

/// Outputs of [`Lane::handle`], to execute in order.
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

/// Lane state. Waiting states carry their deadline (monotonic ms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Idle,
    Identifying {
        deadline: u64,
    },
    Weighing {
        deadline: u64,
    },
    Deciding {
        deadline: u64,
    },
    /// Barrier raised for a release (`inspect` false) or an inspection;
    /// waiting for the vehicle to reach the arm.
    Releasing {
        deadline: u64,
        inspect: bool,
    },
    /// The vehicle is under the arm or on the exit loop.
    Passing {
        deadline: u64,
        inspect: bool,
    },
    Hold {
        deadline: u64,
    },
}

impl State {
    /// Every value [`State::name`] takes, for reports that list them all.
    pub const NAMES: [&'static str; 8] = [
        "idle",
        "identifying",
        "weighing",
        "deciding",
        "release",
        "inspect",
        "passing",
        "hold",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Identifying { .. } => "identifying",
            State::Weighing { .. } => "weighing",
            State::Deciding { .. } => "deciding",
            State::Releasing { inspect: false, .. } => "release",
            State::Releasing { inspect: true, .. } => "inspect",
            State::Passing { .. } => "passing",
            State::Hold { .. } => "hold",
        }
    }
    fn deadline(&self) -> Option<u64> {
        match *self {
            State::Idle => None,
            State::Identifying { deadline }
            | State::Weighing { deadline }
            | State::Deciding { deadline }
            | State::Releasing { deadline, .. }
            | State::Passing { deadline, .. }
            | State::Hold { deadline } => Some(deadline),
        }
    }
    /// A vehicle is in the lane and no release has been given yet.
    fn before_release(&self) -> bool {
        matches!(
            self,
            State::Identifying { .. }
                | State::Weighing { .. }
                | State::Deciding { .. }
                | State::Hold { .. }
        )
    }
}

/// Where a passage is: the step of its journal record. Each step replaces
/// the record (one per passage); the store marks it finished at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The vehicle is on the arrival loop; identification runs.
    Arrived,
    /// Identification done (reads, weight): the decision is being taken.
    Identified,
    /// Decided to hold: the vehicle waits at the closed arm.
    Decided,
    /// Decided to release or inspect: the arm is raised once this record is
    /// durable.
    Raised,
    /// The released vehicle reached the arm (under it or on the exit loop).
    Passing,
}

/// The passage in progress: everything the lane knows about the vehicle.
/// It is what the journal keeps ([`Command::Journal`]) and what
/// [`Lane::resume`] takes back after a restart. Times are lane ms of the
/// process that recorded them (the runtime keeps wall-clock times beside).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passage {
    pub seq: u64,
    pub step: Step,
    pub arrived_ms: u64,
    pub decided_ms: Option<u64>,
    pub identified: Identified,
    /// Devices that reported for the identification in progress.
    pub reported: BTreeSet<Device>,
    pub decision: Option<Decision>,
    pub officer: Option<String>,
    pub note: Option<String>,
    pub tailgating: bool,
    pub stopped_short: bool,
    pub alarms: Vec<AlarmKind>,
    /// The board's vehicle counter when the release was given (`None`:
    /// board unknown then): after a restart, a counter that moved means the
    /// vehicle went through the open arm meanwhile.
    pub vehicles_at_raise: Option<u16>,
    /// What was identified before a restart, while the vehicle is identified
    /// again: used when the new identification reads neither plate nor
    /// e-tag (the vehicle leaves, or nothing is read in time), so the
    /// passage never loses what was known of it.
    #[serde(default)]
    pub prior: Option<Identified>,
}

impl Passage {
    /// The reads of this passage: the current ones, or those from before a
    /// restart when the current identification found no plate or e-tag.
    fn settle_prior(&mut self) {
        let prior = self.prior.take();
        if self.identified.plates.is_empty() && self.identified.etags.is_empty() {
            if let Some(p) = prior {
                let officer = self.identified.officer.take();
                let faults = std::mem::take(&mut self.identified.faults);
                self.identified = p;
                self.identified.officer = officer.or(self.identified.officer.take());
                for f in faults {
                    if !self.identified.faults.contains(&f) {
                        self.identified.faults.push(f);
                    }
                }
            }
        }
    }
}

/// The lane. See the module documentation.
#[derive(Clone, Debug)]
pub struct Lane {
    cfg: LaneConfig,
    state: State,
    next_seq: u64,
    board: BoardSnapshot,
    have_board: bool,
    /// A vehicle arrived (arrival loop rising edge) while a sequence ran.
    arrival_pending: bool,
    faults: BTreeSet<Device>,
    barrier_fault: bool,
    light: Light,
    cur: Option<Passage>,
    /// A passage was resumed after a restart and the board has not been
    /// read since: the first snapshot says whether its vehicle is still here.
    resuming: bool,
    /// Why vehicles are not admitted ([`Input::Admission`]).
    admission_stop: Option<String>,
}

/// Largest tailgate-counter step taken as tailgaters (larger: a reset).
const MAX_TAILGATE_STEP: u16 = 100;

/// LED hint when a vehicle stopped short of the readers.
pub const LED_MOVE_FORWARD: &str = "请向前行驶 Move forward";

impl Lane {
    /// A lane in `Idle`. `next_seq` is the sequence number the next vehicle
    /// gets (the journal's last + 1: gapless across restarts).
    pub fn new(cfg: LaneConfig, next_seq: u64) -> Lane {
        Lane {
            cfg,
            state: State::Idle,
            next_seq,
            board: BoardSnapshot::default(),
            have_board: false,
            arrival_pending: false,
            faults: BTreeSet::new(),
            barrier_fault: false,
            light: Light::Red,
            cur: None,
            resuming: false,
            admission_stop: None,
        }
    }

    /// A lane that takes back `passage`, journaled by an earlier run that
    /// stopped (crash, power cut, kill) before the passage finished. The
    /// passage keeps its identity, reads and decision; `next_seq` is as for
    /// [`Lane::new`] and the passage takes it. Times in `passage` must be
    /// lane ms of this run (the runtime maps the journaled wall-clock times).
    ///
    /// Nothing moves before the board has been read: the first snapshot says
    /// whether the vehicle is still there. Then, by step:
    /// - arrived / identified: present, identified again (reads start
    ///   afresh, an officer's typed data is kept); gone, reversed.
    /// - decided (hold): still held; gone, reversed.
    /// - raised / passing: the board's vehicle counter moved since the
    ///   release, so the vehicle went through: passed (or inspection);
    ///   under the arm or on the exit loop, passing (the arm is raised again
    ///   while a vehicle is under it); waiting before the arm, raised again;
    ///   gone, reversed (or timeout when the counter was unknown).
    ///
    /// Returns the lane and the commands to execute first (LED text).
    pub fn resume(
        cfg: LaneConfig,
        next_seq: u64,
        mut passage: Passage,
        now: u64,
    ) -> (Lane, Vec<Command>) {
        let mut lane = Lane::new(cfg, next_seq);
        passage.seq = next_seq;
        lane.next_seq = next_seq.wrapping_add(1);
        passage.reported.clear();
        let decision = passage.decision.as_ref().map(|d| d.result);
        let step = match (passage.step, decision) {
            (Step::Decided, Some(DecisionResult::Hold)) => Step::Decided,
            (
                Step::Raised | Step::Passing,
                Some(DecisionResult::Release | DecisionResult::Inspect),
            ) => passage.step,
            // Anything inconsistent is taken from the start: identified
            // again while the vehicle is there.
            _ => Step::Arrived,
        };
        passage.step = step;
        let inspect = decision == Some(DecisionResult::Inspect);
        let led = passage
            .decision
            .as_ref()
            .map(|d| d.led_text.clone())
            .unwrap_or_default();
        lane.state = match step {
            Step::Arrived | Step::Identified => State::Identifying {
                deadline: now + lane.cfg.identify_timeout_ms,
            },
            Step::Decided => State::Hold {
                deadline: now + lane.cfg.hold_timeout_ms,
            },
            Step::Raised => State::Releasing {
                deadline: now + lane.cfg.pass_timeout_ms,
                inspect,
            },
            Step::Passing => State::Passing {
                deadline: now + lane.cfg.clear_timeout_ms,
                inspect,
            },
        };
        lane.cur = Some(passage);
        lane.resuming = true;
        let mut out = Vec::new();
        match step {
            Step::Arrived | Step::Identified => lane.out_led_waiting(&mut out),
            _ => out.push(Command::SetLed(led)),
        }
        (lane, out)
    }

    /// The first board snapshot after [`Lane::resume`]: is the vehicle
    /// still there, did it pass?
    fn resume_on_board(&mut self, now: u64, b: BoardSnapshot, out: &mut Vec<Command>) {
        let present = b.arrival || b.under_arm() || b.exit;
        let at_raise = self.cur.as_ref().and_then(|c| c.vehicles_at_raise);
        match self.state {
            State::Identifying { .. } => {
                if present {
                    if let Some(c) = self.cur.as_mut() {
                        if c.prior.is_none() {
                            c.prior = Some(c.identified.clone());
                        }
                    }
                    self.begin_identification(now, out);
                } else {
                    self.finish(now, Outcome::Reversed, false, out);
                }
            }
            State::Hold { .. } if !present => {
                self.finish(now, Outcome::Held, false, out);
            }
            State::Releasing { inspect, .. } | State::Passing { inspect, .. } => {
                let went_through = at_raise.is_some_and(|v| v != b.vehicles);
                let done = if inspect {
                    Outcome::Inspection
                } else {
                    Outcome::Passed
                };
                if went_through {
                    // Whatever is on the arrival loop now is the next vehicle.
                    self.finish(now, done, true, out);
                } else if b.under_arm() || b.exit {
                    self.set_light(Light::Green, out);
                    if b.under_arm() {
                        // Keep the arm up over the vehicle until it clears.
                        out.push(Command::Raise);
                    }
                    if matches!(self.state, State::Releasing { .. }) {
                        self.set_state(State::Passing {
                            deadline: now + self.cfg.clear_timeout_ms,
                            inspect,
                        });
                        self.journal(Step::Passing, out);
                    }
                } else if b.arrival {
                    // Released, still waiting before the arm: release again
                    // (the decision is journaled).
                    self.set_light(Light::Green, out);
                    out.push(Command::Raise);
                    self.set_state(State::Releasing {
                        deadline: now + self.cfg.pass_timeout_ms,
                        inspect,
                    });
                    if self.cur.as_ref().is_some_and(|c| c.step != Step::Raised) {
                        self.journal(Step::Raised, out);
                    }
                } else if at_raise.is_some() {
                    // Gone, and not under the arm: it backed out.
                    self.lower_if_safe(out);
                    self.finish(now, Outcome::Reversed, false, out);
                } else {
                    if let Some(c) = self.cur.as_mut() {
                        c.note.get_or_insert_with(|| {
                            "agent restarted: the end of the passage was not observed".into()
                        });
                    }
                    self.finish(now, Outcome::Timeout, false, out);
                }
            }
            _ => {}
        }
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn config(&self) -> &LaneConfig {
        &self.cfg
    }
    /// Take new sequence settings (a reload), only between passages: false
    /// (nothing changed) while a vehicle is in the lane, so a passage
    /// finishes under the settings it started with.
    pub fn reconfigure(&mut self, cfg: LaneConfig) -> bool {
        if !self.between_passages() {
            return false;
        }
        self.cfg = cfg;
        true
    }
    /// No vehicle in the lane: idle, no passage open.
    pub fn between_passages(&self) -> bool {
        self.state == State::Idle && self.cur.is_none()
    }
    /// The seq of the sequence in progress.
    pub fn current_seq(&self) -> Option<u64> {
        self.cur.as_ref().map(|c| c.seq)
    }
    /// The passage in progress: what was read, weighed and decided.
    pub fn passage(&self) -> Option<&Passage> {
        self.cur.as_ref()
    }
    /// The decision of the passage in progress, once taken.
    pub fn decision(&self) -> Option<&Decision> {
        self.cur.as_ref().and_then(|c| c.decision.as_ref())
    }
    /// The seq the next vehicle will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
    /// Why the lane admits no vehicle now (`None`: it admits).
    pub fn admission_stopped(&self) -> Option<&str> {
        self.admission_stop.as_deref()
    }
    /// The last board snapshot.
    pub fn board(&self) -> BoardSnapshot {
        self.board
    }
    /// When to call `handle(now, Input::Tick)` next (`None`: only on input).
    pub fn poll_at(&self) -> Option<u64> {
        self.state.deadline()
    }

    /// Feed one input at monotonic time `now_ms`; returns the commands to
    /// execute in order.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Vec<Command> {
        let mut out = Vec::new();
        self.step(now_ms, input, &mut out);
        out
    }

    fn set_state(&mut self, new: State) {
        if std::mem::discriminant(&new) != std::mem::discriminant(&self.state) {
            tracing::debug!(
                seq = ?self.current_seq(),
                "lane {} => {}",
                self.state.name(),
                new.name()
            );
        }
        self.state = new;
    }

    fn step(&mut self, now: u64, input: Input, out: &mut Vec<Command>) {
        match input {
            Input::Tick => self.tick(now, out),
            Input::Board(b) => self.board_changed(now, b, out),
            Input::Read(r) => self.read(now, r, out),
            Input::DeviceFault { device, detail } => self.device_fault(now, device, &detail, out),
            Input::DeviceOk(d) => {
                if self.faults.remove(&d) {
                    let detail = format!("{}: answering again", d.as_str());
                    self.alarm(AlarmKind::DeviceRecovered, &detail, out);
                }
                // Back during identification: its read is waited for again,
                // and the vehicle is not decided as if it were at fault.
                if matches!(self.state, State::Identifying { .. }) {
                    if let Some(c) = self.cur.as_mut() {
                        if let Some(i) = c.identified.faults.iter().position(|x| *x == d) {
                            c.identified.faults.remove(i);
                            c.reported.remove(&d);
                        }
                    }
                }
            }
            Input::Decided { seq, decision } => {
                // Only the answer to the pending request counts; a late or
                // foreign answer is dropped.
                if matches!(self.state, State::Deciding { .. }) && self.current_seq() == Some(seq) {
                    self.apply_decision(now, *decision, out);
                } else {
                    tracing::debug!(seq, "stale decision dropped");
                }
            }
            Input::Officer(a) => self.officer(now, a, out),
            Input::Admission(stop) => self.admission(now, stop, out),
            Input::JournalFailed { seq, detail } => {
                if self.current_seq() != Some(seq) {
                    return;
                }
                // Not yet at the arm: the raise did not happen; hold. Under
                // the arm the vehicle passes on (the arm stays as it is).
                if matches!(self.state, State::Releasing { .. }) {
                    let d = self
                        .cur
                        .as_ref()
                        .and_then(|c| c.decision.clone())
                        .unwrap_or_else(|| Decision::lane(DecisionResult::Hold, &[], "journal"))
                        .into_hold(Reason::H08, &format!("journal write failed: {detail}"));
                    self.apply_decision(now, d, out);
                }
            }
        }
    }

    fn admission(&mut self, now: u64, stop: Option<String>, out: &mut Vec<Command>) {
        let was_stopped = self.admission_stop.is_some();
        self.admission_stop = stop;
        if !matches!(self.state, State::Idle) {
            return; // the sequence runs on; finish() looks again
        }
        match (was_stopped, self.admission_stop.is_some()) {
            (false, true) => out.push(Command::SetLed(self.cfg.closed_led.clone())),
            (true, false) => {
                if self.board.arrival && !self.barrier_fault {
                    // The vehicle that waited on the arrival loop.
                    self.start(now, out);
                } else {
                    out.push(Command::SetLed(self.cfg.idle_led.clone()));
                }
            }
            _ => {}
        }
    }

    // ------------------------------------------------------------- time

    fn tick(&mut self, now: u64, out: &mut Vec<Command>) {
        let Some(deadline) = self.state.deadline() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.state {
            State::Idle => {}
            // Identification time is up: with neither plate nor e-tag read
            // the vehicle stopped short of the readers; otherwise go on with
            // what came in.
            State::Identifying { .. } => {
                if let Some(c) = self.cur.as_mut() {
                    c.settle_prior();
                }
                let nothing = self.cur.as_ref().is_some_and(|c| {
                    c.identified.plates.is_empty() && c.identified.etags.is_empty()
                });
                if nothing {
                    if let Some(c) = self.cur.as_mut() {
                        c.stopped_short = true;
                    }
                    let mut d = Decision::lane(
                        DecisionResult::Hold,
                        &[Reason::H08],
                        "nothing read: vehicle stopped short of the readers",
                    );
                    d.led_text = LED_MOVE_FORWARD.into();
                    self.apply_decision(now, d, out);
                } else {
                    self.identification_done(now, out);
                }
            }
            // No stable weight in time: decide with what there is.
            State::Weighing { .. } => self.enter_deciding(now, out),
            // The runtime did not answer: hold, alarm.
            State::Deciding { .. } => {
                self.alarm(
                    AlarmKind::DecisionTimeout,
                    "no decision within decide_timeout",
                    out,
                );
                let d = Decision::lane(DecisionResult::Hold, &[Reason::H08], "decision timed out");
                self.apply_decision(now, d, out);
            }
            // Released but the vehicle never reached the arm.
            State::Releasing { .. } => {
                self.alarm(
                    AlarmKind::StuckVehicle,
                    "released vehicle did not reach the arm",
                    out,
                );
                self.lower_if_safe(out);
                self.finish(now, Outcome::Timeout, false, out);
            }
            // Under the arm too long: it passed, but tell someone.
            State::Passing { inspect, .. } => {
                self.alarm(
                    AlarmKind::StuckVehicle,
                    "vehicle did not clear the arm",
                    out,
                );
                let o = if inspect {
                    Outcome::Inspection
                } else {
                    Outcome::Passed
                };
                self.finish(now, o, false, out);
            }
            // Nobody came for the held vehicle.
            State::Hold { .. } => {
                self.alarm(
                    AlarmKind::StuckVehicle,
                    "held vehicle waited beyond hold_timeout",
                    out,
                );
                self.finish(now, Outcome::Timeout, false, out);
            }
        }
    }

    // ------------------------------------------------------------ board

    fn board_changed(&mut self, now: u64, b: BoardSnapshot, out: &mut Vec<Command>) {
        let prev = self.board;
        let first = !self.have_board;
        self.board = b;
        self.have_board = true;

        // The board counted a tailgater. (A large jump is a counter reset,
        // e.g. a board restart, not a hundred tailgaters.)
        let n = b.tailgates.wrapping_sub(prev.tailgates);
        if !first && (1..=MAX_TAILGATE_STEP).contains(&n) {
            let detail = match self.cur.as_mut() {
                Some(c) => {
                    c.tailgating = true;
                    format!("{n} vehicle(s) followed seq {} under the arm", c.seq)
                }
                None => format!("{n} vehicle(s) followed under the arm"),
            };
            self.alarm(AlarmKind::Tailgating, &detail, out);
            if let Some(step) = self.cur.as_ref().map(|c| c.step) {
                self.journal(step, out);
            }
        }

        // Barrier fault: alarm; a vehicle not yet released is held.
        let fault = b.barrier == BarrierPos::Fault;
        if fault && !self.barrier_fault {
            self.barrier_fault = true;
            self.alarm(AlarmKind::BarrierFault, "barrier reports a fault", out);
            match self.state {
                State::Identifying { .. } | State::Weighing { .. } | State::Deciding { .. } => {
                    let d = Decision::lane(DecisionResult::Hold, &[Reason::H08], "barrier fault");
                    self.apply_decision(now, d, out);
                }
                State::Releasing { .. } => {
                    let d = self
                        .cur
                        .as_ref()
                        .and_then(|c| c.decision.clone())
                        .unwrap_or_else(|| {
                            Decision::lane(DecisionResult::Hold, &[], "barrier fault")
                        })
                        .into_hold(Reason::H08, "barrier fault after release");
                    self.apply_decision(now, d, out);
                }
                _ => {}
            }
        } else if !fault {
            self.barrier_fault = false;
        }

        if std::mem::take(&mut self.resuming) {
            self.resume_on_board(now, b, out);
            return;
        }
        let arrived = b.arrival && (first || !prev.arrival);
        let vehicle_gone = !b.arrival && !b.under_arm();
        match self.state {
            // ARRIVED: a vehicle on the arrival loop starts a sequence.
            State::Idle => {
                if arrived && self.admission_stop.is_none() {
                    self.start(now, out);
                }
            }
            // Left before a decision (backed out): reversed. (A rising edge
            // here is the same vehicle moving on the loop.)
            State::Identifying { .. } | State::Weighing { .. } | State::Deciding { .. } => {
                if vehicle_gone {
                    self.finish(now, Outcome::Reversed, false, out);
                }
            }
            // The held vehicle left the lane (turned back, or sent away by
            // the officer): the passage ends `held`, with its decision and
            // reasons. (`reversed` is a vehicle that left before a decision
            // or after its release.)
            State::Hold { .. } => {
                if vehicle_gone {
                    self.finish(now, Outcome::Held, false, out);
                }
            }
            // Released: the vehicle reaches the arm, or backs out.
            State::Releasing { inspect, .. } => {
                // The board counted a vehicle through the arm since the
                // release (the snapshots in between were missed: board
                // silent for a moment): it passed, and whatever is on the
                // arrival loop now is the next vehicle.
                let went_through = self
                    .cur
                    .as_ref()
                    .and_then(|c| c.vehicles_at_raise)
                    .is_some_and(|v| v != b.vehicles);
                if went_through {
                    let o = if inspect {
                        Outcome::Inspection
                    } else {
                        Outcome::Passed
                    };
                    self.finish(now, o, true, out);
                } else if b.under_arm() || b.exit {
                    self.set_state(State::Passing {
                        deadline: now + self.cfg.clear_timeout_ms,
                        inspect,
                    });
                    self.journal(Step::Passing, out);
                } else if !b.arrival {
                    self.lower_if_safe(out);
                    self.finish(now, Outcome::Reversed, false, out);
                }
            }
            // Under the arm: a vehicle arriving now is the next one; cleared
            // once the arm area and the exit loop are free.
            State::Passing { inspect, .. } => {
                if arrived {
                    self.arrival_pending = true;
                }
                if !b.under_arm() && !b.exit {
                    if self.cfg.lower_on_clear {
                        self.lower_if_safe(out);
                    }
                    let o = if inspect {
                        Outcome::Inspection
                    } else {
                        Outcome::Passed
                    };
                    // Whatever is on the arrival loop now is the next vehicle.
                    self.finish(now, o, true, out);
                }
            }
        }
    }

    // ------------------------------------------------------------ reads

    fn read(&mut self, now: u64, r: Read, out: &mut Vec<Command>) {
        // A vehicle held for stopping short that now shows up on a reader
        // moved forward: identify again.
        if matches!(self.state, State::Hold { .. })
            && self.cur.as_ref().is_some_and(|c| c.stopped_short)
            && matches!(r, Read::Plate(_) | Read::Etag { .. })
        {
            if let Some(c) = self.cur.as_mut() {
                c.stopped_short = false;
            }
            self.regather(now, out);
        }
        if !matches!(
            self.state,
            State::Identifying { .. } | State::Weighing { .. }
        ) {
            return;
        }
        if let Read::Weight(w) = r {
            let stable = w.stable;
            if let Some(c) = self.cur.as_mut() {
                c.identified.weight = Some(w);
            }
            if stable && matches!(self.state, State::Weighing { .. }) {
                self.enter_deciding(now, out);
            }
            return;
        }
        let max = self.cfg.max_reads;
        let Some(c) = self.cur.as_mut() else { return };
        let id = &mut c.identified;
        let device = match r {
            Read::Plate(p) => {
                let dev = p.camera;
                let trailer = plate::parse(&p.text).is_ok_and(|x| x.kind() == PlateKind::Trailer);
                if trailer {
                    if id
                        .trailer_plate
                        .as_ref()
                        .is_none_or(|t| p.confidence > t.confidence)
                    {
                        id.trailer_plate = Some(p);
                    }
                } else if id.plates.len() < max {
                    id.plates.push(p);
                }
                Some(dev)
            }
            Read::Etag { id: tag, trailer } => {
                if trailer {
                    id.trailer_etag = Some(tag);
                } else if id.etags.len() < max && !id.etags.contains(&tag) {
                    id.etags.push(tag);
                }
                Some(Device::Etag)
            }
            Read::Container(cs) => {
                let dev = match cs.position {
                    gate_proto::messages::ContainerPosition::Front => Device::ContainerFront,
                    gate_proto::messages::ContainerPosition::Back => Device::ContainerBack,
                };
                if id.containers.len() < max {
                    id.containers.push(cs);
                }
                Some(dev)
            }
            Read::Eseal(s) => {
                id.eseal = Some(s);
                Some(Device::Eseal)
            }
            Read::Weight(_) => None,
            Read::Nothing(d) => Some(d),
        };
        if let Some(d) = device {
            c.reported.insert(d);
        }
        if matches!(self.state, State::Identifying { .. }) && self.all_reported() {
            self.identification_done(now, out);
        }
    }

    fn all_reported(&self) -> bool {
        self.cur
            .as_ref()
            .is_some_and(|c| self.cfg.expect.iter().all(|d| c.reported.contains(d)))
    }

    fn device_fault(&mut self, now: u64, device: Device, detail: &str, out: &mut Vec<Command>) {
        if self.faults.insert(device) {
            let detail = format!("{}: {detail}", device.as_str());
            self.alarm(AlarmKind::DeviceFault, &detail, out);
        }
        if matches!(
            self.state,
            State::Identifying { .. } | State::Weighing { .. }
        ) {
            if let Some(c) = self.cur.as_mut() {
                if !c.identified.faults.contains(&device) {
                    c.identified.faults.push(device);
                }
                c.reported.insert(device);
            }
            if matches!(self.state, State::Identifying { .. }) && self.all_reported() {
                self.identification_done(now, out);
            } else if device == Device::Scale && matches!(self.state, State::Weighing { .. }) {
                // No weight will come: decide now (the fault is in the data).
                self.enter_deciding(now, out);
            }
        }
    }

    // ------------------------------------------------------- transitions

    /// ARRIVED: allocate the seq, journal, trigger the devices.
    fn start(&mut self, now: u64, out: &mut Vec<Command>) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.arrival_pending = false;
        self.cur = Some(Passage {
            seq,
            step: Step::Arrived,
            arrived_ms: now,
            decided_ms: None,
            identified: Identified::default(),
            reported: BTreeSet::new(),
            decision: None,
            officer: None,
            note: None,
            tailgating: false,
            stopped_short: false,
            alarms: Vec::new(),
            vehicles_at_raise: None,
            prior: None,
        });
        self.journal(Step::Arrived, out);
        self.begin_identification(now, out);
    }

    /// Clear the reads and trigger the devices; known-faulty devices count
    /// as reported (at fault).
    fn begin_identification(&mut self, now: u64, out: &mut Vec<Command>) {
        let faults: Vec<Device> = self
            .cfg
            .expect
            .iter()
            .copied()
            .filter(|d| self.faults.contains(d))
            .collect();
        let Some(c) = self.cur.as_mut() else { return };
        let officer = c.identified.officer.take();
        c.identified = Identified {
            faults: faults.clone(),
            officer,
            ..Identified::default()
        };
        c.reported = faults.into_iter().collect();
        let seq = c.seq;
        out.push(Command::StartIdentification {
            seq,
            devices: self.cfg.expect.clone(),
        });
        self.set_state(State::Identifying {
            deadline: now + self.cfg.identify_timeout_ms,
        });
        if self.all_reported() {
            self.identification_done(now, out);
        }
    }

    fn identification_done(&mut self, now: u64, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            c.settle_prior();
        }
        let stable = self
            .cur
            .as_ref()
            .and_then(|c| c.identified.weight.as_ref())
            .is_some_and(|w| w.stable);
        if self.cfg.weigh && !stable && !self.faults.contains(&Device::Scale) {
            self.set_state(State::Weighing {
                deadline: now + self.cfg.weigh_timeout_ms,
            });
            // What was read is kept while the weight settles.
            self.journal(Step::Identified, out);
        } else {
            self.enter_deciding(now, out);
        }
    }

    fn enter_deciding(&mut self, now: u64, out: &mut Vec<Command>) {
        let scale_fault = self.faults.contains(&Device::Scale) && self.cfg.weigh;
        let Some(c) = self.cur.as_mut() else { return };
        if scale_fault && !c.identified.faults.contains(&Device::Scale) {
            c.identified.faults.push(Device::Scale);
        }
        let (seq, identified) = (c.seq, Box::new(c.identified.clone()));
        self.journal(Step::Identified, out);
        out.push(Command::Decide { seq, identified });
        self.set_state(State::Deciding {
            deadline: now + self.cfg.decide_timeout_ms,
        });
    }

    /// Journal `d`, show it, and act on it: raise for release / inspect,
    /// hold otherwise. A barrier in fault turns a release into a hold.
    fn apply_decision(&mut self, now: u64, mut d: Decision, out: &mut Vec<Command>) {
        if self.barrier_fault && d.result != DecisionResult::Hold {
            d = d.into_hold(Reason::H08, "barrier fault");
        }
        d.led_text = crate::decision::truncate_utf8(&d.led_text, LED_MAX_BYTES);
        let Some(c) = self.cur.as_mut() else { return };
        c.decided_ms = Some(now);
        // Decided on data an officer typed: the decision names the officer
        // (the lane's rules decided; `by` stays as the engine set it).
        if d.officer.is_none() {
            if let Some(e) = &c.identified.officer {
                d.officer = Some(e.officer.clone());
                if d.note.is_none() {
                    d.note = e.note.clone();
                }
            }
        }
        if d.officer.is_some() {
            c.officer = d.officer.clone();
        }
        if d.note.is_some() {
            c.note = d.note.clone();
        }
        c.decision = Some(d.clone());
        let releasing = d.result != DecisionResult::Hold;
        let at_arm = self.board.under_arm() || self.board.exit;
        if releasing {
            c.vehicles_at_raise = self.have_board.then_some(self.board.vehicles);
        }
        let step = match (releasing, at_arm) {
            (false, _) => Step::Decided,
            (true, false) => Step::Raised,
            (true, true) => Step::Passing,
        };
        // Write-ahead: the record with the decision before any Raise.
        self.journal(step, out);
        out.push(Command::SetLed(d.led_text.clone()));
        match d.result {
            DecisionResult::Release | DecisionResult::Inspect => {
                self.set_light(Light::Green, out);
                out.push(Command::Raise);
                let inspect = d.result == DecisionResult::Inspect;
                // Already under the arm (officer raise mid-passage): passing.
                let st = if at_arm {
                    State::Passing {
                        deadline: now + self.cfg.clear_timeout_ms,
                        inspect,
                    }
                } else {
                    State::Releasing {
                        deadline: now + self.cfg.pass_timeout_ms,
                        inspect,
                    }
                };
                self.set_state(st);
            }
            DecisionResult::Hold => {
                self.set_light(Light::Red, out);
                self.set_state(State::Hold {
                    deadline: now + self.cfg.hold_timeout_ms,
                });
            }
        }
    }

    /// Close the sequence with one [`Command::Finish`]; back to `Idle`, and
    /// start the next vehicle if one arrived meanwhile (or `next_waiting`:
    /// the current one cleared, so an occupied arrival loop is the next one).
    fn finish(&mut self, now: u64, outcome: Outcome, next_waiting: bool, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            c.settle_prior();
        }
        let Some(c) = self.cur.take() else {
            self.set_state(State::Idle);
            return;
        };
        out.push(Command::Finish(Box::new(EventRecord {
            seq: c.seq,
            arrived_ms: c.arrived_ms,
            decided_ms: c.decided_ms,
            finished_ms: now,
            identified: c.identified,
            decision: c.decision,
            outcome,
            officer: c.officer,
            note: c.note,
            tailgating: c.tailgating,
            stopped_short: c.stopped_short,
            alarms: c.alarms,
        })));
        self.set_light(Light::Red, out);
        let led = if self.admission_stop.is_some() {
            &self.cfg.closed_led
        } else {
            &self.cfg.idle_led
        };
        out.push(Command::SetLed(led.clone()));
        self.set_state(State::Idle);
        let pending = std::mem::take(&mut self.arrival_pending);
        if (pending || next_waiting)
            && self.board.arrival
            && !self.barrier_fault
            && self.admission_stop.is_none()
        {
            self.start(now, out);
        }
    }

    fn regather(&mut self, now: u64, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            c.decision = None;
            c.decided_ms = None;
            c.vehicles_at_raise = None;
        }
        self.journal(Step::Arrived, out);
        self.out_led_waiting(out);
        self.begin_identification(now, out);
    }

    fn out_led_waiting(&self, out: &mut Vec<Command>) {
        out.push(Command::SetLed("正在识别 Identifying".into()));
    }

    // ----------------------------------------------------------- officer

    fn officer(&mut self, now: u64, a: OfficerAction, out: &mut Vec<Command>) {
        let ack = |out: &mut Vec<Command>, ok: bool, detail: &str| {
            out.push(Command::Ack {
                ok,
                detail: detail.to_string(),
            })
        };
        if let Some(c) = self.cur.as_mut() {
            c.officer = Some(a.officer.clone());
            if a.note.is_some() {
                c.note = a.note.clone();
            }
        }
        let note = a.note.as_deref();
        match a.kind {
            // Override: raise now. A vehicle not yet released is released by
            // the officer (journaled); with no sequence one is opened so the
            // passage is recorded.
            OfficerKind::Raise | OfficerKind::Release => {
                let is_release = a.kind == OfficerKind::Release;
                if is_release && note.is_none_or(|n| n.trim().is_empty()) {
                    return ack(out, false, "an exceptional release needs a note");
                }
                if self.barrier_fault {
                    return ack(out, false, "barrier in fault");
                }
                match self.state {
                    State::Idle if is_release => ack(out, false, "no vehicle in the lane"),
                    State::Idle => {
                        self.start(now, out);
                        if let Some(c) = self.cur.as_mut() {
                            c.officer = Some(a.officer.clone());
                            c.note = a.note.clone();
                        }
                        self.officer_decides(now, DecisionResult::Release, &a.officer, note, out);
                        ack(out, true, "raised by officer");
                    }
                    s if s.before_release() => {
                        self.officer_decides(now, DecisionResult::Release, &a.officer, note, out);
                        ack(out, true, "released by officer");
                    }
                    _ if is_release => ack(out, true, "already released"),
                    // Releasing / Passing: the release is journaled already.
                    _ => {
                        out.push(Command::Raise);
                        ack(out, true, "raised again");
                    }
                }
            }
            OfficerKind::Lower => {
                if !self.have_board {
                    return ack(out, false, "refused: lane I/O board not read yet");
                }
                if self.board.under_arm() {
                    return ack(out, false, "refused: safety loop or photocell occupied");
                }
                if let State::Releasing { .. } = self.state {
                    // Withdrawing the release before the vehicle moved: hold.
                    self.officer_decides(now, DecisionResult::Hold, &a.officer, note, out);
                }
                self.lower_if_safe(out);
                ack(out, true, "lowered");
            }
            OfficerKind::Hold => match self.state {
                State::Idle => ack(out, false, "no vehicle in the lane"),
                State::Passing { .. } => ack(out, false, "vehicle already passing"),
                State::Releasing { .. } => {
                    self.officer_decides(now, DecisionResult::Hold, &a.officer, note, out);
                    self.lower_if_safe(out);
                    ack(out, true, "held by officer");
                }
                _ => {
                    self.officer_decides(now, DecisionResult::Hold, &a.officer, note, out);
                    ack(out, true, "held by officer");
                }
            },
            OfficerKind::Inspect => {
                if note.is_none_or(|n| n.trim().is_empty()) {
                    return ack(out, false, "sending to inspection needs a note");
                }
                if self.barrier_fault {
                    return ack(out, false, "barrier in fault");
                }
                match self.state {
                    State::Idle => ack(out, false, "no vehicle in the lane"),
                    s if s.before_release() => {
                        self.officer_decides(now, DecisionResult::Inspect, &a.officer, note, out);
                        ack(out, true, "sent to inspection by officer");
                    }
                    _ => ack(out, false, "vehicle already released"),
                }
            }
            OfficerKind::Regather => match self.state {
                State::Idle if self.board.arrival => {
                    self.start(now, out);
                    ack(out, true, "new sequence started");
                }
                State::Idle => ack(out, false, "no vehicle in the lane"),
                s if s.before_release() => {
                    self.regather(now, out);
                    ack(out, true, "identifying again");
                }
                _ => ack(out, false, "vehicle already released"),
            },
            OfficerKind::Manual(data) => {
                let entry = OfficerEntry {
                    officer: a.officer.clone(),
                    note: a.note.clone(),
                    data,
                };
                match self.state {
                    State::Idle if self.board.arrival => {
                        self.start(now, out);
                        self.manual(now, entry, out);
                        ack(out, true, "new sequence, deciding on typed data");
                    }
                    State::Idle => ack(out, false, "no vehicle in the lane"),
                    s if s.before_release() => {
                        self.manual(now, entry, out);
                        ack(out, true, "deciding on typed data");
                    }
                    _ => ack(out, false, "vehicle already released"),
                }
            }
        }
    }

    fn manual(&mut self, now: u64, entry: OfficerEntry, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            c.identified.officer = Some(entry);
        }
        self.enter_deciding(now, out);
    }

    fn officer_decides(
        &mut self,
        now: u64,
        result: DecisionResult,
        officer: &str,
        note: Option<&str>,
        out: &mut Vec<Command>,
    ) {
        let base = self.cur.as_ref().and_then(|c| c.decision.as_ref());
        let d = Decision::officer(base, result, officer, note);
        self.apply_decision(now, d, out);
    }

    // ---------------------------------------------------------- outputs

    /// Replace the passage's journal record: it is now at `step`.
    fn journal(&mut self, step: Step, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            c.step = step;
            out.push(Command::Journal {
                seq: c.seq,
                step,
                passage: Box::new(c.clone()),
            });
        }
    }

    /// The only way [`Command::Lower`] is emitted: never onto the area
    /// under the arm.
    fn lower_if_safe(&mut self, out: &mut Vec<Command>) -> bool {
        // An unknown board (not read since start) may have a vehicle under
        // the arm: never lowered blind.
        if !self.have_board || self.board.under_arm() {
            false
        } else {
            out.push(Command::Lower);
            true
        }
    }

    fn set_light(&mut self, l: Light, out: &mut Vec<Command>) {
        if self.light != l {
            self.light = l;
            out.push(Command::SetLight(l));
        }
    }

    fn alarm(&mut self, kind: AlarmKind, detail: &str, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            if !c.alarms.contains(&kind) {
                c.alarms.push(kind);
            }
        }
        out.push(Command::Alarm {
            kind,
            detail: detail.to_string(),
        });
    }
}
