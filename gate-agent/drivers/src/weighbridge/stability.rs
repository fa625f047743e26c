//! Stability detection for indicators without a stable flag (XK3190) or
//! when the agent double-checks the indicator.
//!
//! Layer: sans-IO: the caller passes the time of each reading. Rule
//! (docs/domain.md, inferred, configurable): stable when at least
//! `min_samples` consecutive readings, the newest included, all lie within
//! +-`tolerance_divisions` x `division_kg` of the newest and span at least
//! `window_ms`. A gap longer than `max_gap_ms` between readings starts
//! over. Memory is bounded.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::StabilityConfig;

/// Readings kept at most (older ones are not needed for any sane window).
const MAX_SAMPLES: usize = 1024;

/// The detector.
#[derive(Debug, Clone)]
pub struct StabilityDetector {
    tolerance_kg: f64,
    window: Duration,
    min_samples: usize,
    max_gap: Duration,
    samples: VecDeque<(Instant, f64)>,
}

impl StabilityDetector {
    pub fn new(cfg: &StabilityConfig) -> Self {
        Self {
            tolerance_kg: cfg.division_kg * cfg.tolerance_divisions,
            window: Duration::from_millis(cfg.window_ms),
            min_samples: cfg.min_samples.max(1),
            max_gap: Duration::from_millis(cfg.max_gap_ms),
            samples: VecDeque::new(),
        }
    }

    /// Forget everything (e.g. after the device went silent).
    pub fn reset(&mut self) {
        self.samples.clear();
    }

    /// Add a reading taken at `at` (non-decreasing) and tell whether the
    /// weight is now stable.
    pub fn push(&mut self, at: Instant, kg: f64) -> bool {
        if !kg.is_finite() {
            self.samples.clear();
            return false;
        }
        if let Some((last, _)) = self.samples.back() {
            if at < *last || at.duration_since(*last) > self.max_gap {
                self.samples.clear();
            }
        }
        self.samples.push_back((at, kg));
        // Drop readings outside tolerance of the newest: only the run of
        // readings right before it counts.
        let run_start = self
            .samples
            .iter()
            .rposition(|(_, w)| (w - kg).abs() > self.tolerance_kg + 1e-9)
            .map_or(0, |i| i + 1);
        self.samples.drain(..run_start);
        // Keep what is needed to prove the window, plus the sample count.
        while self.samples.len() > MAX_SAMPLES
            || (self.samples.len() > self.min_samples
                && self
                    .samples
                    .get(1)
                    .is_some_and(|(t, _)| at.duration_since(*t) >= self.window))
        {
            self.samples.pop_front();
        }
        let span = self
            .samples
            .front()
            .map_or(Duration::ZERO, |(t, _)| at.duration_since(*t));
        self.samples.len() >= self.min_samples && span >= self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> StabilityConfig {
        StabilityConfig {
            division_kg: 20.0,
            tolerance_divisions: 1.0,
            window_ms: 1500,
            min_samples: 5,
            max_gap_ms: 1000,
            ..StabilityConfig::default()
        }
    }

    #[test]
    fn stable_after_window_within_one_division() {
        let mut d = StabilityDetector::new(&cfg());
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // 10 Hz, +-20 kg jitter around 32460.
        let mut stable_at = None;
        for i in 0..30u64 {
            let w = 32_460.0 + if i % 2 == 0 { 20.0 } else { 0.0 };
            if d.push(ms(i * 100), w) && stable_at.is_none() {
                stable_at = Some(i * 100);
            }
        }
        assert_eq!(stable_at, Some(1500));
        // A jump beyond tolerance breaks it at once, then it takes a full window again.
        assert!(!d.push(ms(3000), 32_500.0));
        for t in (3100..4500).step_by(100) {
            assert!(!d.push(ms(t), 32_500.0), "t={t}");
        }
        assert!(d.push(ms(4500), 32_500.0));
    }

    #[test]
    fn needs_enough_samples_and_no_gap() {
        let mut c = cfg();
        c.max_gap_ms = 2000;
        let mut d = StabilityDetector::new(&c);
        let t0 = Instant::now();
        // Only 3 readings over 1.6 s: not enough samples.
        assert!(!d.push(t0, 1000.0));
        assert!(!d.push(t0 + Duration::from_millis(800), 1000.0));
        assert!(!d.push(t0 + Duration::from_millis(1600), 1000.0));
        let mut d = StabilityDetector::new(&cfg());
        for i in 0..10u64 {
            d.push(t0 + Duration::from_millis(i * 100), 1000.0);
        }
        // A 1.5 s silence (> max_gap) restarts detection.
        assert!(!d.push(t0 + Duration::from_millis(2500), 1000.0));
        assert!(!d.push(t0 + Duration::from_millis(2600), f64::NAN));
    }

    #[test]
    fn slow_drift_is_not_stable() {
        let mut d = StabilityDetector::new(&cfg());
        let t0 = Instant::now();
        // +5 kg per 100 ms: within 1 division of the newest for only 0.4 s.
        for i in 0..50u64 {
            assert!(
                !d.push(t0 + Duration::from_millis(i * 100), 1000.0 + 5.0 * i as f64),
                "i={i}"
            );
        }
    }

    #[test]
    fn memory_is_bounded() {
        let mut c = cfg();
        c.window_ms = 60_000;
        c.max_gap_ms = 10;
        let mut d = StabilityDetector::new(&c);
        let t0 = Instant::now();
        for i in 0..5000u64 {
            d.push(t0 + Duration::from_millis(i), 5.0);
        }
        assert!(d.samples.len() <= MAX_SAMPLES);
    }
}
