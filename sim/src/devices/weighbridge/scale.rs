//! The weighing indicator's measurement: what the load cells and the A/D
//! converter make of the load on the platform.
//!
//! Layer: pure device model, no I/O, no clock (time is passed in), seeded
//! randomness. It knows nothing about protocols: the Modbus profiles and the
//! ASCII outputs format a [`ScaleReading`].
//!
//! Model: the platform is a damped mass-spring system driven by the static
//! load (second order, natural frequency and damping ratio configurable), so
//! the reading follows the axles onto the platform with overshoot and a
//! decaying oscillation. Every `update_ms` the indicator samples it, adds
//! uniform noise (`noise_div` divisions) and rounds to the division. A reading
//! is stable when every reading of the last `stable_window_ms` lies within one
//! division (max - min <= d), as OIML-style motion detection does.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Errors in a scale configuration.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScaleConfigError {
    #[error("division must be 1, 2 or 5 times 1, 10 or 100 kg (got {0})")]
    BadDivision(u32),
    #[error("capacity must be a positive multiple of the division and <= 999999 kg (got {0})")]
    BadCapacity(u32),
    #[error("{0} must be finite and > 0")]
    BadParameter(&'static str),
}

/// Indicator and platform parameters.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScaleConfig {
    /// Scale interval d in kg: 1, 2, 5, 10, 20, 50, 100, 200 or 500. Default 20.
    pub division_kg: u32,
    /// Max capacity in kg. Default 60000 (a 60 t truck scale, 3000 divisions).
    pub capacity_kg: u32,
    /// Natural frequency of the platform, Hz. Default 0.8.
    pub natural_freq_hz: f64,
    /// Damping ratio (< 1: oscillates). Default 0.3.
    pub damping_ratio: f64,
    /// Noise amplitude (uniform +-), in divisions. Default 0.3.
    pub noise_div: f64,
    /// A/D update period in lane ms. Default 100 (10 readings/s).
    pub update_ms: u64,
    /// Motion detection window in lane ms. Default 1000.
    pub stable_window_ms: u64,
}

impl Default for ScaleConfig {
    fn default() -> Self {
        Self {
            division_kg: 20,
            capacity_kg: 60_000,
            natural_freq_hz: 0.8,
            damping_ratio: 0.3,
            noise_div: 0.3,
            update_ms: 100,
            stable_window_ms: 1000,
        }
    }
}

impl ScaleConfig {
    pub fn validate(&self) -> Result<(), ScaleConfigError> {
        division_digits(self.division_kg).ok_or(ScaleConfigError::BadDivision(self.division_kg))?;
        if self.capacity_kg == 0
            || self.capacity_kg > 999_999
            || self.capacity_kg.checked_rem(self.division_kg) != Some(0)
        {
            return Err(ScaleConfigError::BadCapacity(self.capacity_kg));
        }
        for (v, name) in [
            (self.natural_freq_hz, "natural_freq_hz"),
            (self.damping_ratio, "damping_ratio"),
        ] {
            if !v.is_finite() || v <= 0.0 {
                return Err(ScaleConfigError::BadParameter(name));
            }
        }
        if !self.noise_div.is_finite() || self.noise_div < 0.0 {
            return Err(ScaleConfigError::BadParameter("noise_div"));
        }
        if self.update_ms == 0 {
            return Err(ScaleConfigError::BadParameter("update_ms"));
        }
        Ok(())
    }

    /// Overload threshold: capacity + 9 divisions (OIML R76).
    pub fn overload_kg(&self) -> i64 {
        i64::from(self.capacity_kg) + 9 * i64::from(self.division_kg)
    }
}

/// `(multiplier, power of ten)` of a division: 20 -> (2, 1).
pub fn division_digits(division_kg: u32) -> Option<(u32, u32)> {
    for (p, scale) in [(0u32, 1u32), (1, 10), (2, 100)] {
        for m in [1u32, 2, 5] {
            if m * scale == division_kg {
                return Some((m, p));
            }
        }
    }
    None
}

/// One indicator reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScaleReading {
    /// Gross weight in kg, rounded to the division.
    pub weight_kg: i64,
    /// No motion: the last `stable_window_ms` of readings lie within one division.
    pub stable: bool,
    /// Above capacity + 9 d.
    pub overload: bool,
    /// Increments with every A/D update (wraps).
    pub seq: u32,
    /// Lane time of the reading.
    pub t_ms: u64,
}

impl ScaleReading {
    pub fn motion(&self) -> bool {
        !self.stable
    }
    pub fn negative(&self) -> bool {
        self.weight_kg < 0
    }
    /// At the centre of zero (the rounded reading is exactly 0).
    pub fn zero(&self) -> bool {
        self.weight_kg == 0
    }
}

/// The platform and indicator state.
pub struct ScaleModel {
    cfg: ScaleConfig,
    rng: StdRng,
    /// Platform deflection in kg-equivalent and its rate.
    y: f64,
    v: f64,
    last_ms: u64,
    next_update_ms: u64,
    history: VecDeque<(u64, i64)>,
    reading: ScaleReading,
}

/// Integration step, ms.
const DT_MS: u64 = 5;
/// Bound on the motion-detection history.
const MAX_HISTORY: usize = 1024;

impl ScaleModel {
    /// A scale at rest (empty) at lane time `now_ms`. Call [`ScaleConfig::validate`] first.
    pub fn new(cfg: ScaleConfig, seed: u64, now_ms: u64) -> Self {
        Self {
            cfg,
            rng: StdRng::seed_from_u64(seed),
            y: 0.0,
            v: 0.0,
            last_ms: now_ms,
            next_update_ms: now_ms,
            history: VecDeque::new(),
            reading: ScaleReading {
                t_ms: now_ms,
                ..ScaleReading::default()
            },
        }
    }

    pub fn config(&self) -> &ScaleConfig {
        &self.cfg
    }

    /// Advances to `now_ms` with `load_kg` on the platform (held constant over the interval).
    pub fn advance(&mut self, now_ms: u64, load_kg: f64) {
        let w = 2.0 * std::f64::consts::PI * self.cfg.natural_freq_hz;
        let z = self.cfg.damping_ratio;
        let load = if load_kg.is_finite() { load_kg } else { 0.0 };
        while self.last_ms < now_ms {
            let step = (now_ms - self.last_ms).min(DT_MS);
            let dt = step as f64 / 1000.0;
            // Semi-implicit Euler on y'' = w^2 (load - y) - 2 z w y'.
            let a = w * w * (load - self.y) - 2.0 * z * w * self.v;
            self.v += a * dt;
            self.y += self.v * dt;
            self.last_ms += step;
            if self.last_ms >= self.next_update_ms {
                self.sample(self.last_ms);
                self.next_update_ms = self.last_ms + self.cfg.update_ms;
            }
        }
    }

    fn sample(&mut self, t_ms: u64) {
        let d = f64::from(self.cfg.division_kg);
        let noise = if self.cfg.noise_div > 0.0 {
            self.rng.gen_range(-self.cfg.noise_div..=self.cfg.noise_div) * d
        } else {
            0.0
        };
        let raw = self.y + noise;
        let weight = ((raw / d).round() * d) as i64;
        self.history.push_back((t_ms, weight));
        while self.history.len() > MAX_HISTORY
            || self
                .history
                .front()
                .is_some_and(|&(t, _)| t + self.cfg.stable_window_ms < t_ms)
        {
            self.history.pop_front();
        }
        let covered = self
            .history
            .front()
            .is_some_and(|&(t, _)| t + self.cfg.stable_window_ms <= t_ms + self.cfg.update_ms);
        let (lo, hi) = self
            .history
            .iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &(_, w)| {
                (lo.min(w), hi.max(w))
            });
        let stable = covered && hi - lo <= i64::from(self.cfg.division_kg);
        self.reading = ScaleReading {
            weight_kg: weight,
            stable,
            overload: weight > self.cfg.overload_kg(),
            seq: self.reading.seq.wrapping_add(1),
            t_ms,
        };
    }

    /// The latest reading.
    pub fn reading(&self) -> ScaleReading {
        self.reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_digits_table() {
        assert_eq!(division_digits(20), Some((2, 1)));
        assert_eq!(division_digits(5), Some((5, 0)));
        assert_eq!(division_digits(100), Some((1, 2)));
        assert_eq!(division_digits(30), None);
        assert!(ScaleConfig {
            division_kg: 30,
            ..ScaleConfig::default()
        }
        .validate()
        .is_err());
        assert!(ScaleConfig {
            capacity_kg: 60_010,
            ..ScaleConfig::default()
        }
        .validate()
        .is_err());
        assert!(ScaleConfig::default().validate().is_ok());
    }

    #[test]
    fn settles_within_one_division_and_becomes_stable() {
        let cfg = ScaleConfig::default();
        let mut s = ScaleModel::new(cfg.clone(), 1, 0);
        s.advance(2000, 0.0);
        assert!(s.reading().stable && s.reading().zero());
        // Load steps on: the reading overshoots, oscillates, then settles.
        let mut max = 0;
        let mut unstable_seen = false;
        for t in (2100..=20_000).step_by(100) {
            s.advance(t, 32_460.0);
            max = max.max(s.reading().weight_kg);
            unstable_seen |= !s.reading().stable;
        }
        assert!(unstable_seen);
        assert!(max > 32_460 + 1000, "overshoot {max}");
        let r = s.reading();
        assert!(r.stable, "{r:?}");
        assert!((r.weight_kg - 32_460).abs() <= 20, "{r:?}");
        assert_eq!(r.weight_kg % 20, 0);
        assert!(!r.overload && !r.negative() && !r.zero());
    }

    #[test]
    fn noise_never_exceeds_one_division_when_settled() {
        let mut s = ScaleModel::new(ScaleConfig::default(), 9, 0);
        s.advance(30_000, 40_000.0);
        for t in (30_100..60_000).step_by(100) {
            s.advance(t, 40_000.0);
            assert!(
                (s.reading().weight_kg - 40_000).abs() <= 20,
                "{:?}",
                s.reading()
            );
            assert!(s.reading().stable);
        }
    }

    #[test]
    fn overload_flag() {
        let mut s = ScaleModel::new(ScaleConfig::default(), 2, 0);
        s.advance(30_000, 70_000.0);
        assert!(s.reading().overload);
    }

    #[test]
    fn readings_advance_at_the_update_rate() {
        let mut s = ScaleModel::new(ScaleConfig::default(), 3, 0);
        s.advance(1000, 0.0);
        let a = s.reading().seq;
        s.advance(2000, 0.0);
        assert_eq!(s.reading().seq.wrapping_sub(a), 10);
    }
}
