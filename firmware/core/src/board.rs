//! The board: the barrier controller and the register bank glued together
//! behind [`crate::modbus::DataModel`] (the application layer of the
//! firmware). The MCU binary and the simulator run exactly this.
//!
//! Register writes never act at once: coil commands and heartbeats are taken
//! at the next [`Board::tick`], so the controller only ever sees time through
//! `tick`. Momentary coils (RAISE, LOWER, STOP, FAULT_RESET) read back 1 until
//! taken, then 0; LIGHT_GREEN and BUZZER are plain. Holding registers are
//! validated on write (see [`limits`]); configuration applies at once.
//!
//! This module knows nothing about framing (RTU/TCP), UARTs or pins: the
//! caller reads the pins into [`RawInputs`] and drives [`Outputs`].

use crate::barrier::{Command, Config, Controller};
use crate::modbus::{DataModel, Exception};
use crate::regmap::{coil, di, hr, ir, BarrierState, FW_VERSION};

pub use crate::barrier::{Outputs, RawInputs};

/// Accepted holding-register values (inclusive ranges); anything else is
/// refused with [`Exception::IllegalDataValue`].
pub mod limits {
    /// HEARTBEAT_TIMEOUT_MS: 0 (off) or this range.
    pub const HEARTBEAT_TIMEOUT_MS: (u16, u16) = (100, 60_000);
    pub const AUTO_CLOSE_DELAY_MS: (u16, u16) = (0, 60_000);
    pub const MOTOR_RUN_TIMEOUT_MS: (u16, u16) = (500, 60_000);
    pub const DEBOUNCE_MS: (u16, u16) = (0, 1_000);
    pub const CLEAR_DELAY_MS: (u16, u16) = (0, 60_000);
    /// LED_LEN in bytes.
    pub const LED_LEN: (u16, u16) = (0, 64);
}

/// LED message capacity in bytes.
pub const LED_BYTES: usize = hr::LED_TEXT_REGS as usize * 2;

/// Momentary coils waiting for the next tick, in the order they are taken.
const MOMENTARY: [(u16, Command); 4] = [
    (coil::FAULT_RESET, Command::FaultReset),
    (coil::RAISE, Command::Raise),
    (coil::LOWER, Command::Lower),
    (coil::STOP, Command::Stop),
];

/// The lane I/O board. See the module documentation.
#[derive(Clone, Debug)]
pub struct Board {
    ctrl: Controller,
    /// Momentary coils written and not yet taken, indexed by coil address.
    pending: [bool; coil::COUNT as usize],
    light_green: bool,
    buzzer: bool,
    heartbeat: u16,
    heartbeat_pending: bool,
    led_len: u16,
    led: [u8; LED_BYTES],
    outputs: Outputs,
}

impl Default for Board {
    fn default() -> Self {
        Self::new()
    }
}

fn in_range(v: u16, (lo, hi): (u16, u16)) -> bool {
    (lo..=hi).contains(&v)
}

impl Board {
    /// A board with the default configuration (see [`Config::default`]),
    /// before its first tick.
    pub fn new() -> Self {
        Self {
            ctrl: Controller::new(Config::default()),
            pending: [false; coil::COUNT as usize],
            light_green: false,
            buzzer: false,
            heartbeat: 0,
            heartbeat_pending: false,
            led_len: 0,
            led: [0; LED_BYTES],
            outputs: Outputs::default(),
        }
    }

    /// Advance to `now_ms` (monotonic milliseconds; an earlier value counts as
    /// the last one) with the current raw inputs; returns the pins to drive.
    ///
    /// In order: a heartbeat written since the last tick is stamped `now_ms`;
    /// the controller is polled with `raw` (debounce, timers, safety); then the
    /// momentary coils written since the last tick are executed in the order
    /// FAULT_RESET, RAISE, LOWER, STOP (so STOP wins) and read back 0 again.
    /// Call it at least every few milliseconds, or at
    /// [`Controller::poll_at`] and whenever an input or a register changes.
    pub fn tick(&mut self, now_ms: u64, raw: RawInputs) -> Outputs {
        if self.heartbeat_pending {
            self.heartbeat_pending = false;
            self.ctrl.heartbeat(now_ms);
        }
        self.ctrl.set_requests(self.light_green, self.buzzer);
        self.ctrl.poll(now_ms, raw);
        for (addr, cmd) in MOMENTARY {
            let slot = &mut self.pending[addr as usize];
            if core::mem::take(slot) {
                self.ctrl.handle(now_ms, cmd);
            }
        }
        self.outputs = self.ctrl.outputs();
        self.outputs
    }

    /// When [`Board::tick`] should run next at the latest: now if a command
    /// or heartbeat is waiting, else the controller's
    /// [`Controller::poll_at`]. `None`: only an input change or a register
    /// write can change anything.
    pub fn poll_at(&self) -> Option<u64> {
        if self.heartbeat_pending || self.pending.iter().any(|p| *p) {
            Some(self.ctrl.now())
        } else {
            self.ctrl.poll_at()
        }
    }

    /// The pins computed by the last tick.
    pub fn outputs(&self) -> Outputs {
        self.outputs
    }

    pub fn state(&self) -> BarrierState {
        self.ctrl.state().kind()
    }

    /// The LED board message (UTF-8 bytes as written by the master, may be invalid UTF-8).
    pub fn led_bytes(&self) -> &[u8] {
        let len = usize::from(self.led_len).min(LED_BYTES);
        &self.led[..len]
    }

    /// The controller, for status snapshots (state, counters, passage,
    /// history, `poll_at`).
    pub fn controller(&self) -> &Controller {
        &self.ctrl
    }

    /// Whether `value` may be written to holding register `addr`.
    fn check_register(addr: u16, value: u16) -> Result<(), Exception> {
        let ok = match addr {
            hr::HEARTBEAT => true,
            hr::HEARTBEAT_TIMEOUT_MS => value == 0 || in_range(value, limits::HEARTBEAT_TIMEOUT_MS),
            hr::AUTO_CLOSE_DELAY_MS => in_range(value, limits::AUTO_CLOSE_DELAY_MS),
            hr::MOTOR_RUN_TIMEOUT_MS => in_range(value, limits::MOTOR_RUN_TIMEOUT_MS),
            hr::DEBOUNCE_MS => in_range(value, limits::DEBOUNCE_MS),
            hr::FLAGS => value & !hr::FLAGS_DEFINED == 0,
            hr::LED_LEN => in_range(value, limits::LED_LEN),
            hr::CLEAR_DELAY_MS => in_range(value, limits::CLEAR_DELAY_MS),
            a if (hr::LED_TEXT..hr::COUNT).contains(&a) => true,
            _ => return Err(Exception::IllegalDataAddress),
        };
        if ok {
            Ok(())
        } else {
            Err(Exception::IllegalDataValue)
        }
    }
}

impl DataModel for Board {
    fn read_coil(&self, addr: u16) -> Result<bool, Exception> {
        match addr {
            coil::LIGHT_GREEN => Ok(self.light_green),
            coil::BUZZER => Ok(self.buzzer),
            a if a < coil::COUNT => Ok(self.pending[usize::from(a)]),
            _ => Err(Exception::IllegalDataAddress),
        }
    }

    fn read_discrete_input(&self, addr: u16) -> Result<bool, Exception> {
        if addr >= di::COUNT {
            return Err(Exception::IllegalDataAddress);
        }
        Ok(self.ctrl.inputs().to_array()[usize::from(addr)])
    }

    fn read_holding_register(&self, addr: u16) -> Result<u16, Exception> {
        let c = self.ctrl.config();
        Ok(match addr {
            hr::HEARTBEAT => self.heartbeat,
            hr::HEARTBEAT_TIMEOUT_MS => c.heartbeat_timeout_ms,
            hr::AUTO_CLOSE_DELAY_MS => c.auto_close_delay_ms,
            hr::MOTOR_RUN_TIMEOUT_MS => c.motor_run_timeout_ms,
            hr::DEBOUNCE_MS => c.debounce_ms,
            hr::FLAGS => {
                if c.auto_close {
                    hr::FLAG_AUTO_CLOSE
                } else {
                    0
                }
            }
            hr::LED_LEN => self.led_len,
            hr::CLEAR_DELAY_MS => c.clear_delay_ms,
            a if (hr::LED_TEXT..hr::COUNT).contains(&a) => {
                let i = usize::from(a - hr::LED_TEXT) * 2;
                u16::from_be_bytes([self.led[i], self.led[i + 1]])
            }
            _ => return Err(Exception::IllegalDataAddress),
        })
    }

    fn read_input_register(&self, addr: u16) -> Result<u16, Exception> {
        let n = self.ctrl.counters();
        let uptime_s = self.ctrl.now() / 1000;
        Ok(match addr {
            ir::BARRIER_STATE => self.state() as u16,
            ir::FAULT_CODE => self.ctrl.fault_code() as u16,
            ir::VEHICLE_COUNT => n.vehicles,
            ir::RAISE_COUNT => n.raises,
            ir::TAILGATE_COUNT => n.tailgates,
            ir::REVERSAL_COUNT => n.reversals,
            ir::FAULT_COUNT => n.faults,
            ir::FW_VERSION => FW_VERSION,
            ir::OUTPUTS => self.outputs.bits(),
            ir::STATUS => self.ctrl.status_bits(),
            ir::UPTIME_LO => (uptime_s & 0xFFFF) as u16,
            ir::UPTIME_HI => ((uptime_s >> 16) & 0xFFFF) as u16,
            ir::LAST_COMMAND => self.ctrl.last_command() as u16,
            _ => return Err(Exception::IllegalDataAddress),
        })
    }

    fn write_coil(&mut self, addr: u16, value: bool) -> Result<(), Exception> {
        match addr {
            coil::LIGHT_GREEN => self.light_green = value,
            coil::BUZZER => self.buzzer = value,
            // Momentary: 1 queues the command for the next tick, 0 withdraws it.
            a if a < coil::COUNT => self.pending[usize::from(a)] = value,
            _ => return Err(Exception::IllegalDataAddress),
        }
        Ok(())
    }

    fn write_holding_register(&mut self, addr: u16, value: u16) -> Result<(), Exception> {
        Self::check_register(addr, value)?;
        let mut c = self.ctrl.config();
        match addr {
            hr::HEARTBEAT => {
                self.heartbeat = value;
                self.heartbeat_pending = true;
            }
            hr::HEARTBEAT_TIMEOUT_MS => {
                c.heartbeat_timeout_ms = value;
                // A new timeout starts a fresh watchdog period.
                self.heartbeat_pending = true;
            }
            hr::AUTO_CLOSE_DELAY_MS => c.auto_close_delay_ms = value,
            hr::MOTOR_RUN_TIMEOUT_MS => c.motor_run_timeout_ms = value,
            hr::DEBOUNCE_MS => c.debounce_ms = value,
            hr::FLAGS => c.auto_close = value & hr::FLAG_AUTO_CLOSE != 0,
            hr::LED_LEN => self.led_len = value,
            hr::CLEAR_DELAY_MS => c.clear_delay_ms = value,
            a => {
                // check_register admitted only the LED text block here.
                let i = usize::from(a.wrapping_sub(hr::LED_TEXT)) * 2;
                let [hi, lo] = value.to_be_bytes();
                match self.led.get_mut(i..i + 2) {
                    Some(pair) => {
                        pair[0] = hi;
                        pair[1] = lo;
                    }
                    None => return Err(Exception::IllegalDataAddress),
                }
            }
        }
        self.ctrl.set_config(c);
        Ok(())
    }

    fn check_write_coils(&self, start: u16, count: u16) -> Result<(), Exception> {
        match start.checked_add(count) {
            Some(end) if end <= coil::COUNT => Ok(()),
            _ => Err(Exception::IllegalDataAddress),
        }
    }

    fn check_write_registers(&self, start: u16, values: &[u16]) -> Result<(), Exception> {
        let count = u16::try_from(values.len()).map_err(|_| Exception::IllegalDataAddress)?;
        if start.checked_add(count).is_none() {
            return Err(Exception::IllegalDataAddress);
        }
        // Addresses first (so a bad address wins over a bad value), then values.
        for (i, _) in values.iter().enumerate() {
            Self::check_register(start + i as u16, 0).or_else(|e| match e {
                Exception::IllegalDataValue => Ok(()),
                e => Err(e),
            })?;
        }
        for (i, v) in values.iter().enumerate() {
            Self::check_register(start + i as u16, *v)?;
        }
        Ok(())
    }
}
