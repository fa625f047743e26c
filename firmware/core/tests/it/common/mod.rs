//! Test support: a physical lane model (arm, loops, photocell) around a
//! [`Board`], driven on a virtual clock. Shared by the barrier tests.
#![allow(dead_code)]

use lane_io::board::{Board, Outputs, RawInputs};
use lane_io::modbus::DataModel;
use lane_io::regmap::{coil, hr, ir, BarrierState};

/// Full travel time of the arm in ms (position 0 = down, TRAVEL = up).
pub const TRAVEL: u64 = 2000;

/// The arm: its position follows the motor outputs, the limit switches follow
/// the position. Faults can be injected.
#[derive(Clone, Debug)]
pub struct Arm {
    pub pos: u64,
    /// The motor does not move the arm (broken coupling).
    pub stuck: bool,
    /// A limit switch wired wrong: both read active.
    pub limits_shorted: bool,
    pub motor_fault: bool,
}

impl Arm {
    pub fn down() -> Self {
        Self {
            pos: 0,
            stuck: false,
            limits_shorted: false,
            motor_fault: false,
        }
    }
    pub fn up_limit(&self) -> bool {
        self.limits_shorted || self.pos >= TRAVEL
    }
    pub fn down_limit(&self) -> bool {
        self.limits_shorted || self.pos == 0
    }
    pub fn advance(&mut self, dt: u64, out: Outputs) {
        if self.stuck || self.motor_fault {
            return;
        }
        if out.motor_up && !out.motor_down {
            self.pos = (self.pos + dt).min(TRAVEL);
        } else if out.motor_down && !out.motor_up {
            self.pos = self.pos.saturating_sub(dt);
        }
    }
}

/// What stands on the lane sensors.
#[derive(Clone, Copy, Debug, Default)]
pub struct Field {
    pub arrival: bool,
    pub safety: bool,
    pub exit: bool,
    pub photocell: bool,
    pub manual: bool,
}

/// A board on a virtual clock with an arm model.
pub struct Lane {
    pub board: Board,
    pub arm: Arm,
    pub field: Field,
    pub now: u64,
    pub out: Outputs,
    /// Step of the virtual clock in ms.
    pub dt: u64,
}

impl Lane {
    /// A lane with the arm down, ticked once at t = 0.
    pub fn new() -> Self {
        Self::with_arm(Arm::down())
    }

    pub fn with_arm(arm: Arm) -> Self {
        let mut lane = Self {
            board: Board::new(),
            arm,
            field: Field::default(),
            now: 0,
            out: Outputs::default(),
            dt: 10,
        };
        // Most tests are not about the watchdog: off unless a test enables it.
        lane.hr(hr::HEARTBEAT_TIMEOUT_MS, 0);
        lane.tick();
        lane
    }

    pub fn raw(&self) -> RawInputs {
        RawInputs {
            arrival_loop: self.field.arrival,
            safety_loop: self.field.safety,
            exit_loop: self.field.exit,
            photocell: self.field.photocell,
            up_limit: self.arm.up_limit(),
            down_limit: self.arm.down_limit(),
            manual_key: self.field.manual,
            motor_fault: self.arm.motor_fault,
        }
    }

    /// One tick at the current time, checking the safety invariants.
    pub fn tick(&mut self) -> Outputs {
        let raw = self.raw();
        self.out = self.board.tick(self.now, raw);
        assert!(
            !(self.out.motor_down && (raw.safety_loop || raw.photocell)),
            "driven down while occupied at {} ms: {raw:?}",
            self.now
        );
        assert!(
            !(self.out.motor_up && self.out.motor_down),
            "both motor outputs on"
        );
        self.out
    }

    /// Run for `ms` in steps of `dt`: tick, then let the arm move.
    pub fn run(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            let dt = self.dt.min(end - self.now);
            self.arm.advance(dt, self.out);
            self.now += dt;
            self.tick();
        }
    }

    /// Run until `cond` holds, at most `max_ms`; returns whether it held.
    pub fn run_until(&mut self, max_ms: u64, mut cond: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + max_ms;
        while self.now < end {
            if cond(self) {
                return true;
            }
            self.run(self.dt);
        }
        cond(self)
    }

    pub fn state(&self) -> BarrierState {
        self.board.state()
    }

    pub fn ir(&self, addr: u16) -> u16 {
        self.board
            .read_input_register(addr)
            .expect("input register")
    }

    pub fn status(&self) -> u16 {
        self.ir(ir::STATUS)
    }

    pub fn coil(&mut self, addr: u16, v: bool) {
        self.board.write_coil(addr, v).expect("coil write");
    }

    pub fn hr(&mut self, addr: u16, v: u16) {
        self.board
            .write_holding_register(addr, v)
            .expect("register write");
    }

    pub fn heartbeat(&mut self) {
        let v = self.board.read_holding_register(hr::HEARTBEAT).expect("hb");
        self.hr(hr::HEARTBEAT, v.wrapping_add(1));
    }

    /// Write a momentary command coil and take it with one tick.
    pub fn command(&mut self, addr: u16) -> u16 {
        self.coil(addr, true);
        self.run(self.dt);
        self.ir(ir::LAST_COMMAND)
    }

    pub fn raise(&mut self) -> u16 {
        self.command(coil::RAISE)
    }

    pub fn lower(&mut self) -> u16 {
        self.command(coil::LOWER)
    }

    /// Raise and run until the arm is up.
    pub fn open(&mut self) {
        self.raise();
        assert!(
            self.run_until(TRAVEL + 500, |l| l.state() == BarrierState::Open),
            "arm did not open"
        );
    }

    /// A vehicle drives through: safety loop, then exit loop, each for `ms`.
    pub fn drive_through(&mut self, ms: u64) {
        self.field.safety = true;
        self.field.photocell = true;
        self.run(ms);
        self.field.photocell = false;
        self.field.safety = false;
        self.field.exit = true;
        self.run(ms);
        self.field.exit = false;
    }
}
