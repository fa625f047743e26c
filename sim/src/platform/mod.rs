//! The simulated central platform: the platform side of
//! shared/spec/platform.md over MQTT.
//!
//! It publishes the site's whitelist (signed snapshots in chunks and deltas),
//! answers `.../sync` requests, sends signed commands, and collects and checks
//! everything lanes publish (see [`collector`]): events (schema, duplicates,
//! per-lane seq gaps, conflicting duplicates), photos (size and sha256
//! against the event), alarms, retained status and command replies (exactly
//! one per command).
//!
//! Layer: simulator, platform side. It knows the contract (gate-proto) and
//! MQTT (rumqttc) and nothing about the lane's devices, physics or the agent's
//! internals: a lane is whatever publishes on `gate/v1/{site}/{lane}/...`.
//!
//! Concurrency: one task polls the MQTT event loop and feeds the sans-IO
//! [`collector::Collector`]; it never waits on a publish. Sync requests go
//! through a bounded queue to a second task that signs and publishes the
//! answer. Whitelist publishes are serialised so a lane never sees a delta
//! interleaved inside a snapshot's chunks.

pub mod collector;
pub mod key;
pub mod stray;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use gate_proto::messages::{
    Command, CommandKind, Deletes, LaneEvent, PassStatus, PassUses, Reply, Status, Upserts,
    WhitelistBatch, COMMAND_SCHEMA,
};
use gate_proto::time::{format_unix_ms, now_unix_ms};
use gate_proto::topics::{whitelist, LaneTopics};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::broker::{BrokerAddr, MAX_PAYLOAD_BYTES};
use crate::fixture::{Delta, Fixture, FixtureError, SyncAnswer};

pub use collector::{
    Collector, Conflict, DuplicateEvent, LaneAlarm, LaneReply, PhotoProblem, PlatformReport,
    Receipt, SchemaError, SeqGap, SyncSeen,
};
pub use key::{KeyError, PlatformKey, TEST_KID};

/// Work (sync answers, passes to mark used) waiting for the publisher task;
/// more is dropped (sync requests are reported in `sync_dropped`).
pub const SYNC_QUEUE: usize = 64;
/// Requests queued towards the MQTT event loop.
const REQUEST_CHANNEL: usize = 256;

/// A clock returning Unix milliseconds (wall time or a simulated wall time).
pub type NowFn = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("platform configuration: {0}")]
    Config(String),
    #[error("platform could not connect and subscribe to {broker} within {secs} s (last error: {last_error})")]
    Connect {
        broker: String,
        secs: u64,
        last_error: String,
    },
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    #[error("message of {bytes} bytes is over the {max}-byte limit")]
    TooLarge { bytes: usize, max: usize },
    #[error("MQTT client: {0}")]
    Client(#[from] rumqttc::ClientError),
    #[error("invalid command: {0}")]
    BadCommand(String),
    #[error("cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// How to run the platform. [`PlatformConfig::new`] gives the defaults.
#[derive(Clone)]
pub struct PlatformConfig {
    pub broker: BrokerAddr,
    pub site: String,
    pub key: PlatformKey,
    /// Default `platform-sim-{site}`.
    pub client_id: Option<String>,
    /// Records per snapshot chunk (default 500).
    pub records_per_chunk: usize,
    /// Command lifetime: `expires_at = issued_at + ttl` (default 60 s).
    pub command_ttl: Duration,
    /// Seq lanes start at, for gap reports (default `None`: each lane's
    /// lowest received seq).
    pub expect_first_seq: Option<u64>,
    /// Publish a snapshot once subscribed (default true). Not retained: a
    /// lane that connects later asks on `.../sync`.
    pub publish_snapshot_on_start: bool,
    /// How long `start` waits to be connected and subscribed (default 10 s).
    pub connect_timeout: Duration,
    /// Mark a single-use pass `used` (and publish the delta) when an event
    /// releases a truck or sends it to inspection on it, as the real platform
    /// does (docs/reasons.md, "Single-use passes"). Default true.
    pub consume_single_use_passes: bool,
    /// Clock for `issued_at`/`expires_at` (default: wall clock).
    pub now: NowFn,
}

impl std::fmt::Debug for PlatformConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformConfig")
            .field("broker", &self.broker)
            .field("site", &self.site)
            .field("key", &self.key)
            .field("client_id", &self.client_id)
            .field("records_per_chunk", &self.records_per_chunk)
            .field("command_ttl", &self.command_ttl)
            .field("expect_first_seq", &self.expect_first_seq)
            .field("publish_snapshot_on_start", &self.publish_snapshot_on_start)
            .field("connect_timeout", &self.connect_timeout)
            .field("consume_single_use_passes", &self.consume_single_use_passes)
            .finish_non_exhaustive()
    }
}

impl PlatformConfig {
    pub fn new(broker: BrokerAddr, site: &str, key: PlatformKey) -> Self {
        Self {
            broker,
            site: site.to_owned(),
            key,
            client_id: None,
            records_per_chunk: 500,
            command_ttl: Duration::from_secs(60),
            expect_first_seq: None,
            publish_snapshot_on_start: true,
            connect_timeout: Duration::from_secs(10),
            consume_single_use_passes: true,
            now: Arc::new(now_unix_ms),
        }
    }
}

/// A command to send; [`Platform::send_command`] fills in schema, id, site
/// and times, and validates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRequest {
    pub lane: String,
    pub kind: CommandKind,
    pub officer: Option<String>,
    pub note: Option<String>,
    pub event_id: Option<String>,
    pub device: Option<String>,
    /// Overrides the configured lifetime.
    pub ttl: Option<Duration>,
    /// Overrides the generated id.
    pub id: Option<String>,
}

impl CommandRequest {
    pub fn new(lane: &str, kind: CommandKind) -> Self {
        Self {
            lane: lane.to_owned(),
            kind,
            officer: None,
            note: None,
            event_id: None,
            device: None,
            ttl: None,
            id: None,
        }
    }
    pub fn officer(mut self, officer: &str) -> Self {
        self.officer = Some(officer.to_owned());
        self
    }
    pub fn note(mut self, note: &str) -> Self {
        self.note = Some(note.to_owned());
        self
    }
    pub fn event_id(mut self, event_id: &str) -> Self {
        self.event_id = Some(event_id.to_owned());
        self
    }
    pub fn device(mut self, device: &str) -> Self {
        self.device = Some(device.to_owned());
        self
    }
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_owned());
        self
    }
}

struct Shared {
    site: String,
    key: PlatformKey,
    records_per_chunk: usize,
    command_ttl: Duration,
    now: NowFn,
    collector: Mutex<Collector>,
    fixture: Mutex<Fixture>,
    /// Serialises whitelist publishes (snapshot chunks stay together).
    publish_lock: tokio::sync::Mutex<()>,
    changed: watch::Sender<u64>,
    subscribed: watch::Sender<bool>,
    last_error: Mutex<String>,
    connected: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning only means another task panicked mid-update; the data is
    // still the best we have for a test report.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running simulated platform for one site.
pub struct Platform {
    shared: Arc<Shared>,
    client: AsyncClient,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("site", &self.shared.site)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Connect to `broker` as the platform of `site` with the default
    /// configuration, subscribe, and publish a snapshot of `fixture`.
    pub async fn start(
        broker: BrokerAddr,
        site: &str,
        fixture: Fixture,
        key: PlatformKey,
    ) -> Result<Platform, PlatformError> {
        Self::start_with(PlatformConfig::new(broker, site, key), fixture).await
    }

    /// [`Platform::start`] with a full configuration.
    pub async fn start_with(
        cfg: PlatformConfig,
        fixture: Fixture,
    ) -> Result<Platform, PlatformError> {
        if !gate_proto::valid_id(&cfg.site) {
            return Err(PlatformError::Config(format!(
                "site `{}` is not [A-Z0-9-]{{1,16}}",
                cfg.site
            )));
        }
        if fixture.site() != cfg.site {
            return Err(PlatformError::Config(format!(
                "fixture is for site `{}`, platform for `{}`",
                fixture.site(),
                cfg.site
            )));
        }
        if cfg.records_per_chunk == 0 {
            return Err(PlatformError::Config(
                "records_per_chunk must be >= 1".into(),
            ));
        }
        let client_id = cfg
            .client_id
            .clone()
            .unwrap_or_else(|| format!("platform-sim-{}", cfg.site));
        let mut opts = MqttOptions::new(client_id, cfg.broker.host.clone(), cfg.broker.port);
        opts.set_clean_session(false)
            .set_keep_alive(Duration::from_secs(10))
            .set_max_packet_size(MAX_PAYLOAD_BYTES + 64 * 1024, MAX_PAYLOAD_BYTES + 64 * 1024)
            .set_request_channel_capacity(REQUEST_CHANNEL);
        let (client, mut eventloop) = AsyncClient::new(opts, REQUEST_CHANNEL);
        let (changed, _) = watch::channel(0u64);
        let (subscribed, mut sub_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            site: cfg.site.clone(),
            key: cfg.key.clone(),
            records_per_chunk: cfg.records_per_chunk,
            command_ttl: cfg.command_ttl,
            now: Arc::clone(&cfg.now),
            collector: Mutex::new(Collector::new(&cfg.site, cfg.expect_first_seq)),
            fixture: Mutex::new(fixture),
            publish_lock: tokio::sync::Mutex::new(()),
            changed,
            subscribed,
            last_error: Mutex::new("none".into()),
            connected: AtomicBool::new(false),
        });
        let (work_tx, mut work_rx) = mpsc::channel::<collector::Action>(SYNC_QUEUE);
        let consume = cfg.consume_single_use_passes;

        let sh = Arc::clone(&shared);
        let cl = client.clone();
        let poller = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        sh.connected.store(true, Ordering::SeqCst);
                        tracing::info!(session_present = ack.session_present, "platform connected");
                        let cl = cl.clone();
                        let filters = subscriptions(&sh.site);
                        let sh2 = Arc::clone(&sh);
                        tokio::spawn(async move {
                            if let Err(e) = cl.subscribe_many(filters).await {
                                *lock(&sh2.last_error) = format!("subscribe: {e}");
                            }
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        sh.subscribed.send_replace(true);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let now = (sh.now)();
                        let generation = {
                            let mut c = lock(&sh.collector);
                            let a = c.on_message(&p.topic, &p.payload, now);
                            let queue = match &a {
                                Some(collector::Action::AnswerSync { .. }) => true,
                                Some(collector::Action::PassUsed { .. }) => consume,
                                None => false,
                            };
                            if let (Some(a), true) = (a, queue) {
                                let is_sync = matches!(a, collector::Action::AnswerSync { .. });
                                if let Err(e) = work_tx.try_send(a) {
                                    tracing::warn!(work = ?e.into_inner(), "platform work queue full; dropped");
                                    if is_sync {
                                        c.sync_dropped();
                                    }
                                }
                            }
                            c.generation()
                        };
                        sh.changed.send_replace(generation);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        sh.connected.store(false, Ordering::SeqCst);
                        tracing::warn!(error = %e, "platform MQTT connection error; retrying");
                        *lock(&sh.last_error) = e.to_string();
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            }
        });

        let sh = Arc::clone(&shared);
        let cl = client.clone();
        let worker = tokio::spawn(async move {
            while let Some(work) = work_rx.recv().await {
                match work {
                    collector::Action::AnswerSync { lane, have_version } => {
                        if let Err(e) = answer_sync(&sh, &cl, &lane, have_version).await {
                            tracing::warn!(lane, have_version, error = %e, "cannot answer sync request");
                        }
                    }
                    collector::Action::PassUsed { lane, pass_no } => {
                        if let Err(e) = consume_pass(&sh, &cl, &pass_no).await {
                            tracing::warn!(lane, pass_no, error = %e, "cannot mark the pass used");
                        }
                    }
                }
            }
        });

        let platform = Platform {
            shared,
            client,
            tasks: vec![poller, worker],
        };
        let deadline = Instant::now() + cfg.connect_timeout;
        // (The watch::Ref must not live across the awaits below.)
        let subscribed = matches!(
            tokio::time::timeout_at(deadline, sub_rx.wait_for(|s| *s)).await,
            Ok(Ok(_))
        );
        if !subscribed {
            let last_error = lock(&platform.shared.last_error).clone();
            return Err(PlatformError::Connect {
                broker: cfg.broker.to_string(),
                secs: cfg.connect_timeout.as_secs(),
                last_error,
            });
        }
        if cfg.publish_snapshot_on_start {
            platform.publish_snapshot().await?;
        }
        Ok(platform)
    }

    pub fn site(&self) -> &str {
        &self.shared.site
    }

    /// Connected to the broker right now.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst)
    }

    /// The platform's current whitelist version.
    pub fn whitelist_version(&self) -> u64 {
        lock(&self.shared.fixture).version()
    }

    /// A copy of the current whitelist.
    pub fn fixture(&self) -> Fixture {
        lock(&self.shared.fixture).clone()
    }

    /// Publish the whole current whitelist as a snapshot (all chunks).
    /// Returns (version, chunk count).
    pub async fn publish_snapshot(&self) -> Result<(u64, usize), PlatformError> {
        let _g = self.shared.publish_lock.lock().await;
        let issued = format_unix_ms((self.shared.now)());
        let chunks = {
            let f = lock(&self.shared.fixture);
            f.snapshot(self.shared.records_per_chunk, &issued)?
        };
        let version = chunks.first().map_or(0, |c| c.version);
        publish_batches(&self.shared, &self.client, &chunks).await?;
        Ok((version, chunks.len()))
    }

    /// Apply `delta` to the whitelist (version + 1) and publish it.
    pub async fn publish_delta(&self, delta: Delta) -> Result<WhitelistBatch, PlatformError> {
        let _g = self.shared.publish_lock.lock().await;
        let issued = format_unix_ms((self.shared.now)());
        let batch = lock(&self.shared.fixture).apply(delta, &issued)?;
        publish_batches(&self.shared, &self.client, std::slice::from_ref(&batch)).await?;
        Ok(batch)
    }

    /// Build, validate, sign and publish a command; returns the body sent.
    pub async fn send_command(&self, req: CommandRequest) -> Result<Command, PlatformError> {
        if !gate_proto::valid_id(&req.lane) {
            return Err(PlatformError::BadCommand(format!(
                "lane `{}` is not [A-Z0-9-]{{1,16}}",
                req.lane
            )));
        }
        let now = (self.shared.now)();
        let ttl = req.ttl.unwrap_or(self.shared.command_ttl);
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let cmd = Command {
            schema: COMMAND_SCHEMA.to_owned(),
            id: req.id.unwrap_or_else(new_command_id),
            site: self.shared.site.clone(),
            lane: req.lane,
            issued_at: format_unix_ms(now),
            expires_at: format_unix_ms(now.saturating_add(ttl_ms)),
            kind: req.kind,
            officer: req.officer,
            note: req.note,
            event_id: req.event_id,
            device: req.device,
        };
        cmd.validate()
            .map_err(|e| PlatformError::BadCommand(e.to_string()))?;
        self.send_command_body(&cmd).await?;
        Ok(cmd)
    }

    /// Sign and publish exactly this command body, unchecked (for tests of
    /// the lane's refusals: replays, expired or foreign commands). It is
    /// tracked for replies like any other.
    pub async fn send_command_body(&self, cmd: &Command) -> Result<(), PlatformError> {
        let body = serde_json::to_string(cmd)?;
        let payload = serde_json::to_vec(&self.shared.key.sign(&body))?;
        check_size(payload.len())?;
        let topic = LaneTopics::new(&cmd.site, &cmd.lane).command();
        lock(&self.shared.collector).command_sent(cmd);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        tracing::info!(id = %cmd.id, lane = %cmd.lane, kind = ?cmd.kind, "command sent");
        Ok(())
    }

    /// Publish any payload on any topic (unsigned, unchecked): for tests of
    /// what a lane does with forged or malformed platform messages.
    pub async fn publish_raw(
        &self,
        topic: &str,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<(), PlatformError> {
        check_size(payload.len())?;
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await?;
        Ok(())
    }

    /// Valid events received so far, de-duplicated, in the order first received.
    pub fn events(&self) -> Vec<LaneEvent> {
        lock(&self.shared.collector).events().cloned().collect()
    }

    /// When each valid event first reached the platform (its clock), in
    /// the order first received.
    pub fn receipts(&self) -> Vec<Receipt> {
        lock(&self.shared.collector).receipts().collect()
    }

    /// The checked summary of everything received so far.
    pub fn report(&self) -> PlatformReport {
        let version = self.whitelist_version();
        lock(&self.shared.collector).report(version)
    }

    /// The latest status of `lane`.
    pub fn status(&self, lane: &str) -> Option<Status> {
        lock(&self.shared.collector).status(lane).cloned()
    }

    /// Wait until `f` returns `Some` on the collector (checked now and after
    /// every message), or `timeout` passes.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&Collector) -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.shared.changed.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f(&lock(&self.shared.collector)) {
                return Some(v);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the poller is gone: one last look.
                _ => return f(&lock(&self.shared.collector)),
            }
        }
    }

    /// The first collected event (already received or arriving within
    /// `timeout`) for which `pred` holds.
    pub async fn wait_for_event(
        &self,
        mut pred: impl FnMut(&LaneEvent) -> bool,
        timeout: Duration,
    ) -> Option<LaneEvent> {
        self.wait_until(timeout, |c| c.events().find(|e| pred(e)).cloned())
            .await
    }

    /// The first reply to `command_id`, waiting up to `timeout`.
    pub async fn wait_for_reply(&self, command_id: &str, timeout: Duration) -> Option<Reply> {
        self.wait_until(timeout, |c| c.reply(command_id).cloned())
            .await
    }

    /// Disconnect and stop the platform's tasks.
    pub async fn shutdown(mut self) {
        let _ = self.client.disconnect().await;
        // Let the event loop send the DISCONNECT.
        tokio::time::sleep(Duration::from_millis(50)).await;
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The lane-side topics of the site the platform subscribes to (QoS 1).
fn subscriptions(site: &str) -> Vec<rumqttc::SubscribeFilter> {
    ["event", "photo/+/+", "status", "alarm", "sync", "reply"]
        .into_iter()
        .map(|t| rumqttc::SubscribeFilter::new(format!("gate/v1/{site}/+/{t}"), QoS::AtLeastOnce))
        .collect()
}

fn check_size(bytes: usize) -> Result<(), PlatformError> {
    if bytes > MAX_PAYLOAD_BYTES {
        return Err(PlatformError::TooLarge {
            bytes,
            max: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(())
}

/// `CMD-` and 16 random hex digits.
fn new_command_id() -> String {
    format!("CMD-{:016X}", rand::random::<u64>())
}

async fn publish_batches(
    sh: &Shared,
    client: &AsyncClient,
    batches: &[WhitelistBatch],
) -> Result<(), PlatformError> {
    let topic = whitelist(&sh.site);
    for b in batches {
        let body = serde_json::to_string(b)?;
        let payload = serde_json::to_vec(&sh.key.sign(&body))?;
        check_size(payload.len())?;
        client
            .publish(topic.clone(), QoS::AtLeastOnce, false, payload)
            .await?;
        tracing::debug!(kind = ?b.kind, version = b.version, chunk = ?b.chunk, "whitelist batch published");
    }
    Ok(())
}

/// Mark a single-use, approved pass `used` with a delta, as the platform
/// does once a truck went through on it.
async fn consume_pass(
    sh: &Shared,
    client: &AsyncClient,
    pass_no: &str,
) -> Result<(), PlatformError> {
    let _g = sh.publish_lock.lock().await;
    let issued = format_unix_ms((sh.now)());
    let batch = {
        let mut f = lock(&sh.fixture);
        let Some(p) = f.gate_pass(pass_no) else {
            return Ok(());
        };
        if p.uses != PassUses::Single || p.status != PassStatus::Approved {
            return Ok(());
        }
        let mut used = p.clone();
        used.status = PassStatus::Used;
        f.apply(
            Delta {
                upserts: Upserts {
                    gate_passes: vec![used],
                    ..Upserts::default()
                },
                deletes: Deletes::default(),
            },
            &issued,
        )?
    };
    tracing::info!(
        pass_no,
        version = batch.version,
        "single-use pass marked used"
    );
    publish_batches(sh, client, std::slice::from_ref(&batch)).await
}

async fn answer_sync(
    sh: &Shared,
    client: &AsyncClient,
    lane: &str,
    have: u64,
) -> Result<(), PlatformError> {
    let _g = sh.publish_lock.lock().await;
    let issued = format_unix_ms((sh.now)());
    let answer = lock(&sh.fixture).answer_sync(have, sh.records_per_chunk, &issued)?;
    match answer {
        SyncAnswer::UpToDate => {
            tracing::info!(lane, have, "sync: lane is up to date");
            Ok(())
        }
        SyncAnswer::Deltas(d) => {
            tracing::info!(lane, have, deltas = d.len(), "sync: sending deltas");
            publish_batches(sh, client, &d).await
        }
        SyncAnswer::Snapshot(s) => {
            tracing::info!(lane, have, chunks = s.len(), "sync: sending a snapshot");
            publish_batches(sh, client, &s).await
        }
    }
}

/// The futures of the API are `Send`, so a runner can `tokio::spawn` them.
#[allow(dead_code)]
fn _futures_are_send(cfg: PlatformConfig, f: Fixture, p: &Platform) {
    fn is_send<T: Send>(_: T) {}
    is_send(Platform::start_with(cfg, f));
    is_send(p.publish_snapshot());
    is_send(p.publish_delta(Delta::default()));
    is_send(p.send_command(CommandRequest::new("L01", CommandKind::Lower)));
    is_send(p.wait_for_event(|_| true, Duration::ZERO));
    is_send(p.wait_for_reply("x", Duration::ZERO));
    is_send(p.publish_raw("t", Vec::new(), false));
}
