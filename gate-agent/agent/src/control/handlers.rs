//! One function per control request.
//!
//! Layer: the control server's application logic. Reads the agent's state
//! through clones (watch borrows are copied at once, never held across an
//! await), runs store calls on blocking threads, bounds every device call
//! and the officer answer. Barrier requests become [`OfficerAction`]s sent
//! through the lane; nothing here moves the barrier directly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::future::join_all;
use gate_control::db;
use gate_core::lane::{OfficerAction, OfficerKind};
use gate_store::Store;
use lane_io::regmap::{ir, BarrierState, FaultCode};
use serde::Serialize;
use serde_json::Value;
use tokio::time::timeout;
use tracing::warn;

use super::data;
use super::protocol::{
    AlarmsArgs, AlarmsData, BarrierAction, BarrierArgs, BarrierData, CaptureArgs, CaptureData,
    CheckRow, DevicesData, ErrorCode, EventsArgs, IoData, LaneBoard, LookupArgs, OfficerActionKind,
    OfficerArgs, OfficerData, OutboxData, ReloadArgs, ReloadData, Request, RestartArgs,
    RestartData, SelftestData, Source, StatusData, SyncArgs, VersionData, WeighData, VERSION,
};
use super::Parts;
use crate::runtime::OfficerRefusal;

/// An error answer.
#[derive(Debug)]
pub(crate) struct HandlerError {
    pub code: ErrorCode,
    pub message: String,
}

fn fail(code: ErrorCode, message: impl Into<String>) -> HandlerError {
    HandlerError {
        code,
        message: message.into(),
    }
}

type Answer = Result<Value, HandlerError>;

fn answer<T: Serialize>(t: &T) -> Answer {
    serde_json::to_value(t)
        .map_err(|e| fail(ErrorCode::Internal, format!("answer not encoded: {e}")))
}

/// How long a request may take before the client gets `unavailable`.
pub(crate) fn deadline(r: &Request) -> Duration {
    Duration::from_secs(match r {
        Request::Selftest => 25,
        Request::Capture(_)
        | Request::Barrier(_)
        | Request::Officer(_)
        | Request::Restart(_)
        | Request::Reload(_) => 15,
        _ => 10,
    })
}

/// Run a store call on a blocking thread.
async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> gate_store::Result<T> + Send + 'static,
) -> Result<T, HandlerError> {
    let s = store.clone();
    match tokio::task::spawn_blocking(move || f(&s)).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(fail(ErrorCode::Internal, format!("store: {e}"))),
        Err(e) => Err(fail(ErrorCode::Internal, format!("store call failed: {e}"))),
    }
}

/// Audit an officer request that arrived after its deadline (nothing was
/// done; the audit says so).
pub(crate) async fn audit_expired(p: &Parts, req: &Request, late_ms: u64) {
    let (officer, action, reason) = match req {
        Request::Barrier(a) => (
            a.officer.clone(),
            format!("{:?}", a.action),
            a.reason.clone(),
        ),
        Request::Restart(a) => (
            a.officer.clone(),
            "RestartDevice".to_owned(),
            a.reason.clone(),
        ),
        Request::Reload(a) => (a.officer.clone(), "Reload".to_owned(), a.reason.clone()),
        _ => return,
    };
    let detail = format!("dropped: arrived {late_ms} ms past its deadline ({reason})");
    if let Err(e) = blocking(&p.store, move |s| s.audit(&officer, &action, &detail, None)).await {
        warn!(error = %e.message, "audit of an expired request failed");
    }
}

/// `until`: when the client stops waiting; an officer action that has not
/// reached the lane shortly before then is dropped by the lane.
pub(crate) async fn handle(p: &Parts, req: Request, until: Instant) -> Answer {
    match req {
        Request::Version => version(p),
        Request::Status => status(p).await,
        Request::Devices => devices(p),
        Request::Io => io(p),
        Request::Barrier(a) => barrier(p, a, until).await,
        Request::Officer(a) => officer(p, a, until).await,
        Request::Restart(a) => restart(p, a).await,
        Request::Reload(a) => reload(p, a).await,
        Request::Weigh => weigh(p),
        Request::Capture(a) => capture(p, a).await,
        Request::Lookup(a) => lookup(p, a).await,
        Request::Events(a) => events(p, a).await,
        Request::Outbox => outbox(p).await,
        Request::Sync(a) => sync(p, a).await,
        Request::Alarms(a) => alarms(p, a).await,
        Request::Selftest => selftest(p).await,
    }
}

fn version(p: &Parts) -> Answer {
    let t = p.link.topics();
    answer(&VersionData {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol: VERSION,
        site: t.site.clone(),
        lane: t.lane.clone(),
    })
}

async fn status(p: &Parts) -> Answer {
    let v = p.view.borrow().clone();
    let link = p.link.state();
    let topics = p.link.topics();
    let mut notes = Vec::new();
    let (outbox_depth, outbox_pressure) = match blocking(&p.store, |s| s.outbox_stats()).await {
        Ok(s) => (
            Some(s.depth),
            Some(format!("{:?}", s.pressure).to_lowercase()),
        ),
        Err(e) => {
            notes.push(format!("outbox: {}", e.message));
            (None, None)
        }
    };
    let last_event = match blocking(&p.store, |s| s.recent_events(1)).await {
        Ok(ev) => ev.first().map(db::event_row),
        Err(e) => {
            notes.push(format!("events: {}", e.message));
            None
        }
    };
    let state = if v.state.is_empty() {
        "starting".to_owned()
    } else {
        v.state.clone()
    };
    answer(&StatusData {
        source: Source::Agent,
        site: Some(topics.site.clone()),
        lane: Some(topics.lane.clone()),
        agent_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        state: Some(state),
        seq: v.seq,
        event_id: v.event_id.clone(),
        board: v.board.as_ref().map(|b| LaneBoard {
            arrival: b.arrival,
            safety: b.safety,
            exit: b.exit,
            photocell: b.photocell,
            barrier: format!("{:?}", b.barrier).to_lowercase(),
            tailgates: b.tailgates,
        }),
        led: Some(v.led.clone()),
        link_connected: Some(link.connected),
        link_last_error: link.last_error.clone(),
        whitelist_version: v.whitelist_version.max(link.whitelist_version),
        whitelist_out_of_date: Some(link.whitelist_out_of_date),
        outbox_depth,
        outbox_pressure,
        admission_stopped: v.admission_stopped.clone(),
        hold: v.hold.as_ref().map(|h| crate::control::protocol::HoldRow {
            seq: h.seq,
            event_id: h.event_id.clone(),
            reasons: h.reasons.iter().map(|r| r.as_str().to_owned()).collect(),
        }),
        clock_synced: Some(v.clock_synced),
        decisions: Some(v.decisions),
        last_decision_us: v.last_decision_us,
        finished: Some(v.finished),
        last_seq: last_event.as_ref().map(|e| e.seq),
        last_event,
        notes,
    })
}

/// The kind of a registered device, from what the agent knows of it.
fn kind_of(p: &Parts, name: &str) -> &'static str {
    if name == p.board.device().health().name() {
        "board"
    } else if p
        .weighbridge
        .as_ref()
        .is_some_and(|w| w.health().name() == name)
    {
        "weighbridge"
    } else if p.cameras.contains_key(name) {
        "camera"
    } else if name.starts_with("bus/") {
        "bus"
    } else if name == "recogniser" {
        "recogniser"
    } else if name
        .strip_suffix("/recognition")
        .is_some_and(|c| p.cameras.contains_key(c))
    {
        "recognition"
    } else {
        "reader"
    }
}

fn devices(p: &Parts) -> Answer {
    let now = Instant::now();
    let devices = p
        .registry
        .snapshot()
        .iter()
        .map(|(name, h)| data::device_row(name, kind_of(p, name), h, now))
        .collect();
    answer(&DevicesData { devices })
}

fn io(p: &Parts) -> Answer {
    let snap = p.board.subscribe().borrow().clone();
    let led = p.view.borrow().led.clone();
    let health = p.board.device().health().get();
    answer(&IoData {
        board: p.board.device().health().name().to_owned(),
        online: snap.is_some(),
        io: snap.as_ref().map(|s| data::board_io(s, Instant::now())),
        led,
        last_error: health.last_error,
    })
}

async fn barrier(p: &Parts, a: BarrierArgs, until: Instant) -> Answer {
    let kind = match a.action {
        BarrierAction::Raise => OfficerKind::Raise,
        BarrierAction::Lower => OfficerKind::Lower,
    };
    let detail = to_lane(p, kind, &a.officer, &a.reason, until).await?;
    answer(&BarrierData {
        action: a.action,
        officer: a.officer,
        detail,
    })
}

async fn officer(p: &Parts, a: OfficerArgs, until: Instant) -> Answer {
    let kind = match a.action {
        OfficerActionKind::Release => OfficerKind::Release,
        OfficerActionKind::Hold => OfficerKind::Hold,
        OfficerActionKind::Inspect => OfficerKind::Inspect,
        OfficerActionKind::Regather => OfficerKind::Regather,
        OfficerActionKind::Entry => OfficerKind::Manual(crate::runtime::manual_data(
            &a.entry.clone().unwrap_or_default(),
        )),
    };
    let detail = to_lane(p, kind, &a.officer, &a.reason, until).await?;
    answer(&OfficerData {
        action: a.action,
        officer: a.officer,
        detail,
    })
}

/// An officer action through the lane (`runtime::submit_officer_action`).
async fn to_lane(
    p: &Parts,
    kind: OfficerKind,
    officer: &str,
    reason: &str,
    until: Instant,
) -> Result<String, HandlerError> {
    let action = OfficerAction {
        officer: officer.to_owned(),
        note: Some(reason.to_owned()),
        kind,
    };
    crate::runtime::submit_officer_action(&p.officer, action, until)
        .await
        .map_err(|r| match r {
            OfficerRefusal::Unavailable(m) => fail(ErrorCode::Unavailable, m),
            OfficerRefusal::Refused(m) => fail(ErrorCode::Refused, m),
            OfficerRefusal::Expired(m) => fail(ErrorCode::Expired, m),
        })
}

/// Restart one device's connection: audited first, then the driver's
/// verdict (a failure to reopen is `unavailable`, with the driver's reason).
async fn restart(p: &Parts, a: RestartArgs) -> Answer {
    use crate::runtime::devices::{restart_audited, RestartRefusal};
    let event_id = p.view.borrow().event_id.clone();
    let t0 = Instant::now();
    match restart_audited(
        &p.restarts,
        &p.store,
        &a.device,
        &a.officer,
        &a.reason,
        event_id,
    )
    .await
    {
        Ok((device, detail)) => answer(&RestartData {
            device,
            officer: a.officer,
            detail,
            ms: t0.elapsed().as_millis() as u64,
        }),
        Err(RestartRefusal::NotFound(e)) => Err(fail(ErrorCode::NotFound, e)),
        Err(RestartRefusal::NotAudited(e)) => Err(fail(ErrorCode::Internal, e)),
        Err(RestartRefusal::Failed(e)) => Err(fail(ErrorCode::Unavailable, e)),
    }
}

async fn reload(p: &Parts, a: ReloadArgs) -> Answer {
    let path = p.config_path.clone();
    match crate::runtime::reload::reload_from_file(&p.reload, &p.link, &path, &a.officer, &a.reason)
        .await
    {
        Ok(o) => answer(&ReloadData {
            file: path.display().to_string(),
            applied: o.applied,
            deferred: o.deferred,
            restart_needed: o.restart_needed,
        }),
        Err(problems) => Err(fail(
            ErrorCode::BadRequest,
            format!(
                "the configuration was not reloaded, nothing changed:\n{}",
                problems.join("\n")
            ),
        )),
    }
}

fn weigh(p: &Parts) -> Answer {
    let Some(w) = &p.weighbridge else {
        return Err(fail(ErrorCode::NotFound, "no weighbridge configured"));
    };
    let reading = w.subscribe().borrow().clone();
    answer(&WeighData {
        name: w.health().name().to_owned(),
        reading: reading.map(|r| data::weight_view(&r, Instant::now())),
        last_error: w.health().get().last_error,
    })
}

fn camera_names(p: &Parts) -> String {
    let names: Vec<&str> = p.cameras.keys().map(String::as_str).collect();
    if names.is_empty() {
        "no cameras configured".into()
    } else {
        format!("configured: {}", names.join(", "))
    }
}

async fn capture(p: &Parts, a: CaptureArgs) -> Answer {
    let Some(cam) = p.cameras.get(&a.camera) else {
        return Err(fail(
            ErrorCode::NotFound,
            format!("no camera `{}` ({})", a.camera, camera_names(p)),
        ));
    };
    let Some(src) = cam.source.clone() else {
        return Err(fail(
            ErrorCode::NotFound,
            format!(
                "camera `{}` has no image source (recognition only)",
                a.camera
            ),
        ));
    };
    let frame = match timeout(Duration::from_secs(12), src.grab()).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            return Err(fail(
                ErrorCode::Unavailable,
                format!("camera `{}`: {e}", a.camera),
            ))
        }
        Err(_) => {
            return Err(fail(
                ErrorCode::Unavailable,
                format!("camera `{}`: no frame within 12 s", a.camera),
            ))
        }
    };
    let at = frame
        .at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0);
    answer(&CaptureData {
        camera: a.camera,
        bytes: frame.jpeg.len(),
        at: gate_proto::time::format_unix_ms(at),
        seq: frame.seq,
        jpeg_base64: base64::engine::general_purpose::STANDARD.encode(&frame.jpeg),
    })
}

async fn lookup(p: &Parts, a: LookupArgs) -> Answer {
    let d = blocking(&p.store, move |s| {
        db::lookup(s, a.by, &a.key, Source::Agent)
    })
    .await?;
    answer(&d)
}

async fn events(p: &Parts, a: EventsArgs) -> Answer {
    let d = blocking(&p.store, move |s| db::events(s, &a, Source::Agent)).await?;
    answer(&d)
}

async fn outbox(p: &Parts) -> Answer {
    let stats = blocking(&p.store, |s| s.outbox_stats()).await?;
    let link = p.link.state();
    answer(&OutboxData {
        link: Some(data::link_view(&link)),
        ..db::outbox(&stats, Source::Agent)
    })
}

async fn sync(p: &Parts, a: SyncArgs) -> Answer {
    if a.resync {
        p.link.request_resync();
    }
    let mut d = blocking(&p.store, db::sync).await?;
    let link = p.link.state();
    d.out_of_date = link.whitelist_out_of_date;
    d.link_connected = link.connected;
    d.resync_requested = a.resync;
    answer(&d)
}

async fn alarms(p: &Parts, a: AlarmsArgs) -> Answer {
    let limit = a.limit.unwrap_or(50).clamp(1, 1000);
    let scan = blocking(&p.store, super::alarms::undelivered).await?;
    let log = blocking(&p.store, move |s| s.alarm_log(limit, false)).await?;
    let undelivered = scan.ids.len() as u64;
    let mut rows = super::alarms::log_rows(log, &scan);
    rows.extend(scan.unreadable);
    rows.extend(p.alarms.recent(limit));
    rows.sort_by(|a, b| b.at.cmp(&a.at));
    rows.truncate(limit);
    answer(&AlarmsData {
        alarms: rows,
        undelivered,
        outbox_scanned: scan.scanned,
        outbox_complete: scan.complete,
        note: super::alarms::NOTE.to_owned(),
    })
}

// ------------------------------------------------------------------ selftest

fn check(device: &str, kind: &str, t0: Instant, r: Result<String, String>) -> CheckRow {
    let (ok, detail) = match r {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    CheckRow {
        device: device.to_owned(),
        kind: kind.to_owned(),
        ok,
        optional: false,
        detail,
        ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

async fn check_board(p: Parts) -> CheckRow {
    let t0 = Instant::now();
    let dev = p.board.device().clone();
    let r = match timeout(Duration::from_secs(5), dev.read_input(0, ir::COUNT)).await {
        Ok(Ok(regs)) => {
            let at = |a: u16| regs.get(usize::from(a)).copied().unwrap_or(0);
            let barrier = BarrierState::from_u16(at(ir::BARRIER_STATE))
                .map(|b| format!("{b:?}").to_lowercase())
                .unwrap_or_else(|| format!("unknown({})", at(ir::BARRIER_STATE)));
            let fw = at(ir::FW_VERSION);
            match FaultCode::from_u16(at(ir::FAULT_CODE)) {
                Some(FaultCode::None) => Ok(format!(
                    "answers: barrier {barrier}, firmware {}.{}",
                    fw >> 8,
                    fw & 0xFF
                )),
                other => Err(format!(
                    "answers but reports a fault: {} (barrier {barrier})",
                    other
                        .map(|f| format!("{f:?}"))
                        .unwrap_or_else(|| format!("code {}", at(ir::FAULT_CODE)))
                )),
            }
        }
        Ok(Err(e)) => Err(format!("no answer: {e}")),
        Err(_) => Err("no answer within 5 s".into()),
    };
    check(dev.health().name(), "board", t0, r)
}

async fn check_weighbridge(w: crate::drivers::weighbridge::WeighbridgeHandle) -> CheckRow {
    let t0 = Instant::now();
    let mut rx = w.subscribe();
    // A driver that just (re)started may need a poll or two.
    let reading = timeout(Duration::from_secs(3), async {
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return Some(r);
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    })
    .await
    .ok()
    .flatten();
    let r = match reading {
        Some(r) => Ok(format!(
            "reading present: {} kg{}{}",
            r.gross_kg,
            if r.stable { ", stable" } else { ", not stable" },
            if r.overload {
                ", OVERLOAD"
            } else if r.underload {
                ", UNDERLOAD"
            } else {
                ""
            }
        )),
        None => Err(format!(
            "no reading{}",
            w.health()
                .get()
                .last_error
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )),
    };
    check(w.health().name(), "weighbridge", t0, r)
}

async fn check_camera(name: String, cam: Arc<crate::drivers::camera::Camera>) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    if let Some(src) = &cam.source {
        let t0 = Instant::now();
        let r = match timeout(Duration::from_secs(12), src.grab()).await {
            Ok(Ok(f)) => Ok(format!("grab ok: JPEG {} bytes", f.jpeg.len())),
            Ok(Err(e)) => Err(format!("grab failed: {e}")),
            Err(_) => Err("no frame within 12 s".into()),
        };
        rows.push(check(&name, "camera", t0, r));
    }
    if let Some(rec) = &cam.recognition {
        let t0 = Instant::now();
        let r = match timeout(Duration::from_secs(12), rec.fetch()).await {
            Ok(Ok(_)) => Ok("recognition answers".to_owned()),
            Ok(Err(e)) => Err(format!("recognition failed: {e}")),
            Err(_) => Err("recognition: no answer within 12 s".into()),
        };
        rows.push(check(&format!("{name}/recognition"), "recognition", t0, r));
    }
    rows
}

fn check_reader(name: &str, h: &crate::drivers::DeviceHealth) -> CheckRow {
    let t0 = Instant::now();
    let r = if h.is_up(Instant::now(), Duration::from_secs(10)) {
        Ok(format!(
            "polled OK {} ms ago",
            h.last_success
                .map(|t| t.elapsed().as_millis())
                .unwrap_or_default()
        ))
    } else if h.total_ok == 0 && h.total_errors == 0 {
        Err("never polled".into())
    } else {
        Err(format!(
            "not answering: {} errors in a row{}",
            h.consecutive_errors,
            h.last_error
                .as_ref()
                .map(|e| format!(", last: {e}"))
                .unwrap_or_default()
        ))
    };
    check(name, "reader", t0, r)
}

async fn selftest(p: &Parts) -> Answer {
    let cams: Vec<_> = p
        .cameras
        .iter()
        .map(|(name, cam)| check_camera(name.clone(), cam.clone()))
        .collect();
    let wb = p.weighbridge.clone();
    let (board, weighbridge, cams) = tokio::join!(
        check_board(p.clone()),
        async move {
            match wb {
                Some(w) => Some(check_weighbridge(w).await),
                None => None,
            }
        },
        join_all(cams)
    );
    let mut checks = vec![board];
    checks.extend(weighbridge);
    checks.extend(cams.into_iter().flatten());
    for (name, h) in p.registry.snapshot() {
        if kind_of(p, &name) == "reader" {
            checks.push(check_reader(&name, &h));
        }
    }
    let t0 = Instant::now();
    let store = blocking(&p.store, |s| s.whitelist_version())
        .await
        .map(|v| format!("readable, whitelist version {v}"))
        .map_err(|e| e.message);
    checks.push(check("store", "store", t0, store));
    let link = p.link.state();
    let mut l = check(
        "platform link",
        "link",
        Instant::now(),
        if link.connected {
            Ok("connected".to_owned())
        } else {
            Err(format!(
                "not connected (the lane works offline){}",
                link.last_error
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ))
        },
    );
    l.optional = true;
    checks.push(l);
    let passed = checks.iter().all(|c| c.ok || c.optional);
    answer(&SelftestData { passed, checks })
}
