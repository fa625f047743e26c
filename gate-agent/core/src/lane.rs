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

mod inputs;
mod officer;
mod signals;
mod transitions;

use std::collections::BTreeSet;

use gate_proto::messages::{DecisionResult, Outcome, Reason};
use serde::{Deserialize, Serialize};

use crate::decision::Decision;
use crate::identified::{Device, Identified};

pub use signals::{
    AlarmKind, BarrierPos, BoardSnapshot, Command, EventRecord, Input, Light, OfficerAction,
    OfficerKind, Read,
};

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
}
