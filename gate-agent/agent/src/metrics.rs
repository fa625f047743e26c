//! The metrics and health endpoint (`[metrics] listen = "ADDR:PORT"`;
//! absent: off), for the port's monitoring (Prometheus, a load balancer, a
//! field engineer's `curl`):
//! - `GET /metrics`: Prometheus text exposition format 0.0.4: lane state,
//!   decisions, passages, the platform link, whitelist version, clock,
//!   admission, the outbox, and per device up / errors / exchanges /
//!   latency (docs/operations.md lists every series);
//! - `GET /healthz`: 200 while the lane task turns (its one-second tick
//!   beat within 5 s), else 503: for a supervisor that restarts a stuck
//!   process;
//! - `GET /readyz`: 200 when the lane can take a vehicle (lane task
//!   turning, lane I/O board answering, admission open, store writing),
//!   else 503 with every reason, as JSON.
//!
//! Layer: agent edge, read-only: it reads the lane's view, driver health
//! and the store's outbox totals, and changes nothing.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::drivers::health::DeviceHealth;
use crate::runtime::{AgentHandle, Heartbeat, LaneView};

/// The lane task is stuck when its heartbeat is older than this.
pub const STUCK_AFTER: Duration = Duration::from_secs(5);

/// What the endpoint reads.
#[derive(Clone)]
struct Sources {
    view: tokio::sync::watch::Receiver<LaneView>,
    registry: crate::drivers::HealthRegistry,
    store: gate_store::Store,
    heartbeat: Arc<Heartbeat>,
    site: String,
    lane: String,
    board: Option<String>,
}

/// The running endpoint; stops when dropped.
pub struct MetricsServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve the endpoint configured in `cfg` (None when `[metrics]` is absent).
pub async fn serve(agent: &AgentHandle, cfg: &Config) -> Result<Option<MetricsServer>> {
    let Some(m) = &cfg.metrics else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(m.listen)
        .await
        .with_context(|| format!("metrics: cannot listen on {}", m.listen))?;
    let addr = listener.local_addr().context("metrics: local address")?;
    let sources = Sources {
        view: agent.view.clone(),
        registry: agent.registry.clone(),
        store: agent.store.clone(),
        heartbeat: agent.heartbeat.clone(),
        site: cfg.lane.site.clone(),
        lane: cfg.lane.lane.clone(),
        board: cfg.devices.board.as_ref().map(|b| b.name.clone()),
    };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(sources);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(%e, "metrics endpoint stopped");
        }
    });
    info!(%addr, "metrics and health endpoint");
    Ok(Some(MetricsServer { addr, task }))
}

async fn metrics(State(s): State<Sources>) -> impl IntoResponse {
    let store = s.store.clone();
    let outbox = tokio::task::spawn_blocking(move || store.outbox_stats())
        .await
        .ok()
        .and_then(Result::ok);
    let view = s.view.borrow().clone();
    let body = render(&s, &view, outbox.as_ref());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

async fn healthz(State(s): State<Sources>) -> impl IntoResponse {
    let age = s.heartbeat.age();
    if age <= STUCK_AFTER {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("lane task stuck: no beat for {:.1} s\n", age.as_secs_f64()),
        )
    }
}

async fn readyz(State(s): State<Sources>) -> impl IntoResponse {
    let reasons = not_ready(&s, &s.view.borrow().clone());
    let body = serde_json::json!({ "ready": reasons.is_empty(), "reasons": reasons });
    let code = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// Why the lane cannot take a vehicle now (empty: it can).
fn not_ready(s: &Sources, view: &LaneView) -> Vec<String> {
    let mut why = Vec::new();
    let age = s.heartbeat.age();
    if age > STUCK_AFTER {
        why.push(format!(
            "lane task stuck: no beat for {:.1} s",
            age.as_secs_f64()
        ));
    }
    if let Some(board) = &s.board {
        let up = s
            .registry
            .get(board)
            .is_some_and(|h| h.is_up(Instant::now(), Duration::from_secs(10)));
        if !up {
            why.push(format!("lane I/O board `{board}` not answering"));
        }
    }
    if let Some(a) = &view.admission_stopped {
        why.push(format!("admission stopped: {a}"));
    }
    why
}

/// A label value as the text format wants it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn render(s: &Sources, view: &LaneView, outbox: Option<&gate_store::OutboxStats>) -> String {
    let mut o = String::with_capacity(4096);
    let b = |v: bool| u8::from(v);
    family(
        &mut o,
        "gate_build_info",
        "gauge",
        "Agent version and lane identity.",
    );
    let _ = writeln!(
        o,
        "gate_build_info{{version=\"{}\",site=\"{}\",lane=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        label(&s.site),
        label(&s.lane)
    );
    family(
        &mut o,
        "gate_lane_state",
        "gauge",
        "1 for the lane's current state.",
    );
    for st in gate_core::lane::State::NAMES {
        let _ = writeln!(
            o,
            "gate_lane_state{{state=\"{st}\"}} {}",
            b(view.state == st)
        );
    }
    family(
        &mut o,
        "gate_lane_heartbeat_age_seconds",
        "gauge",
        "Time since the lane task last turned.",
    );
    let _ = writeln!(
        o,
        "gate_lane_heartbeat_age_seconds {:.3}",
        s.heartbeat.age().as_secs_f64()
    );
    family(
        &mut o,
        "gate_vehicle_held",
        "gauge",
        "1 while the lane holds a vehicle at the closed arm.",
    );
    let _ = writeln!(o, "gate_vehicle_held {}", b(view.hold.is_some()));
    family(
        &mut o,
        "gate_decisions_total",
        "counter",
        "Decisions taken since start.",
    );
    let _ = writeln!(o, "gate_decisions_total {}", view.decisions);
    family(
        &mut o,
        "gate_passages_total",
        "counter",
        "Passages finished (events journaled) since start.",
    );
    let _ = writeln!(o, "gate_passages_total {}", view.finished);
    if let Some(us) = view.last_decision_us {
        family(
            &mut o,
            "gate_last_decision_seconds",
            "gauge",
            "Lookup and decision time of the last decision.",
        );
        let _ = writeln!(o, "gate_last_decision_seconds {:.6}", us as f64 / 1e6);
    }
    family(
        &mut o,
        "gate_link_connected",
        "gauge",
        "1 while the platform link is connected.",
    );
    let _ = writeln!(o, "gate_link_connected {}", b(view.link_connected));
    family(
        &mut o,
        "gate_whitelist_version",
        "gauge",
        "Whitelist version applied.",
    );
    let _ = writeln!(o, "gate_whitelist_version {}", view.whitelist_version);
    family(
        &mut o,
        "gate_clock_synced",
        "gauge",
        "1 when the lane trusts its wall clock.",
    );
    let _ = writeln!(o, "gate_clock_synced {}", b(view.clock_synced));
    family(
        &mut o,
        "gate_admission_stopped",
        "gauge",
        "1 while the lane admits no vehicle (outbox over its quota).",
    );
    let _ = writeln!(
        o,
        "gate_admission_stopped {}",
        b(view.admission_stopped.is_some())
    );
    if let Some(x) = outbox {
        family(
            &mut o,
            "gate_outbox_items",
            "gauge",
            "Items waiting for the platform, by kind.",
        );
        let _ = writeln!(o, "gate_outbox_items{{kind=\"event\"}} {}", x.events);
        let _ = writeln!(o, "gate_outbox_items{{kind=\"photo\"}} {}", x.photos);
        let _ = writeln!(
            o,
            "gate_outbox_items{{kind=\"other\"}} {}",
            x.depth.saturating_sub(x.events + x.photos)
        );
        family(
            &mut o,
            "gate_outbox_bytes",
            "gauge",
            "Bytes waiting for the platform.",
        );
        let _ = writeln!(o, "gate_outbox_bytes {}", x.bytes);
        family(
            &mut o,
            "gate_outbox_quota_bytes",
            "gauge",
            "The outbox quota.",
        );
        let _ = writeln!(o, "gate_outbox_quota_bytes {}", x.quota_bytes);
        family(
            &mut o,
            "gate_outbox_evicted_photos_total",
            "counter",
            "Photos evicted at the quota since the store opened.",
        );
        let _ = writeln!(o, "gate_outbox_evicted_photos_total {}", x.evicted_photos);
        if let Some(ms) = x.oldest_ms {
            let age = (gate_proto::time::now_unix_ms() - ms).max(0) as f64 / 1000.0;
            family(
                &mut o,
                "gate_outbox_oldest_age_seconds",
                "gauge",
                "Age of the oldest item waiting.",
            );
            let _ = writeln!(o, "gate_outbox_oldest_age_seconds {age:.3}");
        }
    }
    let devices = s.registry.snapshot();
    let now = Instant::now();
    type Value = fn(&DeviceHealth, Instant) -> Option<String>;
    let per_device: [(&str, &str, &str, Value); 5] = [
        (
            "gate_device_up",
            "gauge",
            "1 when the device's last exchange succeeded.",
            |h, _| Some(u8::from(h.answering()).to_string()),
        ),
        (
            "gate_device_errors_total",
            "counter",
            "Failed exchanges since the driver started.",
            |h, _| Some(h.total_errors.to_string()),
        ),
        (
            "gate_device_exchanges_total",
            "counter",
            "Successful exchanges since the driver started.",
            |h, _| Some(h.total_ok.to_string()),
        ),
        (
            "gate_device_last_success_age_seconds",
            "gauge",
            "Time since the device's last successful exchange.",
            |h, now| {
                h.last_success
                    .map(|t| format!("{:.3}", now.saturating_duration_since(t).as_secs_f64()))
            },
        ),
        (
            "gate_device_latency_seconds",
            "gauge",
            "Duration of the device's last successful exchange.",
            |h, _| h.last_latency.map(|l| format!("{:.6}", l.as_secs_f64())),
        ),
    ];
    for (name, kind, help, value) in per_device {
        family(&mut o, name, kind, help);
        for (device, h) in &devices {
            if let Some(v) = value(h, now) {
                let _ = writeln!(o, "{name}{{device=\"{}\"}} {v}", label(device));
            }
        }
    }
    o
}
