//! The agent's clocks: lane time (monotonic milliseconds since start, scaled
//! in simulation) for the lane core, and wall-clock time for the timestamps
//! of the platform contract, with whether the wall clock can be trusted.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Lane time of this run's start: lane ms start here rather than at 0 so
/// that a passage resumed from the journal of an earlier run (arrived
/// before this run started) still has a lane time ([`LaneClock::lane_ms_of_wall`]).
/// 2^36 ms is about two years of lane time before the start.
pub const START_MS: u64 = 1 << 36;

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

    /// Lane milliseconds: [`START_MS`] at start, then the time since.
    pub fn now_ms(&self) -> u64 {
        START_MS + (self.start.elapsed().as_secs_f64() * 1000.0 * self.scale) as u64
    }

    /// The real instant at which lane time reaches `lane_ms` (the start for
    /// a lane time before it).
    pub fn instant_at(&self, lane_ms: u64) -> Instant {
        let ms = lane_ms.saturating_sub(START_MS);
        self.start + Duration::from_secs_f64(ms as f64 / 1000.0 / self.scale)
    }

    /// A lane duration as real time.
    pub fn real(&self, lane_ms: u64) -> Duration {
        Duration::from_secs_f64(lane_ms as f64 / 1000.0 / self.scale)
    }

    /// Wall-clock Unix ms for a lane time of this run. Taken from the wall
    /// clock at start plus real elapsed time, so a later clock step does not
    /// reorder the events of one vehicle.
    pub fn wall_ms(&self, lane_ms: u64) -> i64 {
        let since_start = lane_ms as f64 - START_MS as f64;
        self.start_wall_ms + (since_start / self.scale) as i64
    }

    /// The lane time of a wall-clock Unix ms of this run or of an earlier
    /// one (a resumed passage's times), the inverse of
    /// [`LaneClock::wall_ms`]; clamped to the representable range.
    pub fn lane_ms_of_wall(&self, unix_ms: i64) -> u64 {
        let lane = START_MS as f64 + (unix_ms - self.start_wall_ms) as f64 * self.scale;
        if lane <= 0.0 {
            0
        } else {
            lane as u64
        }
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
        assert!(
            c.instant_at(START_MS + 1000) >= c.instant_at(START_MS) + Duration::from_millis(99)
        );
        // Times of an earlier run map back and forth.
        let earlier = c.wall_ms(START_MS) - 3_600_000;
        assert_eq!(c.wall_ms(c.lane_ms_of_wall(earlier)), earlier);
        assert!(c.now_ms() >= START_MS);
    }
}
