//! Capped exponential backoff with jitter, for reconnecting buses, serial
//! lines and camera streams.
//!
//! Layer: driver plumbing, sans-IO: it computes delays and never sleeps. The
//! jitter source is a small std-only generator; it only needs to spread
//! reconnects of several drivers apart, not to be unpredictable.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Reconnect delays: `initial_ms * multiplier^n`, capped at `max_ms`, each
/// spread by +-`jitter` (a fraction).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffConfig {
    /// First delay after a failure, ms (default 200).
    #[serde(default = "default_initial")]
    pub initial_ms: u64,
    /// Upper bound of the delay before jitter, ms (default 10000).
    #[serde(default = "default_max")]
    pub max_ms: u64,
    /// Growth factor per consecutive failure, >= 1 (default 2).
    #[serde(default = "default_multiplier")]
    pub multiplier: f64,
    /// Random spread as a fraction of the delay, 0..=1 (default 0.2 = +-20 %).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
}

fn default_initial() -> u64 {
    200
}
fn default_max() -> u64 {
    10_000
}
fn default_multiplier() -> f64 {
    2.0
}
fn default_jitter() -> f64 {
    0.2
}

/// A [`BackoffConfig`] value out of range ([`BackoffConfig::validate`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BackoffError {
    /// `initial_ms` is 0 or above `max_ms`.
    #[error("backoff: need 0 < initial_ms ({initial_ms}) <= max_ms ({max_ms})")]
    InitialMs { initial_ms: u64, max_ms: u64 },
    /// `multiplier` not in 1..=100 (or not finite).
    #[error("backoff: multiplier {0} not in 1..=100")]
    Multiplier(f64),
    /// `jitter` not in 0..=1 (or not finite).
    #[error("backoff: jitter {0} not in 0..=1")]
    Jitter(f64),
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial_ms: default_initial(),
            max_ms: default_max(),
            multiplier: default_multiplier(),
            jitter: default_jitter(),
        }
    }
}

impl BackoffConfig {
    /// Check the values; the error names the offending field.
    pub fn validate(&self) -> Result<(), BackoffError> {
        if self.initial_ms == 0 || self.initial_ms > self.max_ms {
            return Err(BackoffError::InitialMs {
                initial_ms: self.initial_ms,
                max_ms: self.max_ms,
            });
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0 && self.multiplier <= 100.0) {
            return Err(BackoffError::Multiplier(self.multiplier));
        }
        if !(self.jitter.is_finite() && (0.0..=1.0).contains(&self.jitter)) {
            return Err(BackoffError::Jitter(self.jitter));
        }
        Ok(())
    }

    /// The delay after `failures` consecutive failures (1 = first failure),
    /// with `unit` in `[0, 1)` choosing the point in the jitter range.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(64);
        let base = (self.initial_ms as f64) * self.multiplier.powi(exp as i32);
        let capped = base.min(self.max_ms as f64);
        let spread = self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        let ms = (capped * (1.0 + spread)).max(1.0);
        Duration::from_secs_f64(ms / 1000.0)
    }
}

/// Stateful backoff: counts consecutive failures.
#[derive(Debug)]
pub struct Backoff {
    cfg: BackoffConfig,
    failures: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(cfg: BackoffConfig) -> Self {
        let seed = RandomState::new().build_hasher().finish() | 1;
        Self {
            cfg,
            failures: 0,
            rng: seed,
        }
    }

    /// Record a failure and return how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let unit = self.next_unit();
        self.cfg.delay(self.failures, unit)
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A success: start again from `initial_ms`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    fn next_unit(&mut self) -> f64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (r >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_jitters() {
        let cfg = BackoffConfig {
            initial_ms: 100,
            max_ms: 1000,
            multiplier: 2.0,
            jitter: 0.2,
        };
        assert!(cfg.validate().is_ok());
        // Middle of the jitter range = no jitter.
        assert_eq!(cfg.delay(1, 0.5), Duration::from_millis(100));
        assert_eq!(cfg.delay(2, 0.5), Duration::from_millis(200));
        assert_eq!(cfg.delay(4, 0.5), Duration::from_millis(800));
        assert_eq!(cfg.delay(5, 0.5), Duration::from_millis(1000));
        assert_eq!(cfg.delay(500, 0.5), Duration::from_millis(1000));
        assert_eq!(cfg.delay(1, 0.0), Duration::from_millis(80));
        assert_eq!(cfg.delay(1, 1.0), Duration::from_millis(120));

        let mut b = Backoff::new(cfg.clone());
        let mut seen = Vec::new();
        for _ in 0..20 {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(80) && d <= Duration::from_millis(1200),
                "{d:?}"
            );
            seen.push(d);
        }
        assert_eq!(b.failures(), 20);
        // Capped delays still vary (jitter).
        let tail = &seen[10..];
        assert!(tail.iter().any(|d| *d != tail[0]), "{tail:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }

    #[test]
    fn rejects_bad_values() {
        let bad = [
            BackoffConfig {
                initial_ms: 0,
                ..Default::default()
            },
            BackoffConfig {
                initial_ms: 20_000,
                ..Default::default()
            },
            BackoffConfig {
                multiplier: 0.5,
                ..Default::default()
            },
            BackoffConfig {
                jitter: f64::NAN,
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
        assert!(BackoffConfig::default().validate().is_ok());
    }
}
