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

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use super::camera::CameraError;

/// Why a restart was not done, or did not bring the connection back.
#[derive(Debug, thiserror::Error)]
pub enum RestartError {
    /// Another restart of this driver waits for its verdict.
    #[error("a restart is already in progress")]
    InProgress,
    /// The driver task has ended.
    #[error("the driver has stopped")]
    DriverStopped,
    /// The driver task ended with the request pending.
    #[error("the driver stopped before answering")]
    NoAnswer,
    /// No verdict within the caller's limit; the driver goes on.
    #[error(
        "no verdict within {} ms (the driver goes on reconnecting)",
        .0.as_millis()
    )]
    NoVerdict(Duration),
    /// A Modbus bus could not be reopened (the last connection error).
    #[error("bus `{bus}`: reopening failed: {reason}")]
    BusReopen { bus: String, reason: String },
    /// A serial port (an ASCII scale's) could not be opened.
    #[error("open {}: {source}", .path.display())]
    SerialOpen {
        path: PathBuf,
        #[source]
        source: tokio_serial::Error,
    },
    /// An MJPEG stream could not be reopened.
    #[error("reopening the stream failed: {0}")]
    Stream(#[source] CameraError),
    /// A USB camera could not be reopened (the session's failure).
    #[error("reopening the camera failed: {0}")]
    UsbCamera(String),
    /// A camera without a standing connection gave no frame when checked.
    #[error(transparent)]
    Grab(#[from] CameraError),
}

/// What a driver task answers to one restart: `Ok(what was done)`.
pub type RestartVerdict = Result<String, RestartError>;

/// Where a driver task sends its verdict on one restart.
type RestartReply = oneshot::Sender<RestartVerdict>;

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
    pub async fn restart(&self, limit: Duration) -> RestartVerdict {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(reply).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => RestartError::InProgress,
            mpsc::error::TrySendError::Closed(_) => RestartError::DriverStopped,
        })?;
        match timeout(limit, rx).await {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(_)) => Err(RestartError::NoAnswer),
            Err(_) => Err(RestartError::NoVerdict(limit)),
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
    pub fn answer(&mut self, verdict: RestartVerdict) {
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
            req.answer(Err(RestartError::UsbCamera(
                "nothing pending: not sent".into(),
            )));
            // The second request is never answered.
            req.requested().await;
            std::future::pending::<()>().await;
        });
        assert_eq!(
            r.restart(Duration::from_secs(5)).await.ok(),
            Some("reopened".into())
        );
        let slow = r.restart(Duration::from_millis(50)).await;
        assert!(slow.is_err_and(|e| e.to_string().contains("no verdict")));
        task.abort();
        let _ = task.await;
        let gone = r.restart(Duration::from_secs(1)).await;
        assert!(
            gone.is_err_and(|e| e.to_string().contains("stopped")),
            "closed channel"
        );
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
        assert!(second.is_err_and(|e| e.to_string().contains("already in progress")));
        assert!(first.await.is_ok_and(|v| v.is_err()));
    }
}
