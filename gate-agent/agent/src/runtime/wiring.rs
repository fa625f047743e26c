//! Start-up and wiring: the store opened (or quarantined and rebuilt), the
//! journal recovered, the metrics made, the link, drivers, recogniser and
//! board writer started (each given the metrics it updates), and the lane
//! task ([`Runner`]) spawned with the passage it resumes.
//!
//! Layer: agent runtime, the edge where every part is built; nothing here
//! runs per vehicle.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use gate_core::lane::Lane;
use gate_link::{Link, LinkDeps, LinkHandle};
use gate_proto::messages::Severity;
use gate_store::{Store, StoreConfig};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::clock::LaneClock;
use super::devices::Devices;
use super::{
    journal, AgentHandle, BoardOp, Heartbeat, Internal, LaneView, PassagePhotos, RecentPhotos,
    Runner, SeqCtx, Stats,
};
use crate::config::{parse_broker_url, resolve, Config};
use crate::drivers::config::RecognitionMode;
use crate::recognition::{Recogniser, RecogniserState};

/// The link configuration from the lane configuration.
pub fn link_config(cfg: &Config, base: &std::path::Path) -> Result<gate_link::LinkConfig> {
    let (tls, host, port) = parse_broker_url(&cfg.platform.broker).map_err(|e| anyhow!("{e}"))?;
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
    // Events the store refused before the stop first: their passages'
    // journal rows are still open and would otherwise be settled as
    // `timeout` below.
    let (kept, kept_alarms) = journal::settle_kept(&store, &cfg.store.path)
        .await
        .context("journaling the events kept while the store failed")?;
    if kept > 0 {
        info!(
            events = kept,
            "events kept while the store failed: journaled"
        );
    }
    let mut recovered = journal::recover(&store, &cfg, &clock, &topics.event()).await?;
    recovered.alarms.extend(kept_alarms);
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

    // One set of metrics for the whole agent: the link, the drivers, the
    // recogniser, the board writer and the lane task update it.
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let shared = Arc::new(store.clone());
    let deps = LinkDeps {
        outbox: shared.clone(),
        whitelist: shared.clone(),
        commands: shared,
        keyring: keyring(&cfg)?,
    };
    let (link, link_rx) =
        Link::spawn_observed(link_config(&cfg, config_path)?, deps, metrics.clone())
            .map_err(|e| anyhow!("link: {e}"))?;
    if !recovered.alarms.is_empty() {
        let link = link.clone();
        let alarms = recovered.alarms.clone();
        tokio::spawn(async move {
            for a in alarms {
                link.alarm("store_error", Severity::Critical, a).await;
            }
        });
    }
    let devs = Devices::spawn(&cfg, &metrics)?;
    let modes = camera_modes(&cfg, &devs);
    let recogniser = if modes.values().any(|m| *m == RecognitionMode::Onboard) {
        let r = Arc::new(start_recogniser(&cfg, &devs.registry, &metrics));
        tokio::spawn(watch_recogniser(r.subscribe(), link.clone()));
        Some(r)
    } else {
        None
    };

    let lane_cfg = devs.lane_config(&cfg.sequence);
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
            // Its decision, if it has one, was counted by the run that took it.
            let counted = super::decision_key(&passage);
            let (lane, cmds) = Lane::resume(lane_cfg, next_seq, passage, clock.now_ms());
            seqs.insert(
                next_seq,
                SeqCtx {
                    event_id,
                    photos: Vec::new(),
                    tasks: Vec::new(),
                    journaled: !recovered.from_copy,
                    counted,
                },
            );
            (lane, cmds)
        }
        None => (Lane::new(lane_cfg, next_seq), Vec::new()),
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (view_tx, view_rx) = watch::channel(LaneView::default());
    let (photos_tx, photos_rx) = watch::channel(PassagePhotos::default());
    let recent_photos = RecentPhotos::default();
    let (officer_tx, officer_rx) = mpsc::channel(8);
    let (reload_tx, reload_rx) = mpsc::channel(2);
    let (internal_tx, internal_rx) = mpsc::channel(256);
    let (board_tx, board_rx) = mpsc::channel(32);
    tokio::spawn(board_writer(
        devs.board.clone(),
        board_rx,
        internal_tx.clone(),
        metrics.clone(),
    ));

    let handle_parts = (
        devs.registry.clone(),
        devs.all_cameras.clone(),
        devs.board.clone(),
        devs.weighbridge.clone(),
        devs.restarts.clone(),
    );
    let heartbeat = Arc::new(Heartbeat::new());
    let copies = journal::CopyWriter::start(&cfg.store.path);
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
        photos_tx,
        recent_photos: recent_photos.clone(),
        seqs,
        initial,
        followups: Vec::new(),
        unfinished: Vec::new(),
        pending_acks: Vec::new(),
        stats: Stats::default(),
        watchdog: crate::service::Watchdog::from_env(),
        heartbeat: heartbeat.clone(),
        pending_reload: None,
        reload_rx,
        metrics: metrics.clone(),
        raise_clock: None,
        copies,
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
        heartbeat,
        photos: photos_rx,
        recent_photos,
        reload: reload_tx,
        config_path: config_path.to_owned(),
        metrics,
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
fn start_recogniser(
    cfg: &Config,
    registry: &crate::drivers::HealthRegistry,
    metrics: &Arc<crate::metrics::Metrics>,
) -> Recogniser {
    let r = &cfg.recognition;
    // A configured directory is the only place; else the fetch/install
    // directory, then the packaged models.
    let dirs = gate_ocr::models::dirs_for(r.models_dir.as_deref());
    let fetch = r.fetch;
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    info!(models = ?shown, fetch, workers = r.workers, frames = r.frames, "on-board recognition: loading models");
    Recogniser::start_with_metrics(
        move || crate::recognition::load_gate_ocr(&dirs, fetch).map_err(|e| e.to_string()),
        r.workers,
        r.queue_depth,
        registry.register("recogniser"),
        Some(metrics.clone()),
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
                link.alarm(
                    "device_fault",
                    Severity::Critical,
                    format!("recogniser: on-board recognition unavailable: {e}"),
                )
                .await;
                return;
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Executes the board writes in order; a raise that a decision asked for
/// is timed from that decision to the board taking it (decision → raise).
async fn board_writer(
    board: crate::drivers::board::BoardHandle,
    mut rx: mpsc::Receiver<BoardOp>,
    internal: mpsc::Sender<Internal>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    use crate::drivers::board::BoardCommand;
    while let Some(op) = rx.recv().await {
        let r = match &op {
            BoardOp::Cmd(c) => board.command(*c).await.map(|_| ()),
            BoardOp::Raise(decided) => board.command(BoardCommand::Raise).await.map(|_| {
                if let Some(t) = decided {
                    metrics.decision_to_raise(t.elapsed());
                }
            }),
            BoardOp::Led(t) => board.set_led_text(t).await.map(|_| ()),
        };
        if let Err(e) = r {
            let what = match op {
                BoardOp::Cmd(c) => format!("{c:?}"),
                BoardOp::Raise(_) => format!("{:?}", BoardCommand::Raise),
                BoardOp::Led(_) => "LED text".into(),
            };
            warn!(%e, "board write {what} failed");
            // The lane task raises the device_fault alarm. Never wait here:
            // the lane task may itself be waiting for room in this writer's
            // queue. A full queue means the lane task is already flooded
            // with this failure's consequences; the drop is logged.
            if let Err(e) = internal.try_send(Internal::BoardError(format!("{what}: {e}"))) {
                warn!(%e, "board write failure not reported to the lane task");
            }
        }
    }
}
