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
//! Layer: simulated device. It knows the load on the platform it is given
//! and nothing about trucks, plates or the lane. The ASCII frames are the
//! agent's own sans-IO codecs (`gate_wire::weighbridge::{toledo, xk3190}`):
//! one implementation of each format, parsed by the agent and emitted here.

pub mod modbus;
pub mod scale;

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

use gate_wire::weighbridge::{toledo::ToledoRepr, xk3190::Xk3190Repr, AsciiProtocol};
use scale::division_digits;

/// The interface an indicator speaks: one of the simulator's Modbus register
/// profiles, or an ASCII continuous output (the agent's
/// [`AsciiProtocol`]). Written by name in TOML: `wb-f32-cdab`,
/// `wb-i32-scaled`, `toledo`, `xk3190`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WbProtocol {
    Modbus(WbModbusProfile),
    /// Continuous output on a serial line.
    Ascii(AsciiProtocol),
}

impl WbProtocol {
    /// Every interface, in the order of [`Self::NAMES`].
    pub const ALL: [Self; 4] = [
        Self::Modbus(WbModbusProfile::F32Cdab),
        Self::Modbus(WbModbusProfile::I32Scaled),
        Self::Ascii(AsciiProtocol::Toledo),
        Self::Ascii(AsciiProtocol::Xk3190),
    ];
    /// The names of [`Self::ALL`].
    pub const NAMES: &'static [&'static str] =
        &["wb-f32-cdab", "wb-i32-scaled", "toledo", "xk3190"];

    /// Modbus interfaces (as opposed to an ASCII stream on a serial line).
    pub fn is_modbus(self) -> bool {
        matches!(self, Self::Modbus(_))
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Modbus(p) => p.name(),
            Self::Ascii(AsciiProtocol::Toledo) => "toledo",
            Self::Ascii(AsciiProtocol::Xk3190) => "xk3190",
        }
    }
    /// The Modbus profile, for the Modbus protocols.
    pub fn modbus_profile(self) -> Option<WbModbusProfile> {
        match self {
            Self::Modbus(p) => Some(p),
            Self::Ascii(_) => None,
        }
    }
}

impl Serialize for WbProtocol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for WbProtocol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, Self::NAMES))
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

/// What a Toledo indicator on a scale with `division_kg` shows for
/// `reading`: gross, no tare, kg. None for a division the format cannot
/// express (a multiple of 1, 2 or 5 of 1, 10 or 100 kg).
pub fn toledo_repr(reading: &ScaleReading, division_kg: u32) -> Option<ToledoRepr> {
    let (m, p) = division_digits(division_kg)?;
    Some(ToledoRepr {
        weight: reading.weight_kg.clamp(-999_999, 999_999),
        tare: 0,
        // Dummy zeros: XXXXXX, XXXXX0, XXXX00.
        dp_code: match p {
            0 => 2,
            1 => 1,
            _ => 0,
        },
        increment: u8::try_from(m).ok()?,
        unit_code: 0,
        net: false,
        motion: !reading.stable,
        out_of_range: reading.overload || reading.weight_kg.abs() > 999_999,
        kg: true,
        not_zeroed: false,
        print_request: false,
    })
}

/// Encodes one continuous-output frame of `protocol` for `reading`.
pub fn ascii_frame(
    protocol: WbProtocol,
    reading: &ScaleReading,
    division_kg: u32,
    checksum: bool,
) -> Option<Vec<u8>> {
    match protocol {
        WbProtocol::Ascii(AsciiProtocol::Toledo) => {
            Some(toledo_repr(reading, division_kg)?.to_vec(checksum))
        }
        // Whole kg, no decimals; six digits at most.
        WbProtocol::Ascii(AsciiProtocol::Xk3190) => Some(
            Xk3190Repr {
                value: reading.weight_kg.clamp(-999_999, 999_999),
                decimals: 0,
            }
            .emit()
            .to_vec(),
        ),
        WbProtocol::Modbus(_) => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(weight_kg: i64, stable: bool) -> ScaleReading {
        ScaleReading {
            weight_kg,
            stable,
            ..ScaleReading::default()
        }
    }

    // The reference frames of docs/devices/weighbridge-toledo.md and
    // weighbridge-xk3190.md (32,460 kg stable; -120 kg in motion).
    #[test]
    fn readings_become_the_documented_frames() {
        let toledo_32460 = [
            0x02, b'1', b'0', b' ', b'0', b'3', b'2', b'4', b'6', b'0', b'0', b'0', b'0', b'0',
            b'0', b'0', 0x0D, 0x21,
        ];
        let toledo_neg_120 = [
            0x02, b'1', b':', b' ', b'0', b'0', b'0', b'1', b'2', b'0', b'0', b'0', b'0', b'0',
            b'0', b'0', 0x0D,
        ];
        let f = |r, cks| ascii_frame(WbProtocol::Ascii(AsciiProtocol::Toledo), &r, 20, cks);
        assert_eq!(
            f(reading(32_460, true), true).as_deref(),
            Some(&toledo_32460[..])
        );
        assert_eq!(
            f(reading(-120, false), false).as_deref(),
            Some(&toledo_neg_120[..])
        );
        let xk_32460 = *b"\x02+032460018\x03";
        let xk_neg_120 = *b"\x02-00012001E\x03";
        let x = |kg| {
            ascii_frame(
                WbProtocol::Ascii(AsciiProtocol::Xk3190),
                &reading(kg, true),
                20,
                true,
            )
        };
        assert_eq!(x(32_460).as_deref(), Some(&xk_32460[..]));
        assert_eq!(x(-120).as_deref(), Some(&xk_neg_120[..]));
    }

    #[test]
    fn protocols_are_written_by_name() {
        let names: Vec<&str> = WbProtocol::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names, WbProtocol::NAMES);
        #[derive(Deserialize, Serialize)]
        struct W {
            p: WbProtocol,
        }
        for p in WbProtocol::ALL {
            let text = toml::to_string(&W { p }).unwrap();
            assert_eq!(text.trim(), format!("p = \"{}\"", p.as_str()));
            assert_eq!(toml::from_str::<W>(&text).unwrap().p, p);
        }
        let e = toml::from_str::<W>("p = \"wb-f64\"").err().unwrap();
        assert!(
            e.message()
                .contains("unknown variant `wb-f64`, expected one of `wb-f32-cdab`"),
            "{e}"
        );
    }

    #[test]
    fn divisions_map_to_codes() {
        let r = reading(5, true);
        let x = toledo_repr(&r, 5).expect("5 kg");
        assert_eq!((x.dp_code, x.increment), (2, 5));
        let x = toledo_repr(&r, 100).expect("100 kg");
        assert_eq!((x.dp_code, x.increment), (0, 1));
        assert!(toledo_repr(&r, 30).is_none());
    }
}
