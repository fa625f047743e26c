//! Messages from the platform: signed whitelist batches and commands.
//!
//! Layer: the link's inbound task. One task handles the messages of every
//! connection in arrival order (so deltas apply in order), and acknowledges
//! each MQTT message only after it has been handled durably: a crash before
//! that gets the message redelivered on the persistent session, and the
//! command log makes the redelivery harmless. It knows topics and JSON, talks
//! to the store only through the [`crate::store`] traits, and never touches
//! the outbox drain (that is the connection task's job).

use std::sync::Arc;
use std::time::Duration;

use gate_proto::messages::{BatchKind, Reply, Severity};
use rumqttc::{AsyncClient, Publish};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, error, info, warn};

use crate::link::{blocking, CommandRequest, CommandResult, Shared};
use crate::store::{ApplyOutcome, OutboxMessage};
use crate::verify::{check_batch, check_command, claimed_id, command_id, printable};

/// One message from the broker, with the client of the connection it came
/// on (to acknowledge it there).
pub(crate) struct Inbound {
    pub publish: Publish,
    pub client: AsyncClient,
}

/// Queue between the connection's event loop and this task.
pub(crate) const INBOUND_QUEUE: usize = 64;

/// The alarm kind for anything refused.
pub const REJECTED: &str = "rejected_message";
/// The alarm kind for a store failure while handling a platform message.
pub const STORE_ERROR: &str = "store_error";

/// Whether the MQTT message may be acknowledged.
enum Handled {
    Ack,
    /// A store failure: leave it unacknowledged so that the broker redelivers
    /// it on the next connection.
    Retry,
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Inbound>,
    commands_tx: mpsc::Sender<CommandRequest>,
) {
    let waiters = Arc::new(Semaphore::new(shared.cfg.command_queue * 2));
    init(&shared).await;
    let wl_topic = shared.topics.whitelist();
    let cmd_topic = shared.topics.command();
    while let Some(m) = rx.recv().await {
        let p = &m.publish;
        let handled = if p.topic == wl_topic {
            whitelist(&shared, &p.payload).await
        } else if p.topic == cmd_topic {
            command(&shared, &p.payload, p.dup, &commands_tx, &waiters).await
        } else {
            warn!(topic = %printable(&p.topic, 100), "message on a topic the link did not subscribe to");
            Handled::Ack
        };
        if let Handled::Ack = handled {
            if let Err(e) = m.client.try_ack(p) {
                // The broker redelivers it on the next connection; the
                // handling above is idempotent.
                debug!("could not acknowledge pkid {}: {e}", p.pkid);
            }
        }
    }
}

/// Startup: the whitelist version, and a reply for every command the lane
/// accepted but never answered (it stopped in between).
async fn init(shared: &Arc<Shared>) {
    let sink = shared.whitelist.clone();
    match blocking(move || sink.version()).await {
        Ok(v) => shared.update_wl(|w| {
            w.version = v;
            w.resync = v == 0;
            w.known = true;
        }),
        Err(e) => {
            error!("whitelist version unreadable: {e}");
            shared.note_error(format!("whitelist version: {e}"));
            shared.update_wl(|w| {
                w.resync = true;
                w.known = true;
            });
        }
    }
    let log = shared.commands.clone();
    match blocking(move || log.unanswered(1024)).await {
        Ok(ids) => {
            for id in ids {
                warn!(command = %printable(&id, 64), "answering a command interrupted by a restart");
                answer(
                    shared,
                    &id,
                    false,
                    "interrupted: the lane controller restarted before the result was known; outcome unknown",
                )
                .await;
            }
        }
        Err(e) => error!("command log unreadable: {e}"),
    }
}

async fn whitelist(shared: &Arc<Shared>, payload: &[u8]) -> Handled {
    let body = match shared.keyring.open(payload) {
        Ok(b) => b,
        Err(e) => {
            reject(
                shared,
                format!("whitelist batch refused: {e} ({})", e.kind()),
            )
            .await;
            return Handled::Ack;
        }
    };
    let batch = match check_batch(&body, &shared.cfg.site) {
        Ok(b) => b,
        Err(e) => {
            reject(shared, format!("whitelist batch refused: {e}")).await;
            return Handled::Ack;
        }
    };
    let have = shared.wl.borrow().version;
    if batch.version <= have {
        debug!(
            version = batch.version,
            have, "whitelist batch not newer: ignored"
        );
        return Handled::Ack;
    }
    if batch.kind == BatchKind::Delta && batch.from_version != Some(have) {
        info!(
            from = ?batch.from_version,
            version = batch.version,
            have,
            "whitelist delta does not follow the current version: resync"
        );
        shared.update_wl(|w| w.resync = true);
        return Handled::Ack;
    }
    let sink = shared.whitelist.clone();
    let version = batch.version;
    match blocking(move || sink.apply(&batch)).await {
        Ok(ApplyOutcome::Applied { version, .. }) => {
            info!(version, "whitelist applied");
            shared.observer.whitelist_applied(version);
            shared.update_wl(|w| {
                w.version = version;
                w.resync = false;
                w.progress += 1;
            });
        }
        Ok(ApplyOutcome::Staged {
            version,
            received,
            count,
        }) => {
            debug!(version, received, count, "snapshot chunk stored");
            shared.update_wl(|w| w.progress += 1);
        }
        Ok(ApplyOutcome::Ignored { have, .. }) => {
            shared.update_wl(|w| w.version = have);
        }
        Ok(ApplyOutcome::NeedResync { have }) => {
            shared.update_wl(|w| {
                w.version = have;
                w.resync = true;
            });
        }
        Err(e) => {
            error!(version, "whitelist apply failed: {e}");
            store_failure(
                shared,
                format!("whitelist batch {version} not applied: {e}"),
            )
            .await;
            shared.update_wl(|w| w.resync = true);
            return Handled::Retry;
        }
    }
    Handled::Ack
}

async fn command(
    shared: &Arc<Shared>,
    payload: &[u8],
    dup: bool,
    commands_tx: &mpsc::Sender<CommandRequest>,
    waiters: &Arc<Semaphore>,
) -> Handled {
    let body = match shared.keyring.open(payload) {
        Ok(b) => b,
        Err(e) => {
            // Not answered: an unauthenticated id is not the platform's.
            let claimed = claimed_id(payload).unwrap_or_else(|| "?".into());
            reject(
                shared,
                format!("command refused: {e} ({}); claimed id {claimed}", e.kind()),
            )
            .await;
            return Handled::Ack;
        }
    };
    let Some(id) = command_id(&body) else {
        reject(
            shared,
            "command refused: signed body has no readable id".into(),
        )
        .await;
        return Handled::Ack;
    };
    let now = gate_proto::time::now_unix_ms();
    let log = shared.commands.clone();
    let id2 = id.clone();
    let new = match blocking(move || log.begin(&id2, now)).await {
        Ok(n) => n,
        Err(e) => {
            store_failure(
                shared,
                format!("command {} not recorded: {e}", printable(&id, 64)),
            )
            .await;
            return Handled::Retry;
        }
    };
    if !new {
        if dup {
            // The broker redelivering a message we already handled (we
            // stopped before acknowledging it): nothing to do.
            debug!(command = %printable(&id, 64), "redelivered command ignored");
        } else {
            reject(
                shared,
                format!(
                    "command {} refused: replayed (id seen before; its one reply was already sent)",
                    printable(&id, 64)
                ),
            )
            .await;
        }
        return Handled::Ack;
    }
    let skew = i64::try_from(shared.cfg.clock_skew_ms).unwrap_or(i64::MAX);
    let cmd = match check_command(&body, &shared.cfg.site, &shared.cfg.lane, now, skew) {
        Ok(c) => c,
        Err(reason) => {
            reject(
                shared,
                format!("command {} refused: {reason}", printable(&id, 64)),
            )
            .await;
            answer(shared, &id, false, &reason.to_string()).await;
            return Handled::Ack;
        }
    };
    let Ok(permit) = waiters.clone().try_acquire_owned() else {
        answer(
            shared,
            &id,
            false,
            "busy: too many commands waiting for the lane controller",
        )
        .await;
        return Handled::Ack;
    };
    let (tx, rx) = oneshot::channel();
    let kind = cmd.kind;
    match commands_tx.try_send(CommandRequest::new(cmd, tx)) {
        Ok(()) => {
            shared.state.send_modify(|s| s.commands += 1);
            info!(command = %printable(&id, 64), ?kind, "command handed to the lane controller");
            let shared = shared.clone();
            let timeout = Duration::from_millis(shared.cfg.command_timeout_ms);
            tokio::spawn(async move {
                let _permit = permit;
                let r = match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => CommandResult {
                        ok: false,
                        detail: "dropped by the lane controller without a result".into(),
                    },
                    Err(_) => CommandResult {
                        ok: false,
                        detail: format!(
                            "timeout: no result from the lane controller within {} ms; outcome unknown",
                            timeout.as_millis()
                        ),
                    },
                };
                answer(&shared, &id, r.ok, &r.detail).await;
            });
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            answer(
                shared,
                &id,
                false,
                "busy: the lane controller's command queue is full",
            )
            .await;
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            answer(
                shared,
                &id,
                false,
                "the lane controller is not taking commands",
            )
            .await;
        }
    }
    Handled::Ack
}

/// The one reply of command `id`, through the command log and the outbox.
pub(crate) async fn answer(shared: &Arc<Shared>, id: &str, ok: bool, detail: &str) {
    let reply = Reply {
        command_id: id.to_owned(),
        ok,
        detail: detail.to_owned(),
    };
    let msg = match OutboxMessage::reply(&shared.topics, &reply) {
        Ok(m) => m,
        Err(e) => {
            error!("reply not encoded: {e}");
            return;
        }
    };
    let log = shared.commands.clone();
    let id2 = id.to_owned();
    match blocking(move || log.answer(&id2, &msg)).await {
        Ok(Some(_)) => shared.drain.notify_one(),
        Ok(None) => warn!(command = %printable(id, 64), "already answered; no second reply"),
        Err(e) => {
            // The id stays unanswered in the log: answered at next startup.
            error!(command = %printable(id, 64), "reply not stored: {e}");
            shared.note_error(format!("reply not stored: {e}"));
        }
    }
}

/// Refused platform message: count it and raise a `rejected_message` alarm.
async fn reject(shared: &Arc<Shared>, detail: String) {
    warn!("{detail}");
    shared.state.send_modify(|s| s.rejected += 1);
    shared.alarm(REJECTED, Severity::Warning, detail).await;
}

async fn store_failure(shared: &Arc<Shared>, detail: String) {
    shared.note_error(detail.clone());
    shared.alarm(STORE_ERROR, Severity::Critical, detail).await;
}
