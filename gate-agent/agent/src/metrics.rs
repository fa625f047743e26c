//! The agent's metrics, and its metrics and health endpoint (`[metrics]
//! listen = "ADDR:PORT"`; absent: off) for the port's monitoring
//! (Prometheus, a load balancer, a field engineer's `curl`).
//!
//! Metrics, through `prometheus-client` (the Prometheus org's client):
//! - [`Metrics`]: the counters and histograms, one `Arc` made at start-up
//!   ([`crate::runtime::start`]) and handed to what updates them where it
//!   happens: the lane task (decisions by result and reason, arrival →
//!   decision, decision → raise, passages: `runtime/commands.rs`,
//!   `runtime/passage.rs`, the board writer in `runtime/wiring.rs`), the
//!   drivers' health cells (each device's request latency, exchanges and
//!   errors: [`crate::drivers::health`]), the platform link (reconnects,
//!   publish → PUBACK, whitelist applied: it is the link's
//!   [`gate_link::LinkObserver`]) and the recogniser (latency, drops:
//!   [`crate::recognition::worker`]);
//! - gauges read at scrape time by a collector: the lane's view (state,
//!   hold, admission, clock), the link's state, the whitelist version and
//!   age, the store's outbox totals, each device's up / last success, the
//!   recognition queue, the lane task's heartbeat.
//!
//! docs/operations.md lists every series and the alarms a port should set.
//!
//! The endpoint:
//! - `GET /metrics`: Prometheus text exposition format 0.0.4, or
//!   OpenMetrics 1.0.0 text when the client's `Accept` asks for
//!   `application/openmetrics-text` (as Prometheus does);
//! - `GET /healthz`: 200 while the lane task turns (its one-second tick
//!   beat within 5 s), else 503: for a supervisor that restarts a stuck
//!   process;
//! - `GET /readyz`: 200 when the lane can take a vehicle (lane task
//!   turning, lane I/O board answering, admission open, store writing),
//!   else 503 with every reason, as JSON.
//!
//! Layer: agent edge. The endpoint is read-only: it reads the lane's view,
//! driver health, the link's state and the store's outbox totals, and
//! changes nothing. Updating a metric is cheap and never blocks on I/O.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use gate_proto::messages::{DecisionResult, Reason};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::drivers::health::{DeviceObservers, ExchangeObserver};
use crate::recognition::Recogniser;
use crate::runtime::{AgentHandle, Heartbeat, LaneView};

/// The lane task is stuck when its heartbeat is older than this.
pub const STUCK_AFTER: Duration = Duration::from_secs(5);

/// Content type of the Prometheus text format 0.0.4 (the default answer).
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Content type of OpenMetrics text (when the client asks for it).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of every latency histogram: 1 ms to 30 s, about
/// 2.5x apart (a Modbus TCP answer is a few ms, an RTU answer tens of ms, a
/// camera frame or a recognition hundreds, a truck's identification
/// seconds; anything slower than 30 s falls in `+Inf`).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    result: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabels {
    device: String,
}

type DeviceHistograms = Family<DeviceLabels, Histogram, fn() -> Histogram>;

/// The agent's counters and histograms (see the module documentation for
/// where each is updated). Cheap to update from any thread.
#[derive(Debug)]
pub struct Metrics {
    decisions: Family<DecisionLabels, Counter>,
    arrival_to_decision: Histogram,
    decision_to_raise: Histogram,
    passages: Counter,
    device_latency: DeviceHistograms,
    device_exchanges: Family<DeviceLabels, Counter>,
    device_errors: Family<DeviceLabels, Counter>,
    link_reconnects: Counter,
    link_puback: Histogram,
    recognition_latency: Histogram,
    recognition_dropped: Counter,
    /// The whitelist version last applied while this agent ran, and when.
    whitelist_applied: Mutex<Option<(u64, Instant)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            decisions: Family::default(),
            arrival_to_decision: latency_histogram(),
            decision_to_raise: latency_histogram(),
            passages: Counter::default(),
            device_latency: Family::new_with_constructor(latency_histogram),
            device_exchanges: Family::default(),
            device_errors: Family::default(),
            link_reconnects: Counter::default(),
            link_puback: latency_histogram(),
            recognition_latency: latency_histogram(),
            recognition_dropped: Counter::default(),
            whitelist_applied: Mutex::new(None),
        }
    }

    /// The lane took a decision: one count per reason code (a decision
    /// without one counts under `none`).
    pub fn decision(&self, result: DecisionResult, reasons: &[Reason]) {
        let result = result_name(result);
        let none = reasons.is_empty().then_some("none");
        for reason in reasons.iter().map(|r| r.as_str()).chain(none) {
            self.decisions
                .get_or_create(&DecisionLabels { result, reason })
                .inc();
        }
    }

    /// A passage's first decision came `d` after its arrival.
    pub fn arrival_to_decision(&self, d: Duration) {
        self.arrival_to_decision.observe(d.as_secs_f64());
    }

    /// The lane I/O board took the raise `d` after the release (or
    /// inspect) decision that asked for it.
    pub fn decision_to_raise(&self, d: Duration) {
        self.decision_to_raise.observe(d.as_secs_f64());
    }

    /// A passage's event was journaled (finished).
    pub fn passage_finished(&self) {
        self.passages.inc();
    }

    /// The metrics of one device (its series exist from now on, at 0).
    fn device(&self, name: &str) -> DeviceMetrics {
        let l = DeviceLabels {
            device: name.to_owned(),
        };
        DeviceMetrics {
            latency: self.device_latency.get_or_create_owned(&l),
            exchanges: self.device_exchanges.get_or_create_owned(&l),
            errors: self.device_errors.get_or_create_owned(&l),
        }
    }

    /// A frame was read `d` after it was submitted (queue wait, decoding
    /// and reading).
    pub fn recognition(&self, d: Duration) {
        self.recognition_latency.observe(d.as_secs_f64());
    }

    /// A frame was pushed out of the full recognition queue.
    pub fn recognition_dropped(&self) {
        self.recognition_dropped.inc();
    }

    /// Age of the whitelist if `version` is the one applied while this
    /// agent ran.
    fn whitelist_age(&self, version: u64) -> Option<Duration> {
        let applied = *self
            .whitelist_applied
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        applied
            .filter(|(v, _)| *v == version)
            .map(|(_, at)| at.elapsed())
    }

    /// The counters and histograms alone (no scrape-time gauge), as
    /// Prometheus text: for tests and diagnostics.
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut r = Registry::default();
        self.register(&mut r);
        encode(&r, false)
    }

    /// Register every counter and histogram (clones share the values).
    fn register(&self, r: &mut Registry) {
        r.register(
            "gate_decisions",
            "Decisions the lane took, by result and reason code (a decision counts once per reason code it carries)",
            self.decisions.clone(),
        );
        r.register_with_unit(
            "gate_arrival_to_decision",
            "Time from a vehicle's arrival to its passage's first decision",
            Unit::Seconds,
            self.arrival_to_decision.clone(),
        );
        r.register_with_unit(
            "gate_decision_to_raise",
            "Time from a release or inspect decision to the lane I/O board taking the raise command",
            Unit::Seconds,
            self.decision_to_raise.clone(),
        );
        r.register(
            "gate_passages",
            "Passages finished (events journaled) since start",
            self.passages.clone(),
        );
        r.register_with_unit(
            "gate_device_latency",
            "Duration of each successful exchange with the device (request to answer)",
            Unit::Seconds,
            self.device_latency.clone(),
        );
        r.register(
            "gate_device_exchanges",
            "Successful exchanges with the device since start",
            self.device_exchanges.clone(),
        );
        r.register(
            "gate_device_errors",
            "Failed exchanges with the device since start (timeouts, transport and data errors)",
            self.device_errors.clone(),
        );
        r.register(
            "gate_link_reconnects",
            "Connections to the platform broker after the first one since start",
            self.link_reconnects.clone(),
        );
        r.register_with_unit(
            "gate_link_publish_ack",
            "Time from an outbox item's publish to the broker's PUBACK",
            Unit::Seconds,
            self.link_puback.clone(),
        );
        r.register_with_unit(
            "gate_recognition",
            "Time from a frame's submission to its on-board recognition result (queue, decode, read)",
            Unit::Seconds,
            self.recognition_latency.clone(),
        );
        r.register(
            "gate_recognition_dropped",
            "Frames pushed out of the full on-board recognition queue",
            self.recognition_dropped.clone(),
        );
    }
}

impl gate_link::LinkObserver for Metrics {
    fn connected(&self, nth: u64) {
        if nth > 1 {
            self.link_reconnects.inc();
        }
    }

    fn outbox_acked(&self, latency: Duration) {
        self.link_puback.observe(latency.as_secs_f64());
    }

    fn whitelist_applied(&self, version: u64) {
        *self
            .whitelist_applied
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((version, Instant::now()));
    }
}

fn result_name(r: DecisionResult) -> &'static str {
    match r {
        DecisionResult::Release => "release",
        DecisionResult::Hold => "hold",
        DecisionResult::Inspect => "inspect",
    }
}

/// One device's series, kept by its health cell (no label lookup per
/// exchange).
#[derive(Clone, Debug)]
pub struct DeviceMetrics {
    latency: Histogram,
    exchanges: Counter,
    errors: Counter,
}

impl ExchangeObserver for DeviceMetrics {
    fn ok(&self, latency: Duration) {
        self.exchanges.inc();
        self.latency.observe(latency.as_secs_f64());
    }

    fn err(&self) {
        self.errors.inc();
    }
}

/// Every device's health cell also updates its metrics
/// (`HealthRegistry::observed`).
impl DeviceObservers for Metrics {
    fn device(&self, name: &str) -> Arc<dyn ExchangeObserver> {
        Arc::new(Metrics::device(self, name))
    }
}

// ------------------------------------------------------------------ endpoint

/// What the endpoint and its scrape-time gauges read.
#[derive(Clone)]
struct Sources {
    view: tokio::sync::watch::Receiver<LaneView>,
    registry: crate::drivers::HealthRegistry,
    store: gate_store::Store,
    link: gate_link::LinkHandle,
    recogniser: Option<Arc<Recogniser>>,
    heartbeat: Arc<Heartbeat>,
    metrics: Arc<Metrics>,
    board: Option<String>,
}

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sources")
            .field("board", &self.board)
            .finish_non_exhaustive()
    }
}

/// The endpoint's state: the sources and the registry it encodes.
#[derive(Clone)]
struct Endpoint {
    sources: Sources,
    prometheus: Arc<Registry>,
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
        link: agent.link.clone(),
        recogniser: agent.recogniser.clone(),
        heartbeat: agent.heartbeat.clone(),
        metrics: agent.metrics.clone(),
        board: cfg.devices.board.as_ref().map(|b| b.name.clone()),
    };
    let mut prometheus = Registry::default();
    prometheus.register(
        "gate_build",
        "Agent version and lane identity",
        Info::new(vec![
            ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
            ("site".to_owned(), cfg.lane.site.clone()),
            ("lane".to_owned(), cfg.lane.lane.clone()),
        ]),
    );
    agent.metrics.register(&mut prometheus);
    prometheus.register_collector(Box::new(ScrapeGauges(sources.clone())));
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Endpoint {
            sources,
            prometheus: Arc::new(prometheus),
        });
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(%e, "metrics endpoint stopped");
        }
    });
    info!(%addr, "metrics and health endpoint");
    Ok(Some(MetricsServer { addr, task }))
}

/// Whether the client asks for OpenMetrics (Prometheus does; curl and
/// promtool do not).
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

/// The registry in OpenMetrics text or in Prometheus text 0.0.4.
pub fn encode(registry: &Registry, openmetrics: bool) -> Result<String, fmt::Error> {
    let mut out = String::with_capacity(16 * 1024);
    if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, registry)?;
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, registry)?;
    }
    Ok(out)
}

async fn metrics(State(e): State<Endpoint>, headers: HeaderMap) -> Response {
    let openmetrics = wants_openmetrics(&headers);
    let registry = e.prometheus.clone();
    // The scrape-time gauges read the store (SQLite): off the async threads.
    match tokio::task::spawn_blocking(move || encode(&registry, openmetrics)).await {
        Ok(Ok(body)) => {
            let ct = if openmetrics {
                OPENMETRICS_CONTENT_TYPE
            } else {
                TEXT_CONTENT_TYPE
            };
            ([(header::CONTENT_TYPE, ct)], body).into_response()
        }
        Ok(Err(err)) => {
            warn!(%err, "metrics not encoded");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("metrics not encoded: {err}\n"),
            )
                .into_response()
        }
        Err(err) => {
            warn!(%err, "metrics encoding task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("metrics encoding task failed: {err}\n"),
            )
                .into_response()
        }
    }
}

async fn healthz(State(e): State<Endpoint>) -> impl IntoResponse {
    let age = e.sources.heartbeat.age();
    if age <= STUCK_AFTER {
        (StatusCode::OK, "ok\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("lane task stuck: no beat for {:.1} s\n", age.as_secs_f64()),
        )
    }
}

async fn readyz(State(e): State<Endpoint>) -> impl IntoResponse {
    let s = &e.sources;
    let reasons = not_ready(s, &s.view.borrow().clone());
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

// ------------------------------------------------------ scrape-time gauges

/// The gauges read when scraped (and the store's eviction counter).
#[derive(Debug)]
struct ScrapeGauges(Sources);

/// One unlabelled gauge.
fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: impl EncodeGaugeValue,
) -> fmt::Result {
    ConstGauge::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// One gauge family, a value per label set (nothing when there is none).
fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: Vec<(L, V)>,
) -> fmt::Result {
    if rows.is_empty() {
        return Ok(());
    }
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        ConstGauge::new(v).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for ScrapeGauges {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let view = s.view.borrow().clone();
        let link = s.link.state();
        let b = |v: bool| i64::from(v);

        // The lane.
        gauges(
            &mut enc,
            "gate_lane_state",
            "1 for the lane's current state, 0 for the others.",
            gate_core::lane::State::NAMES
                .iter()
                .map(|st| ([("state", *st)], b(view.state == *st)))
                .collect(),
        )?;
        gauge(
            &mut enc,
            "gate_lane_heartbeat_age_seconds",
            "Time since the lane task last turned.",
            s.heartbeat.age().as_secs_f64(),
        )?;
        gauge(
            &mut enc,
            "gate_vehicle_held",
            "1 while the lane holds a vehicle at the closed arm.",
            b(view.hold.is_some()),
        )?;
        if let Some(us) = view.last_decision_us {
            gauge(
                &mut enc,
                "gate_last_decision_seconds",
                "Lookup and decision time of the last automatic decision.",
                us as f64 / 1e6,
            )?;
        }
        gauge(
            &mut enc,
            "gate_clock_synced",
            "1 when the lane trusts its wall clock.",
            b(view.clock_synced),
        )?;
        gauge(
            &mut enc,
            "gate_admission_stopped",
            "1 while the lane admits no vehicle (outbox over its quota with events alone, or the store not writable).",
            b(view.admission_stopped.is_some()),
        )?;

        // The platform link and the whitelist.
        gauge(
            &mut enc,
            "gate_link_connected",
            "1 while the platform link is connected.",
            b(link.connected),
        )?;
        gauge(
            &mut enc,
            "gate_link_in_flight",
            "Outbox items published and waiting for their PUBACK.",
            link.in_flight as i64,
        )?;
        gauge(
            &mut enc,
            "gate_whitelist_version",
            "Whitelist version the lane decides with (0: none yet).",
            link.whitelist_version as i64,
        )?;
        gauge(
            &mut enc,
            "gate_whitelist_out_of_date",
            "1 while the lane knows its whitelist is behind the platform's (a resync is asked).",
            b(link.whitelist_out_of_date),
        )?;
        if let Some(age) = s.metrics.whitelist_age(link.whitelist_version) {
            gauge(
                &mut enc,
                "gate_whitelist_age_seconds",
                "Time since the current whitelist version was applied (known once a batch applied since the agent started).",
                age.as_secs_f64(),
            )?;
        }

        // The outbox.
        match s.store.outbox_stats() {
            Ok(x) => {
                gauges(
                    &mut enc,
                    "gate_outbox_items",
                    "Items waiting for the platform, by kind (their sum is the outbox depth).",
                    vec![
                        ([("kind", "event")], x.events as i64),
                        ([("kind", "photo")], x.photos as i64),
                        ([("kind", "other")], x.others() as i64),
                    ],
                )?;
                gauge(
                    &mut enc,
                    "gate_outbox_bytes",
                    "Bytes waiting for the platform.",
                    x.bytes as i64,
                )?;
                gauge(
                    &mut enc,
                    "gate_outbox_quota_bytes",
                    "The outbox quota.",
                    x.quota_bytes as i64,
                )?;
                gauge(
                    &mut enc,
                    "gate_outbox_pressure_ratio",
                    "Outbox bytes over the quota (1 = full; 0 without a quota).",
                    x.used_ratio(),
                )?;
                let age = x
                    .oldest_age_ms(gate_proto::time::now_unix_ms())
                    .map_or(0.0, |ms| ms as f64 / 1000.0);
                gauge(
                    &mut enc,
                    "gate_outbox_oldest_age_seconds",
                    "Age of the oldest item waiting (0 when the outbox is empty).",
                    age,
                )?;
                ConstCounter::new(x.evicted_photos).encode(enc.encode_descriptor(
                    "gate_outbox_evicted_photos",
                    "Photos evicted at the quota since the store opened.",
                    None,
                    MetricType::Counter,
                )?)?;
            }
            Err(e) => warn!(%e, "metrics: outbox totals unreadable"),
        }

        // Devices.
        let devices = s.registry.snapshot();
        let now = Instant::now();
        gauges(
            &mut enc,
            "gate_device_up",
            "1 when the device's last exchange succeeded.",
            devices
                .iter()
                .map(|(d, h)| ([("device", d.as_str())], b(h.answering())))
                .collect(),
        )?;
        gauges(
            &mut enc,
            "gate_device_last_success_age_seconds",
            "Time since the device's last successful exchange.",
            devices
                .iter()
                .filter_map(|(d, h)| {
                    h.last_success.map(|t| {
                        (
                            [("device", d.as_str())],
                            now.saturating_duration_since(t).as_secs_f64(),
                        )
                    })
                })
                .collect(),
        )?;

        // On-board recognition.
        if let Some(r) = &s.recogniser {
            gauge(
                &mut enc,
                "gate_recognition_queued",
                "Frames waiting for on-board recognition.",
                r.queued() as i64,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
impl Metrics {
    /// The counters and histograms alone, as Prometheus text.
    pub(crate) fn encode_for_test(&self) -> String {
        self.render().expect("encodes")
    }
}

#[cfg(test)]
mod tests;
