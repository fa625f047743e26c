//! Restarting a driver's connection on request (the platform's
//! `restart_device` command, `gatectl restart`).
//!
//! Layer: plumbing between the runtime and the driver tasks. A driver task
//! that owns a connection (a Modbus bus, an ASCII scale's serial port, an
//! MJPEG stream) holds a [`RestartRequests`] and watches it beside its own
//! work; whoever holds the matching [`Restarter`] asks for a restart and
//! gets the task's verdict: `Ok(what was done)` once the connection is open
//! again, `Err(why not)` when reopening failed (the task then goes on
//! retrying on its own backoff, as after any failure). A request taken by
//! the task stays pending in [`RestartRequests`] until the task answers it
//! where its connection opens or fails ([`RestartRequests::answer`]: a
//! no-op when nothing is pending), so the task keeps no state of its own.
//!
//! Bounded: one request waits at a time per driver (a second one while the
//! first is pending is refused at once), and the caller waits at most its
//! limit. A restart never bypasses anything a driver does for safety: it is
//! the same close-and-reopen a transport failure causes, only at once.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

/// Where a driver task sends its verdict on one restart.
type RestartReply = oneshot::Sender<Result<String, String>>;

/// Asks one driver task to restart its connection. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Restarter {
    tx: mpsc::Sender<RestartReply>,
}

/// The driver task's end: the restart requests addressed to it, and the
/// one taken but not answered yet.
#[derive(Debug)]
pub struct RestartRequests {
    rx: mpsc::Receiver<RestartReply>,
    pending: Option<RestartReply>,
}

/// A connected pair.
pub fn restart_channel() -> (Restarter, RestartRequests) {
    let (tx, rx) = mpsc::channel(1);
    (Restarter { tx }, RestartRequests { rx, pending: None })
}

impl Restarter {
    /// Ask for a restart and wait for the driver's verdict (at most `limit`).
    pub async fn restart(&self, limit: Duration) -> Result<String, String> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(reply).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => "a restart is already in progress".to_owned(),
            mpsc::error::TrySendError::Closed(_) => "the driver has stopped".to_owned(),
        })?;
        match timeout(limit, rx).await {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(_)) => Err("the driver stopped before answering".into()),
            Err(_) => Err(format!(
                "no verdict within {} ms (the driver goes on reconnecting)",
                limit.as_millis()
            )),
        }
    }
}

impl RestartRequests {
    /// Wait for the next request; it is then pending. Never completes once
    /// every [`Restarter`] is gone (the driver then ends for its own
    /// reasons), and is cancel-safe, so it can sit in a `select!` beside the
    /// driver's work.
    pub async fn requested(&mut self) {
        match self.rx.recv().await {
            Some(r) => self.pending = Some(r),
            None => std::future::pending().await,
        }
    }

    /// Take a request waiting now, without blocking (for driver threads);
    /// true when one is now pending.
    pub fn try_requested(&mut self) -> bool {
        if let Ok(r) = self.rx.try_recv() {
            self.pending = Some(r);
        }
        self.pending.is_some()
    }

    /// Whether a request waits for its verdict.
    pub fn pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Send the pending request its verdict (nothing when none is pending).
    pub fn answer(&mut self, verdict: Result<String, String>) {
        if let Some(r) = self.pending.take() {
            let _ = r.send(verdict);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verdict_limit_and_one_at_a_time() {
        let (r, mut req) = restart_channel();
        let task = tokio::spawn(async move {
            req.requested().await;
            assert!(req.pending());
            req.answer(Ok("reopened".into()));
            req.answer(Err("nothing pending: not sent".into()));
            // The second request is never answered.
            req.requested().await;
            std::future::pending::<()>().await;
        });
        assert_eq!(
            r.restart(Duration::from_secs(5)).await,
            Ok("reopened".into())
        );
        let slow = r.restart(Duration::from_millis(50)).await;
        assert!(slow.is_err_and(|e| e.contains("no verdict")));
        task.abort();
        let _ = task.await;
        let gone = r.restart(Duration::from_secs(1)).await;
        assert!(gone.is_err_and(|e| e.contains("stopped")), "closed channel");
    }

    #[tokio::test]
    async fn a_second_request_while_one_waits_is_refused() {
        let (r, _req) = restart_channel();
        let first = {
            let r = r.clone();
            tokio::spawn(async move { r.restart(Duration::from_millis(300)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = r.restart(Duration::from_millis(300)).await;
        assert!(second.is_err_and(|e| e.contains("already in progress")));
        assert!(first.await.is_ok_and(|v| v.is_err()));
    }
}
