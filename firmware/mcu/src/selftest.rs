//! Self-test of the real control loop ([`crate::app::App`]) on the target
//! (QEMU `mps2-an386`): a scripted lane (arm model, loops, photocell) as the
//! pins, a virtual clock, and a Modbus master talking RTU frames through an
//! in-memory serial line. Every command and every check goes through the
//! Modbus path, exactly as the agent would. After every loop iteration the
//! driven pins are checked against the safety rules.
//!
//! Exits via semihosting: 0 when every scenario passed, 1 otherwise.

use cortex_m_semihosting::{debug, hprintln};
use heapless::{Deque, Vec};
use lane_io::board::{Outputs, RawInputs};
use lane_io::modbus::rtu::{emit_adu, Adu, MAX_ADU_LEN};
use lane_io::regmap::{coil, di, hr, ir, BarrierState, CommandResult, DEFAULT_UNIT_ID};

use crate::app::App;
use crate::hal::{Clock, Pins, Serial};

/// Loop period of the virtual clock.
const STEP_MS: u64 = 5;
/// Arm travel time of the model.
const TRAVEL_MS: u64 = 2000;
/// The agent's heartbeat period.
const HEARTBEAT_MS: u64 = 1000;

/// What stands on the lane, and the arm.
#[derive(Default)]
struct Lane {
    arrival: bool,
    safety: bool,
    exit: bool,
    photocell: bool,
    /// 0 = down, TRAVEL_MS = up.
    arm: u64,
    out: Outputs,
    now_ms: u64,
    moved_at: u64,
}

impl Pins for Lane {
    fn read(&mut self) -> RawInputs {
        // The arm moved with the last outputs since the last read.
        let dt = self.now_ms - self.moved_at;
        self.moved_at = self.now_ms;
        if self.out.motor_up {
            self.arm = (self.arm + dt).min(TRAVEL_MS);
        } else if self.out.motor_down {
            self.arm = self.arm.saturating_sub(dt);
        }
        RawInputs {
            arrival_loop: self.arrival,
            safety_loop: self.safety,
            exit_loop: self.exit,
            photocell: self.photocell,
            up_limit: self.arm >= TRAVEL_MS,
            down_limit: self.arm == 0,
            manual_key: false,
            motor_fault: false,
        }
    }

    fn write(&mut self, out: Outputs) {
        self.out = out;
    }
}

/// The master's side of the line.
#[derive(Default)]
struct Line {
    to_slave: Deque<u8, 512>,
    from_slave: Vec<u8, 512>,
}

impl Serial for Line {
    fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for slot in buf.iter_mut() {
            match self.to_slave.pop_front() {
                Some(b) => *slot = b,
                None => break,
            }
            n += 1;
        }
        n
    }

    fn write(&mut self, bytes: &[u8]) {
        // Overflow would be a test-harness bug; the check below reports it.
        let _ = self.from_slave.extend_from_slice(bytes);
    }
}

#[derive(Default)]
struct VirtualClock {
    us: u64,
}

impl Clock for VirtualClock {
    fn now_us(&mut self) -> u64 {
        self.us
    }
}

type Fail = &'static str;

struct Harness {
    app: App<Lane, Line, VirtualClock>,
    now_ms: u64,
    agent_alive: bool,
    last_heartbeat: u64,
    heartbeat: u16,
    steps: u32,
}

impl Harness {
    fn new() -> Self {
        Self {
            app: App::new(Lane::default(), Line::default(), VirtualClock::default()),
            now_ms: 0,
            agent_alive: true,
            last_heartbeat: 0,
            heartbeat: 0,
            steps: 0,
        }
    }

    /// One loop iteration at the next virtual time, with the safety checks.
    fn step(&mut self) -> Result<(), Fail> {
        self.now_ms += STEP_MS;
        self.app.clock().us = self.now_ms * 1000;
        self.app.pins().now_ms = self.now_ms;
        let out = self.app.step();
        self.steps += 1;
        let lane = self.app.pins();
        if out.motor_down && (lane.safety || lane.photocell) {
            return Err("motor driven down while the safety loop or photocell is occupied");
        }
        if out.motor_up && out.motor_down {
            return Err("motor up and down at once");
        }
        Ok(())
    }

    /// Send one request PDU, run the loop until the answer is there.
    fn request(&mut self, pdu: &[u8]) -> Result<Vec<u8, MAX_ADU_LEN>, Fail> {
        let mut frame: Vec<u8, MAX_ADU_LEN> = Vec::new();
        emit_adu(DEFAULT_UNIT_ID, pdu, &mut frame).map_err(|_| "request too long")?;
        self.app.serial().from_slave.clear();
        for b in &frame {
            self.app
                .serial()
                .to_slave
                .push_back(*b)
                .map_err(|_| "line full")?;
        }
        for _ in 0..10 {
            self.step()?;
            let got = &self.app.serial().from_slave;
            if got.is_empty() {
                continue;
            }
            let adu = Adu::new_checked(got.as_slice()).map_err(|_| "bad response frame")?;
            if adu.unit_id() != DEFAULT_UNIT_ID {
                return Err("response from the wrong unit");
            }
            let mut pdu_out = Vec::new();
            pdu_out
                .extend_from_slice(adu.pdu())
                .map_err(|_| "response too long")?;
            return Ok(pdu_out);
        }
        Err("no response from the RTU slave")
    }

    fn expect_echo(&mut self, pdu: &[u8]) -> Result<(), Fail> {
        let r = self.request(pdu)?;
        if r.as_slice() != pdu {
            hprintln!(
                "selftest: request {:02x?} answered {:02x?}",
                pdu,
                r.as_slice()
            );
            return Err("write not echoed");
        }
        Ok(())
    }

    fn write_coil(&mut self, addr: u16, on: bool) -> Result<(), Fail> {
        let [ah, al] = addr.to_be_bytes();
        self.expect_echo(&[0x05, ah, al, if on { 0xFF } else { 0x00 }, 0x00])
    }

    fn write_register(&mut self, addr: u16, v: u16) -> Result<(), Fail> {
        let [ah, al] = addr.to_be_bytes();
        let [vh, vl] = v.to_be_bytes();
        self.expect_echo(&[0x06, ah, al, vh, vl])
    }

    fn read_input(&mut self, addr: u16) -> Result<u16, Fail> {
        let [ah, al] = addr.to_be_bytes();
        let r = self.request(&[0x04, ah, al, 0x00, 0x01])?;
        match r.as_slice() {
            [0x04, 2, hi, lo] => Ok(u16::from_be_bytes([*hi, *lo])),
            _ => Err("bad read-input-registers response"),
        }
    }

    fn read_discrete(&mut self, addr: u16) -> Result<bool, Fail> {
        let [ah, al] = addr.to_be_bytes();
        let r = self.request(&[0x02, ah, al, 0x00, 0x01])?;
        match r.as_slice() {
            [0x02, 1, bits] => Ok(bits & 1 != 0),
            _ => Err("bad read-discrete-inputs response"),
        }
    }

    /// Let `ms` pass; the agent sends its heartbeat while alive.
    fn wait(&mut self, ms: u64) -> Result<(), Fail> {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            if self.agent_alive && self.now_ms >= self.last_heartbeat + HEARTBEAT_MS {
                self.last_heartbeat = self.now_ms;
                self.heartbeat = self.heartbeat.wrapping_add(1);
                self.write_register(hr::HEARTBEAT, self.heartbeat)?;
            } else {
                self.step()?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<u16, Fail> {
        self.read_input(ir::BARRIER_STATE)
    }

    /// Wait until the barrier reports `want`, polling over Modbus.
    fn wait_state(&mut self, want: BarrierState, max_ms: u64, what: Fail) -> Result<(), Fail> {
        let end = self.now_ms + max_ms;
        while self.now_ms < end {
            if self.state()? == want as u16 {
                return Ok(());
            }
            self.wait(50)?;
        }
        Err(what)
    }

    fn expect_input(&mut self, addr: u16, want: u16, what: Fail) -> Result<(), Fail> {
        let got = self.read_input(addr)?;
        if got != want {
            hprintln!("selftest: input register {} = {}, want {}", addr, got, want);
            return Err(what);
        }
        Ok(())
    }

    fn out(&mut self) -> Outputs {
        self.app.pins().out
    }

    fn lane(&mut self) -> &mut Lane {
        self.app.pins()
    }

    /// A vehicle drives under the arm and over the exit loop.
    fn drive_through(&mut self) -> Result<(), Fail> {
        self.lane().arrival = false;
        self.lane().safety = true;
        self.lane().photocell = true;
        self.wait(600)?;
        self.lane().photocell = false;
        self.lane().safety = false;
        self.lane().exit = true;
        self.wait(600)?;
        self.lane().exit = false;
        Ok(())
    }

    fn raise(&mut self) -> Result<(), Fail> {
        self.write_coil(coil::RAISE, true)?;
        self.wait(20)?;
        self.expect_input(
            ir::LAST_COMMAND,
            CommandResult::Accepted as u16,
            "raise not accepted",
        )
    }
}

/// The scenarios, in order; each leaves the arm closed.
fn scenarios(h: &mut Harness) -> Result<(), Fail> {
    // Power-up: arm down.
    h.wait(100)?;
    if h.state()? != BarrierState::Closed as u16 {
        return Err("not Closed after power-up");
    }
    h.write_coil(coil::LIGHT_GREEN, true)?;
    hprintln!("selftest: power-up ok");

    // A vehicle arrives; the agent raises through the Modbus coil.
    h.lane().arrival = true;
    h.wait(200)?;
    if !h.read_discrete(di::ARRIVAL_LOOP)? {
        return Err("arrival loop not reported");
    }
    h.raise()?;
    h.wait_state(BarrierState::Open, 3000, "arm did not open")?;
    if !h.out().light_green {
        return Err("light not green for the admitted vehicle");
    }
    hprintln!("selftest: arrival + raise ok");

    // It passes; the arm auto-closes behind it.
    h.drive_through()?;
    h.wait(100)?;
    h.expect_input(ir::VEHICLE_COUNT, 1, "vehicle not counted")?;
    if h.out().light_green {
        return Err("light still green after the vehicle passed");
    }
    h.wait_state(BarrierState::Closed, 5000, "no auto-close")?;
    h.expect_input(ir::RAISE_COUNT, 1, "raise count")?;
    hprintln!("selftest: pass + auto-close ok");

    // Obstruction while closing: reverse, then close again once clear.
    h.raise()?;
    h.wait_state(BarrierState::Open, 3000, "arm did not open (2)")?;
    h.drive_through()?;
    h.wait_state(BarrierState::Closing, 3000, "no auto-close (2)")?;
    h.wait(300)?;
    h.lane().photocell = true;
    h.step()?;
    if !h.out().motor_up {
        return Err("no reversal on obstruction");
    }
    h.expect_input(ir::REVERSAL_COUNT, 1, "reversal not counted")?;
    h.wait_state(BarrierState::Open, 3000, "arm did not reopen")?;
    h.wait(500)?;
    h.lane().photocell = false;
    h.wait_state(BarrierState::Closed, 5000, "no close after the obstruction")?;
    hprintln!("selftest: obstruction reversal ok");

    // Tailgating: a second vehicle follows before the arm is down.
    h.raise()?;
    h.wait_state(BarrierState::Open, 3000, "arm did not open (3)")?;
    h.lane().safety = true;
    h.wait(500)?;
    h.lane().safety = false;
    h.wait(200)?;
    h.lane().safety = true;
    h.wait(200)?;
    h.expect_input(ir::TAILGATE_COUNT, 1, "tailgate not counted")?;
    if h.read_input(ir::STATUS)? & ir::ST_TAILGATE == 0 {
        return Err("tailgate not flagged");
    }
    if !h.out().buzzer || h.out().light_green {
        return Err("tailgate: buzzer off or light green");
    }
    h.lane().safety = false;
    h.lane().exit = true;
    h.wait(500)?;
    h.lane().exit = false;
    h.wait_state(BarrierState::Closed, 5000, "no close after the tailgater")?;
    if h.read_input(ir::STATUS)? & ir::ST_TAILGATE != 0 {
        return Err("tailgate flag not cleared when the arm is down");
    }
    hprintln!("selftest: tailgate ok");

    // Heartbeat loss: safe state, raises refused.
    h.agent_alive = false;
    h.wait(3500)?;
    if h.read_input(ir::STATUS)? & ir::ST_HEARTBEAT_LOST == 0 {
        return Err("heartbeat loss not reported");
    }
    h.write_coil(coil::RAISE, true)?;
    h.wait(20)?;
    h.expect_input(
        ir::LAST_COMMAND,
        CommandResult::RefusedHeartbeat as u16,
        "raise not refused without heartbeat",
    )?;
    if h.state()? != BarrierState::Closed as u16 || h.out().light_green {
        return Err("not in the safe state");
    }
    h.agent_alive = true;
    h.wait(100)?;
    if h.read_input(ir::STATUS)? & ir::ST_HEARTBEAT_LOST != 0 {
        return Err("heartbeat not restored");
    }
    hprintln!("selftest: heartbeat loss ok");

    // A bad value is refused with exception 03 and changes nothing.
    let [ah, al] = hr::LED_LEN.to_be_bytes();
    let r = h.request(&[0x06, ah, al, 0x00, 65])?;
    if r.as_slice() != [0x86, 0x03] {
        return Err("LED_LEN 65 not refused with exception 03");
    }
    hprintln!("selftest: register validation ok");
    Ok(())
}

/// Run every scenario and leave QEMU with the verdict.
pub fn run_and_exit() -> ! {
    let mut h = Harness::new();
    let result = scenarios(&mut h);
    match result {
        Ok(()) => {
            hprintln!(
                "selftest: PASS ({} loop iterations, {} ms virtual)",
                h.steps,
                h.now_ms
            );
            debug::exit(debug::EXIT_SUCCESS);
        }
        Err(what) => {
            hprintln!("selftest: FAIL at {} ms: {}", h.now_ms, what);
            debug::exit(debug::EXIT_FAILURE);
        }
    }
    loop {
        cortex_m::asm::bkpt();
    }
}
