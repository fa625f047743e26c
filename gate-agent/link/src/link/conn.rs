//! One connection: the driver polling its rumqttc event loop, and the session
//! the connection task runs while connected (outbox drain and acks, direct
//! publishes, status, sync requests, the goodbye).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use gate_proto::messages::{OutboxStatus, Severity, Status, SyncRequest};
use rumqttc::{
    AsyncClient, ClientError, Event, EventLoop, Outgoing, Packet, QoS, SubscribeFilter,
    SubscribeReasonCode,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tracing::{debug, error, info, warn};

use crate::config::{LinkConfig, DIRECT_SLOTS};
use crate::inbound::Inbound;
use crate::store::{OutboxItem, StoreError};
use crate::verify::printable;
use crate::window::{Tag, Window, WindowLimits};

use super::{blocking, End, Ev, Shared, StatusInput, WlState, DROPPED, OFFLINE_STATUS};

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
pub(super) struct Conn<'a> {
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
    pub(super) fn new(shared: &'a Arc<Shared>, client: AsyncClient) -> Self {
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

    pub(super) async fn run(
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
                self.shared
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
        self.shared.alarm(DROPPED, Severity::Critical, detail).await;
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
