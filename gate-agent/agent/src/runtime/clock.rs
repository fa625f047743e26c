//! The agent's clocks: lane time (monotonic milliseconds since start, scaled
//! in simulation) for the lane core, and wall-clock time for the timestamps
//! of the platform contract, with whether the wall clock can be trusted.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Monotonic lane time. On a real lane `scale` is 1.0; the simulator runs the
/// whole lane (devices and agent) `scale` times faster than real time.
#[derive(Clone, Debug)]
pub struct LaneClock {
    start: Instant,
    start_wall_ms: i64,
    scale: f64,
    assume_synced: bool,
}

impl LaneClock {
    pub fn new(scale: f64, assume_synced: bool) -> Self {
        let start_wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self {
            start: Instant::now(),
            start_wall_ms,
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
            assume_synced,
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Lane milliseconds since the agent started.
    pub fn now_ms(&self) -> u64 {
        (self.start.elapsed().as_secs_f64() * 1000.0 * self.scale) as u64
    }

    /// The real instant at which lane time reaches `lane_ms`.
    pub fn instant_at(&self, lane_ms: u64) -> Instant {
        self.start + Duration::from_secs_f64(lane_ms as f64 / 1000.0 / self.scale)
    }

    /// A lane duration as real time.
    pub fn real(&self, lane_ms: u64) -> Duration {
        Duration::from_secs_f64(lane_ms as f64 / 1000.0 / self.scale)
    }

    /// Wall-clock Unix ms for a lane time of this run. Taken from the wall
    /// clock at start plus real elapsed time, so a later clock step does not
    /// reorder the events of one vehicle.
    pub fn wall_ms(&self, lane_ms: u64) -> i64 {
        self.start_wall_ms + (lane_ms as f64 / self.scale) as i64
    }

    /// Whether wall-clock timestamps are trustworthy now.
    pub fn synced(&self) -> bool {
        self.assume_synced || kernel_clock_synced()
    }
}

/// Whether the kernel says the clock is NTP-synchronised: the status that
/// `timedatectl` shows as "System clock synchronized", read from systemd's
/// timesync flag file or chrony/ntpd's adjtimex state through `/proc`-free
/// means: we look for the flag file systemd-timesyncd maintains, and accept
/// an explicit override file for lanes with another time source.
pub fn kernel_clock_synced() -> bool {
    std::path::Path::new("/run/systemd/timesync/synchronized").exists()
        || std::path::Path::new("/run/gate-agent/clock-synced").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling() {
        let c = LaneClock::new(10.0, true);
        assert_eq!(c.real(1000), Duration::from_millis(100));
        assert!(c.synced());
        let w0 = c.wall_ms(0);
        assert_eq!(c.wall_ms(10_000) - w0, 1000);
        assert!(c.instant_at(1000) >= c.instant_at(0) + Duration::from_millis(99));
    }
}
