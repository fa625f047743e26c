//! The link runtime: the connection task (connect, backoff, outbox drain,
//! status, sync requests), the per-connection event-loop driver, and the
//! handle the agent holds.
//!
//! Layer: tokio + rumqttc. Knows topics and JSON; reaches storage only
//! through the [`crate::store`] traits (from `spawn_blocking`); knows nothing
//! about the lane's devices or decisions (the agent answers commands).
//!
//! Tasks:
//! - connection task (one): connects with backoff, and while connected is
//!   the only publisher (outbox items, status, sync requests).
//! - driver (one per connection): polls that connection's rumqttc event loop
//!   and forwards packet ids / PUBACKs to the connection task and incoming
//!   messages to the inbound task. A fresh `AsyncClient` + `EventLoop` is made
//!   for every connection, so rumqttc never re-sends a publish of a dead
//!   connection: the outbox is the only retransmission mechanism.
//! - inbound task (one, [`crate::inbound`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gate_proto::messages::{
    Alarm, Command, DeviceStatus, OutboxStatus, Severity, Status, SyncRequest,
};
use gate_proto::sign::Keyring;
use gate_proto::topics::LaneTopics;
use rumqttc::{
    AsyncClient, ClientError, Event, EventLoop, Outgoing, Packet, QoS, SubscribeFilter,
    SubscribeReasonCode,
};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::config::{LinkConfig, DIRECT_SLOTS};
use crate::error::LinkError;
use crate::inbound::{self, Inbound, INBOUND_QUEUE};
use crate::observe::{LinkObserver, NoObserver};
use crate::store::{CommandLog, Outbox, OutboxItem, OutboxMessage, StoreError, WhitelistSink};
use crate::verify::printable;
use crate::window::{Tag, Window, WindowLimits};

/// The retained status the MQTT will (and a clean shutdown) leaves.
pub const OFFLINE_STATUS: &str = r#"{"state":"offline"}"#;

/// Alarm kind for an outbox item that can never be sent (dropped).
pub const DROPPED: &str = "outbox_item_dropped";

/// What the link needs from the rest of the agent.
#[derive(Clone)]
pub struct LinkDeps {
    pub outbox: Arc<dyn Outbox>,
    pub whitelist: Arc<dyn WhitelistSink>,
    pub commands: Arc<dyn CommandLog>,
    /// The platform's public keys (signed batches and commands).
    pub keyring: Keyring,
}

/// A verified command for the agent, with the way to answer it. The agent's
/// safety rules override commands: it answers `ok = false` with the reason.
#[derive(Debug)]
pub struct CommandRequest {
    pub command: Command,
    respond: oneshot::Sender<CommandResult>,
}

/// The agent's answer to a command (becomes the one reply on `.../reply`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandResult {
    pub ok: bool,
    pub detail: String,
}

impl CommandRequest {
    pub(crate) fn new(command: Command, respond: oneshot::Sender<CommandResult>) -> Self {
        Self { command, respond }
    }
    /// Answer the command. Dropping the request unanswered replies
    /// `ok = false`; so does not answering within `command_timeout_ms`.
    pub fn respond(self, ok: bool, detail: impl Into<String>) {
        let _ = self.respond.send(CommandResult {
            ok,
            detail: detail.into(),
        });
    }
}

/// What the agent receives from the link.
pub struct LinkReceivers {
    /// Verified commands, at most `command_queue` waiting.
    pub commands: mpsc::Receiver<CommandRequest>,
}

/// The agent's part of the retained status (the link adds state, time,
/// whitelist version and outbox depth).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusInput {
    pub devices: Vec<DeviceStatus>,
    pub clock_synced: Option<bool>,
    pub lane_state: Option<String>,
    pub barrier: Option<String>,
    /// Software version.
    pub version: Option<String>,
    /// The vehicle held now, if one is.
    pub hold: Option<gate_proto::messages::HoldStatus>,
}

/// The link's state, for the agent's health view and for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkState {
    pub connected: bool,
    /// Successful connections since start.
    pub connects: u64,
    pub last_error: Option<String>,
    /// Outbox items published and waiting for their PUBACK.
    pub in_flight: usize,
    /// Outbox items acknowledged by the broker (and deleted) since start.
    pub acked: u64,
    /// Outbox items dropped because they could never be sent.
    pub dropped: u64,
    pub whitelist_version: u64,
    /// The whitelist is known to be behind the platform (a resync is asked).
    pub whitelist_out_of_date: bool,
    /// Platform messages refused (each raised an alarm).
    pub rejected: u64,
    /// Commands handed to the agent.
    pub commands: u64,
}

/// Whitelist sync state, shared by the inbound task (writer) and the
/// connection task (status, sync requests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WlState {
    pub version: u64,
    /// Out of date: ask `.../sync` (now, then every resync interval without progress).
    pub resync: bool,
    /// Bumped on every applied batch or stored chunk.
    pub progress: u64,
    /// The version was read from the store.
    pub known: bool,
}

pub(crate) struct Shared {
    pub cfg: LinkConfig,
    pub topics: LaneTopics,
    pub keyring: Keyring,
    pub outbox: Arc<dyn Outbox>,
    pub whitelist: Arc<dyn WhitelistSink>,
    pub commands: Arc<dyn CommandLog>,
    pub drain: Notify,
    pub force_sync: Notify,
    pub state: watch::Sender<LinkState>,
    pub status_in: watch::Sender<StatusInput>,
    pub wl: watch::Sender<WlState>,
    pub shutdown: watch::Sender<bool>,
    /// Told of connections, PUBACKs and applied whitelist versions.
    pub observer: Arc<dyn LinkObserver>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Run a blocking store call off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(StoreError::new(format!("store call failed: {e}"))),
    }
}

impl Shared {
    /// Change the whitelist sync state (inbound task) and mirror it in the
    /// link state.
    pub(crate) fn update_wl(&self, f: impl FnOnce(&mut WlState)) {
        self.wl.send_modify(f);
        let w = *self.wl.borrow();
        self.state.send_modify(|s| {
            s.whitelist_version = w.version;
            s.whitelist_out_of_date = w.resync;
        });
    }

    pub(crate) fn note_error(&self, e: String) {
        self.state.send_modify(|s| s.last_error = Some(e));
    }

    /// Put an alarm in the outbox and wake the drain.
    pub(crate) async fn alarm(
        &self,
        kind: &str,
        severity: Severity,
        detail: String,
    ) -> Result<String, LinkError> {
        let now = gate_proto::time::now_unix_ms();
        let alarm = Alarm {
            alarm_id: format!("A{now:012x}{:016x}", rand::random::<u64>()),
            kind: kind.to_owned(),
            severity,
            at: gate_proto::time::format_unix_ms(now),
            detail,
        };
        let payload = serde_json::to_vec(&alarm)
            .map_err(|e| LinkError::Store(StoreError::new(format!("alarm not encoded: {e}"))))?;
        let msg = OutboxMessage {
            topic: self.topics.alarm(),
            payload,
        };
        let outbox = self.outbox.clone();
        blocking(move || outbox.enqueue(&msg)).await?;
        self.drain.notify_one();
        Ok(alarm.alarm_id)
    }
}

/// The agent's handle on the link. Cheap to clone.
#[derive(Clone)]
pub struct LinkHandle {
    shared: Arc<Shared>,
}

impl LinkHandle {
    /// Wake the outbox drain (call after enqueueing).
    pub fn notify_outbox(&self) {
        self.shared.drain.notify_one();
    }
    /// A snapshot of the link's state.
    pub fn state(&self) -> LinkState {
        self.shared.state.borrow().clone()
    }
    /// Watch the link's state change.
    pub fn watch_state(&self) -> watch::Receiver<LinkState> {
        self.shared.state.subscribe()
    }
    /// Replace the agent's part of the status; published soon (at most once
    /// per `status_min_interval_ms`) when it changed.
    pub fn set_status(&self, status: StatusInput) {
        self.shared.status_in.send_if_modified(|s| {
            if *s == status {
                false
            } else {
                *s = status;
                true
            }
        });
    }
    /// Raise an alarm (through the outbox). Returns its `alarm_id`.
    pub async fn alarm(
        &self,
        kind: &str,
        severity: Severity,
        detail: impl Into<String>,
    ) -> Result<String, LinkError> {
        self.shared.alarm(kind, severity, detail.into()).await
    }
    /// Ask the platform for batches after the current version now (e.g. for
    /// a `resync` command).
    pub fn request_resync(&self) {
        self.shared.force_sync.notify_one();
    }
    /// The lane's topics.
    pub fn topics(&self) -> &LaneTopics {
        &self.shared.topics
    }
    /// Stop: when connected, publish the retained offline status, wait
    /// (bounded) for the PUBACKs in flight and disconnect. Idempotent.
    pub async fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        let tasks: Vec<JoinHandle<()>> = match self.shared.tasks.lock() {
            Ok(mut g) => g.drain(..).collect(),
            Err(p) => p.into_inner().drain(..).collect(),
        };
        let mut tasks = tasks.into_iter();
        // The connection task ends by itself; the inbound task is aborted
        // after it (a store call in flight still completes atomically).
        if let Some(conn) = tasks.next() {
            let _ = conn.await;
        }
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// The platform link.
pub struct Link;

impl Link {
    /// Start the link on the current tokio runtime.
    pub fn spawn(
        config: LinkConfig,
        deps: LinkDeps,
    ) -> Result<(LinkHandle, LinkReceivers), LinkError> {
        Self::spawn_observed(config, deps, Arc::new(NoObserver))
    }

    /// [`Link::spawn`], telling `observer` of connections, PUBACKs and
    /// applied whitelist versions from the start.
    pub fn spawn_observed(
        config: LinkConfig,
        deps: LinkDeps,
        observer: Arc<dyn LinkObserver>,
    ) -> Result<(LinkHandle, LinkReceivers), LinkError> {
        config.validate()?;
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| LinkError::Config("Link::spawn needs a tokio runtime".into()))?;
        let tls = config
            .tls
            .as_ref()
            .map(crate::tls::client_config)
            .transpose()?;
        let (commands_tx, commands_rx) = mpsc::channel(config.command_queue);
        let (in_tx, in_rx) = mpsc::channel(INBOUND_QUEUE);
        let shared = Arc::new(Shared {
            topics: config.topics(),
            cfg: config,
            keyring: deps.keyring,
            outbox: deps.outbox,
            whitelist: deps.whitelist,
            commands: deps.commands,
            drain: Notify::new(),
            force_sync: Notify::new(),
            state: watch::Sender::new(LinkState::default()),
            status_in: watch::Sender::new(StatusInput::default()),
            wl: watch::Sender::new(WlState::default()),
            shutdown: watch::Sender::new(false),
            observer,
            tasks: Mutex::new(Vec::new()),
        });
        let conn = rt.spawn(run(shared.clone(), tls, in_tx));
        let inb = rt.spawn(inbound::run(shared.clone(), in_rx, commands_tx));
        if let Ok(mut g) = shared.tasks.lock() {
            g.push(conn);
            g.push(inb);
        }
        Ok((
            LinkHandle { shared },
            LinkReceivers {
                commands: commands_rx,
            },
        ))
    }
}

/// What the driver tells the connection task.
#[derive(Debug)]
enum Ev {
    Sent(u16),
    Collision(u16),
    PubAck(u16),
    SubFailed,
    Down(String),
}

/// Why a connection ended.
enum End {
    Down(String),
    Shutdown,
}

async fn run(
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ClientConfig>>,
    in_tx: mpsc::Sender<Inbound>,
) {
    let cfg = &shared.cfg;
    let mut backoff = Backoff::new(
        LinkConfig::ms(cfg.backoff_base_ms),
        LinkConfig::ms(cfg.backoff_cap_ms),
    );
    let mut shutdown = shared.shutdown.subscribe();
    let mut wl_rx = shared.wl.subscribe();
    let mut status_rx = shared.status_in.subscribe();
    let options = cfg.mqtt_options(tls);
    let cap = usize::from(cfg.rumqttc_inflight()) + INBOUND_QUEUE + 64;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let attempt = connect(options.clone(), cap, LinkConfig::ms(cfg.connect_timeout_ms));
        let res = tokio::select! {
            r = attempt => r,
            _ = shutdown.changed() => break,
        };
        let err = match res {
            Ok((client, eventloop, session_present)) => {
                let up = Instant::now();
                let mut nth = 0;
                shared.state.send_modify(|s| {
                    s.connected = true;
                    s.connects += 1;
                    nth = s.connects;
                });
                shared.observer.connected(nth);
                info!(session_present, "connected to {}:{}", cfg.host, cfg.port);
                let mut conn = Conn::new(&shared, client);
                let end = conn
                    .run(eventloop, &in_tx, &mut shutdown, &mut wl_rx, &mut status_rx)
                    .await;
                shared.state.send_modify(|s| {
                    s.connected = false;
                    s.in_flight = 0;
                });
                if up.elapsed() >= LinkConfig::ms(cfg.stable_after_ms) {
                    backoff.reset();
                }
                match end {
                    End::Shutdown => break,
                    End::Down(e) => e,
                }
            }
            Err(e) => e,
        };
        warn!("link down: {err}");
        shared.note_error(err);
        let delay = backoff.next_delay(rand::random::<f64>());
        debug!(
            ?delay,
            attempts = backoff.attempts(),
            "reconnecting after backoff"
        );
        tokio::select! {
            _ = sleep(delay) => {}
            _ = shutdown.changed() => break,
        }
    }
    info!("link stopped");
}

/// Open one connection: TCP (+TLS) and CONNECT/CONNACK within `deadline`.
async fn connect(
    options: rumqttc::MqttOptions,
    cap: usize,
    deadline: Duration,
) -> Result<(AsyncClient, EventLoop, bool), String> {
    let (client, mut eventloop) = AsyncClient::new(options, cap);
    let mut net = eventloop.network_options();
    net.set_connection_timeout(deadline.as_secs().max(1));
    eventloop.set_network_options(net);
    match timeout(deadline, eventloop.poll()).await {
        Ok(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
            Ok((client, eventloop, ack.session_present))
        }
        Ok(Ok(other)) => Err(format!("expected CONNACK, got {other:?}")),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err(format!("connect: no CONNACK within {deadline:?}")),
    }
}

/// Poll one connection's event loop until it fails.
async fn drive(
    mut eventloop: EventLoop,
    client: AsyncClient,
    ev_tx: mpsc::Sender<Ev>,
    in_tx: mpsc::Sender<Inbound>,
) {
    loop {
        let ev = match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => Ev::Sent(pkid),
            Ok(Event::Outgoing(Outgoing::AwaitAck(pkid))) => Ev::Collision(pkid),
            Ok(Event::Incoming(Packet::PubAck(ack))) => Ev::PubAck(ack.pkid),
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, SubscribeReasonCode::Failure))
                {
                    Ev::SubFailed
                } else {
                    continue;
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let m = Inbound {
                    publish,
                    client: client.clone(),
                };
                if in_tx.send(m).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => Ev::Down(e.to_string()),
        };
        let down = matches!(ev, Ev::Down(_));
        if ev_tx.send(ev).await.is_err() || down {
            return;
        }
    }
}

fn valid_topic(t: &str) -> bool {
    !t.is_empty() && t.len() <= 65_535 && !t.contains(['+', '#', '\0'])
}

/// One connection's state in the connection task.
struct Conn<'a> {
    shared: &'a Arc<Shared>,
    client: AsyncClient,
    window: Window,
    /// Items read from the outbox, not yet handed over.
    lookahead: VecDeque<OutboxItem>,
    /// Acknowledged items waiting to be deleted.
    acks: Vec<i64>,
    ack_task: Option<JoinHandle<(usize, Result<(), StoreError>)>>,
    status_due: Instant,
    last_status: Option<Instant>,
    sync_due: Option<Instant>,
    wl: WlState,
}

impl<'a> Conn<'a> {
    fn new(shared: &'a Arc<Shared>, client: AsyncClient) -> Self {
        let cfg = &shared.cfg;
        Self {
            shared,
            client,
            window: Window::new(WindowLimits {
                items: cfg.window,
                bytes: cfg.window_bytes,
                direct: DIRECT_SLOTS,
            }),
            lookahead: VecDeque::new(),
            acks: Vec::new(),
            ack_task: None,
            status_due: Instant::now(),
            last_status: None,
            sync_due: None,
            wl: WlState::default(),
        }
    }

    async fn run(
        &mut self,
        eventloop: EventLoop,
        in_tx: &mpsc::Sender<Inbound>,
        shutdown: &mut watch::Receiver<bool>,
        wl_rx: &mut watch::Receiver<WlState>,
        status_rx: &mut watch::Receiver<StatusInput>,
    ) -> End {
        let (ev_tx, mut ev_rx) = mpsc::channel(1024);
        let driver = tokio::spawn(drive(eventloop, self.client.clone(), ev_tx, in_tx.clone()));
        let end = self.session(&mut ev_rx, shutdown, wl_rx, status_rx).await;
        driver.abort();
        // Deletions of acknowledged items finish even when the link goes down.
        self.flush_acks().await;
        end
    }

    async fn session(
        &mut self,
        ev_rx: &mut mpsc::Receiver<Ev>,
        shutdown: &mut watch::Receiver<bool>,
        wl_rx: &mut watch::Receiver<WlState>,
        status_rx: &mut watch::Receiver<StatusInput>,
    ) -> End {
        let t = &self.shared.topics;
        let filters = vec![
            SubscribeFilter::new(t.whitelist(), QoS::AtLeastOnce),
            SubscribeFilter::new(t.command(), QoS::AtLeastOnce),
        ];
        if let Err(e) = self.client.try_subscribe_many(filters) {
            return End::Down(format!("subscribe: {e}"));
        }
        self.wl = *wl_rx.borrow_and_update();
        self.publish_status().await;
        // Ask on every (re)connect: batches published while the lane was
        // away are recovered even when the broker lost the session.
        if self.wl.known {
            self.publish_sync();
        }
        if let Err(e) = self.fill().await {
            return End::Down(why(ev_rx, e));
        }
        let cfg = &self.shared.cfg;
        let status_every = LinkConfig::ms(cfg.status_interval_ms);
        let status_min = LinkConfig::ms(cfg.status_min_interval_ms);
        let resync_every = LinkConfig::ms(cfg.resync_interval_ms);
        loop {
            let deadline = self
                .sync_due
                .map_or(self.status_due, |s| s.min(self.status_due));
            tokio::select! {
                ev = ev_rx.recv() => {
                    let Some(ev) = ev else {
                        return End::Down("event loop ended".into());
                    };
                    if let Err(e) = self.on_event(ev).await {
                        return End::Down(why(ev_rx, e));
                    }
                }
                _ = self.shared.drain.notified() => {
                    if let Err(e) = self.fill().await {
                        return End::Down(why(ev_rx, e));
                    }
                }
                done = join_opt(&mut self.ack_task), if self.ack_task.is_some() => {
                    self.ack_task = None;
                    self.ack_done(done);
                    self.spawn_acks();
                }
                r = wl_rx.changed() => {
                    if r.is_err() {
                        return End::Shutdown;
                    }
                    let new = *wl_rx.borrow_and_update();
                    self.on_wl(new, status_min, resync_every);
                }
                r = status_rx.changed() => {
                    if r.is_err() {
                        return End::Shutdown;
                    }
                    status_rx.borrow_and_update();
                    self.status_soon(status_min);
                }
                _ = self.shared.force_sync.notified() => {
                    self.publish_sync();
                }
                _ = sleep_until(deadline) => {
                    let now = Instant::now();
                    if now >= self.status_due {
                        self.publish_status().await;
                        self.status_due = now + status_every;
                        // Idle with items left behind the cursor (should not
                        // happen with ids that grow): start from the oldest.
                        if self.window.in_flight() == 0 && self.lookahead.is_empty()
                            && self.ack_task.is_none() && self.acks.is_empty()
                        {
                            self.window.reset_cursor();
                            if let Err(e) = self.fill().await {
                                return End::Down(why(ev_rx, e));
                            }
                        }
                    }
                    if self.sync_due.is_some_and(|s| now >= s) {
                        self.publish_sync();
                        self.sync_due = Some(now + resync_every);
                    }
                }
                _ = shutdown.changed() => {
                    self.goodbye(ev_rx).await;
                    return End::Shutdown;
                }
            }
        }
    }

    async fn on_event(&mut self, ev: Ev) -> Result<(), String> {
        match ev {
            Ev::Sent(pkid) => self
                .window
                .on_sent(pkid, std::time::Instant::now())
                .map_err(|e| e.to_string())?,
            Ev::Collision(pkid) => {
                debug!(pkid, "packet id collision: rumqttc waits for its PUBACK");
                self.window.on_collision(pkid).map_err(|e| e.to_string())?;
            }
            Ev::PubAck(pkid) => {
                if let (Tag::Outbox { id, .. }, sent) =
                    self.window.on_puback(pkid).map_err(|e| e.to_string())?
                {
                    self.shared.observer.outbox_acked(sent.elapsed());
                    self.acks.push(id);
                    if self.ack_task.is_none() {
                        self.spawn_acks();
                    }
                }
                self.set_in_flight();
                self.fill().await?;
            }
            Ev::SubFailed => {
                error!("the broker refused a subscription (ACL?)");
                self.shared
                    .note_error("the broker refused the whitelist/command subscription".into());
                let _ = self
                    .shared
                    .alarm(
                        "subscription_refused",
                        Severity::Critical,
                        "the broker refused the subscription to the whitelist or command topic"
                            .into(),
                    )
                    .await;
            }
            Ev::Down(e) => return Err(e),
        }
        Ok(())
    }

    fn set_in_flight(&self) {
        let n = self.window.in_flight();
        self.shared.state.send_if_modified(|s| {
            let changed = s.in_flight != n;
            s.in_flight = n;
            changed
        });
    }

    /// Hand outbox items to rumqttc while the window has room.
    async fn fill(&mut self) -> Result<(), String> {
        loop {
            if self.window.room() == 0 {
                break;
            }
            if self.lookahead.is_empty() {
                // Read a batch once a quarter of the window is free (or when
                // nothing is in flight), not one item per PUBACK.
                let limit = self.shared.cfg.window;
                if self.window.in_flight() > 0 && self.window.room() < limit.div_ceil(4) {
                    break;
                }
                let outbox = self.shared.outbox.clone();
                let after = self.window.cursor();
                let items = blocking(move || outbox.peek(after, limit))
                    .await
                    .map_err(|e| format!("outbox read: {e}"))?;
                if items.is_empty() {
                    break;
                }
                self.lookahead.extend(items);
            }
            let Some(item) = self.lookahead.front() else {
                break;
            };
            let size = item.payload.len();
            let too_big = size + item.topic.len() + 16 > self.shared.cfg.max_packet_out;
            if too_big || !valid_topic(&item.topic) {
                if let Some(item) = self.lookahead.pop_front() {
                    self.drop_item(item, too_big).await;
                }
                continue;
            }
            if !self.window.fits(size) {
                break;
            }
            let Some(item) = self.lookahead.pop_front() else {
                break;
            };
            match self
                .client
                .try_publish(item.topic, QoS::AtLeastOnce, item.retain, item.payload)
            {
                Ok(()) => self.window.handed(Tag::Outbox {
                    id: item.id,
                    bytes: size,
                }),
                Err(e) => return Err(format!("publish refused by rumqttc: {}", client_error(&e))),
            }
        }
        self.set_in_flight();
        Ok(())
    }

    /// An item that can never be published: alarm, then delete it so it does
    /// not block the outbox forever.
    async fn drop_item(&mut self, item: OutboxItem, too_big: bool) {
        let why = if too_big {
            format!(
                "{} bytes, over max_packet_out {}",
                item.payload.len(),
                self.shared.cfg.max_packet_out
            )
        } else {
            "invalid topic".to_owned()
        };
        let detail = format!(
            "outbox item {} on `{}` dropped: {why}",
            item.id,
            printable(&item.topic, 120)
        );
        error!("{detail}");
        if let Err(e) = self.shared.alarm(DROPPED, Severity::Critical, detail).await {
            error!("alarm not stored: {e}");
        }
        self.window.skip(item.id);
        let outbox = self.shared.outbox.clone();
        let id = item.id;
        match blocking(move || outbox.ack(&[id])).await {
            Ok(()) => self.shared.state.send_modify(|s| s.dropped += 1),
            Err(e) => error!("dropped item {id} not deleted: {e}"),
        }
    }

    fn spawn_acks(&mut self) {
        if self.acks.is_empty() || self.ack_task.is_some() {
            return;
        }
        let ids = std::mem::take(&mut self.acks);
        let outbox = self.shared.outbox.clone();
        self.ack_task = Some(tokio::spawn(async move {
            let n = ids.len();
            (n, blocking(move || outbox.ack(&ids)).await)
        }));
    }

    fn ack_done(&mut self, done: Result<(usize, Result<(), StoreError>), tokio::task::JoinError>) {
        match done {
            Ok((n, Ok(()))) => self.shared.state.send_modify(|s| s.acked += n as u64),
            Ok((_, Err(e))) => {
                // They stay in the outbox and are re-sent after a reconnect.
                error!("outbox delete failed: {e}");
                self.shared.note_error(format!("outbox delete: {e}"));
            }
            Err(e) => error!("outbox delete task failed: {e}"),
        }
    }

    async fn flush_acks(&mut self) {
        for _ in 0..2 {
            if let Some(t) = self.ack_task.take() {
                let done = t.await;
                self.ack_done(done);
            }
            self.spawn_acks();
        }
    }

    fn publish_direct(&mut self, topic: String, retain: bool, payload: Vec<u8>) -> bool {
        if !self.window.direct_room() {
            debug!("direct publish deferred: {DIRECT_SLOTS} in flight");
            return false;
        }
        match self
            .client
            .try_publish(topic, QoS::AtLeastOnce, retain, payload)
        {
            Ok(()) => {
                self.window.handed(Tag::Direct);
                true
            }
            Err(e) => {
                warn!("direct publish refused by rumqttc: {}", client_error(&e));
                false
            }
        }
    }

    async fn publish_status(&mut self) {
        let outbox = self.shared.outbox.clone();
        let depth = match blocking(move || outbox.depth()).await {
            Ok(d) => Some(OutboxStatus {
                depth: d.count,
                bytes: d.bytes,
                quota_bytes: d.quota_bytes,
            }),
            Err(e) => {
                warn!("outbox depth unreadable: {e}");
                None
            }
        };
        let input = self.shared.status_in.borrow().clone();
        let status = Status {
            state: "online".into(),
            at: Some(gate_proto::time::format_unix_ms(
                gate_proto::time::now_unix_ms(),
            )),
            whitelist_version: self.wl.known.then_some(self.wl.version),
            outbox: depth,
            devices: input.devices,
            clock_synced: input.clock_synced,
            lane_state: input.lane_state,
            barrier: input.barrier,
            version: input.version,
            hold: input.hold,
        };
        match serde_json::to_vec(&status) {
            Ok(p) => {
                let topic = self.shared.topics.status();
                if self.publish_direct(topic, true, p) {
                    self.last_status = Some(Instant::now());
                }
            }
            Err(e) => error!("status not encoded: {e}"),
        }
        self.status_due = Instant::now() + LinkConfig::ms(self.shared.cfg.status_interval_ms);
    }

    /// Publish the status soon, but not more than once per `min`.
    fn status_soon(&mut self, min: Duration) {
        let at = self.last_status.map_or(Instant::now(), |l| l + min);
        self.status_due = self.status_due.min(at);
    }

    fn publish_sync(&mut self) {
        let have = self.wl.version;
        match serde_json::to_vec(&SyncRequest { have_version: have }) {
            Ok(p) => {
                let topic = self.shared.topics.sync();
                if self.publish_direct(topic, false, p) {
                    info!(have, "whitelist resync requested");
                }
            }
            Err(e) => error!("sync request not encoded: {e}"),
        }
    }

    fn on_wl(&mut self, new: WlState, status_min: Duration, resync_every: Duration) {
        let old = std::mem::replace(&mut self.wl, new);
        if new.version != old.version || new.known != old.known {
            self.status_soon(status_min);
        }
        if !new.known {
            return;
        }
        if new.resync && !(old.resync && old.known) {
            self.publish_sync();
            self.sync_due = Some(Instant::now() + resync_every);
        } else if new.resync && new.progress != old.progress {
            self.sync_due = Some(Instant::now() + resync_every);
        } else if !new.resync {
            self.sync_due = None;
        } else if self.sync_due.is_none() {
            self.sync_due = Some(Instant::now() + resync_every);
        }
    }

    /// Clean shutdown: retained offline status, bounded wait for PUBACKs,
    /// DISCONNECT.
    async fn goodbye(&mut self, ev_rx: &mut mpsc::Receiver<Ev>) {
        let topic = self.shared.topics.status();
        self.publish_direct(topic, true, OFFLINE_STATUS.as_bytes().to_vec());
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.window.direct_in_flight() > 0 || self.window.in_flight() > 0 {
            match timeout_at(deadline, ev_rx.recv()).await {
                Some(Some(ev)) => {
                    if let Ev::PubAck(pkid) = ev {
                        if let Ok((Tag::Outbox { id, .. }, _)) = self.window.on_puback(pkid) {
                            self.acks.push(id);
                        }
                    } else if let Ev::Sent(pkid) = ev {
                        let _ = self.window.on_sent(pkid, std::time::Instant::now());
                    } else if matches!(ev, Ev::Down(_)) {
                        break;
                    }
                }
                _ => break,
            }
        }
        let _ = self.client.try_disconnect();
        // Let the driver write the DISCONNECT.
        let _ = timeout_at(deadline, async {
            while let Some(ev) = ev_rx.recv().await {
                if matches!(ev, Ev::Down(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

async fn timeout_at<F: std::future::Future>(deadline: Instant, f: F) -> Option<F::Output> {
    tokio::time::timeout_at(deadline, f).await.ok()
}

fn client_error(e: &ClientError) -> &'static str {
    match e {
        ClientError::Request(_) => "request channel closed",
        ClientError::TryRequest(_) => "request channel full or closed",
    }
}

/// The reason a connection ended: the driver's error when it has sent one
/// (a publish fails only because the event loop is gone), else `fallback`.
fn why(ev_rx: &mut mpsc::Receiver<Ev>, fallback: String) -> String {
    while let Ok(ev) = ev_rx.try_recv() {
        if let Ev::Down(e) = ev {
            return e;
        }
    }
    fallback
}

/// Wait for an optional task; pending forever when there is none.
async fn join_opt<T>(t: &mut Option<JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match t {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}
