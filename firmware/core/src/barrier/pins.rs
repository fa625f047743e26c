//! The controller's pins: the raw field inputs (as a struct and as an array
//! in register order) and the outputs it drives.

use crate::regmap::ir;

/// Field inputs, true = active / occupied / beam broken. The controller
/// debounces them itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RawInputs {
    pub arrival_loop: bool,
    pub safety_loop: bool,
    pub exit_loop: bool,
    pub photocell: bool,
    pub up_limit: bool,
    pub down_limit: bool,
    pub manual_key: bool,
    pub motor_fault: bool,
}

impl RawInputs {
    /// The inputs in discrete-input order ([`crate::regmap::di`]).
    pub fn to_array(self) -> [bool; INPUTS] {
        [
            self.arrival_loop,
            self.safety_loop,
            self.exit_loop,
            self.photocell,
            self.up_limit,
            self.down_limit,
            self.manual_key,
            self.motor_fault,
        ]
    }

    /// The inverse of [`RawInputs::to_array`].
    pub fn from_array(a: [bool; INPUTS]) -> Self {
        Self {
            arrival_loop: a[0],
            safety_loop: a[1],
            exit_loop: a[2],
            photocell: a[3],
            up_limit: a[4],
            down_limit: a[5],
            manual_key: a[6],
            motor_fault: a[7],
        }
    }
}

/// Number of field inputs (= [`crate::regmap::di::COUNT`]).
pub const INPUTS: usize = crate::regmap::di::COUNT as usize;

/// Output pins driven by the board.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Outputs {
    pub motor_up: bool,
    pub motor_down: bool,
    pub light_green: bool,
    pub buzzer: bool,
}

impl Outputs {
    /// The pins as [`crate::regmap::ir::OUTPUTS`] bits.
    pub fn bits(self) -> u16 {
        let mut b = 0;
        if self.motor_up {
            b |= ir::OUT_MOTOR_UP;
        }
        if self.motor_down {
            b |= ir::OUT_MOTOR_DOWN;
        }
        if self.light_green {
            b |= ir::OUT_LIGHT_GREEN;
        }
        if self.buzzer {
            b |= ir::OUT_BUZZER;
        }
        b
    }

    /// The inverse of [`Outputs::bits`] (other bits ignored).
    pub fn from_bits(b: u16) -> Self {
        Self {
            motor_up: b & ir::OUT_MOTOR_UP != 0,
            motor_down: b & ir::OUT_MOTOR_DOWN != 0,
            light_green: b & ir::OUT_LIGHT_GREEN != 0,
            buzzer: b & ir::OUT_BUZZER != 0,
        }
    }
}
