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

mod conn;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gate_proto::messages::{Alarm, Command, DeviceStatus, Severity};
use gate_proto::sign::Keyring;
use gate_proto::topics::LaneTopics;
use rumqttc::{AsyncClient, Event, EventLoop, Packet};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};
use tracing::{debug, error, info, warn};

use crate::backoff::Backoff;
use crate::config::LinkConfig;
use crate::error::LinkError;
use crate::inbound::{self, Inbound, INBOUND_QUEUE};
use crate::observe::{LinkObserver, NoObserver};
use crate::store::{CommandLog, Outbox, OutboxMessage, StoreError, WhitelistSink};

use conn::Conn;

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

    /// Put an alarm in the outbox (an `Alarm` message) and wake the drain:
    /// the one way the lane's alarms, the link's and the agent's, are
    /// raised. Returns its `alarm_id`; `None` when it could not be stored,
    /// which is logged here at error level (nothing else will tell of it).
    pub(crate) async fn alarm(
        &self,
        kind: &str,
        severity: Severity,
        detail: String,
    ) -> Option<String> {
        let now = gate_proto::time::now_unix_ms();
        let alarm = Alarm {
            alarm_id: format!("A{now:012x}{:016x}", rand::random::<u64>()),
            kind: kind.to_owned(),
            severity,
            at: gate_proto::time::format_unix_ms(now),
            detail,
        };
        let stored = match OutboxMessage::alarm(&self.topics, &alarm) {
            Ok(msg) => {
                let outbox = self.outbox.clone();
                blocking(move || outbox.enqueue(&msg)).await
            }
            Err(e) => Err(StoreError::new(format!("alarm not encoded: {e}"))),
        };
        match stored {
            Ok(_) => {
                self.drain.notify_one();
                Some(alarm.alarm_id)
            }
            Err(e) => {
                error!(
                    kind,
                    ?severity,
                    detail = %alarm.detail,
                    "alarm not stored in the outbox, lost: {e}"
                );
                None
            }
        }
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
    /// Raise an alarm: put it in the outbox (an `Alarm` message) and wake
    /// the drain. Returns its `alarm_id` once it is stored; `None` when the
    /// store refused it, which is logged at error level here, so a caller
    /// has nothing more to do about it.
    pub async fn alarm(
        &self,
        kind: &str,
        severity: Severity,
        detail: impl Into<String>,
    ) -> Option<String> {
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
