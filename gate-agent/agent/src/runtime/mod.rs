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
//! Cameras with on-board recognition share one [`Recogniser`] (worker
//! thread(s) owning the gate-ocr models, bounded queue), started here when
//! any camera with a role needs it; its models load in the background and a
//! failure raises an alarm while the lane runs on (those cameras then read
//! nothing and the decision policy applies).

pub mod clock;
pub mod devices;
pub mod event;
mod identify;
pub mod journal;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use gate_core::decision::{decide, Decision};
use gate_core::identified::Device;
use gate_core::lane::{
    AlarmKind, Command, EventRecord, Input, Lane, Light, OfficerAction, OfficerKind, Passage, Read,
    Step,
};
use gate_core::view::LookupKeys;
use gate_link::{CommandRequest, Link, LinkDeps, LinkHandle};
use gate_proto::messages::{CommandKind, DeviceStatus, Severity};
use gate_store::{Store, StoreConfig};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::{parse_broker_url, resolve, Config};
use crate::drivers::board::BoardCommand;
use crate::drivers::config::{RecognitionMode, DEFAULT_READ_WINDOW_MS};
use crate::recognition::{CollectOptions, Recogniser, RecogniserState};
use clock::LaneClock;
use devices::Devices;
use event::Photo;
use identify::{identify_camera, identify_onboard, identify_rfid, CameraWindow, RfidWindow};

/// What the agent shows about itself (gatectl, the simulator, status).
#[derive(Clone, Debug, Default, Serialize)]
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
}

/// An officer action from the local console, with where to send the answer.
pub struct OfficerRequest {
    pub action: OfficerAction,
    pub reply: oneshot::Sender<(bool, String)>,
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
    Led(String),
}

/// The link configuration from the lane configuration.
pub fn link_config(cfg: &Config, base: &std::path::Path) -> Result<gate_link::LinkConfig> {
    let (tls, host, port) = parse_broker_url(&cfg.platform.broker).map_err(|e| anyhow!(e))?;
    let mut lc: gate_link::LinkConfig = serde_json::from_value(serde_json::json!({
        "site": cfg.lane.site,
        "lane": cfg.lane.lane,
        "host": host,
        "port": port,
    }))
    .context("link defaults")?;
    lc.keep_alive_ms = cfg.platform.keepalive_s * 1000;
    lc.clock_skew_ms = cfg.platform.clock_skew_s * 1000;
    lc.status_interval_ms = cfg.platform.status_interval_s * 1000;
    // In simulation the whole lane runs faster: so do the link's timers.
    let scale = cfg.lane.time_scale;
    if (scale - 1.0).abs() > f64::EPSILON {
        let f = |ms: u64| ((ms as f64 / scale) as u64).max(10);
        lc.backoff_base_ms = f(lc.backoff_base_ms);
        lc.backoff_cap_ms = f(lc.backoff_cap_ms);
        lc.stable_after_ms = f(lc.stable_after_ms);
        lc.resync_interval_ms = f(lc.resync_interval_ms);
        lc.status_interval_ms = f(lc.status_interval_ms);
        lc.status_min_interval_ms = f(lc.status_min_interval_ms);
        lc.connect_timeout_ms = f(lc.connect_timeout_ms).max(1000);
    }
    if tls {
        let t = cfg
            .platform
            .tls
            .as_ref()
            .context("mqtts:// without [platform.tls]")?;
        lc.tls = Some(gate_link::TlsFiles {
            ca_file: resolve(base, &t.ca),
            cert_file: t.cert.as_ref().map(|p| resolve(base, p)),
            key_file: t.key.as_ref().map(|p| resolve(base, p)),
        });
    }
    Ok(lc)
}

fn keyring(cfg: &Config) -> Result<gate_proto::sign::Keyring> {
    let mut ring = gate_proto::sign::Keyring::new();
    for (kid, b64) in &cfg.platform.keys {
        let key = gate_proto::sign::parse_public_key(b64)
            .map_err(|e| anyhow!("platform.keys.{kid}: {e}"))?;
        ring.insert(kid, key);
    }
    Ok(ring)
}

/// Start a lane agent from a checked configuration (`config_path` resolves
/// relative TLS paths).
pub async fn start(cfg: Config, config_path: &std::path::Path) -> Result<AgentHandle> {
    let clock = LaneClock::new(cfg.lane.time_scale, cfg.clock.assume_synced);
    let store_cfg = StoreConfig {
        outbox_quota_bytes: cfg.store.outbox_quota_mb * 1024 * 1024,
        // Corrupt pages are found at start (about a second per GB), where a
        // bad file can be quarantined, not in the middle of a passage.
        open_check: gate_store::OpenCheck::Quick,
        ..StoreConfig::default()
    };
    if let Some(dir) = cfg.store.path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let path = cfg.store.path.clone();
    let (store, quarantined) =
        tokio::task::spawn_blocking(move || Store::open_or_quarantine(&path, store_cfg))
            .await?
            .with_context(|| format!("opening the lane store {}", cfg.store.path.display()))?;
    let topics = cfg.topics();
    let mut recovered = journal::recover(&store, &cfg, &clock, &topics.event()).await?;
    if !quarantined.is_empty() && recovered.resume.is_none() {
        // The journal went with the corrupt file: the passage in progress
        // is taken from its copy beside it.
        if let Some(r) = journal::read_copy(&cfg.store.path) {
            warn!(event_id = %r.event_id, step = ?r.passage.step, "resuming the passage from its copy (the journal was quarantined)");
            recovered.resume = Some((r.event_id.clone(), r.passage_now(&clock)));
            recovered.from_copy = true;
        }
    }
    for q in &quarantined {
        recovered.alarms.push(format!(
            "database file {} corrupt ({}): moved to {}; the lane goes on with a fresh one \
             ({} lane counter(s) and {} unsent outbox item(s) salvaged{})",
            q.file.display(),
            q.why,
            q.moved_to.display(),
            q.seqs_salvaged,
            q.outbox_salvaged,
            q.salvage_error
                .as_ref()
                .map(|e| format!("; salvage stopped: {e}"))
                .unwrap_or_default()
        ));
    }

    let shared = Arc::new(store.clone());
    let deps = LinkDeps {
        outbox: shared.clone(),
        whitelist: shared.clone(),
        commands: shared,
        keyring: keyring(&cfg)?,
    };
    let (link, link_rx) =
        Link::spawn(link_config(&cfg, config_path)?, deps).map_err(|e| anyhow!("link: {e}"))?;
    if !recovered.alarms.is_empty() {
        let link = link.clone();
        let alarms = recovered.alarms.clone();
        tokio::spawn(async move {
            for a in alarms {
                if let Err(e) = link.alarm("store_error", Severity::Critical, a).await {
                    warn!(%e, "recovery alarm not queued");
                }
            }
        });
    }
    let devs = Devices::spawn(&cfg)?;
    let modes = camera_modes(&cfg, &devs);
    let recogniser = if modes.values().any(|m| *m == RecognitionMode::Onboard) {
        let r = Arc::new(start_recogniser(&cfg, &devs.registry));
        tokio::spawn(watch_recogniser(r.subscribe(), link.clone()));
        Some(r)
    } else {
        None
    };

    let mut lane_cfg = cfg.sequence.clone();
    let roles = devs.roles();
    lane_cfg.expect.retain(|d| roles.contains(d));
    lane_cfg.weigh &= devs.weighbridge.is_some();
    let next_seq = {
        let s = store.clone();
        let lane = cfg.lane.lane.clone();
        tokio::task::spawn_blocking(move || s.last_seqs())
            .await??
            .into_iter()
            .find(|(l, _)| *l == lane)
            .map(|(_, n)| n + 1)
            .unwrap_or(1)
    };
    // A passage resumed from its copy was given its number at arrival: the
    // counters of a quarantined file may be behind it (never reuse it).
    let next_seq = match &recovered.resume {
        Some((_, p)) if recovered.from_copy => next_seq.max(p.seq),
        _ => next_seq,
    };
    let mut seqs = HashMap::new();
    let (lane, initial) = match recovered.resume {
        Some((event_id, passage)) => {
            let (lane, cmds) = Lane::resume(lane_cfg, next_seq, passage, clock.now_ms());
            seqs.insert(
                next_seq,
                SeqCtx {
                    event_id,
                    photos: Vec::new(),
                    tasks: Vec::new(),
                    journaled: !recovered.from_copy,
                },
            );
            (lane, cmds)
        }
        None => (Lane::new(lane_cfg, next_seq), Vec::new()),
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (view_tx, view_rx) = watch::channel(LaneView::default());
    let (officer_tx, officer_rx) = mpsc::channel(8);
    let (internal_tx, internal_rx) = mpsc::channel(256);
    let (board_tx, board_rx) = mpsc::channel(32);
    tokio::spawn(board_writer(
        devs.board.clone(),
        board_rx,
        internal_tx.clone(),
    ));

    let handle_parts = (
        devs.registry.clone(),
        devs.all_cameras.clone(),
        devs.board.clone(),
        devs.weighbridge.clone(),
        devs.restarts.clone(),
    );
    let runner = Runner {
        cfg,
        clock,
        store: store.clone(),
        link: link.clone(),
        devs,
        modes,
        recogniser: recogniser.clone(),
        lane,
        internal_tx,
        board_tx,
        view_tx,
        seqs,
        initial,
        followups: Vec::new(),
        unfinished: Vec::new(),
        pending_acks: Vec::new(),
        stats: Stats::default(),
    };
    let task = tokio::spawn(runner.run(shutdown_rx, internal_rx, officer_rx, link_rx.commands));
    Ok(AgentHandle {
        shutdown: shutdown_tx,
        task,
        view: view_rx,
        officer: officer_tx,
        store,
        link,
        registry: handle_parts.0,
        cameras: handle_parts.1,
        board: handle_parts.2,
        weighbridge: handle_parts.3,
        restarts: handle_parts.4,
        recogniser,
    })
}

/// The recognition mode of every camera with a role, by camera name.
fn camera_modes(cfg: &Config, devs: &Devices) -> HashMap<String, RecognitionMode> {
    devs.cameras
        .values()
        .filter_map(|(name, _)| {
            cfg.devices
                .cameras
                .iter()
                .find(|c| &c.name == name)
                .map(|c| (name.clone(), c.recognition_mode()))
        })
        .collect()
}

/// Start the on-board recogniser: the models load on its own thread
/// (fetched when missing and `fetch`); the lane does not wait for them.
fn start_recogniser(cfg: &Config, registry: &crate::drivers::HealthRegistry) -> Recogniser {
    let r = &cfg.recognition;
    let dir = r
        .models_dir
        .clone()
        .unwrap_or_else(gate_ocr::models::default_dir);
    let fetch = r.fetch;
    info!(models = %dir.display(), fetch, workers = r.workers, frames = r.frames, "on-board recognition: loading models");
    Recogniser::start(
        move || crate::recognition::load_gate_ocr(&dir, fetch),
        r.workers,
        r.queue_depth,
        registry.register("recogniser"),
    )
}

/// Raise an alarm if the models cannot be loaded (the lane runs on).
async fn watch_recogniser(mut rx: watch::Receiver<RecogniserState>, link: LinkHandle) {
    loop {
        let state = rx.borrow_and_update().clone();
        match state {
            RecogniserState::Loading => {}
            RecogniserState::Ready => return,
            RecogniserState::Failed(e) => {
                if let Err(err) = link
                    .alarm(
                        "device_fault",
                        Severity::Critical,
                        format!("recogniser: on-board recognition unavailable: {e}"),
                    )
                    .await
                {
                    warn!(%err, "recogniser alarm not queued");
                }
                return;
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn board_writer(
    board: crate::drivers::board::BoardHandle,
    mut rx: mpsc::Receiver<BoardOp>,
    internal: mpsc::Sender<Internal>,
) {
    while let Some(op) = rx.recv().await {
        let r = match &op {
            BoardOp::Cmd(c) => board.command(*c).await.map(|_| ()),
            BoardOp::Led(t) => board.set_led_text(t).await.map(|_| ()),
        };
        if let Err(e) = r {
            let what = match op {
                BoardOp::Cmd(c) => format!("{c:?}"),
                BoardOp::Led(_) => "LED text".into(),
            };
            warn!(%e, "board write {what} failed");
            let _ = internal.try_send(Internal::BoardError(format!("{what}: {e}")));
        }
    }
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
    seqs: HashMap<u64, SeqCtx>,
    /// Commands of a resumed passage, run after the start-up outputs.
    initial: Vec<Command>,
    /// Inputs the runtime itself gives the lane after a batch (a journal
    /// write that failed), handled before anything else.
    followups: Vec<Input>,
    /// Finished events the store could not take yet (retried each second).
    unfinished: Vec<(gate_proto::messages::LaneEvent, String)>,
    /// Answers owed for officer actions / commands, oldest first.
    pending_acks: Vec<oneshot::Sender<(bool, String)>>,
    stats: Stats,
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
                    self.pending_acks.push(req.reply);
                    self.audit(&req.action).await;
                    Some(Input::Officer(req.action))
                }
                Some(cmd) = commands.recv() => self.on_platform_command(cmd).await,
                _ = status_tick.tick() => { self.publish_status(); None }
                _ = pressure_tick.tick() => {
                    if !self.unfinished.is_empty() || self.stats.store_failing.is_some() {
                        self.retry_unfinished().await;
                    }
                    self.stats.pressure = Some(self.store.outbox_pressure());
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
            if let Some(p) = self.stats.pressure.take() {
                if let Some(input) = self.admission(p) {
                    self.lane_input(input).await;
                }
            }
        }
        // Leave the lane safe: red light, nothing else moved.
        let _ = self
            .board_tx
            .send(BoardOp::Cmd(BoardCommand::Light(false)))
            .await;
        Ok(())
    }

    /// RFID readers that went down (their reading withdrawn after failed
    /// polls) or came back since last asked: `DeviceFault` / `DeviceOk` for
    /// the lane, which raises `device_fault` / `device_recovered` once and
    /// does not wait for a reader it knows is down.
    fn reader_changes(&self, told: &mut BTreeMap<Device, bool>) -> Vec<Input> {
        let mut out = Vec::new();
        for (role, (name, reader)) in &self.devs.readers {
            let up = reader.subscribe().borrow().is_some();
            let h = reader.health().get();
            let state = if up {
                true
            } else if h.consecutive_errors > 0 {
                false
            } else {
                continue; // not polled yet
            };
            if told.insert(*role, state) == Some(state) {
                continue;
            }
            if state {
                out.push(Input::DeviceOk(*role));
            } else {
                out.push(Input::DeviceFault {
                    device: *role,
                    detail: format!(
                        "reader {name} not answering ({} failed poll(s) in a row{})",
                        h.consecutive_errors,
                        h.last_error
                            .as_ref()
                            .map(|e| format!(", last: {e}"))
                            .unwrap_or_default()
                    ),
                });
            }
        }
        out
    }

    /// The weighbridge is down (its reading withdrawn, or, with
    /// `min_errors` > 0, that many failed requests in a row and no reading):
    /// tell the lane once (`device_fault` alarm; it stops waiting for a
    /// weight). A reading again clears it (`device_recovered`).
    /// `has_reading`: the driver holds a reading now (the lane task's own
    /// receiver says so; no new subscription per check).
    fn scale_fault(
        &self,
        told: &mut Option<bool>,
        min_errors: u32,
        has_reading: bool,
    ) -> Option<Input> {
        let wb = self.devs.weighbridge.as_ref()?;
        if *told == Some(false) {
            return None;
        }
        let h = wb.health().get();
        if min_errors > 0 && (h.consecutive_errors < min_errors || has_reading) {
            return None;
        }
        *told = Some(false);
        let detail = format!(
            "weighbridge not answering ({} failed request(s) in a row{})",
            h.consecutive_errors,
            h.last_error
                .as_ref()
                .map(|e| format!(", last: {e}"))
                .unwrap_or_default()
        );
        warn!("{detail}");
        Some(Input::DeviceFault {
            device: Device::Scale,
            detail,
        })
    }

    /// Stop admitting vehicles while the outbox holds more events, alarms
    /// and replies than its quota (no photo left to evict: every further
    /// passage would grow the disk use; docs/store.md), resume once the
    /// link has drained it below.
    fn admission(&mut self, p: gate_store::Pressure) -> Option<Input> {
        let critical = p == gate_store::Pressure::Critical;
        let store_failing = self.stats.store_failing.is_some() || !self.unfinished.is_empty();
        match (
            critical || store_failing,
            self.lane.admission_stopped().is_some(),
        ) {
            (true, false) if store_failing => {
                let why =
                    format!(
                    "the lane database cannot be written ({}): no vehicle admitted until it can",
                    self.stats.store_failing.as_deref().unwrap_or("events waiting to be journaled")
                );
                warn!("{why}");
                let link = self.link.clone();
                let alarm = why.clone();
                tokio::spawn(async move {
                    if let Err(e) = link.alarm("store_error", Severity::Critical, alarm).await {
                        warn!(%e, "alarm not queued");
                    }
                });
                Some(Input::Admission(Some(why)))
            }
            (true, false) => {
                let why = "outbox over its quota with events alone: no vehicle admitted until the platform takes them";
                warn!("{why}");
                let link = self.link.clone();
                tokio::spawn(async move {
                    if let Err(e) = link.alarm("outbox_filling", Severity::Critical, why).await {
                        warn!(%e, "alarm not queued");
                    }
                });
                Some(Input::Admission(Some(why.into())))
            }
            (false, true) => {
                info!(pressure = ?p, "outbox below its quota and the store writable: admitting vehicles again");
                Some(Input::Admission(None))
            }
            _ => None,
        }
    }

    /// Events whose journal_finish failed (disk full...) are written again
    /// every second, in order, until the store takes them: a passage that
    /// happened is never dropped. Meanwhile admission is stopped.
    async fn retry_unfinished(&mut self) {
        while let Some((ev, topic)) = self.unfinished.first().cloned() {
            let store = self.store.clone();
            let r = tokio::task::spawn_blocking(move || store.journal_finish(&ev, &topic)).await;
            match r {
                Ok(Ok(f)) => {
                    let (ev, _) = self.unfinished.remove(0);
                    info!(seq = f.seq, event_id = %ev.event_id, "event journaled after a store failure");
                    self.stats.finished += 1;
                    self.link.notify_outbox();
                }
                other => {
                    debug!(?other, "store still failing");
                    return;
                }
            }
        }
        self.stats.store_failing = None;
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
                    if let Err(e) = link
                        .alarm(
                            "device_fault",
                            Severity::Critical,
                            format!("barrier: board write failed: {detail}"),
                        )
                        .await
                    {
                        warn!(%e, "alarm not queued");
                    }
                });
                None
            }
            _ => None,
        }
    }

    async fn audit(&self, a: &OfficerAction) {
        self.audit_entry(
            a.officer.clone(),
            format!("{:?}", a.kind),
            a.note.clone().unwrap_or_default(),
        )
        .await;
    }

    /// One line of the officer audit log, tied to the passage in progress.
    async fn audit_entry(&self, officer: String, action: String, detail: String) {
        let store = self.store.clone();
        let event_id = self
            .lane
            .current_seq()
            .and_then(|s| self.seqs.get(&s))
            .map(|c| c.event_id.clone());
        let r = tokio::task::spawn_blocking(move || {
            store.audit(&officer, &action, &detail, event_id.as_deref())
        })
        .await;
        if !matches!(r, Ok(Ok(_))) {
            warn!("audit log write failed: {r:?}");
        }
    }

    async fn on_platform_command(&mut self, req: CommandRequest) -> Option<Input> {
        let c = req.command.clone();
        let officer = c.officer.clone().unwrap_or_else(|| "platform".into());
        let kind = match c.kind {
            CommandKind::Raise => OfficerKind::Raise,
            CommandKind::Lower => OfficerKind::Lower,
            CommandKind::Release => OfficerKind::Release,
            CommandKind::Hold => OfficerKind::Hold,
            CommandKind::Regather => OfficerKind::Regather,
            CommandKind::Resync => {
                self.link.request_resync();
                req.respond(true, "resync requested");
                return None;
            }
            CommandKind::RestartDevice => {
                let dev = c.device.clone().unwrap_or_default();
                match self.devs.restarts.find(&dev) {
                    Err(e) => req.respond(false, e),
                    Ok((name, target)) => {
                        self.audit_entry(officer, "RestartDevice".into(), name.clone())
                            .await;
                        // The lane goes on meanwhile: the driver reopens its
                        // connection as after a failure, only at once.
                        tokio::spawn(async move {
                            info!(device = %name, "restart_device");
                            match target.restart().await {
                                Ok(d) => req.respond(true, format!("{name}: {d}")),
                                Err(e) => {
                                    warn!(device = %name, error = %e, "restart_device failed");
                                    req.respond(false, format!("{name}: {e}"))
                                }
                            }
                        });
                    }
                }
                return None;
            }
        };
        let action = OfficerAction {
            officer,
            note: c.note.clone(),
            kind,
        };
        let (tx, rx) = oneshot::channel();
        self.pending_acks.push(tx);
        self.audit(&action).await;
        tokio::spawn(async move {
            match rx.await {
                Ok((ok, detail)) => req.respond(ok, detail),
                Err(_) => req.respond(false, "agent stopped before answering"),
            }
        });
        Some(Input::Officer(action))
    }

    async fn exec(&mut self, cmds: Vec<Command>) {
        // Journal before barrier: a release whose record could not be
        // written is not acted on (its Raise is dropped, the lane holds).
        let mut raise_blocked = false;
        for c in cmds {
            debug!(?c, "lane command");
            match c {
                Command::Journal { seq, step, passage } => {
                    if let Err(detail) = self.journal(seq, step, &passage).await {
                        if matches!(step, Step::Raised | Step::Passing) {
                            raise_blocked = true;
                        }
                        self.followups.push(Input::JournalFailed { seq, detail });
                    }
                }
                Command::Raise if raise_blocked => {
                    warn!("raise not executed: its decision could not be journaled");
                }
                Command::StartIdentification { seq, devices } => {
                    self.start_identification(seq, &devices);
                    // The scale's current reading counts at once: a truck
                    // already settled on the platform is not kept waiting
                    // for the next poll (the reading taken while the lane
                    // was idle went to no passage).
                    let now = self
                        .devs
                        .weighbridge
                        .as_ref()
                        .and_then(|w| w.subscribe().borrow().clone());
                    if let Some(w) = now {
                        self.followups.push(Input::Read(devices::weight_read(&w)));
                    }
                }
                Command::Decide { seq, identified } => self.start_decision(seq, *identified),
                Command::Raise => self.board(BoardOp::Cmd(BoardCommand::Raise)).await,
                Command::Lower => self.board(BoardOp::Cmd(BoardCommand::Lower)).await,
                Command::SetLed(t) => {
                    self.stats.led = t.clone();
                    self.board(BoardOp::Led(t)).await
                }
                Command::SetLight(l) => {
                    self.board(BoardOp::Cmd(BoardCommand::Light(l == Light::Green)))
                        .await
                }
                Command::Alarm { kind, detail } => {
                    let sev = match kind {
                        AlarmKind::BarrierFault | AlarmKind::Tailgating => Severity::Critical,
                        AlarmKind::DeviceRecovered => Severity::Info,
                        _ => Severity::Warning,
                    };
                    let link = self.link.clone();
                    tokio::spawn(async move {
                        if let Err(e) = link.alarm(kind.as_str(), sev, detail).await {
                            warn!(%e, "alarm not queued");
                        }
                    });
                }
                Command::Ack { ok, detail } => {
                    if !self.pending_acks.is_empty() {
                        let tx = self.pending_acks.remove(0);
                        let _ = tx.send((ok, detail));
                    }
                }
                Command::Finish(rec) => self.finish(*rec).await,
            }
        }
    }

    async fn board(&self, op: BoardOp) {
        if self.board_tx.send(op).await.is_err() {
            warn!("board writer stopped");
        }
    }

    fn ctx_for(&mut self, seq: u64) -> &mut SeqCtx {
        self.seqs.entry(seq).or_insert_with(|| SeqCtx {
            event_id: gate_store::new_event_id(),
            photos: Vec::new(),
            tasks: Vec::new(),
            journaled: false,
        })
    }

    fn whitelist_version(&self) -> u64 {
        self.store.whitelist_version().unwrap_or(0)
    }

    /// The contract's event for a lane record, stamped with this lane's
    /// identity, clock and whitelist version.
    fn lane_event(
        &self,
        rec: &EventRecord,
        event_id: &str,
        photos: &[Photo],
    ) -> gate_proto::messages::LaneEvent {
        journal::build_event(rec, event_id, photos, &self.cfg, &self.clock, &self.store)
    }

    /// Write the passage's journal record for `step`: the row is opened at
    /// the arrival and replaced at every later step; a record with a
    /// decision also sets the store's decision columns. Durable before the
    /// next command (a Raise) runs. A failed write raises `store_error`
    /// (the lane goes on: it must not trap a truck).
    async fn journal(&mut self, seq: u64, step: Step, passage: &Passage) -> Result<(), String> {
        let wl = self.whitelist_version();
        let ctx = self.ctx_for(seq);
        let first = !std::mem::replace(&mut ctx.journaled, true);
        let event_id = ctx.event_id.clone();
        let record = journal::PassageRecord::new(&event_id, passage, &self.clock);
        let arrived_at = gate_proto::time::format_unix_ms(record.arrived_unix_ms);
        let decided = match (step, &passage.decision) {
            (Step::Decided | Step::Raised | Step::Passing, Some(d)) => Some((
                event::event_decision(Some(d), wl),
                gate_proto::time::format_unix_ms(
                    record.decided_unix_ms.unwrap_or(record.written_unix_ms),
                ),
            )),
            _ => None,
        };
        let store = self.store.clone();
        let lane = self.cfg.lane.lane.clone();
        let id = event_id.clone();
        let db = self.cfg.store.path.clone();
        let r = tokio::task::spawn_blocking(move || -> Result<()> {
            let v = serde_json::to_value(&record).context("encoding the passage record")?;
            journal::write_copy(&db, &record);
            if first {
                store.journal_start(&lane, &id, &arrived_at, &v)?;
            }
            match decided {
                Some((ed, at)) => store.journal_decided(&id, &ed, &at, &v)?,
                None if !first => store.journal_update(&id, &v)?,
                None => {}
            }
            Ok(())
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
        if let Err(e) = r {
            let detail = format!("{e:#}");
            warn!(error = %detail, %event_id, ?step, "journal write failed");
            self.stats.store_failing = Some(detail.clone());
            self.stats.pressure = Some(self.store.outbox_pressure());
            let link = self.link.clone();
            let text = format!("journal write failed for event {event_id} at {step:?}: {detail}");
            tokio::spawn(async move {
                if let Err(e) = link.alarm("store_error", Severity::Critical, text).await {
                    warn!(%e, "store_error alarm not queued (the store is failing)");
                }
            });
            return Err(detail);
        }
        self.stats.store_failing = None;
        match step {
            Step::Arrived if first => info!(seq, %event_id, "vehicle arrived"),
            Step::Decided | Step::Raised => {
                if let Some(d) = &passage.decision {
                    info!(seq, result = ?d.result, reasons = ?d.reasons, details = ?d.details, "decided");
                }
            }
            _ => debug!(seq, %event_id, ?step, "passage journaled"),
        }
        Ok(())
    }

    fn start_identification(&mut self, seq: u64, devices: &[Device]) {
        let identify_ms = self.lane.config().identify_timeout_ms;
        let deadline = Instant::now() + self.clock.real(identify_ms);
        let poll = self.clock.real(200).max(Duration::from_millis(20));
        let mut tasks = Vec::new();
        for dev in devices {
            let tx = self.internal_tx.clone();
            let dev = *dev;
            if let Some((name, cam)) = self.devs.cameras.get(&dev).cloned() {
                let mode = self
                    .modes
                    .get(&name)
                    .copied()
                    .unwrap_or(RecognitionMode::Camera);
                match (mode, &self.recogniser) {
                    (RecognitionMode::Onboard, Some(rec)) => {
                        let r = &self.cfg.recognition;
                        let opts = CollectOptions {
                            frames: r.frames,
                            max_frames: r.max_frames,
                            retry: self.clock.real(100).max(Duration::from_millis(10)),
                            max_grab_errors: 3,
                        };
                        // The verdict must reach the lane before its own
                        // identification timeout.
                        let margin = (self.clock.real(identify_ms) / 10)
                            .clamp(Duration::from_millis(20), Duration::from_millis(500));
                        tasks.push(tokio::spawn(identify_onboard(
                            seq,
                            dev,
                            name,
                            cam,
                            rec.clone(),
                            opts,
                            deadline.checked_sub(margin).unwrap_or(deadline),
                            tx,
                        )));
                    }
                    _ => {
                        let window = self
                            .cfg
                            .devices
                            .cameras
                            .iter()
                            .find(|c| c.name == name)
                            .map_or(DEFAULT_READ_WINDOW_MS, |c| c.read_window_ms);
                        tasks.push(tokio::spawn(identify_camera(
                            seq,
                            dev,
                            name,
                            cam,
                            mode == RecognitionMode::Camera,
                            CameraWindow {
                                deadline,
                                poll,
                                empty: self.clock.real(window),
                            },
                            tx,
                        )))
                    }
                }
            } else if let Some((name, reader)) = self.devs.readers.get(&dev).cloned() {
                // The reader's verdict (tag, nothing, offline) must reach the
                // lane before its own identification timeout.
                let rfid_deadline = Instant::now() + self.clock.real(identify_ms * 3 / 4);
                let window = self
                    .cfg
                    .devices
                    .rfid
                    .iter()
                    .find(|r| r.name == name)
                    .map_or(DEFAULT_READ_WINDOW_MS, |r| r.read_window_ms);
                tasks.push(tokio::spawn(identify_rfid(
                    seq,
                    dev,
                    name,
                    reader,
                    RfidWindow {
                        deadline: rfid_deadline,
                        empty: self.clock.real(window),
                    },
                    tx,
                )));
            }
        }
        let ctx = self.ctx_for(seq);
        for t in ctx.tasks.drain(..) {
            t.abort();
        }
        ctx.tasks = tasks;
    }

    fn start_decision(&mut self, seq: u64, identified: gate_core::identified::Identified) {
        let store = self.store.clone();
        let policy = self.cfg.policy.clone();
        let online = self.link.state().connected;
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let r = tokio::task::spawn_blocking(move || {
                let keys = LookupKeys::from(&identified);
                let view = store.lookup(&keys)?;
                Ok::<_, gate_store::StoreError>(decide(
                    &identified,
                    &view,
                    &policy,
                    gate_proto::time::now_unix_ms(),
                    online,
                ))
            })
            .await;
            let decision = match r {
                Ok(Ok(d)) => d,
                other => {
                    warn!(?other, "whitelist lookup failed");
                    Decision::lane(
                        gate_proto::messages::DecisionResult::Hold,
                        &[gate_proto::messages::Reason::H08],
                        "whitelist lookup failed",
                    )
                }
            };
            let micros = t0.elapsed().as_micros() as u64;
            let _ = tx
                .send(Internal::Decided {
                    seq,
                    decision: Box::new(decision),
                    micros,
                })
                .await;
        });
    }

    async fn finish(&mut self, rec: EventRecord) {
        let Some(mut ctx) = self.seqs.remove(&rec.seq) else {
            warn!(seq = rec.seq, "finish for an unknown sequence");
            return;
        };
        for t in ctx.tasks.drain(..) {
            t.abort();
        }
        let ev = self.lane_event(&rec, &ctx.event_id, &ctx.photos);
        let topics = self.cfg.topics();
        let store = self.store.clone();
        let photos = std::mem::take(&mut ctx.photos);
        let event_id = ctx.event_id.clone();
        let event_topic = topics.event();
        let kept = (ev.clone(), event_topic.clone());
        let r = tokio::task::spawn_blocking(move || {
            for p in &photos {
                // A photo that cannot be stored does not stop the event.
                if let Err(e) = store.outbox_enqueue(
                    gate_store::OutboxKind::Photo,
                    &topics.photo(&event_id, &p.camera),
                    &p.jpeg,
                ) {
                    warn!(%e, camera = %p.camera, "photo not queued");
                }
            }
            store.journal_finish(&ev, &event_topic)
        })
        .await;
        match r {
            Ok(Ok(f)) => {
                self.stats.finished += 1;
                journal::remove_copy(&self.cfg.store.path);
                info!(seq = f.seq, event_id = %ctx.event_id, outcome = ?rec.outcome, "event finished");
                self.stats.pressure = Some(f.pressure);
                if f.pressure == gate_store::Pressure::Warn {
                    let link = self.link.clone();
                    tokio::spawn(async move {
                        let _ = link
                            .alarm(
                                "outbox_filling",
                                Severity::Warning,
                                format!("outbox pressure {:?}", f.pressure),
                            )
                            .await;
                    });
                }
            }
            other => {
                let detail = format!("{other:?}");
                warn!(%detail, event_id = %ctx.event_id, "journal_finish failed: kept to write again");
                self.stats.store_failing = Some(detail);
                self.stats.pressure = Some(self.store.outbox_pressure());
                self.unfinished.push(kept);
            }
        }
        if rec.tailgating {
            self.report_tailgater(&rec).await;
        }
        self.link.notify_outbox();
    }

    /// A vehicle that followed another under the open arm passed without
    /// being identified or decided: it gets an event of its own (hold, H08,
    /// outcome passed) so the platform sees every passage, beside the
    /// `tailgating` alarm.
    async fn report_tailgater(&mut self, leader: &EventRecord) {
        let event_id = gate_store::new_event_id();
        let leader_plate = leader
            .decision
            .as_ref()
            .and_then(|d| d.plate.clone())
            .unwrap_or_else(|| "an unidentified vehicle".into());
        let rec = EventRecord {
            seq: leader.seq,
            arrived_ms: leader.finished_ms,
            decided_ms: Some(leader.finished_ms),
            finished_ms: leader.finished_ms,
            identified: Default::default(),
            decision: Some(Decision::lane(
                gate_proto::messages::DecisionResult::Hold,
                &[gate_proto::messages::Reason::H08],
                &format!("passed without identification or decision, following {leader_plate} (tailgating)"),
            )),
            outcome: gate_proto::messages::Outcome::Passed,
            officer: None,
            note: None,
            tailgating: true,
            stopped_short: false,
            alarms: vec![AlarmKind::Tailgating],
        };
        let mut ev = self.lane_event(&rec, &event_id, &[]);
        ev.note = Some(format!("tailgated behind {leader_plate}"));
        let store = self.store.clone();
        let topic = self.cfg.topics().event();
        // One transaction: the event is journaled finished at once.
        let kept = (ev.clone(), topic.clone());
        let r = tokio::task::spawn_blocking(move || store.journal_finish(&ev, &topic)).await;
        match r {
            Ok(Ok(f)) => {
                self.stats.finished += 1;
                warn!(seq = f.seq, %event_id, "tailgater reported");
            }
            other => {
                warn!(?other, "tailgater event not journaled: kept to write again");
                self.stats.store_failing = Some(format!("{other:?}"));
                self.unfinished.push(kept);
            }
        }
    }

    /// Called after every lane input: no I/O here (the whitelist version
    /// comes from the link's state, which follows every applied batch).
    fn update_view(&self) {
        let link = self.link.state();
        let seq = self.lane.current_seq();
        let v = LaneView {
            state: self.lane.state().name().to_owned(),
            seq,
            event_id: seq
                .and_then(|s| self.seqs.get(&s))
                .map(|c| c.event_id.clone()),
            board: Some(self.lane.board()),
            led: self.stats.led.clone(),
            link_connected: link.connected,
            whitelist_version: link.whitelist_version,
            clock_synced: self.clock.synced(),
            decisions: self.stats.decisions,
            last_decision_us: self.stats.last_decision_us,
            finished: self.stats.finished,
            admission_stopped: self.lane.admission_stopped().map(str::to_owned),
            hold: self.hold_status(),
        };
        self.view_tx.send_replace(v);
    }

    /// The hold in progress, if the lane holds a vehicle.
    fn hold_status(&self) -> Option<gate_proto::messages::HoldStatus> {
        if !matches!(self.lane.state(), gate_core::lane::State::Hold { .. }) {
            return None;
        }
        let seq = self.lane.current_seq()?;
        Some(gate_proto::messages::HoldStatus {
            seq,
            event_id: self.seqs.get(&seq).map(|c| c.event_id.clone()),
            reasons: self
                .lane
                .decision()
                .map(|d| d.reasons.clone())
                .unwrap_or_default(),
            led: self.stats.led.clone(),
        })
    }

    fn publish_status(&self) {
        let devices = self
            .devs
            .registry
            .snapshot()
            .into_iter()
            .map(|(name, h)| DeviceStatus {
                // Down = its last exchange failed. An entry with no traffic
                // (an idle bus, a camera between vehicles, an unused
                // device) has nothing wrong with it: `last_ok_at` says how
                // fresh it is.
                ok: h.consecutive_errors == 0,
                last_ok_at: h.last_success_wall.map(|t| {
                    gate_proto::time::format_unix_ms(
                        t.duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_millis() as i64)
                            .unwrap_or(0),
                    )
                }),
                errors: h.total_errors,
                detail: h.last_error.clone(),
                name,
            })
            .collect();
        self.link.set_status(gate_link::StatusInput {
            devices,
            clock_synced: Some(self.clock.synced()),
            lane_state: Some(self.lane.state().name().to_owned()),
            barrier: Some(format!("{:?}", self.lane.board().barrier).to_lowercase()),
            version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            hold: self.hold_status(),
        });
        self.update_view();
    }
}
