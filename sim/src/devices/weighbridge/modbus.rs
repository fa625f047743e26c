//! Weighing indicators with a Modbus interface: two vendor-style register
//! profiles over the same [`ScaleReading`].
//!
//! Layer: device data model ([`lane_io::modbus::DataModel`]); the transport
//! (Modbus TCP/RTU framing) is lane-io-host's, the measurement is
//! [`super::scale`]'s. Register maps: docs/devices/weighbridge-modbus.md (a
//! test checks the document's tables against [`WbModbus::register_table`]).
//!
//! Both profiles answer FC 03 (holding) and FC 04 (input) identically and are
//! read-only: writes and coil/discrete reads answer IllegalDataAddress.

use lane_io::modbus::{DataModel, Exception};
use serde::{Deserialize, Serialize};

use super::scale::ScaleReading;

/// Which register layout the indicator speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum WbModbusProfile {
    /// float32 kg with swapped words (CDAB) + status register.
    #[serde(rename = "wb-f32-cdab")]
    F32Cdab,
    /// int32 big-endian (ABCD) in units of `scale_kg` + status bits.
    #[serde(rename = "wb-i32-scaled")]
    I32Scaled,
}

impl WbModbusProfile {
    pub fn name(self) -> &'static str {
        match self {
            Self::F32Cdab => "wb-f32-cdab",
            Self::I32Scaled => "wb-i32-scaled",
        }
    }
}

/// Status bits (both profiles).
pub mod status {
    /// No motion.
    pub const STABLE: u16 = 1 << 0;
    /// In motion (the complement of STABLE).
    pub const MOTION: u16 = 1 << 1;
    /// Gross above capacity + 9 d.
    pub const OVERLOAD: u16 = 1 << 2;
    /// Gross below zero.
    pub const NEGATIVE: u16 = 1 << 3;
    /// At the centre of zero.
    pub const ZERO: u16 = 1 << 4;
}

/// Register addresses of the `wb-f32-cdab` profile.
pub mod f32_cdab {
    /// Gross weight, float32 kg, low word first (CDAB).
    pub const WEIGHT_LO: u16 = 0;
    pub const WEIGHT_HI: u16 = 1;
    /// [`super::status`] bits.
    pub const STATUS: u16 = 2;
    /// Division d in kg.
    pub const DIVISION_KG: u16 = 3;
    /// Capacity, float32 kg, low word first (CDAB).
    pub const CAPACITY_LO: u16 = 4;
    pub const CAPACITY_HI: u16 = 5;
    /// A/D reading counter (wraps).
    pub const SEQ: u16 = 6;
    pub const COUNT: u16 = 7;
}

/// Register addresses of the `wb-i32-scaled` profile.
pub mod i32_scaled {
    /// Gross weight, int32 in units of SCALE_KG, high word first (ABCD).
    pub const WEIGHT_HI: u16 = 0;
    pub const WEIGHT_LO: u16 = 1;
    /// [`super::status`] bits.
    pub const STATUS: u16 = 2;
    /// kg per unit of the weight registers.
    pub const SCALE_KG: u16 = 3;
    /// Division d in kg.
    pub const DIVISION_KG: u16 = 4;
    /// Capacity in units of SCALE_KG.
    pub const CAPACITY_UNITS: u16 = 5;
    /// A/D reading counter (wraps).
    pub const SEQ: u16 = 6;
    pub const COUNT: u16 = 7;
}

/// A weighing indicator's Modbus registers.
#[derive(Clone, Debug)]
pub struct WbModbus {
    profile: WbModbusProfile,
    division_kg: u32,
    capacity_kg: u32,
    scale_kg: u32,
    reading: ScaleReading,
}

impl WbModbus {
    /// `scale_kg` is the unit of the `wb-i32-scaled` weight registers (ignored by `wb-f32-cdab`).
    pub fn new(
        profile: WbModbusProfile,
        division_kg: u32,
        capacity_kg: u32,
        scale_kg: u32,
    ) -> Self {
        Self {
            profile,
            division_kg,
            capacity_kg,
            scale_kg: scale_kg.max(1),
            reading: ScaleReading::default(),
        }
    }

    pub fn profile(&self) -> WbModbusProfile {
        self.profile
    }

    /// Publishes a new reading.
    pub fn set_reading(&mut self, r: ScaleReading) {
        self.reading = r;
    }

    pub fn reading(&self) -> ScaleReading {
        self.reading
    }

    fn status(&self) -> u16 {
        let r = &self.reading;
        let mut s = 0;
        if r.stable {
            s |= status::STABLE;
        } else {
            s |= status::MOTION;
        }
        if r.overload {
            s |= status::OVERLOAD;
        }
        if r.negative() {
            s |= status::NEGATIVE;
        }
        if r.zero() {
            s |= status::ZERO;
        }
        s
    }

    fn register(&self, addr: u16) -> Result<u16, Exception> {
        match self.profile {
            WbModbusProfile::F32Cdab => {
                use f32_cdab::*;
                let w = (self.reading.weight_kg as f32).to_bits();
                let c = (self.capacity_kg as f32).to_bits();
                Ok(match addr {
                    WEIGHT_LO => w as u16,
                    WEIGHT_HI => (w >> 16) as u16,
                    STATUS => self.status(),
                    DIVISION_KG => sat16(self.division_kg),
                    CAPACITY_LO => c as u16,
                    CAPACITY_HI => (c >> 16) as u16,
                    SEQ => self.reading.seq as u16,
                    _ => return Err(Exception::IllegalDataAddress),
                })
            }
            WbModbusProfile::I32Scaled => {
                use i32_scaled::*;
                let units = scaled(self.reading.weight_kg, self.scale_kg) as u32;
                Ok(match addr {
                    WEIGHT_HI => (units >> 16) as u16,
                    WEIGHT_LO => units as u16,
                    STATUS => self.status(),
                    SCALE_KG => sat16(self.scale_kg),
                    DIVISION_KG => sat16(self.division_kg),
                    CAPACITY_UNITS => sat16(self.capacity_kg / self.scale_kg),
                    SEQ => self.reading.seq as u16,
                    _ => return Err(Exception::IllegalDataAddress),
                })
            }
        }
    }

    /// `(address, name)` of every register of `profile`, for the document check.
    pub fn register_table(profile: WbModbusProfile) -> &'static [(u16, &'static str)] {
        match profile {
            WbModbusProfile::F32Cdab => &[
                (f32_cdab::WEIGHT_LO, "WEIGHT_LO"),
                (f32_cdab::WEIGHT_HI, "WEIGHT_HI"),
                (f32_cdab::STATUS, "STATUS"),
                (f32_cdab::DIVISION_KG, "DIVISION_KG"),
                (f32_cdab::CAPACITY_LO, "CAPACITY_LO"),
                (f32_cdab::CAPACITY_HI, "CAPACITY_HI"),
                (f32_cdab::SEQ, "SEQ"),
            ],
            WbModbusProfile::I32Scaled => &[
                (i32_scaled::WEIGHT_HI, "WEIGHT_HI"),
                (i32_scaled::WEIGHT_LO, "WEIGHT_LO"),
                (i32_scaled::STATUS, "STATUS"),
                (i32_scaled::SCALE_KG, "SCALE_KG"),
                (i32_scaled::DIVISION_KG, "DIVISION_KG"),
                (i32_scaled::CAPACITY_UNITS, "CAPACITY_UNITS"),
                (i32_scaled::SEQ, "SEQ"),
            ],
        }
    }
}

/// Weight in units of `scale_kg`, rounded half away from zero, saturating to i32.
fn scaled(kg: i64, scale_kg: u32) -> i32 {
    let s = i64::from(scale_kg.max(1));
    let half = s / 2;
    let q = if kg >= 0 {
        (kg + half) / s
    } else {
        (kg - half) / s
    };
    q.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

fn sat16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

impl DataModel for WbModbus {
    // Registers only: coils, inputs and writes keep the refusing defaults.
    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception> {
        self.register(addr)
    }
    fn read_input_register(&self, addr: u16) -> Result<u16, Exception> {
        self.register(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(kg: i64, stable: bool) -> ScaleReading {
        ScaleReading {
            weight_kg: kg,
            stable,
            overload: false,
            seq: 0x1_0005,
            t_ms: 0,
        }
    }

    #[test]
    fn f32_cdab_words_are_swapped() {
        let mut m = WbModbus::new(WbModbusProfile::F32Cdab, 20, 60_000, 10);
        m.set_reading(reading(32_460, true));
        // 32460.0f32 = 0x46FD9800: CDAB puts 0x9800 first.
        assert_eq!(m.read_holding_register(0), Ok(0x9800));
        assert_eq!(m.read_holding_register(1), Ok(0x46FD));
        assert_eq!(m.read_input_register(0), Ok(0x9800));
        assert_eq!(m.read_input_register(2), Ok(status::STABLE));
        assert_eq!(m.read_input_register(3), Ok(20));
        // 60000.0f32 = 0x476A6000.
        assert_eq!(m.read_input_register(4), Ok(0x6000));
        assert_eq!(m.read_input_register(5), Ok(0x476A));
        assert_eq!(m.read_input_register(6), Ok(5));
        assert_eq!(m.read_input_register(7), Err(Exception::IllegalDataAddress));
        m.set_reading(reading(0, false));
        assert_eq!(m.read_input_register(2), Ok(status::MOTION | status::ZERO));
    }

    #[test]
    fn i32_scaled_is_big_endian_in_units() {
        let mut m = WbModbus::new(WbModbusProfile::I32Scaled, 20, 60_000, 10);
        m.set_reading(reading(-40, false));
        // -4 units = 0xFFFFFFFC, high word first.
        assert_eq!(m.read_holding_register(0), Ok(0xFFFF));
        assert_eq!(m.read_holding_register(1), Ok(0xFFFC));
        assert_eq!(
            m.read_holding_register(2),
            Ok(status::MOTION | status::NEGATIVE)
        );
        assert_eq!(m.read_holding_register(3), Ok(10));
        assert_eq!(m.read_holding_register(4), Ok(20));
        assert_eq!(m.read_holding_register(5), Ok(6000));
        m.set_reading(reading(1_234_560, true));
        assert_eq!(m.read_input_register(0), Ok(0x0001));
        assert_eq!(m.read_input_register(1), Ok(0xE240)); // 123456 = 0x0001E240
    }

    #[test]
    fn read_only() {
        let mut m = WbModbus::new(WbModbusProfile::I32Scaled, 20, 60_000, 10);
        assert_eq!(
            m.write_holding_register(0, 1),
            Err(Exception::IllegalDataAddress)
        );
        assert_eq!(m.read_coil(0), Err(Exception::IllegalDataAddress));
        assert_eq!(
            m.check_write_registers(0, &[1]),
            Err(Exception::IllegalDataAddress)
        );
    }

    #[test]
    fn scaling_rounds_half_away_from_zero() {
        assert_eq!(scaled(15, 10), 2);
        assert_eq!(scaled(14, 10), 1);
        assert_eq!(scaled(-15, 10), -2);
        assert_eq!(scaled(i64::MAX, 1), i32::MAX);
    }
}
