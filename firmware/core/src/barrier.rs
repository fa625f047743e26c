//! Barrier controller: a sans-IO state machine (the control layer of the board).
//!
//! The controller is fed the raw field inputs and the time (monotonic
//! milliseconds) by [`Controller::poll`], remote commands by
//! [`Controller::handle`] and heartbeats by [`Controller::heartbeat`]; it
//! answers with the output pins ([`Controller::outputs`]) and the next time it
//! wants to be polled ([`Controller::poll_at`]). It never reads a clock, knows
//! nothing about Modbus, registers, UARTs or GPIO, and allocates nothing.
//!
//! # Shape
//! One plain [`State`] enum whose moving variants carry their motor-run
//! deadline, one [`Controller::set_state`] that records every `old => new`
//! change (a bounded history and a sequence number), and one `match` with a
//! commented arm per transition in [`Controller::step`] and
//! [`Controller::handle`].
//!
//! # Safety rules
//! - Occupancy of the safety loop or the photocell is *fail-safe debounced*:
//!   it counts as occupied as soon as the raw input is active and only as free
//!   once the input has been inactive for the debounce time. Every other input
//!   is debounced symmetrically.
//! - The motor is never driven down while the safety loop or the photocell is
//!   occupied: a Closing arm reverses to Opening (counted in the reversals)
//!   and [`Controller::outputs`] masks `motor_down` once more.
//! - `motor_up` and `motor_down` are never both on (they come from different
//!   states).
//! - A motor drive fault, contradictory limit switches (both active) or a move
//!   that does not reach its limit within the motor-run timeout latch
//!   [`State::Fault`]; only [`Command::FaultReset`] leaves it, and only once
//!   the cause is gone.
//!
//! # Vehicles
//! One raise admits one vehicle ([`Passage`]): the admitted vehicle enters the
//! area under the arm (safety loop or photocell), leaves it, and has *cleared*
//! when the exit loop goes free or when the area has stayed free for
//! `clear_delay_ms`. With auto-close enabled the arm closes
//! `auto_close_delay_ms` after clearance (counted from when the area was last
//! free). A vehicle entering the safety loop after the area had been free and
//! before the arm is down is a tailgater: counted, flagged, buzzer on, red
//! light, and the arm waits for it to clear too.
//!
//! # Heartbeat
//! Without a heartbeat for `heartbeat_timeout_ms` the controller is in a safe
//! state: red light, raises refused, and an open arm closes once the area has
//! been free for `auto_close_delay_ms` (never onto a vehicle).

mod pins;
mod track;

use crate::regmap::{ir, BarrierState, CommandResult, FaultCode};
use heapless::HistoryBuffer;

pub use pins::{Outputs, RawInputs, INPUTS};

/// Tunables, all in milliseconds. The board keeps them in holding registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Input debounce time (0 = none).
    pub debounce_ms: u16,
    /// Heartbeat watchdog timeout (0 = watchdog disabled).
    pub heartbeat_timeout_ms: u16,
    /// Delay after the admitted vehicle has cleared (and the area under the
    /// arm is free) before auto-close.
    pub auto_close_delay_ms: u16,
    /// The admitted vehicle counts as cleared once the safety loop and the
    /// photocell have been free this long, even if the exit loop never
    /// reported it (0 = only the exit loop clears).
    pub clear_delay_ms: u16,
    /// A move that does not reach its limit switch in this time is a fault.
    pub motor_run_timeout_ms: u16,
    /// Auto-close enabled.
    pub auto_close: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            debounce_ms: 50,
            heartbeat_timeout_ms: 3000,
            auto_close_delay_ms: 1000,
            clear_delay_ms: 5000,
            motor_run_timeout_ms: 8000,
            auto_close: true,
        }
    }
}

/// Remote commands (the momentary coils).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Raise the arm and admit one vehicle.
    Raise,
    /// Lower the arm (refused while the area under it is occupied).
    Lower,
    /// Stop the motor where it is.
    Stop,
    /// Clear a latched fault whose cause is gone.
    FaultReset,
}

/// Barrier state. Moving states carry the deadline (ms) of the motor-run
/// timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Closed,
    Opening {
        deadline: u64,
    },
    Open,
    Closing {
        deadline: u64,
    },
    /// Stopped mid-travel (STOP command), or position unknown at power-up.
    Stopped,
    Fault {
        code: FaultCode,
    },
}

impl State {
    /// The state as reported in the register map.
    pub fn kind(&self) -> BarrierState {
        match self {
            State::Closed => BarrierState::Closed,
            State::Opening { .. } => BarrierState::Opening,
            State::Open => BarrierState::Open,
            State::Closing { .. } => BarrierState::Closing,
            State::Stopped => BarrierState::Stopped,
            State::Fault { .. } => BarrierState::Fault,
        }
    }
}

/// Where the vehicle admitted by the last raise is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Passage {
    /// No admitted vehicle.
    Idle,
    /// Raise granted; the vehicle has not reached the arm yet.
    Granted,
    /// The vehicle is under the arm (safety loop or photocell occupied).
    Passing,
    /// The area under the arm is free again; waiting for the exit loop to go
    /// free or for `clear_delay_ms`.
    Leaving,
    /// The vehicle has cleared at `at` (ms); the arm may auto-close.
    Cleared { at: u64 },
}

/// Event counters (wrapping), as in [`crate::regmap::ir`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Vehicles that passed under the arm (safety loop, then exit loop).
    pub vehicles: u16,
    /// Raises accepted.
    pub raises: u16,
    /// Tailgating vehicles seen.
    pub tailgates: u16,
    /// Closings reversed by an obstruction.
    pub reversals: u16,
    /// Faults entered.
    pub faults: u16,
    /// Admitted vehicles that reached the arm (not a register).
    pub admitted: u16,
}

/// One recorded state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub at_ms: u64,
    pub from: BarrierState,
    pub to: BarrierState,
}

/// Transitions kept in [`Controller::history`].
pub const HISTORY: usize = 8;

/// One debounced input.
#[derive(Clone, Copy, Debug, Default)]
struct Debounced {
    /// The accepted value.
    stable: bool,
    /// The last raw sample and when it last changed.
    raw: bool,
    since: u64,
}

impl Debounced {
    fn reset(&mut self, now: u64, raw: bool) {
        *self = Self {
            stable: raw,
            raw,
            since: now,
        };
    }

    fn update(&mut self, now: u64, raw: bool, debounce_ms: u16) {
        if raw != self.raw {
            self.raw = raw;
            self.since = now;
        }
        if self.stable != raw && now.saturating_sub(self.since) >= u64::from(debounce_ms) {
            self.stable = raw;
        }
    }

    /// When the pending change will be accepted, if one is pending.
    fn deadline(&self, debounce_ms: u16) -> Option<u64> {
        (self.stable != self.raw).then(|| self.since.saturating_add(u64::from(debounce_ms)))
    }
}

/// Vehicles tracked between the safety loop and the exit loop (bounded so a
/// vehicle that backs out cannot inflate the count for long).
const MAX_IN_PASSAGE: u8 = 3;

/// The barrier controller. See the module documentation.
#[derive(Clone, Debug)]
pub struct Controller {
    config: Config,
    state: State,
    started: bool,
    now: u64,
    inputs: [Debounced; INPUTS],
    raw: RawInputs,
    passage: Passage,
    tailgate: bool,
    /// Safety-loop entries not yet matched by an exit-loop exit.
    in_passage: u8,
    /// Since when the safety loop and photocell (debounced) are both free.
    zone_free_since: Option<u64>,
    last_heartbeat: u64,
    heartbeat_lost_since: Option<u64>,
    light_request: bool,
    buzzer_request: bool,
    last_command: CommandResult,
    counters: Counters,
    history: HistoryBuffer<Transition, HISTORY>,
    transitions: u32,
}

impl Default for Controller {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

/// Debounced input indices (same order as [`crate::regmap::di`]).
mod idx {
    pub const SAFETY: usize = 1;
    pub const EXIT: usize = 2;
    pub const PHOTO: usize = 3;
    pub const UP: usize = 4;
    pub const DOWN: usize = 5;
    pub const MANUAL: usize = 6;
    pub const FAULT: usize = 7;
}

impl Controller {
    /// A controller before its first poll: [`State::Stopped`] (position
    /// unknown). The first poll takes the inputs as they are, without
    /// debouncing, and picks the state from the limit switches.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            state: State::Stopped,
            started: false,
            now: 0,
            inputs: [Debounced::default(); INPUTS],
            raw: RawInputs::default(),
            passage: Passage::Idle,
            tailgate: false,
            in_passage: 0,
            zone_free_since: None,
            last_heartbeat: 0,
            heartbeat_lost_since: None,
            light_request: false,
            buzzer_request: false,
            last_command: CommandResult::None,
            counters: Counters::default(),
            history: HistoryBuffer::new(),
            transitions: 0,
        }
    }

    pub fn config(&self) -> Config {
        self.config
    }

    /// Change the tunables; takes effect at once. Re-enabling the heartbeat
    /// watchdog does not restart it: send a heartbeat as well.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn passage(&self) -> Passage {
        self.passage
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The current fault code ([`FaultCode::None`] unless in Fault).
    pub fn fault_code(&self) -> FaultCode {
        match self.state {
            State::Fault { code } => code,
            _ => FaultCode::None,
        }
    }

    pub fn last_command(&self) -> CommandResult {
        self.last_command
    }

    /// The time of the last poll.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The debounced inputs.
    pub fn inputs(&self) -> RawInputs {
        let mut a = [false; INPUTS];
        for (v, d) in a.iter_mut().zip(self.inputs.iter()) {
            *v = d.stable;
        }
        RawInputs::from_array(a)
    }

    /// Whether the area under the arm counts as occupied for the motor: the
    /// safety loop or the photocell, raw or debounced.
    pub fn occupied(&self) -> bool {
        self.raw.safety_loop
            || self.raw.photocell
            || self.inputs[idx::SAFETY].stable
            || self.inputs[idx::PHOTO].stable
    }

    pub fn heartbeat_lost(&self) -> bool {
        self.heartbeat_lost_since.is_some()
    }

    pub fn tailgate(&self) -> bool {
        self.tailgate
    }

    /// The recent state changes, oldest first (at most [`HISTORY`]).
    pub fn history(&self) -> impl Iterator<Item = &Transition> {
        self.history.oldest_ordered()
    }

    /// How many state changes happened since power-up (wraps).
    pub fn transitions(&self) -> u32 {
        self.transitions
    }

    /// The agent's wish for the traffic light (LIGHT_GREEN coil) and the
    /// buzzer (BUZZER coil). The controller may still force red.
    pub fn set_requests(&mut self, light_green: bool, buzzer: bool) {
        self.light_request = light_green;
        self.buzzer_request = buzzer;
    }

    /// The agent is alive at `now_ms`.
    pub fn heartbeat(&mut self, now_ms: u64) {
        let now = now_ms.max(self.now);
        self.last_heartbeat = now;
        self.heartbeat_lost_since = None;
    }

    /// The pins to drive for the current state and inputs.
    pub fn outputs(&self) -> Outputs {
        let motor_up = matches!(self.state, State::Opening { .. });
        // Belt and braces: Closing never survives an occupied area (step()
        // reverses it), and the pin is masked here as well.
        let motor_down = matches!(self.state, State::Closing { .. }) && !self.occupied();
        let admitted =
            matches!(self.passage, Passage::Granted | Passage::Passing) && !self.tailgate;
        let light_green = self.light_request
            && admitted
            && matches!(self.state, State::Open | State::Opening { .. })
            && !self.heartbeat_lost();
        Outputs {
            motor_up,
            motor_down,
            light_green,
            buzzer: self.buzzer_request || self.tailgate,
        }
    }

    /// [`crate::regmap::ir::STATUS`] bits.
    pub fn status_bits(&self) -> u16 {
        let mut s = 0;
        if self.heartbeat_lost() {
            s |= ir::ST_HEARTBEAT_LOST;
        }
        if self.tailgate {
            s |= ir::ST_TAILGATE;
        }
        if matches!(self.state, State::Open | State::Opening { .. }) && self.occupied() {
            s |= ir::ST_HELD_BY_OCCUPANCY;
        }
        if matches!(
            self.passage,
            Passage::Granted | Passage::Passing | Passage::Leaving
        ) {
            s |= ir::ST_ADMIT_PENDING;
        }
        if self.inputs[idx::MANUAL].stable {
            s |= ir::ST_MANUAL;
        }
        s
    }

    /// When the controller next wants to be polled even if no input changes
    /// (a debounce, a timeout, the watchdog, a clearance or an auto-close).
    /// `None`: only an input change or a command can change anything.
    pub fn poll_at(&self) -> Option<u64> {
        if !self.started {
            return Some(self.now);
        }
        let mut at: Option<u64> = None;
        let mut add = |t: u64| at = Some(at.map_or(t, |a: u64| a.min(t)));
        for d in &self.inputs {
            if let Some(t) = d.deadline(self.config.debounce_ms) {
                add(t);
            }
        }
        match self.state {
            State::Opening { deadline } | State::Closing { deadline } => add(deadline),
            _ => {}
        }
        if self.config.heartbeat_timeout_ms != 0 && !self.heartbeat_lost() {
            add(self
                .last_heartbeat
                .saturating_add(u64::from(self.config.heartbeat_timeout_ms)));
        }
        if let (Passage::Leaving, Some(free), true) = (
            self.passage,
            self.zone_free_since,
            self.config.clear_delay_ms != 0,
        ) {
            add(free.saturating_add(u64::from(self.config.clear_delay_ms)));
        }
        if self.state == State::Open {
            if let Some(t) = self.close_at() {
                add(t);
            }
        }
        at
    }

    /// Advance to `now_ms` with the current raw inputs and return the pins to
    /// drive. Time never goes back: an earlier `now_ms` counts as the last one.
    pub fn poll(&mut self, now_ms: u64, raw: RawInputs) -> Outputs {
        let now = now_ms.max(self.now);
        self.now = now;
        self.raw = raw;
        let samples = raw.to_array();
        if !self.started {
            self.start(now, samples);
            return self.outputs();
        }
        let prev = self.inputs();
        for (d, s) in self.inputs.iter_mut().zip(samples) {
            d.update(now, s, self.config.debounce_ms);
        }
        let cur = self.inputs();
        self.track_zone(now, cur);
        self.track_heartbeat(now);
        self.track_vehicles(prev, cur);
        self.track_passage(now, prev, cur);
        self.step(now);
        self.outputs()
    }

    /// The single place where the state changes: records `old => new`.
    fn set_state(&mut self, now: u64, new: State) {
        let old = self.state;
        self.state = new;
        if old.kind() == new.kind() {
            return;
        }
        self.transitions = self.transitions.wrapping_add(1);
        self.history.write(Transition {
            at_ms: now,
            from: old.kind(),
            to: new.kind(),
        });
        match new {
            State::Fault { .. } => self.counters.faults = self.counters.faults.wrapping_add(1),
            State::Closed => {
                // The arm is down: admission and tailgate alarm end; only a
                // vehicle still on the exit loop may complete a passage.
                self.passage = Passage::Idle;
                self.tailgate = false;
                let on_exit = self.inputs[idx::EXIT].stable;
                self.in_passage = self.in_passage.min(u8::from(on_exit));
            }
            _ => {}
        }
    }

    fn motor_deadline(&self, now: u64) -> u64 {
        now.saturating_add(u64::from(self.config.motor_run_timeout_ms))
    }

    /// The cause of a fault, if one is present now.
    fn fault_cause(&self) -> Option<FaultCode> {
        if self.inputs[idx::FAULT].stable {
            Some(FaultCode::MotorFault)
        } else if self.inputs[idx::UP].stable && self.inputs[idx::DOWN].stable {
            Some(FaultCode::LimitContradiction)
        } else {
            None
        }
    }

    /// The resting state the limit switches tell.
    fn rest_state(&self) -> State {
        match (self.inputs[idx::UP].stable, self.inputs[idx::DOWN].stable) {
            (false, true) => State::Closed,
            (true, false) => State::Open,
            _ => State::Stopped,
        }
    }

    /// Time- and input-driven transitions.
    fn step(&mut self, now: u64) {
        if !matches!(self.state, State::Fault { .. }) {
            if let Some(code) = self.fault_cause() {
                // Any state: drive fault or contradictory limits latch Fault.
                self.set_state(now, State::Fault { code });
                return;
            }
        }
        let up = self.inputs[idx::UP].stable;
        let down = self.inputs[idx::DOWN].stable;
        let occupied = self.occupied();
        match self.state {
            // Opening: the arm reached the up limit.
            State::Opening { .. } if up => self.set_state(now, State::Open),
            // Opening: the up limit was not reached in time.
            State::Opening { deadline } if now >= deadline => self.set_state(
                now,
                State::Fault {
                    code: FaultCode::OpenTimeout,
                },
            ),
            // Closing: the arm reached the down limit.
            State::Closing { .. } if down => self.set_state(now, State::Closed),
            // Closing: something is under the arm: reverse.
            State::Closing { .. } if occupied => {
                self.counters.reversals = self.counters.reversals.wrapping_add(1);
                if self.passage == Passage::Idle {
                    // Close again once the obstruction has gone.
                    self.passage = Passage::Cleared { at: now };
                }
                let deadline = self.motor_deadline(now);
                self.set_state(now, State::Opening { deadline });
            }
            // Closing: the down limit was not reached in time.
            State::Closing { deadline } if now >= deadline => self.set_state(
                now,
                State::Fault {
                    code: FaultCode::CloseTimeout,
                },
            ),
            // Open: auto-close or watchdog close, only onto a free area.
            State::Open if !occupied && self.close_at().is_some_and(|t| now >= t) => {
                let deadline = self.motor_deadline(now);
                self.set_state(now, State::Closing { deadline });
            }
            // Closed, Stopped, Fault, and the moving states in time: stay.
            _ => {}
        }
    }

    /// Execute a remote command at `now_ms` against the inputs of the last
    /// poll. The result is also kept as [`Controller::last_command`].
    pub fn handle(&mut self, now_ms: u64, cmd: Command) -> CommandResult {
        let now = now_ms.max(self.now);
        let manual = self.inputs[idx::MANUAL].stable;
        let result = match (cmd, self.state) {
            // STOP: always accepted; halts a moving arm.
            (Command::Stop, State::Opening { .. } | State::Closing { .. }) => {
                self.set_state(now, State::Stopped);
                CommandResult::Accepted
            }
            (Command::Stop, _) => CommandResult::Accepted,
            // FAULT_RESET in Fault: only once the cause has gone.
            (Command::FaultReset, State::Fault { .. }) => {
                if self.fault_cause().is_some() {
                    CommandResult::RefusedFault
                } else {
                    let rest = self.rest_state();
                    self.set_state(now, rest);
                    CommandResult::Accepted
                }
            }
            // FAULT_RESET without a fault: nothing to do.
            (Command::FaultReset, _) => CommandResult::Accepted,
            // Raise/lower in Fault: refused.
            (Command::Raise | Command::Lower, State::Fault { .. }) => CommandResult::RefusedFault,
            // Raise/lower with the manual key on: refused.
            (Command::Raise | Command::Lower, _) if manual => CommandResult::RefusedManual,
            // Raise without heartbeat: refused (safe state).
            (Command::Raise, _) if self.heartbeat_lost() => CommandResult::RefusedHeartbeat,
            // Raise: admit one vehicle; start opening unless already up/rising.
            (Command::Raise, state) => {
                self.counters.raises = self.counters.raises.wrapping_add(1);
                self.tailgate = false;
                self.passage = Passage::Granted;
                if matches!(
                    state,
                    State::Closed | State::Closing { .. } | State::Stopped
                ) {
                    let next = if self.inputs[idx::UP].stable {
                        State::Open
                    } else {
                        State::Opening {
                            deadline: self.motor_deadline(now),
                        }
                    };
                    self.set_state(now, next);
                }
                CommandResult::Accepted
            }
            // Lower onto an occupied area: refused.
            (Command::Lower, _) if self.occupied() => CommandResult::RefusedOccupied,
            // Lower: revoke an admission not yet used; start closing.
            (Command::Lower, state) => {
                if self.passage == Passage::Granted {
                    self.passage = Passage::Idle;
                }
                if matches!(state, State::Open | State::Opening { .. } | State::Stopped) {
                    let next = if self.inputs[idx::DOWN].stable {
                        State::Closed
                    } else {
                        State::Closing {
                            deadline: self.motor_deadline(now),
                        }
                    };
                    self.set_state(now, next);
                }
                CommandResult::Accepted
            }
        };
        self.last_command = result;
        result
    }
}
