//! The agent runtime: drivers -> lane core -> store -> link, and back.
//!
//! One task owns the [`Lane`] (sans-IO) and feeds it inputs from the
//! drivers, the identification tasks, decisions, officers (gatectl) and the
//! platform's commands; it executes the lane's commands in order. Rules kept
//! here:
//! - write-ahead: the `Journal` record carrying a decision is durable in
//!   SQLite before the `Raise` after it is handed to the board;
//! - nothing slow runs on the lane task: board writes go through an ordered
//!   queue to their own task, lookups and decisions run on blocking threads,
//!   identification runs in per-device tasks (`identify.rs`);
//! - every officer action and platform command gets exactly one answer.
//!
//! The [`Runner`] (the lane task) is defined here with its loop; its jobs
//! live beside it: `wiring.rs` (start-up), `commands.rs` (executing the
//! lane's commands, taking officer and platform commands in), `passage.rs`
//! (journal records and finished events), `identify.rs` (identification and
//! decision jobs), `status.rs` (health changes, admission, view, status).
//!
//! Metrics: one [`crate::metrics::Metrics`] made at start-up; the lane
//! task counts each decision the lane takes (by result and reason, from
//! the journal record that carries it: `commands.rs`), times a passage's
//! arrival to its first decision and a release to the board taking its
//! raise (the board writer, `wiring.rs`), and counts finished passages
//! (`passage.rs`).
//!
//! Cameras with on-board recognition share one [`Recogniser`] (worker
//! thread(s) owning the gate-ocr models, bounded queue), started here when
//! any camera with a role needs it; its models load in the background and a
//! failure raises an alarm while the lane runs on (those cameras then read
//! nothing and the decision policy applies).

pub mod clock;
mod commands;
pub mod devices;
pub mod event;
mod identify;
pub mod journal;
mod passage;
pub mod reload;
mod status;
mod wiring;

pub use wiring::{link_config, start};

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Result};
use gate_core::decision::Decision;
use gate_core::identified::Device;
use gate_core::lane::{Command, Input, Lane, Light, OfficerAction, Read};
use gate_link::{CommandRequest, LinkHandle};
use gate_proto::messages::Severity;
use gate_store::Store;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::drivers::board::BoardCommand;
use crate::drivers::config::RecognitionMode;
use crate::recognition::Recogniser;
use clock::LaneClock;
use devices::Devices;
use event::Photo;

/// What the agent shows about itself (gatectl, the simulator, status).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LaneView {
    pub state: String,
    pub seq: Option<u64>,
    pub event_id: Option<String>,
    pub board: Option<gate_core::lane::BoardSnapshot>,
    pub led: String,
    pub link_connected: bool,
    pub whitelist_version: u64,
    pub clock_synced: bool,
    /// Decisions taken so far and the last lookup+decide latency (µs).
    pub decisions: u64,
    pub last_decision_us: Option<u64>,
    /// Events finished since start.
    pub finished: u64,
    /// Why the lane admits no vehicle now (outbox over its quota).
    pub admission_stopped: Option<String>,
    /// The vehicle held now and why (state `hold`).
    pub hold: Option<gate_proto::messages::HoldStatus>,
    /// The passage in progress: reads with their confidence, weight,
    /// decision and reasons, officer entries (the console shows it).
    pub passage: Option<gate_core::lane::Passage>,
}

/// The evidence photos of the passage in progress (its seq and one photo
/// per camera that delivered one), for the console.
#[derive(Clone, Debug, Default)]
pub struct PassagePhotos {
    pub seq: Option<u64>,
    pub photos: Vec<Photo>,
}

/// The evidence photos of the last finished passages, newest first, by
/// event id (the console's "recent passages"): at most
/// [`RecentPhotos::CAPACITY`] passages, in memory only (the outbox sends
/// them to the platform and forgets them).
#[derive(Clone, Debug, Default)]
pub struct RecentPhotos(Arc<std::sync::Mutex<std::collections::VecDeque<PassageKept>>>);

/// One passage's photos, by event id.
type PassageKept = (String, Vec<Photo>);

impl RecentPhotos {
    pub const CAPACITY: usize = 10;

    pub(crate) fn push(&self, event_id: &str, photos: Vec<Photo>) {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.push_front((event_id.to_owned(), photos));
        q.truncate(Self::CAPACITY);
    }

    /// The cameras whose photos are kept for a recent passage.
    pub fn cameras(&self, event_id: &str) -> Vec<String> {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.iter()
            .find(|(id, _)| id == event_id)
            .map(|(_, ps)| ps.iter().map(|p| p.camera.clone()).collect())
            .unwrap_or_default()
    }

    /// One photo of a recent passage.
    pub fn get(&self, event_id: &str, camera: &str) -> Option<Photo> {
        let q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        q.iter()
            .find(|(id, _)| id == event_id)
            .and_then(|(_, ps)| ps.iter().find(|p| p.camera == camera).cloned())
    }
}

/// When the lane task last turned: it beats on its one-second tick, so an
/// age of several seconds means the lane task is stuck (`/healthz`).
#[derive(Debug)]
pub struct Heartbeat {
    base: std::time::Instant,
    /// Milliseconds after `base` of the last beat.
    last_ms: std::sync::atomic::AtomicU64,
}

impl Heartbeat {
    fn new() -> Self {
        Self {
            base: std::time::Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn beat(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        self.base
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    }
}

/// An officer action from the local console, with where to send the answer.
pub struct OfficerRequest {
    pub action: OfficerAction,
    pub reply: oneshot::Sender<(bool, String)>,
    /// The lane drops the action when it reaches it after this (the client
    /// has given up: an action it was told failed must never happen later),
    /// answers [`EXPIRED`]... and audits the drop.
    pub deadline: std::time::Instant,
}

/// How the answer to an officer action dropped past its deadline starts.
const EXPIRED: &str = "expired";

/// Why the lane did not carry out an officer action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfficerRefusal {
    /// The lane task is not taking actions, stopped, or did not answer in
    /// time (the action will not be carried out later).
    Unavailable(String),
    /// The lane refused it (its state, a safety rule): the lane's reason.
    Refused(String),
    /// It reached the lane past its deadline: dropped and audited.
    Expired(String),
}

/// Typed data as the lane takes it: trimmed, upper-cased, empty values
/// left out (gatectl's `entry` and the console's).
pub fn manual_data(e: &crate::control::protocol::EntryArgs) -> gate_core::identified::ManualData {
    let clean = |v: &str| Some(v.trim().to_uppercase()).filter(|s| !s.is_empty());
    let opt = |v: &Option<String>| v.as_deref().and_then(clean);
    gate_core::identified::ManualData {
        plate: opt(&e.plate),
        trailer_plate: opt(&e.trailer_plate),
        etag: opt(&e.etag),
        pass_no: opt(&e.pass_no),
        containers: e.containers.iter().filter_map(|c| clean(c)).collect(),
        ..Default::default()
    }
}

/// Hand an officer action to the lane task and wait for its answer until
/// `until` (when the client stops waiting). The lane must take it up before
/// then, with time left to answer (half the time left, at most 1 s):
/// later, it drops the action and audits that. The one path of gatectl's
/// and the console's actions.
pub async fn submit_officer_action(
    officer: &mpsc::Sender<OfficerRequest>,
    action: OfficerAction,
    until: std::time::Instant,
) -> Result<String, OfficerRefusal> {
    let (tx, rx) = oneshot::channel();
    let left = until.saturating_duration_since(std::time::Instant::now());
    let req = OfficerRequest {
        action,
        reply: tx,
        deadline: until - (left / 2).min(Duration::from_secs(1)),
    };
    if officer
        .send_timeout(req, Duration::from_secs(2))
        .await
        .is_err()
    {
        return Err(OfficerRefusal::Unavailable(
            "the lane is not taking officer actions".into(),
        ));
    }
    match tokio::time::timeout(left, rx).await {
        Ok(Ok((true, detail))) => Ok(detail),
        Ok(Ok((false, detail))) if detail.starts_with(EXPIRED) => {
            Err(OfficerRefusal::Expired(detail))
        }
        Ok(Ok((false, detail))) => Err(OfficerRefusal::Refused(detail)),
        Ok(Err(_)) => Err(OfficerRefusal::Unavailable(
            "the lane stopped before answering".into(),
        )),
        Err(_) => Err(OfficerRefusal::Unavailable(format!(
            "the lane did not answer within {:.1} s (the action will not be carried out later)",
            left.as_secs_f64()
        ))),
    }
}

/// A running agent.
pub struct AgentHandle {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<()>>,
    pub view: watch::Receiver<LaneView>,
    pub officer: mpsc::Sender<OfficerRequest>,
    pub store: Store,
    pub link: LinkHandle,
    pub registry: crate::drivers::HealthRegistry,
    pub cameras: BTreeMap<String, Arc<crate::drivers::camera::Camera>>,
    pub board: crate::drivers::board::BoardHandle,
    pub weighbridge: Option<crate::drivers::weighbridge::WeighbridgeHandle>,
    /// The devices a restart can name (`restart_device`, `gatectl restart`).
    pub restarts: devices::RestartTargets,
    /// The on-board recogniser, when a camera uses it.
    pub recogniser: Option<Arc<Recogniser>>,
    /// The lane task's heartbeat.
    pub heartbeat: Arc<Heartbeat>,
    /// The photos of the passage in progress.
    pub photos: watch::Receiver<PassagePhotos>,
    /// The photos of the last finished passages.
    pub recent_photos: RecentPhotos,
    /// Checked configurations for the lane task (`reload::reload_from_file`).
    pub reload: mpsc::Sender<reload::ReloadRequest>,
    /// The configuration file the agent started from (reloads read it).
    pub config_path: std::path::PathBuf,
    /// The agent's counters and histograms (the metrics endpoint).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AgentHandle {
    /// Stop the lane task and the link (publishes the offline status).
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        let r = self.task.await.map_err(|e| anyhow!("lane task: {e}"))?;
        self.link.shutdown().await;
        r
    }

    /// Wait until the lane task ends by itself (an error).
    pub async fn wait(&mut self) -> Result<()> {
        (&mut self.task)
            .await
            .map_err(|e| anyhow!("lane task: {e}"))?
    }
}

/// Messages from helper tasks to the lane task.
enum Internal {
    Read {
        seq: u64,
        read: Read,
    },
    Fault {
        seq: u64,
        device: Device,
        detail: String,
    },
    /// A device answered again (clears the lane's fault for it).
    Ok(Device),
    Photo {
        seq: u64,
        photo: Photo,
    },
    Decided {
        seq: u64,
        decision: Box<Decision>,
        micros: u64,
    },
    BoardError(String),
}

/// Failed requests in a row after which a weighbridge that never gave a
/// reading is reported down.
const SCALE_DOWN_AFTER_ERRORS: u32 = 3;

/// Board writes, executed in order by their own task.
enum BoardOp {
    Cmd(BoardCommand),
    /// Raise the arm; with the instant of the release (or inspect)
    /// decision that asked for it, timed to the board taking it.
    Raise(Option<std::time::Instant>),
    Led(String),
}

#[derive(Default)]
struct Stats {
    decisions: u64,
    last_decision_us: Option<u64>,
    finished: u64,
    led: String,
    /// Outbox pressure seen since the last admission check.
    pressure: Option<gate_store::Pressure>,
    /// The last journal write failed (why); cleared by the next success.
    store_failing: Option<String>,
}

/// What the runtime keeps per lane sequence.
struct SeqCtx {
    event_id: String,
    photos: Vec<Photo>,
    tasks: Vec<JoinHandle<()>>,
    /// Its journal row exists (opened here, or resumed from it).
    journaled: bool,
    /// The last decision counted for it (metrics): a record that carries
    /// it again (a later step, a resumed passage) is not a new decision.
    counted: Option<DecisionKey>,
}

/// What tells one decision of a passage from another: when it was taken
/// (lane ms), its result and its reasons.
type DecisionKey = (
    Option<u64>,
    gate_proto::messages::DecisionResult,
    Vec<gate_proto::messages::Reason>,
);

/// The key of a passage's decision, if it has one.
fn decision_key(p: &gate_core::lane::Passage) -> Option<DecisionKey> {
    p.decision
        .as_ref()
        .map(|d| (p.decided_ms, d.result, d.reasons.clone()))
}

struct Runner {
    cfg: Config,
    clock: LaneClock,
    store: Store,
    link: LinkHandle,
    devs: Devices,
    /// Recognition mode of each camera with a role, by name.
    modes: HashMap<String, RecognitionMode>,
    recogniser: Option<Arc<Recogniser>>,
    lane: Lane,
    internal_tx: mpsc::Sender<Internal>,
    board_tx: mpsc::Sender<BoardOp>,
    view_tx: watch::Sender<LaneView>,
    photos_tx: watch::Sender<PassagePhotos>,
    recent_photos: RecentPhotos,
    seqs: HashMap<u64, SeqCtx>,
    /// Commands of a resumed passage, run after the start-up outputs.
    initial: Vec<Command>,
    /// Inputs the runtime itself gives the lane after a batch (a journal
    /// write that failed), handled before anything else.
    followups: Vec<Input>,
    /// Finished events the store could not take yet (retried each second).
    unfinished: Vec<passage::Unfinished>,
    /// Answers owed for officer actions / commands, oldest first.
    pending_acks: Vec<oneshot::Sender<(bool, String)>>,
    stats: Stats,
    /// systemd's watchdog, petted from this task's one-second tick.
    watchdog: crate::service::Watchdog,
    heartbeat: Arc<Heartbeat>,
    /// A reload's policy and sequence (as configured) waiting for the lane
    /// to be between passages.
    pending_reload: Option<(gate_core::policy::Policy, gate_core::lane::LaneConfig)>,
    reload_rx: mpsc::Receiver<reload::ReloadRequest>,
    metrics: Arc<crate::metrics::Metrics>,
    /// When the last release (or inspect) decision was taken, until its
    /// raise goes to the board (decision → raise).
    raise_clock: Option<std::time::Instant>,
    /// The passage copy beside the database, written on its own thread.
    copies: journal::CopyWriter,
}

impl Runner {
    async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        mut internal: mpsc::Receiver<Internal>,
        mut officer: mpsc::Receiver<OfficerRequest>,
        mut commands: mpsc::Receiver<CommandRequest>,
    ) -> Result<()> {
        let mut board_rx = self.devs.board.subscribe();
        let mut weight_rx = self.devs.weighbridge.as_ref().map(|w| w.subscribe());
        let idle_led = self.lane.config().idle_led.clone();
        self.exec(vec![
            Command::SetLed(idle_led),
            Command::SetLight(Light::Red),
        ])
        .await;
        let initial = std::mem::take(&mut self.initial);
        self.exec(initial).await;
        self.update_view();
        let mut status_tick = tokio::time::interval(Duration::from_secs(
            self.cfg.platform.status_interval_s.max(1),
        ));
        // The link drains the outbox on its own: look at the pressure
        // every second to resume admission (and at start-up).
        let mut pressure_tick = tokio::time::interval(Duration::from_secs(1));
        let mut board_known = false;
        // The weighbridge as the lane was told: None not yet, Some(true)
        // answering, Some(false) at fault.
        let mut scale_ok: Option<bool> = None;
        // The same for each RFID reader (by role).
        let mut readers_ok: BTreeMap<Device, bool> = BTreeMap::new();
        info!(site = %self.cfg.lane.site, lane = %self.cfg.lane.lane, "lane running");
        self.heartbeat.beat();
        loop {
            let deadline = self
                .lane
                .poll_at()
                .map(|ms| tokio::time::Instant::from_std(self.clock.instant_at(ms)));
            let input: Option<Input> = tokio::select! {
                _ = shutdown.changed() => break,
                r = board_rx.changed() => {
                    if r.is_err() { return Err(anyhow!("board driver stopped")); }
                    let snap = board_rx.borrow_and_update().clone();
                    match snap {
                        Some(s) => {
                            let first = !board_known;
                            board_known = true;
                            if first {
                                self.lane_input(Input::DeviceOk(Device::Barrier)).await;
                            }
                            Some(Input::Board(devices::core_board(&s)))
                        }
                        None if board_known => {
                            board_known = false;
                            Some(Input::DeviceFault { device: Device::Barrier, detail: "lane I/O board not answering".into() })
                        }
                        None => None,
                    }
                }
                r = async { match weight_rx.as_mut() { Some(rx) => rx.changed().await, None => std::future::pending().await } } => {
                    if r.is_err() { weight_rx = None; None }
                    else {
                        let w = weight_rx.as_mut().and_then(|rx| rx.borrow_and_update().clone());
                        match w {
                            Some(w) => {
                                if scale_ok != Some(true) {
                                    scale_ok = Some(true);
                                    self.lane_input(Input::DeviceOk(Device::Scale)).await;
                                }
                                self.lane.current_seq().map(|_| Input::Read(devices::weight_read(&w)))
                            }
                            // The driver withdrew its reading: the indicator is down.
                            None => self.scale_fault(&mut scale_ok, 0, false),
                        }
                    }
                }
                Some(msg) = internal.recv() => self.on_internal(msg),
                Some(req) = officer.recv() => {
                    let late = std::time::Instant::now().saturating_duration_since(req.deadline);
                    if late.is_zero() {
                        self.pending_acks.push(req.reply);
                        self.audit(&req.action).await;
                        Some(Input::Officer(req.action))
                    } else {
                        let detail = format!(
                            "{EXPIRED}: reached the lane {} ms past its deadline, not carried out",
                            late.as_millis()
                        );
                        warn!(officer = %req.action.officer, action = ?req.action.kind, %detail, "officer action dropped");
                        self.audit_entry(
                            req.action.officer.clone(),
                            format!("{:?}", req.action.kind),
                            format!("dropped, {detail} ({})", req.action.note.clone().unwrap_or_default()),
                        )
                        .await;
                        let _ = req.reply.send((false, detail));
                        None
                    }
                }
                Some(cmd) = commands.recv() => self.on_platform_command(cmd).await,
                Some(req) = self.reload_rx.recv() => { self.on_reload(req).await; None }
                _ = status_tick.tick() => { self.publish_status(); None }
                _ = pressure_tick.tick() => {
                    if !self.unfinished.is_empty() || self.stats.store_failing.is_some() {
                        self.retry_unfinished().await;
                    }
                    self.stats.pressure = Some(self.store.outbox_pressure());
                    let line = self.view_tx.borrow().service_status();
                    self.watchdog.tick(&line);
                    self.heartbeat.beat();
                    // Readers between vehicles: withdrawn = down, a reading
                    // again = back (the lane alarms once each way).
                    for input in self.reader_changes(&mut readers_ok) {
                        self.lane_input(input).await;
                    }
                    // An indicator that never answered gives no reading to
                    // withdraw: its errors tell.
                    let has_reading = weight_rx.as_ref().is_some_and(|rx| rx.borrow().is_some());
                    self.scale_fault(&mut scale_ok, SCALE_DOWN_AFTER_ERRORS, has_reading)
                }
                _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => Some(Input::Tick),
            };
            if let Some(input) = input {
                self.lane_input(input).await;
            }
            self.apply_pending_reload();
            if let Some(p) = self.stats.pressure.take() {
                if let Some(input) = self.admission(p) {
                    self.lane_input(input).await;
                }
            }
        }
        // An event the store refused gets a few more seconds (the disk may
        // have room again).
        self.flush_unfinished(Duration::from_secs(3)).await;
        self.copies.stop();
        // Leave the lane safe: red light, nothing else moved.
        let _ = self
            .board_tx
            .send(BoardOp::Cmd(BoardCommand::Light(false)))
            .await;
        Ok(())
    }

    async fn lane_input(&mut self, input: Input) {
        let was_held = matches!(self.lane.state(), gate_core::lane::State::Hold { .. });
        let mut next = Some(input);
        while let Some(input) = next
            .take()
            .or_else(|| (!self.followups.is_empty()).then(|| self.followups.remove(0)))
        {
            let now = self.clock.now_ms();
            let cmds = self.lane.handle(now, input);
            self.exec(cmds).await;
        }
        if was_held != matches!(self.lane.state(), gate_core::lane::State::Hold { .. }) {
            // A hold begins or ends: the platform sees it now, not at the
            // next status period (publish_status updates the view too).
            self.publish_status();
        } else {
            self.update_view();
        }
    }

    fn on_internal(&mut self, msg: Internal) -> Option<Input> {
        match msg {
            Internal::Read { seq, read } if self.lane.current_seq() == Some(seq) => {
                Some(Input::Read(read))
            }
            Internal::Fault {
                seq,
                device,
                detail,
            } if self.lane.current_seq() == Some(seq) => {
                Some(Input::DeviceFault { device, detail })
            }
            Internal::Read { seq, read } => {
                debug!(seq, current = ?self.lane.current_seq(), state = self.lane.state().name(), ?read, "read for another sequence dropped");
                None
            }
            Internal::Ok(device) => Some(Input::DeviceOk(device)),
            Internal::Photo { seq, photo } => {
                if let Some(c) = self.seqs.get_mut(&seq) {
                    if c.photos.len() < 6 {
                        c.photos.push(photo);
                    }
                }
                None
            }
            Internal::Decided {
                seq,
                decision,
                micros,
            } => {
                self.stats.decisions += 1;
                self.stats.last_decision_us = Some(micros);
                Some(Input::Decided { seq, decision })
            }
            Internal::BoardError(detail) => {
                let link = self.link.clone();
                tokio::spawn(async move {
                    link.alarm(
                        "device_fault",
                        Severity::Critical,
                        format!("barrier: board write failed: {detail}"),
                    )
                    .await;
                });
                None
            }
            _ => None,
        }
    }
}
