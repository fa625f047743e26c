//! The decision policy (configuration of the local checks) and the weighing
//! arithmetic: OIML R76 maximum permissible errors and the weight tolerance.
//!
//! Data and pure arithmetic only; this module knows nothing about where the
//! configuration is stored or how weights are read.

use gate_proto::messages::{ControlAction, Credit};
use serde::{Deserialize, Serialize};

/// OIML R76 accuracy class of the scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccuracyClass {
    /// Medium accuracy (truck scales): 0.5 e up to 500 e, 1 e up to 2000 e,
    /// 1.5 e up to 10000 e.
    III,
    /// Ordinary accuracy: 0.5 e up to 50 e, 1 e up to 200 e, 1.5 e up to 1000 e.
    IIII,
}

impl AccuracyClass {
    /// Upper ends (in divisions) of the 0.5 e, 1 e and 1.5 e bands.
    fn bands(self) -> [f64; 3] {
        match self {
            AccuracyClass::III => [500.0, 2000.0, 10_000.0],
            AccuracyClass::IIII => [50.0, 200.0, 1000.0],
        }
    }
}

/// The weighbridge.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scale {
    /// Maximum capacity (Max), kg.
    pub max_kg: f64,
    /// Verification scale interval e (the division), kg.
    pub division_kg: f64,
    pub class: AccuracyClass,
}

impl Default for Scale {
    /// 60 t, e = 20 kg, class III: 3000 divisions.
    fn default() -> Self {
        Self {
            max_kg: 60_000.0,
            division_kg: 20.0,
            class: AccuracyClass::III,
        }
    }
}

impl Scale {
    /// Maximum permissible error at initial verification for a load, kg
    /// (OIML R76 table 6). `None` when the load is negative, not a number
    /// or above Max + 9 e (the indicator would blank).
    pub fn mpe_new_kg(&self, load_kg: f64) -> Option<f64> {
        let e = self.division_kg;
        if !load_kg.is_finite() || !e.is_finite() || e <= 0.0 || load_kg < 0.0 {
            return None;
        }
        if load_kg > self.max_kg + 9.0 * e {
            return None;
        }
        let n = load_kg / e;
        let [b1, b2, _] = self.class.bands();
        Some(if n <= b1 {
            0.5 * e
        } else if n <= b2 {
            e
        } else {
            // Beyond the last band only by a badly configured Max; keep 1.5 e.
            1.5 * e
        })
    }

    /// Maximum permissible error in service: twice the initial one.
    pub fn mpe_in_service_kg(&self, load_kg: f64) -> Option<f64> {
        self.mpe_new_kg(load_kg).map(|m| 2.0 * m)
    }
}

/// What an H07 (focus list / blacklist) does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FocusAction {
    Hold,
    Inspect,
}

impl From<FocusAction> for ControlAction {
    fn from(a: FocusAction) -> Self {
        match a {
            FocusAction::Hold => ControlAction::Hold,
            FocusAction::Inspect => ControlAction::Inspect,
        }
    }
}

/// What the lane may do while the platform is unreachable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OfflinePolicy {
    /// Release at all while offline (false: every vehicle is held, H09).
    pub allow_release: bool,
    /// Credit classes of the enterprise that may be released offline.
    pub credits: Vec<Credit>,
}

impl Default for OfflinePolicy {
    /// Release offline only AEO and whitelist enterprises (docs/domain.md).
    fn default() -> Self {
        Self {
            allow_release: true,
            credits: vec![Credit::Aeo, Credit::Whitelist],
        }
    }
}

/// The configuration of the local checks. See docs/reasons.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// k in "tolerance = max(k% of expected, 2 x in-service scale error)".
    pub weight_tolerance_pct: f64,
    pub scale: Scale,
    /// A stable weight is required (false: weighing is skipped when absent).
    pub require_weight: bool,
    /// Plate reads below this confidence count as unread.
    pub min_plate_confidence: f32,
    /// Container reads below this confidence count as unread.
    pub min_container_confidence: f32,
    /// What H07 does.
    pub focus_action: FocusAction,
    /// Goods passes without an e-seal on the pass still need an intact seal.
    pub require_eseal: bool,
    /// An e-tag read is required (false: checked only when read).
    pub require_etag: bool,
    pub offline: OfflinePolicy,
    /// Local blacklist of plates (normalised), H07.
    pub blacklist_plates: Vec<String>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            weight_tolerance_pct: 3.0,
            scale: Scale::default(),
            require_weight: true,
            min_plate_confidence: 0.80,
            min_container_confidence: 0.60,
            focus_action: FocusAction::Hold,
            require_eseal: false,
            require_etag: false,
            offline: OfflinePolicy::default(),
            blacklist_plates: Vec::new(),
        }
    }
}

/// The weight tolerance: `max(k% of expected, 2 x in-service MPE at the
/// measured load)`, with its two parts. `None` when the measured load is
/// outside the scale's range.
pub fn tolerance_kg(policy: &Policy, expected_kg: f64, measured_kg: f64) -> Option<Tolerance> {
    let mpe = policy.scale.mpe_in_service_kg(measured_kg)?;
    let pct = (policy.weight_tolerance_pct / 100.0 * expected_kg).abs();
    if !pct.is_finite() {
        return None;
    }
    Some(Tolerance {
        pct_kg: pct,
        scale_kg: 2.0 * mpe,
        tolerance_kg: pct.max(2.0 * mpe),
    })
}

/// The parts of a weight tolerance, kg.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// k% of the expected weight.
    pub pct_kg: f64,
    /// Twice the in-service MPE.
    pub scale_kg: f64,
    /// The larger of the two.
    pub tolerance_kg: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpe_class_iii_bands() {
        let s = Scale::default(); // 60 t, e = 20 kg
                                  // 500 e = 10 t, 2000 e = 40 t.
        assert_eq!(s.mpe_new_kg(0.0), Some(10.0));
        assert_eq!(s.mpe_new_kg(10_000.0), Some(10.0));
        assert_eq!(s.mpe_new_kg(10_020.0), Some(20.0));
        assert_eq!(s.mpe_new_kg(40_000.0), Some(20.0));
        assert_eq!(s.mpe_new_kg(40_020.0), Some(30.0));
        // The domain example: 50 t on a 60 t / 20 kg scale.
        assert_eq!(s.mpe_new_kg(50_000.0), Some(30.0));
        assert_eq!(s.mpe_in_service_kg(50_000.0), Some(60.0));
        // Max + 9 e still indicates, beyond that it blanks.
        assert_eq!(s.mpe_new_kg(60_180.0), Some(30.0));
        assert_eq!(s.mpe_new_kg(60_200.0), None);
        assert_eq!(s.mpe_new_kg(-1.0), None);
        assert_eq!(s.mpe_new_kg(f64::NAN), None);
    }

    #[test]
    fn mpe_class_iiii() {
        let s = Scale {
            max_kg: 1000.0,
            division_kg: 1.0,
            class: AccuracyClass::IIII,
        };
        assert_eq!(s.mpe_new_kg(50.0), Some(0.5));
        assert_eq!(s.mpe_new_kg(51.0), Some(1.0));
        assert_eq!(s.mpe_new_kg(201.0), Some(1.5));
    }

    #[test]
    fn tolerance_takes_the_larger() {
        let p = Policy::default();
        // 50 t declared: 3% = 1500 kg beats 2 x 60 kg.
        let t = tolerance_kg(&p, 50_000.0, 50_000.0).expect("in range");
        assert_eq!(t.pct_kg, 1500.0);
        assert_eq!(t.scale_kg, 120.0);
        assert_eq!(t.tolerance_kg, 1500.0);
        // A light load: 3% of 2 t = 60 kg, below 2 x in-service (2 x 20 kg).
        let t = tolerance_kg(&p, 2_000.0, 2_000.0).expect("in range");
        assert_eq!(t.pct_kg, 60.0);
        assert_eq!(t.scale_kg, 40.0);
        assert_eq!(t.tolerance_kg, 60.0);
        // k = 0: only the scale error.
        let p0 = Policy {
            weight_tolerance_pct: 0.0,
            ..Policy::default()
        };
        let t = tolerance_kg(&p0, 50_000.0, 50_000.0).expect("in range");
        assert_eq!(t.tolerance_kg, 120.0);
        assert!(tolerance_kg(&p, 50_000.0, 70_000.0).is_none());
    }
}
