//! Running as a systemd service (`Type=notify`, `WatchdogSec=`): the agent
//! tells the service manager when the lane is up (`READY=1`), what it is
//! doing (`STATUS=`, shown by `systemctl status gate-agent`), that it is
//! stopping (`STOPPING=1`), and pets the watchdog from the lane task itself,
//! so a lane task that hangs is killed and restarted by systemd.
//!
//! Everything here is a no-op when the agent is not started by systemd
//! (`NOTIFY_SOCKET` unset: a terminal, the simulator, the tests) or when
//! the unit sets no watchdog (`WATCHDOG_USEC` unset). A failed notification
//! is logged, never fatal: the lane runs on.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use tracing::{debug, warn};

fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        warn!(%e, "systemd notification failed");
    }
}

/// The lane is up: configuration loaded, store open, passage recovered,
/// drivers and link started.
pub fn ready() {
    notify(&[NotifyState::Ready]);
}

/// The agent is stopping (a signal, or the lane task ended).
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// Pets the systemd watchdog and keeps the service status line current.
/// Called from the lane task's one-second tick: a lane task that stops
/// turning stops petting.
#[derive(Debug)]
pub struct Watchdog {
    /// Half the unit's `WatchdogSec` (None: no watchdog configured).
    every: Option<Duration>,
    last: Option<Instant>,
    status: String,
}

impl Watchdog {
    /// From the environment systemd gives the service (`WATCHDOG_USEC`,
    /// `WATCHDOG_PID` naming this process).
    pub fn from_env() -> Self {
        let mut usec = 0;
        let every = sd_notify::watchdog_enabled(false, &mut usec)
            .then(|| Duration::from_micros(usec) / 2)
            .filter(|d| !d.is_zero());
        if let Some(d) = every {
            debug!(every_ms = d.as_millis() as u64, "systemd watchdog enabled");
        }
        Self {
            every,
            last: None,
            status: String::new(),
        }
    }

    /// Pet the watchdog when due, and send `status` when it changed.
    pub fn tick(&mut self, status: &str) {
        let mut states = Vec::new();
        if let Some(every) = self.every {
            if self.last.is_none_or(|t| t.elapsed() >= every) {
                self.last = Some(Instant::now());
                states.push(NotifyState::Watchdog);
            }
        }
        let changed = status != self.status;
        if changed {
            states.push(NotifyState::Status(status));
        }
        if !states.is_empty() {
            notify(&states);
        }
        if changed {
            status.clone_into(&mut self.status);
        }
    }
}
