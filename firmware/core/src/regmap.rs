//! The lane I/O board register map (Modbus data model).
//!
//! This module is the contract: the firmware serves it, the simulator serves it
//! (by running this very crate), and the agent's board driver reads and writes
//! it. docs/register-map.md documents it; a test checks that the document and
//! these constants agree. Addresses are zero-based PDU addresses.
//!
//! Addresses may be added; existing ones are never renumbered.

/// Firmware version reported in [`ir::FW_VERSION`]: major << 8 | minor.
pub const FW_VERSION: u16 = 0x0100;

/// Default Modbus unit id of the board.
pub const DEFAULT_UNIT_ID: u8 = 1;

/// Discrete inputs (FC 02): debounced field inputs, 1 = active/occupied.
pub mod di {
    pub const ARRIVAL_LOOP: u16 = 0;
    pub const SAFETY_LOOP: u16 = 1;
    pub const EXIT_LOOP: u16 = 2;
    /// Anti-smash infrared photocell, 1 = beam broken (obstructed).
    pub const PHOTOCELL: u16 = 3;
    pub const UP_LIMIT: u16 = 4;
    pub const DOWN_LIMIT: u16 = 5;
    /// Officer's manual key switch, 1 = manual mode (board ignores remote raise).
    pub const MANUAL_KEY: u16 = 6;
    pub const MOTOR_FAULT: u16 = 7;
    pub const COUNT: u16 = 8;
}

/// Coils (FC 01, 05, 15).
pub mod coil {
    /// Write 1: request a raise (admits one vehicle). Momentary: reads back 0
    /// once the controller has taken the request.
    pub const RAISE: u16 = 0;
    /// Write 1: request a lower; the controller only lowers when safe.
    /// Momentary.
    pub const LOWER: u16 = 1;
    /// Write 1: stop the motor where it is. Momentary.
    pub const STOP: u16 = 2;
    /// Traffic light: 1 = green, 0 = red. The board forces red when unsafe or
    /// when the heartbeat is lost.
    pub const LIGHT_GREEN: u16 = 3;
    pub const BUZZER: u16 = 4;
    /// Write 1: clear a latched fault (only when the cause has gone). Momentary.
    pub const FAULT_RESET: u16 = 5;
    pub const COUNT: u16 = 6;
}

/// Holding registers (FC 03, 06, 16).
pub mod hr {
    /// Any write refreshes the heartbeat watchdog (agents write a counter).
    pub const HEARTBEAT: u16 = 0;
    /// Heartbeat timeout in ms; 0 disables the watchdog. Default 3000.
    pub const HEARTBEAT_TIMEOUT_MS: u16 = 1;
    /// Delay in ms after the vehicle has cleared before auto-close. Default 1000.
    pub const AUTO_CLOSE_DELAY_MS: u16 = 2;
    /// Motor-run timeout in ms: a move not reaching its limit goes to Fault. Default 8000.
    pub const MOTOR_RUN_TIMEOUT_MS: u16 = 3;
    /// Input debounce time in ms. Default 50.
    pub const DEBOUNCE_MS: u16 = 4;
    /// Bit 0: auto-close enabled (default 1).
    pub const FLAGS: u16 = 5;
    /// Length in bytes of the LED board message (0..=64).
    pub const LED_LEN: u16 = 6;
    /// The admitted vehicle counts as cleared once the safety loop and the
    /// photocell have been free this long (ms), even if the exit loop never
    /// saw it leave; 0 = only the exit loop clears. Default 5000.
    pub const CLEAR_DELAY_MS: u16 = 7;
    /// LED board message: 32 registers, 64 bytes of UTF-8, two bytes per
    /// register, high byte first.
    pub const LED_TEXT: u16 = 16;
    pub const LED_TEXT_REGS: u16 = 32;
    pub const COUNT: u16 = LED_TEXT + LED_TEXT_REGS;

    pub const FLAG_AUTO_CLOSE: u16 = 1 << 0;
    /// Every defined [`FLAGS`] bit; writing another bit is refused.
    pub const FLAGS_DEFINED: u16 = FLAG_AUTO_CLOSE;
}

/// Input registers (FC 04).
pub mod ir {
    /// [`super::BarrierState`] as u16.
    pub const BARRIER_STATE: u16 = 0;
    /// [`super::FaultCode`] as u16 (0 = none).
    pub const FAULT_CODE: u16 = 1;
    /// Vehicles that passed under the arm (safety loop then exit loop) since power-up (wraps).
    pub const VEHICLE_COUNT: u16 = 2;
    /// Raises executed since power-up (wraps).
    pub const RAISE_COUNT: u16 = 3;
    /// Tailgating events since power-up (wraps).
    pub const TAILGATE_COUNT: u16 = 4;
    /// Closings reversed by an obstruction since power-up (wraps).
    pub const REVERSAL_COUNT: u16 = 5;
    /// Faults entered since power-up (wraps).
    pub const FAULT_COUNT: u16 = 6;
    /// [`super::FW_VERSION`].
    pub const FW_VERSION: u16 = 7;
    /// Output pins, see the `OUT_*` bits.
    pub const OUTPUTS: u16 = 8;
    /// Status flags, see the `ST_*` bits.
    pub const STATUS: u16 = 9;
    /// Uptime in seconds, low word then high word.
    pub const UPTIME_LO: u16 = 10;
    pub const UPTIME_HI: u16 = 11;
    /// Result of the last remote command, see [`super::CommandResult`].
    pub const LAST_COMMAND: u16 = 12;
    pub const COUNT: u16 = 13;

    pub const OUT_MOTOR_UP: u16 = 1 << 0;
    pub const OUT_MOTOR_DOWN: u16 = 1 << 1;
    pub const OUT_LIGHT_GREEN: u16 = 1 << 2;
    pub const OUT_BUZZER: u16 = 1 << 3;

    /// The heartbeat watchdog has expired: safe state (red, no raise).
    pub const ST_HEARTBEAT_LOST: u16 = 1 << 0;
    /// A tailgating vehicle was seen and not yet cleared by the next raise/close.
    pub const ST_TAILGATE: u16 = 1 << 1;
    /// The arm is being held up because the area under it is occupied.
    pub const ST_HELD_BY_OCCUPANCY: u16 = 1 << 2;
    /// A raise is granted and the admitted vehicle has not yet passed.
    pub const ST_ADMIT_PENDING: u16 = 1 << 3;
    /// Manual key is on.
    pub const ST_MANUAL: u16 = 1 << 4;
}

/// Barrier state as reported in [`ir::BARRIER_STATE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum BarrierState {
    Closed = 1,
    Opening = 2,
    Open = 3,
    Closing = 4,
    /// Stopped mid-travel by a STOP command.
    Stopped = 5,
    Fault = 6,
}

impl BarrierState {
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::Closed,
            2 => Self::Opening,
            3 => Self::Open,
            4 => Self::Closing,
            5 => Self::Stopped,
            6 => Self::Fault,
            _ => return None,
        })
    }
}

/// Fault code as reported in [`ir::FAULT_CODE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum FaultCode {
    None = 0,
    /// The arm did not reach the up limit within the motor-run timeout.
    OpenTimeout = 1,
    /// The arm did not reach the down limit within the motor-run timeout.
    CloseTimeout = 2,
    /// Up and down limit switches both active.
    LimitContradiction = 3,
    /// The motor drive reports a fault.
    MotorFault = 4,
}

impl FaultCode {
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            0 => Self::None,
            1 => Self::OpenTimeout,
            2 => Self::CloseTimeout,
            3 => Self::LimitContradiction,
            4 => Self::MotorFault,
            _ => return None,
        })
    }
}

/// Outcome of the last remote command, reported in [`ir::LAST_COMMAND`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum CommandResult {
    None = 0,
    Accepted = 1,
    /// Lower refused: the safety loop or photocell is occupied.
    RefusedOccupied = 2,
    /// Raise refused: heartbeat lost (safe state).
    RefusedHeartbeat = 3,
    /// Refused: the barrier is in Fault.
    RefusedFault = 4,
    /// Refused: manual key on.
    RefusedManual = 5,
}

impl CommandResult {
    pub fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            0 => Self::None,
            1 => Self::Accepted,
            2 => Self::RefusedOccupied,
            3 => Self::RefusedHeartbeat,
            4 => Self::RefusedFault,
            5 => Self::RefusedManual,
            _ => return None,
        })
    }
}
