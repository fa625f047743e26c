//! Weighbridge indicators (Modbus or ASCII) and how their readings are judged
//! stable. The indicator is read as two keys (`modbus`, `ascii`:
//! `RawWeighbridge`) and held as one [`ScaleSource`].

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::backoff::BackoffConfig;

use gate_wire::weighbridge::AsciiProtocol;

use super::{
    check_interval, check_unit, default_offline_after, exactly_one, in_section, ConfigCheckError,
    Problem, Section, SerialPortConfig, Typed,
};

/// How a weighbridge reading is judged stable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StabilityMode {
    /// The device's flag when it has one (a stable bit, a motion bit, the
    /// Toledo motion status), else detection. Default.
    #[default]
    Auto,
    /// Only the device's flag (error at start if the device has none).
    Device,
    /// Only the agent's detection (readings within tolerance for a window).
    Detect,
    /// Both must agree.
    Both,
}

/// Stability detection: the last `min_samples` or more readings all within
/// +-`tolerance_divisions` x `division_kg` of the newest, spanning at least
/// `window_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StabilityConfig {
    /// See [`StabilityMode`] (default "auto").
    #[serde(default)]
    pub mode: StabilityMode,
    /// Scale division (display increment), kg (default 20: a 60 t truck scale).
    #[serde(default = "default_division")]
    pub division_kg: f64,
    /// Allowed deviation, in divisions (default 1).
    #[serde(default = "default_tolerance")]
    pub tolerance_divisions: f64,
    /// Time the readings must stay within tolerance, ms (default 1500).
    #[serde(default = "default_window")]
    pub window_ms: u64,
    /// Readings needed inside the window, at least (default 5).
    #[serde(default = "default_min_samples")]
    pub min_samples: usize,
    /// A gap between readings longer than this restarts detection, ms (default 1000).
    #[serde(default = "default_max_gap")]
    pub max_gap_ms: u64,
}

fn default_division() -> f64 {
    20.0
}
fn default_tolerance() -> f64 {
    1.0
}
fn default_window() -> u64 {
    1500
}
fn default_min_samples() -> usize {
    5
}
fn default_max_gap() -> u64 {
    1000
}

impl Default for StabilityConfig {
    fn default() -> Self {
        Self {
            mode: StabilityMode::Auto,
            division_kg: default_division(),
            tolerance_divisions: default_tolerance(),
            window_ms: default_window(),
            min_samples: default_min_samples(),
            max_gap_ms: default_max_gap(),
        }
    }
}

impl StabilityConfig {
    pub fn validate(&self) -> Result<(), StabilityError> {
        if !(self.division_kg.is_finite() && self.division_kg > 0.0) {
            return Err(StabilityError::DivisionKg(self.division_kg));
        }
        if !(self.tolerance_divisions.is_finite() && self.tolerance_divisions >= 0.0) {
            return Err(StabilityError::ToleranceDivisions(self.tolerance_divisions));
        }
        if !(2..=1000).contains(&self.min_samples) {
            return Err(StabilityError::MinSamples(self.min_samples));
        }
        if self.window_ms > 60_000 || self.max_gap_ms == 0 {
            return Err(StabilityError::WindowOrGap {
                window_ms: self.window_ms,
                max_gap_ms: self.max_gap_ms,
            });
        }
        Ok(())
    }
}

/// A [`StabilityConfig`] value out of range ([`StabilityConfig::validate`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StabilityError {
    #[error("stability.division_kg {0} must be > 0")]
    DivisionKg(f64),
    #[error("stability.tolerance_divisions {0} must be >= 0")]
    ToleranceDivisions(f64),
    #[error("stability.min_samples {0} not in 2..=1000")]
    MinSamples(usize),
    /// `window_ms` over 60000 or `max_gap_ms` 0 (the values as given).
    #[error("stability: window_ms <= 60000 and max_gap_ms > 0 required")]
    WindowOrGap { window_ms: u64, max_gap_ms: u64 },
}

/// A Modbus weighbridge indicator described by a register profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusScaleConfig {
    /// Bus name.
    pub bus: String,
    /// Unit id.
    pub unit_id: u8,
    /// Profile name (`<profiles_dir>/<name>.toml`) or a path ending in `.toml`.
    /// It must define a numeric point `gross` in kg (after scale/offset) and
    /// may define flags `stable`, `motion`, `overload`, `underload`, `error`.
    pub profile: String,
    /// Poll period, ms (default 200).
    #[serde(default = "default_scale_poll")]
    pub poll_interval_ms: u64,
}

pub(super) fn default_scale_poll() -> u64 {
    200
}

/// A weighbridge indicator streaming ASCII frames on a serial line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsciiScaleConfig {
    /// The serial line.
    pub port: SerialPortConfig,
    /// "toledo" or "xk3190".
    pub protocol: AsciiProtocol,
    /// Toledo: frames carry a checksum byte after CR (default false).
    /// Ignored for XK3190 (always checked).
    #[serde(default)]
    pub checksum: bool,
    /// Kilograms per displayed unit (default 1; 1000 if the indicator shows tonnes).
    #[serde(default = "one")]
    pub kg_per_unit: f64,
    /// No valid frame for this long = reading withdrawn and an error
    /// recorded, ms (default 2000).
    #[serde(default = "default_stale")]
    pub stale_after_ms: u64,
    /// Reopen delays after the port fails (unplugged adapter).
    #[serde(default)]
    pub backoff: BackoffConfig,
}

pub(super) fn one() -> f64 {
    1.0
}
fn default_stale() -> u64 {
    2000
}

/// The weighbridge: a Modbus or an ASCII indicator.
///
/// ```toml
/// [weighbridge]
/// modbus = { bus = "wb", unit_id = 1, profile = "wb-f32-cdab" }
/// stability = { division_kg = 20 }
/// ```
///
/// The file gives the indicator as exactly one of the keys `modbus` and
/// `ascii` (`RawWeighbridge`, typed by `TryFrom`); written back,
/// [`ScaleSource`] is that key again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawWeighbridge")]
pub struct WeighbridgeConfig {
    /// Device name (default "weighbridge").
    pub name: String,
    /// `modbus` or `ascii`.
    #[serde(flatten)]
    pub source: ScaleSource,
    /// Stability judgement.
    pub stability: StabilityConfig,
    /// Modbus only: consecutive failed polls before the reading is withdrawn (default 3).
    pub offline_after_errors: u32,
}

/// The indicator of a weighbridge: in the file, the key `modbus` or the key
/// `ascii`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleSource {
    /// Polled over Modbus, described by a register profile.
    Modbus(ModbusScaleConfig),
    /// Streaming ASCII frames on a serial line.
    Ascii(AsciiScaleConfig),
}

/// A weighbridge as the file writes it: the indicator as two keys, exactly
/// one of them given.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeighbridge {
    #[serde(default = "default_wb_name")]
    name: String,
    #[serde(default)]
    modbus: Option<ModbusScaleConfig>,
    #[serde(default)]
    ascii: Option<AsciiScaleConfig>,
    #[serde(default)]
    stability: StabilityConfig,
    #[serde(default = "default_offline_after")]
    offline_after_errors: u32,
}

fn default_wb_name() -> String {
    "weighbridge".into()
}

impl TryFrom<RawWeighbridge> for WeighbridgeConfig {
    type Error = ConfigCheckError;

    /// Fails when the file gives both of `modbus` and `ascii`, or neither.
    fn try_from(raw: RawWeighbridge) -> Result<Self, ConfigCheckError> {
        let modbus = raw.modbus.map(ScaleSource::Modbus);
        let source = exactly_one([modbus, raw.ascii.map(ScaleSource::Ascii)], || {
            in_section(Section::Weighbridge, &raw.name)(Problem::ScaleSource)
        })?;
        Ok(Self {
            name: raw.name,
            source,
            stability: raw.stability,
            offline_after_errors: raw.offline_after_errors,
        })
    }
}

impl Typed<WeighbridgeConfig> for RawWeighbridge {
    fn typed(&self) -> Result<Cow<'_, WeighbridgeConfig>, ConfigCheckError> {
        WeighbridgeConfig::try_from(self.clone()).map(Cow::Owned)
    }
}

impl WeighbridgeConfig {
    pub fn validate(&self) -> Result<(), ConfigCheckError> {
        let ctx = in_section(Section::Weighbridge, &self.name);
        match &self.source {
            ScaleSource::Modbus(m) => {
                check_unit(m.unit_id).map_err(ctx)?;
                check_interval("poll_interval_ms", m.poll_interval_ms).map_err(ctx)?;
            }
            ScaleSource::Ascii(a) => {
                a.port.validate().map_err(|e| ctx(e.into()))?;
                if !(a.kg_per_unit.is_finite() && a.kg_per_unit > 0.0) {
                    return Err(ctx(Problem::KgPerUnit(a.kg_per_unit)));
                }
                check_interval("stale_after_ms", a.stale_after_ms).map_err(ctx)?;
                a.backoff.validate().map_err(|e| ctx(e.into()))?;
            }
        }
        if self.offline_after_errors == 0 {
            return Err(ctx(Problem::OfflineAfterErrors));
        }
        self.stability.validate().map_err(|e| ctx(e.into()))
    }
}
