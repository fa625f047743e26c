//! Reconnect delay: capped exponential backoff with full jitter
//! (delay = uniform(0, min(cap, base * 2^attempt))).
//!
//! Layer: pure arithmetic; the caller supplies the random draw and sleeps.

use std::time::Duration;

/// Backoff state between reconnect attempts.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            attempt: 0,
        }
    }

    /// The upper bound of the next delay: `min(cap, base * 2^attempt)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next delay for a random draw `unit` in `[0, 1)`, and count the attempt.
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let c = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        c.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Failed attempts since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Forget past failures (after a connection that stayed up).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let ceilings: Vec<u128> = (0..8)
            .map(|_| {
                let c = b.ceiling().as_millis();
                b.next_delay(0.5);
                c
            })
            .collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(b.attempts(), 8);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn full_jitter_within_bounds() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
        assert_eq!(b.next_delay(0.0), Duration::ZERO);
        assert_eq!(b.next_delay(0.5), Duration::from_millis(100));
        // Out-of-range draws are clamped, never above the ceiling.
        assert_eq!(b.next_delay(7.0), Duration::from_millis(400));
        for _ in 0..100 {
            b.next_delay(0.999);
        }
        assert!(b.next_delay(0.999) <= Duration::from_secs(30));
    }
}
