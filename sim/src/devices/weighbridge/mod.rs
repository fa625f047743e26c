//! Simulated weighbridge indicators: one measurement model
//! ([`scale::ScaleModel`]) behind one of four interfaces:
//!
//! | protocol        | transport             | document                            |
//! |-----------------|-----------------------|-------------------------------------|
//! | `wb-f32-cdab`   | Modbus TCP            | docs/devices/weighbridge-modbus.md  |
//! | `wb-i32-scaled` | Modbus TCP            | docs/devices/weighbridge-modbus.md  |
//! | `toledo`        | continuous on a pty   | docs/devices/weighbridge-toledo.md  |
//! | `xk3190`        | continuous on a pty   | docs/devices/weighbridge-xk3190.md  |
//!
//! Layer: simulated device. It knows its wire formats and the load on the
//! platform it is given; it knows nothing about trucks, plates or the lane.

pub mod modbus;
pub mod scale;
pub mod toledo;
pub mod xk3190;

use std::sync::Arc;
use std::time::Duration;

use lane_io_host::{FaultMode, FaultSwitch};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio_serial::SerialStream;

use crate::clock::SimClock;
use crate::devices::pty::PtyHold;
pub use modbus::{WbModbus, WbModbusProfile};
pub use scale::{ScaleConfig, ScaleModel, ScaleReading};

/// The interface an indicator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum WbProtocol {
    #[serde(rename = "wb-f32-cdab")]
    F32Cdab,
    #[serde(rename = "wb-i32-scaled")]
    I32Scaled,
    /// Mettler Toledo continuous output on a serial line.
    #[serde(rename = "toledo")]
    Toledo,
    /// Yaohua XK3190 continuous output (format 0) on a serial line.
    #[serde(rename = "xk3190")]
    Xk3190,
}

impl WbProtocol {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32Cdab => "wb-f32-cdab",
            Self::I32Scaled => "wb-i32-scaled",
            Self::Toledo => "toledo",
            Self::Xk3190 => "xk3190",
        }
    }
    /// The Modbus profile, for the Modbus protocols.
    pub fn modbus_profile(self) -> Option<WbModbusProfile> {
        match self {
            Self::F32Cdab => Some(WbModbusProfile::F32Cdab),
            Self::I32Scaled => Some(WbModbusProfile::I32Scaled),
            _ => None,
        }
    }
}

/// One indicator on the lane's platform.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WeighbridgeConfig {
    /// Name used in endpoints and fault injection (`weighbridge.<name>`).
    #[serde(default = "default_wb_name")]
    pub name: String,
    pub protocol: WbProtocol,
    #[serde(default)]
    pub scale: ScaleConfig,
    /// Modbus TCP port (0 or absent: ephemeral).
    #[serde(default)]
    pub port: Option<u16>,
    /// Modbus unit id to answer (absent: any).
    #[serde(default)]
    pub unit_id: Option<u8>,
    /// kg per unit of the `wb-i32-scaled` weight registers. Default 10.
    #[serde(default = "default_scale_kg")]
    pub scale_kg: u32,
    /// Continuous output frames per lane second. Default 10.
    #[serde(default = "default_rate_hz")]
    pub rate_hz: f64,
    /// Toledo: append the checksum byte. Default true.
    #[serde(default = "default_true")]
    pub checksum: bool,
}

fn default_wb_name() -> String {
    "wb".into()
}
fn default_scale_kg() -> u32 {
    10
}
fn default_rate_hz() -> f64 {
    10.0
}
fn default_true() -> bool {
    true
}

impl WeighbridgeConfig {
    pub fn new(name: &str, protocol: WbProtocol) -> Self {
        Self {
            name: name.into(),
            protocol,
            scale: ScaleConfig::default(),
            port: None,
            unit_id: None,
            scale_kg: default_scale_kg(),
            rate_hz: default_rate_hz(),
            checksum: true,
        }
    }
}

/// Unread bytes after which a pty's input is considered stale and dropped.
const STALE_BYTES: u32 = 4 * 18;

/// Encodes one continuous-output frame of `protocol` for `reading`.
pub fn ascii_frame(
    protocol: WbProtocol,
    reading: &ScaleReading,
    division_kg: u32,
    checksum: bool,
) -> Option<Vec<u8>> {
    match protocol {
        WbProtocol::Toledo => {
            Some(toledo::Repr::from_reading(reading, division_kg)?.to_vec(checksum))
        }
        WbProtocol::Xk3190 => Some(xk3190::Repr::from_kg(reading.weight_kg).to_vec()),
        _ => None,
    }
}

/// Streams continuous-output frames on a pty master until aborted: one frame
/// every `1 / rate_hz` lane seconds, nothing while the fault switch is not Normal.
pub async fn run_ascii_output(
    mut master: SerialStream,
    hold: Arc<PtyHold>,
    cfg: WeighbridgeConfig,
    readings: watch::Receiver<ScaleReading>,
    clock: SimClock,
    fault: Arc<FaultSwitch>,
) {
    let rate = if cfg.rate_hz.is_finite() && cfg.rate_hz > 0.0 {
        cfg.rate_hz
    } else {
        default_rate_hz()
    };
    let period = Duration::from_secs_f64(1.0 / rate);
    let period_ms = crate::clock::duration_ms(period).max(1);
    let mut next = clock.now_ms();
    loop {
        next += period_ms;
        // Fell far behind (a stalled runtime): skip the missed frames instead of bursting them.
        let now = clock.now_ms();
        if next + 5 * period_ms < now {
            next = now;
        }
        clock.sleep_until_ms(next).await;
        if fault.get() != FaultMode::Normal {
            continue;
        }
        let reading = *readings.borrow();
        let Some(frame) = ascii_frame(cfg.protocol, &reading, cfg.scale.division_kg, cfg.checksum)
        else {
            tracing::warn!(name = %cfg.name, "no continuous output for this protocol/division");
            return;
        };
        hold.drop_stale(STALE_BYTES);
        match tokio::time::timeout(Duration::from_millis(200), master.write_all(&frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(name = %cfg.name, error = %e, "continuous output write failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => {
                tracing::debug!(name = %cfg.name, "continuous output write timed out (line full)")
            }
        }
    }
}
