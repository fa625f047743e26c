//! Lane time for the simulator: one monotonic clock, scaled against real time,
//! that the whole simulated lane (physics, board ticks, weighbridge dynamics,
//! device timers) reads, so that a lane can run faster than real time in CI
//! (scale 10.0: one real second is ten lane seconds) and exactly in real time
//! for hardware work (scale 1.0).
//!
//! Layer: simulator infrastructure. It knows nothing about devices or
//! protocols. Physics and the firmware core never read it: the lane task reads
//! it and passes the time in.
//!
//! Lane time is milliseconds since the clock was created (`now_ms() == 0` at
//! creation). [`SimClock::wall_time`] maps a lane instant to a wall-clock
//! timestamp on a virtual wall clock that starts at the real wall-clock time of
//! creation and runs at lane speed, so durations between timestamps equal lane
//! durations whatever the scale. [`SimClock::real_wall_time`] gives the real
//! wall-clock time at which that lane instant happened.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Errors building a clock.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ClockError {
    #[error("clock scale must be finite and > 0 (got {0})")]
    BadScale(f64),
}

#[derive(Debug)]
struct Inner {
    scale: f64,
    start: Instant,
    start_wall: SystemTime,
}

/// A scaled monotonic lane clock. Cheap to clone; clones share the origin.
#[derive(Clone)]
pub struct SimClock {
    inner: Arc<Inner>,
}

impl fmt::Debug for SimClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimClock")
            .field("scale", &self.inner.scale)
            .field("now_ms", &self.now_ms())
            .finish()
    }
}

impl SimClock {
    /// A clock running `scale` times faster than real time (1.0 = real time).
    pub fn new(scale: f64) -> Result<Self, ClockError> {
        if !scale.is_finite() || scale <= 0.0 {
            return Err(ClockError::BadScale(scale));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                scale,
                start: Instant::now(),
                start_wall: SystemTime::now(),
            }),
        })
    }

    /// A real-time clock (scale 1.0).
    pub fn real_time() -> Self {
        Self {
            inner: Arc::new(Inner {
                scale: 1.0,
                start: Instant::now(),
                start_wall: SystemTime::now(),
            }),
        }
    }

    /// Lane seconds per real second.
    pub fn scale(&self) -> f64 {
        self.inner.scale
    }

    /// Lane time elapsed since the clock was created.
    pub fn now(&self) -> Duration {
        self.to_lane(self.inner.start.elapsed())
    }

    /// Lane milliseconds since the clock was created (monotonic).
    pub fn now_ms(&self) -> u64 {
        duration_ms(self.now())
    }

    /// Converts a lane duration to the real duration it takes.
    pub fn to_real(&self, lane: Duration) -> Duration {
        Duration::from_secs_f64(lane.as_secs_f64() / self.inner.scale)
    }

    /// Converts a real duration to the lane duration it represents.
    pub fn to_lane(&self, real: Duration) -> Duration {
        Duration::from_secs_f64(real.as_secs_f64() * self.inner.scale)
    }

    /// Sleeps for a lane duration.
    pub async fn sleep(&self, lane: Duration) {
        tokio::time::sleep(self.to_real(lane)).await;
    }

    /// Sleeps until lane time `lane_ms` (returns at once if it has passed).
    pub async fn sleep_until_ms(&self, lane_ms: u64) {
        let now = self.now_ms();
        if lane_ms > now {
            self.sleep(Duration::from_millis(lane_ms - now)).await;
        }
    }

    /// The virtual wall-clock time of lane instant `lane_ms`: creation wall time
    /// plus `lane_ms` of lane time. Use it for timestamps of simulated events.
    pub fn wall_time(&self, lane_ms: u64) -> SystemTime {
        self.inner.start_wall + Duration::from_millis(lane_ms)
    }

    /// The real wall-clock time at which lane instant `lane_ms` happens.
    pub fn real_wall_time(&self, lane_ms: u64) -> SystemTime {
        self.inner.start_wall + self.to_real(Duration::from_millis(lane_ms))
    }

    /// The virtual wall-clock time now (see [`SimClock::wall_time`]).
    pub fn wall_now(&self) -> SystemTime {
        self.wall_time(self.now_ms())
    }
}

/// Milliseconds of a duration, saturating.
pub fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_scales() {
        assert_eq!(SimClock::new(0.0).err(), Some(ClockError::BadScale(0.0)));
        assert!(SimClock::new(-1.0).is_err());
        assert!(SimClock::new(f64::NAN).is_err());
        assert!(SimClock::new(f64::INFINITY).is_err());
    }

    #[test]
    fn conversions_follow_the_scale() {
        let c = SimClock::new(10.0).unwrap();
        assert_eq!(c.to_real(Duration::from_secs(10)), Duration::from_secs(1));
        assert_eq!(
            c.to_lane(Duration::from_millis(250)),
            Duration::from_millis(2500)
        );
        let w0 = c.wall_time(0);
        assert_eq!(
            c.wall_time(60_000).duration_since(w0).unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(
            c.real_wall_time(60_000).duration_since(w0).unwrap(),
            Duration::from_secs(6)
        );
    }

    #[test]
    fn now_is_monotonic_and_scaled() {
        let c = SimClock::new(20.0).unwrap();
        let a = c.now_ms();
        std::thread::sleep(Duration::from_millis(50));
        let b = c.now_ms();
        // 50 ms real at scale 20 is 1000 ms lane; allow generous scheduling slack.
        assert!(b >= a + 1000, "a={a} b={b}");
        assert!(b < a + 20_000, "a={a} b={b}");
    }

    #[tokio::test]
    async fn sleep_takes_the_real_equivalent() {
        let c = SimClock::new(50.0).unwrap();
        let t = Instant::now();
        c.sleep(Duration::from_secs(5)).await; // 100 ms real
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(95), "{e:?}");
        assert!(e < Duration::from_secs(3), "{e:?}");
        assert!(c.now_ms() >= 5000);
    }
}
