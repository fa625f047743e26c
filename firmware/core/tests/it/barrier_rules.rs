//! Deterministic tests of every barrier rule, through the board's registers
//! on a virtual clock with an arm model (tests/common).

use crate::common;

use common::{Arm, Lane, TRAVEL};
use lane_io::barrier::{Command, Config, Controller, Passage, RawInputs};
use lane_io::modbus::{DataModel, Exception};
use lane_io::regmap::{coil, di, hr, ir, BarrierState, CommandResult, FaultCode};

const ACCEPTED: u16 = CommandResult::Accepted as u16;

// ---- power-up -------------------------------------------------------------

#[test]
fn power_up_state_follows_the_limit_switches() {
    assert_eq!(Lane::new().state(), BarrierState::Closed);
    let up = Arm {
        pos: TRAVEL,
        ..Arm::down()
    };
    assert_eq!(Lane::with_arm(up).state(), BarrierState::Open);
    let mid = Arm {
        pos: TRAVEL / 2,
        ..Arm::down()
    };
    assert_eq!(Lane::with_arm(mid).state(), BarrierState::Stopped);
    let shorted = Arm {
        limits_shorted: true,
        ..Arm::down()
    };
    let lane = Lane::with_arm(shorted);
    assert_eq!(lane.state(), BarrierState::Fault);
    assert_eq!(
        lane.ir(ir::FAULT_CODE),
        FaultCode::LimitContradiction as u16
    );
    assert_eq!(lane.ir(ir::FAULT_COUNT), 1);
}

#[test]
fn board_reports_defaults_and_version() {
    let lane = Lane::new();
    let b = &lane.board;
    assert_eq!(b.read_holding_register(hr::AUTO_CLOSE_DELAY_MS), Ok(1000));
    assert_eq!(b.read_holding_register(hr::MOTOR_RUN_TIMEOUT_MS), Ok(8000));
    assert_eq!(b.read_holding_register(hr::DEBOUNCE_MS), Ok(50));
    assert_eq!(b.read_holding_register(hr::FLAGS), Ok(hr::FLAG_AUTO_CLOSE));
    assert_eq!(b.read_holding_register(hr::CLEAR_DELAY_MS), Ok(5000));
    assert_eq!(
        Board::new().read_holding_register(hr::HEARTBEAT_TIMEOUT_MS),
        Ok(3000)
    );
    assert_eq!(lane.ir(ir::FW_VERSION), lane_io::regmap::FW_VERSION);
    assert_eq!(lane.ir(ir::LAST_COMMAND), CommandResult::None as u16);
}

use lane_io::board::Board;

// ---- raise / open / light -------------------------------------------------

#[test]
fn raise_coil_is_momentary_and_opens_the_arm() {
    let mut lane = Lane::new();
    lane.coil(coil::RAISE, true);
    assert_eq!(
        lane.board.read_coil(coil::RAISE),
        Ok(true),
        "pending until the tick"
    );
    assert_eq!(
        lane.state(),
        BarrierState::Closed,
        "nothing happens before the tick"
    );
    lane.run(lane.dt);
    assert_eq!(lane.board.read_coil(coil::RAISE), Ok(false), "taken");
    assert_eq!(lane.ir(ir::LAST_COMMAND), ACCEPTED);
    assert_eq!(lane.state(), BarrierState::Opening);
    assert!(lane.out.motor_up && !lane.out.motor_down);
    assert_eq!(lane.ir(ir::OUTPUTS) & ir::OUT_MOTOR_UP, ir::OUT_MOTOR_UP);
    assert_eq!(lane.ir(ir::RAISE_COUNT), 1);
    assert!(lane.run_until(TRAVEL + 200, |l| l.state() == BarrierState::Open));
    assert!(!lane.out.motor_up, "motor stops at the up limit");
    assert_ne!(lane.status() & ir::ST_ADMIT_PENDING, 0);
}

#[test]
fn writing_zero_withdraws_a_pending_command() {
    let mut lane = Lane::new();
    lane.coil(coil::RAISE, true);
    lane.coil(coil::RAISE, false);
    lane.run(100);
    assert_eq!(lane.state(), BarrierState::Closed);
    assert_eq!(lane.ir(ir::RAISE_COUNT), 0);
}

#[test]
fn light_is_green_only_for_the_admitted_vehicle_while_up() {
    let mut lane = Lane::new();
    lane.coil(coil::LIGHT_GREEN, true);
    lane.run(100);
    assert!(!lane.out.light_green, "closed: red even if asked green");
    lane.raise();
    assert!(lane.out.light_green, "opening for an admitted vehicle");
    lane.run_until(TRAVEL + 200, |l| l.state() == BarrierState::Open);
    assert!(lane.out.light_green);
    lane.coil(coil::LIGHT_GREEN, false);
    lane.run(20);
    assert!(!lane.out.light_green, "the agent asks red");
    lane.coil(coil::LIGHT_GREEN, true);
    lane.run(20);
    assert!(lane.out.light_green);
    // The vehicle passes: red again behind it.
    lane.field.safety = true;
    lane.run(300);
    lane.field.safety = false;
    lane.run(300);
    assert!(!lane.out.light_green, "vehicle has passed the arm");
    assert_eq!(lane.ir(ir::OUTPUTS) & ir::OUT_LIGHT_GREEN, 0);
}

// ---- passage, auto-close --------------------------------------------------

#[test]
fn vehicle_passes_and_arm_auto_closes_after_the_delay() {
    let mut lane = Lane::new();
    lane.open();
    lane.drive_through(500);
    assert_eq!(
        lane.ir(ir::VEHICLE_COUNT),
        0,
        "exit loop not yet debounced free"
    );
    lane.run(60);
    assert_eq!(lane.ir(ir::VEHICLE_COUNT), 1);
    assert_eq!(
        lane.controller_passage(),
        Passage::Cleared {
            at: lane.cleared_at()
        }
    );
    // Not before AUTO_CLOSE_DELAY_MS (1000) ...
    lane.run(900);
    assert_eq!(lane.state(), BarrierState::Open);
    // ... but right after.
    assert!(lane.run_until(200, |l| l.state() == BarrierState::Closing));
    assert!(lane.run_until(TRAVEL + 200, |l| l.state() == BarrierState::Closed));
    assert_eq!(lane.status() & ir::ST_ADMIT_PENDING, 0);
    assert_eq!(lane.ir(ir::RAISE_COUNT), 1);
    assert_eq!(lane.ir(ir::TAILGATE_COUNT), 0);
    assert_eq!(lane.ir(ir::REVERSAL_COUNT), 0);
}

trait Peek {
    fn controller_passage(&self) -> Passage;
    fn cleared_at(&self) -> u64;
}
impl Peek for Lane {
    fn controller_passage(&self) -> Passage {
        self.board.controller().passage()
    }
    fn cleared_at(&self) -> u64 {
        match self.board.controller().passage() {
            Passage::Cleared { at } => at,
            p => panic!("not cleared: {p:?}"),
        }
    }
}

#[test]
fn auto_close_disabled_keeps_the_arm_up() {
    let mut lane = Lane::new();
    lane.hr(hr::FLAGS, 0);
    lane.open();
    lane.drive_through(500);
    lane.run(10_000);
    assert_eq!(lane.state(), BarrierState::Open);
    assert_eq!(lane.lower(), ACCEPTED);
    assert!(lane.run_until(TRAVEL + 200, |l| l.state() == BarrierState::Closed));
}

#[test]
fn without_the_exit_loop_the_clear_delay_clears_the_vehicle() {
    let mut lane = Lane::new();
    lane.hr(hr::CLEAR_DELAY_MS, 2000);
    lane.open();
    lane.field.safety = true;
    lane.run(500);
    lane.field.safety = false;
    lane.run(1000);
    assert_eq!(lane.controller_passage(), Passage::Leaving);
    lane.run(1100);
    assert!(matches!(lane.controller_passage(), Passage::Cleared { .. }));
    assert_eq!(lane.ir(ir::VEHICLE_COUNT), 0, "the exit loop never saw it");
    assert!(lane.run_until(1200, |l| l.state() == BarrierState::Closing));
}

#[test]
fn clear_delay_zero_waits_for_the_exit_loop() {
    let mut lane = Lane::new();
    lane.hr(hr::CLEAR_DELAY_MS, 0);
    lane.open();
    lane.field.safety = true;
    lane.run(500);
    lane.field.safety = false;
    lane.run(20_000);
    assert_eq!(lane.controller_passage(), Passage::Leaving);
    assert_eq!(lane.state(), BarrierState::Open);
}

#[test]
fn admitted_vehicle_waiting_keeps_the_arm_up() {
    let mut lane = Lane::new();
    lane.open();
    lane.run(20_000);
    assert_eq!(
        lane.state(),
        BarrierState::Open,
        "no vehicle yet: no auto-close"
    );
    assert_eq!(lane.controller_passage(), Passage::Granted);
}

// ---- lower, obstruction ---------------------------------------------------

#[test]
fn lower_is_refused_while_the_safety_loop_or_photocell_is_occupied() {
    for (safety, photo) in [(true, false), (false, true)] {
        let mut lane = Lane::new();
        lane.hr(hr::FLAGS, 0);
        lane.open();
        lane.field.safety = safety;
        lane.field.photocell = photo;
        lane.run(10);
        assert_eq!(lane.lower(), CommandResult::RefusedOccupied as u16);
        assert_eq!(lane.state(), BarrierState::Open);
        assert_ne!(lane.status() & ir::ST_HELD_BY_OCCUPANCY, 0);
        lane.field.safety = false;
        lane.field.photocell = false;
        lane.run(100);
        assert_eq!(lane.status() & ir::ST_HELD_BY_OCCUPANCY, 0);
        assert_eq!(lane.lower(), ACCEPTED);
        assert_eq!(lane.state(), BarrierState::Closing);
    }
}

#[test]
fn obstruction_while_closing_reverses_at_once_and_recloses_when_clear() {
    let mut lane = Lane::new();
    lane.open();
    lane.drive_through(300);
    assert!(lane.run_until(3000, |l| l.state() == BarrierState::Closing));
    lane.run(500);
    // Photocell only (a pedestrian): reversal on the very tick, no debounce.
    lane.field.photocell = true;
    lane.tick();
    assert_eq!(lane.state(), BarrierState::Opening);
    assert!(lane.out.motor_up && !lane.out.motor_down);
    assert_eq!(lane.ir(ir::REVERSAL_COUNT), 1);
    assert_eq!(
        lane.ir(ir::TAILGATE_COUNT),
        0,
        "photocell alone is no vehicle"
    );
    assert!(lane.run_until(TRAVEL, |l| l.state() == BarrierState::Open));
    lane.run(3000);
    assert_eq!(lane.state(), BarrierState::Open, "held while occupied");
    lane.field.photocell = false;
    lane.run(900);
    assert_eq!(
        lane.state(),
        BarrierState::Open,
        "waits the auto-close delay again"
    );
    assert!(lane.run_until(300, |l| l.state() == BarrierState::Closing));
    assert!(lane.run_until(TRAVEL + 200, |l| l.state() == BarrierState::Closed));
    assert_eq!(lane.ir(ir::REVERSAL_COUNT), 1);
}

#[test]
fn lowered_arm_reverses_on_obstruction_and_closes_again() {
    let mut lane = Lane::new();
    lane.hr(hr::FLAGS, 0);
    lane.open();
    lane.lower();
    lane.run(300);
    lane.field.safety = true;
    lane.tick();
    assert_eq!(lane.state(), BarrierState::Opening);
    lane.field.safety = false;
    // Auto-close is off: after a reversal the arm still stays up.
    lane.run(10_000);
    assert_eq!(lane.state(), BarrierState::Open);
}

// ---- tailgating -----------------------------------------------------------

#[test]
fn second_vehicle_before_the_arm_is_down_is_a_tailgater() {
    let mut lane = Lane::new();
    lane.coil(coil::LIGHT_GREEN, true);
    lane.open();
    lane.field.safety = true;
    lane.run(400);
    lane.field.safety = false;
    lane.run(200);
    assert!(!lane.out.buzzer);
    // A second vehicle follows into the safety loop.
    lane.field.safety = true;
    lane.run(100);
    assert_eq!(lane.ir(ir::TAILGATE_COUNT), 1);
    assert_ne!(lane.status() & ir::ST_TAILGATE, 0);
    assert!(lane.out.buzzer, "buzzer on tailgate");
    assert!(!lane.out.light_green, "red for the tailgater");
    // It passes; the arm waits for it, then closes.
    lane.run(400);
    lane.field.safety = false;
    lane.field.exit = true;
    lane.run(300);
    lane.field.exit = false;
    assert!(lane.run_until(3000, |l| l.state() == BarrierState::Closing));
    assert!(lane.run_until(TRAVEL + 200, |l| l.state() == BarrierState::Closed));
    assert_eq!(
        lane.status() & ir::ST_TAILGATE,
        0,
        "cleared when the arm is down"
    );
    assert!(!lane.out.buzzer);
    assert_eq!(lane.ir(ir::TAILGATE_COUNT), 1, "the count stays");
}

#[test]
fn tailgater_entering_while_closing_reverses_and_is_counted() {
    let mut lane = Lane::new();
    lane.open();
    lane.drive_through(300);
    assert!(lane.run_until(3000, |l| l.state() == BarrierState::Closing));
    lane.field.safety = true;
    lane.tick();
    assert_eq!(
        lane.state(),
        BarrierState::Opening,
        "reversed on the same tick"
    );
    assert_eq!(
        lane.ir(ir::TAILGATE_COUNT),
        0,
        "tailgate needs the debounced loop"
    );
    lane.run(60);
    assert_eq!(lane.ir(ir::REVERSAL_COUNT), 1);
    assert_eq!(lane.ir(ir::TAILGATE_COUNT), 1);
}

#[test]
fn a_new_raise_clears_the_tailgate_flag() {
    let mut lane = Lane::new();
    lane.open();
    lane.field.safety = true;
    lane.run(200);
    lane.field.safety = false;
    lane.run(200);
    lane.field.safety = true;
    lane.run(200);
    assert_ne!(lane.status() & ir::ST_TAILGATE, 0);
    assert_eq!(lane.raise(), ACCEPTED);
    assert_eq!(lane.status() & ir::ST_TAILGATE, 0);
    assert_eq!(lane.ir(ir::RAISE_COUNT), 2);
}

#[test]
fn a_vehicle_waiting_at_the_closed_arm_is_no_tailgater() {
    let mut lane = Lane::new();
    lane.field.safety = true;
    lane.run(200);
    lane.raise();
    lane.run(100);
    assert_eq!(lane.controller_passage(), Passage::Passing);
    assert_eq!(lane.ir(ir::TAILGATE_COUNT), 0);
}

// ---- faults ---------------------------------------------------------------

#[test]
fn open_timeout_faults_and_reset_recovers() {
    let mut lane = Lane::new();
    lane.arm.stuck = true;
    lane.raise();
    lane.run(7900);
    assert_eq!(lane.state(), BarrierState::Opening);
    lane.run(200);
    assert_eq!(lane.state(), BarrierState::Fault);
    assert_eq!(lane.ir(ir::FAULT_CODE), FaultCode::OpenTimeout as u16);
    assert_eq!(lane.ir(ir::FAULT_COUNT), 1);
    assert!(!lane.out.motor_up && !lane.out.motor_down);
    assert_eq!(lane.raise(), CommandResult::RefusedFault as u16);
    assert_eq!(lane.lower(), CommandResult::RefusedFault as u16);
    lane.arm.stuck = false;
    assert_eq!(lane.command(coil::FAULT_RESET), ACCEPTED);
    assert_eq!(lane.state(), BarrierState::Closed, "the arm never moved");
    assert_eq!(lane.ir(ir::FAULT_CODE), 0);
    assert_eq!(lane.board.read_coil(coil::FAULT_RESET), Ok(false));
}

#[test]
fn close_timeout_faults() {
    let mut lane = Lane::new();
    lane.hr(hr::MOTOR_RUN_TIMEOUT_MS, 3000);
    lane.open();
    lane.arm.stuck = true;
    lane.lower();
    lane.run(3100);
    assert_eq!(lane.state(), BarrierState::Fault);
    assert_eq!(lane.ir(ir::FAULT_CODE), FaultCode::CloseTimeout as u16);
    lane.arm.stuck = false;
    assert_eq!(lane.command(coil::FAULT_RESET), ACCEPTED);
    assert_eq!(lane.state(), BarrierState::Open);
}

#[test]
fn contradictory_limits_fault_until_the_cause_is_gone() {
    let mut lane = Lane::new();
    lane.open();
    lane.arm.limits_shorted = true;
    lane.run(40);
    assert_eq!(lane.state(), BarrierState::Open, "debounced");
    lane.run(20);
    assert_eq!(lane.state(), BarrierState::Fault);
    assert_eq!(
        lane.ir(ir::FAULT_CODE),
        FaultCode::LimitContradiction as u16
    );
    assert_eq!(
        lane.command(coil::FAULT_RESET),
        CommandResult::RefusedFault as u16
    );
    assert_eq!(lane.state(), BarrierState::Fault);
    lane.arm.limits_shorted = false;
    lane.run(100);
    assert_eq!(lane.command(coil::FAULT_RESET), ACCEPTED);
    assert_eq!(lane.state(), BarrierState::Open);
    assert_eq!(lane.ir(ir::FAULT_COUNT), 1);
}

#[test]
fn motor_fault_input_faults_from_any_state() {
    let mut lane = Lane::new();
    lane.raise();
    lane.run(300);
    lane.arm.motor_fault = true;
    lane.run(100);
    assert_eq!(lane.state(), BarrierState::Fault);
    assert_eq!(lane.ir(ir::FAULT_CODE), FaultCode::MotorFault as u16);
    assert_eq!(
        lane.command(coil::FAULT_RESET),
        CommandResult::RefusedFault as u16
    );
    lane.arm.motor_fault = false;
    lane.run(100);
    assert_eq!(lane.command(coil::FAULT_RESET), ACCEPTED);
    assert_eq!(
        lane.state(),
        BarrierState::Stopped,
        "mid-travel: neither limit"
    );
    assert_eq!(lane.raise(), ACCEPTED);
    assert!(lane.run_until(TRAVEL, |l| l.state() == BarrierState::Open));
}

// ---- stop, manual ---------------------------------------------------------

#[test]
fn stop_halts_mid_travel() {
    let mut lane = Lane::new();
    lane.raise();
    lane.run(500);
    assert_eq!(lane.command(coil::STOP), ACCEPTED);
    assert_eq!(lane.state(), BarrierState::Stopped);
    let pos = lane.arm.pos;
    lane.run(10_000);
    assert_eq!(lane.arm.pos, pos);
    assert_eq!(lane.state(), BarrierState::Stopped);
    assert_eq!(lane.lower(), ACCEPTED);
    assert!(lane.run_until(TRAVEL, |l| l.state() == BarrierState::Closed));
}

#[test]
fn stop_wins_over_raise_in_the_same_tick() {
    let mut lane = Lane::new();
    lane.coil(coil::RAISE, true);
    lane.coil(coil::STOP, true);
    lane.run(10);
    assert_eq!(lane.state(), BarrierState::Stopped);
    assert_eq!(lane.ir(ir::RAISE_COUNT), 1);
}

#[test]
fn manual_key_refuses_remote_raise_and_lower() {
    let mut lane = Lane::new();
    lane.field.manual = true;
    lane.run(100);
    assert_ne!(lane.status() & ir::ST_MANUAL, 0);
    assert_eq!(lane.raise(), CommandResult::RefusedManual as u16);
    assert_eq!(lane.state(), BarrierState::Closed);
    assert_eq!(lane.ir(ir::RAISE_COUNT), 0);
    lane.field.manual = false;
    lane.run(100);
    lane.open();
    lane.field.manual = true;
    lane.run(100);
    assert_eq!(lane.lower(), CommandResult::RefusedManual as u16);
    assert_eq!(lane.command(coil::STOP), ACCEPTED, "stop always works");
}

#[test]
fn manual_key_suspends_auto_close() {
    let mut lane = Lane::new();
    lane.open();
    lane.field.manual = true;
    lane.drive_through(300);
    lane.run(10_000);
    assert_eq!(lane.state(), BarrierState::Open);
    lane.field.manual = false;
    assert!(lane.run_until(200, |l| l.state() == BarrierState::Closing));
}

// ---- heartbeat ------------------------------------------------------------

fn watched_lane() -> Lane {
    let mut lane = Lane::new();
    lane.hr(hr::HEARTBEAT_TIMEOUT_MS, 3000);
    lane.run(10);
    lane
}

#[test]
fn heartbeat_loss_is_a_safe_state() {
    let mut lane = watched_lane();
    lane.coil(coil::LIGHT_GREEN, true);
    lane.open();
    assert!(lane.out.light_green);
    lane.field.safety = true;
    lane.run(4000);
    assert_ne!(lane.status() & ir::ST_HEARTBEAT_LOST, 0);
    assert!(!lane.out.light_green, "red without heartbeat");
    assert_eq!(
        lane.state(),
        BarrierState::Open,
        "never closes onto a vehicle"
    );
    assert_eq!(lane.raise(), CommandResult::RefusedHeartbeat as u16);
    lane.field.safety = false;
    lane.run(900);
    assert_eq!(lane.state(), BarrierState::Open);
    assert!(
        lane.run_until(300, |l| l.state() == BarrierState::Closing),
        "closes when clear"
    );
    assert!(lane.run_until(TRAVEL + 200, |l| l.state() == BarrierState::Closed));
    lane.heartbeat();
    lane.run(10);
    assert_eq!(lane.status() & ir::ST_HEARTBEAT_LOST, 0);
    assert_eq!(lane.raise(), ACCEPTED);
}

#[test]
fn heartbeats_keep_the_watchdog_quiet_and_are_stamped_at_the_tick() {
    let mut lane = watched_lane();
    for _ in 0..10 {
        lane.run(2000);
        lane.heartbeat();
    }
    assert_eq!(lane.status() & ir::ST_HEARTBEAT_LOST, 0);
    // A write without a tick does not count until the tick: the watchdog
    // runs from the tick that takes it.
    lane.run(2990);
    lane.heartbeat();
    lane.now += 2500; // a long gap without ticks
    lane.tick();
    assert_eq!(
        lane.status() & ir::ST_HEARTBEAT_LOST,
        0,
        "stamped at this tick"
    );
    lane.run(2990);
    assert_eq!(lane.status() & ir::ST_HEARTBEAT_LOST, 0);
    lane.run(20);
    assert_ne!(lane.status() & ir::ST_HEARTBEAT_LOST, 0);
}

#[test]
fn watchdog_disabled_with_zero() {
    let mut lane = Lane::new();
    lane.run(100_000);
    assert_eq!(lane.status() & ir::ST_HEARTBEAT_LOST, 0);
    assert_eq!(lane.raise(), ACCEPTED);
}

// ---- debounce -------------------------------------------------------------

#[test]
fn short_blips_are_filtered_but_occupancy_acts_at_once() {
    let mut lane = Lane::new();
    lane.field.exit = true;
    lane.run(30);
    lane.field.exit = false;
    lane.run(100);
    assert_eq!(lane.board.read_discrete_input(di::EXIT_LOOP), Ok(false));
    lane.field.exit = true;
    lane.run(60);
    assert_eq!(lane.board.read_discrete_input(di::EXIT_LOOP), Ok(true));
    lane.hr(hr::DEBOUNCE_MS, 200);
    lane.field.exit = false;
    lane.run(150);
    assert_eq!(lane.board.read_discrete_input(di::EXIT_LOOP), Ok(true));
    lane.run(60);
    assert_eq!(lane.board.read_discrete_input(di::EXIT_LOOP), Ok(false));
}

#[test]
fn discrete_inputs_report_the_debounced_field() {
    let mut lane = Lane::new();
    lane.field = common::Field {
        arrival: true,
        safety: true,
        exit: true,
        photocell: true,
        manual: true,
    };
    lane.run(100);
    for a in [
        di::ARRIVAL_LOOP,
        di::SAFETY_LOOP,
        di::EXIT_LOOP,
        di::PHOTOCELL,
        di::DOWN_LIMIT,
        di::MANUAL_KEY,
    ] {
        assert_eq!(lane.board.read_discrete_input(a), Ok(true), "di {a}");
    }
    for a in [di::UP_LIMIT, di::MOTOR_FAULT] {
        assert_eq!(lane.board.read_discrete_input(a), Ok(false), "di {a}");
    }
    assert_eq!(
        lane.board.read_discrete_input(di::COUNT),
        Err(Exception::IllegalDataAddress)
    );
}

// ---- registers ------------------------------------------------------------

#[test]
fn holding_register_writes_are_validated() {
    let mut b = Board::new();
    let bad = Err(Exception::IllegalDataValue);
    assert_eq!(b.write_holding_register(hr::LED_LEN, 65), bad);
    assert_eq!(b.write_holding_register(hr::DEBOUNCE_MS, 1001), bad);
    assert_eq!(b.write_holding_register(hr::FLAGS, 0b10), bad);
    assert_eq!(b.write_holding_register(hr::MOTOR_RUN_TIMEOUT_MS, 0), bad);
    assert_eq!(b.write_holding_register(hr::HEARTBEAT_TIMEOUT_MS, 50), bad);
    assert_eq!(b.write_holding_register(hr::LED_LEN, 64), Ok(()));
    assert_eq!(b.write_holding_register(hr::DEBOUNCE_MS, 1000), Ok(()));
    assert_eq!(
        b.write_holding_register(hr::HEARTBEAT_TIMEOUT_MS, 0),
        Ok(())
    );
    let addr = Some(Exception::IllegalDataAddress);
    assert_eq!(
        b.write_holding_register(hr::CLEAR_DELAY_MS + 1, 0).err(),
        addr,
        "gap in the map"
    );
    assert_eq!(b.write_holding_register(hr::COUNT, 0).err(), addr);
    assert_eq!(b.read_holding_register(hr::CLEAR_DELAY_MS + 1).err(), addr);
    assert_eq!(b.read_holding_register(hr::COUNT).err(), addr);
    assert_eq!(b.read_input_register(ir::COUNT).err(), addr);
    assert_eq!(b.read_coil(coil::COUNT).err(), addr);
    assert_eq!(b.write_coil(coil::COUNT, true).err(), addr);
    assert_eq!(b.check_write_coils(0, coil::COUNT), Ok(()));
    assert_eq!(b.check_write_coils(1, coil::COUNT).err(), addr);
    assert_eq!(b.check_write_coils(u16::MAX, 2).err(), addr);
}

#[test]
fn multi_register_writes_are_atomic() {
    let mut b = Board::new();
    // AUTO_CLOSE_DELAY ok, MOTOR_RUN_TIMEOUT ok, DEBOUNCE bad.
    let r = b.write_holding_registers(hr::AUTO_CLOSE_DELAY_MS, &[2000, 9000, 5000]);
    assert_eq!(r, Err(Exception::IllegalDataValue));
    assert_eq!(b.read_holding_register(hr::AUTO_CLOSE_DELAY_MS), Ok(1000));
    assert_eq!(b.read_holding_register(hr::MOTOR_RUN_TIMEOUT_MS), Ok(8000));
    // Running into the gap after CLEAR_DELAY_MS.
    let r = b.write_holding_registers(hr::LED_LEN, &[3, 0, 0]);
    assert_eq!(r, Err(Exception::IllegalDataAddress));
    assert_eq!(b.read_holding_register(hr::LED_LEN), Ok(0));
    let r = b.write_holding_registers(hr::AUTO_CLOSE_DELAY_MS, &[2000, 9000, 20]);
    assert_eq!(r, Ok(()));
    assert_eq!(b.read_holding_register(hr::DEBOUNCE_MS), Ok(20));
    assert_eq!(b.controller().config().motor_run_timeout_ms, 9000);
}

#[test]
fn led_text_round_trips() {
    let mut b = Board::new();
    let text = "琼A12345 请停车".as_bytes();
    let mut regs = [0u16; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        regs[i] = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
    }
    b.write_holding_registers(hr::LED_TEXT, &regs).unwrap();
    b.write_holding_register(hr::LED_LEN, text.len() as u16)
        .unwrap();
    assert_eq!(b.led_bytes(), text);
    assert_eq!(
        b.read_holding_register(hr::LED_TEXT),
        Ok(u16::from_be_bytes([text[0], text[1]]))
    );
    assert_eq!(
        b.write_holding_registers(hr::LED_TEXT + 31, &[1, 2]),
        Err(Exception::IllegalDataAddress)
    );
}

#[test]
fn uptime_counts_seconds() {
    let mut lane = Lane::new();
    lane.dt = 1000;
    lane.run(70_000);
    assert_eq!(lane.ir(ir::UPTIME_LO), 70);
    assert_eq!(lane.ir(ir::UPTIME_HI), 0);
    lane.now = 0x1_0000 * 1000 + 5000;
    lane.tick();
    assert_eq!(lane.ir(ir::UPTIME_LO), 5);
    assert_eq!(lane.ir(ir::UPTIME_HI), 1);
}

// ---- controller: sans-IO details ------------------------------------------

fn closed_inputs() -> RawInputs {
    RawInputs {
        down_limit: true,
        ..RawInputs::default()
    }
}

#[test]
fn poll_at_names_the_next_deadline() {
    let cfg = Config {
        heartbeat_timeout_ms: 0,
        ..Config::default()
    };
    let mut c = Controller::new(cfg);
    c.poll(1000, closed_inputs());
    assert_eq!(c.poll_at(), None, "closed and quiet: nothing to wait for");
    c.handle(1000, Command::Raise);
    assert_eq!(c.poll_at(), Some(1000 + 8000), "motor-run timeout");
    c.poll(1010, RawInputs::default());
    assert_eq!(
        c.poll_at(),
        Some(1010 + 50),
        "down limit going free: debounce"
    );
    c.poll(8999, RawInputs::default());
    assert_eq!(c.state().kind(), BarrierState::Opening);
    assert_eq!(c.poll_at(), Some(9000));
    c.poll(9000, RawInputs::default());
    assert_eq!(c.state().kind(), BarrierState::Fault);
    let watched = Controller::new(Config::default());
    let mut w = watched;
    w.poll(500, closed_inputs());
    assert_eq!(w.poll_at(), Some(500 + 3000), "heartbeat watchdog");
}

#[test]
fn board_poll_at_is_now_while_a_command_waits() {
    let mut lane = Lane::new();
    assert_eq!(lane.board.poll_at(), None);
    lane.coil(coil::RAISE, true);
    assert_eq!(lane.board.poll_at(), Some(lane.now));
    lane.run(lane.dt);
    let taken = lane.now;
    lane.run(200); // the down limit's release is debounced by now
    assert_eq!(
        lane.board.poll_at(),
        Some(taken + 8000),
        "motor-run timeout"
    );
}

#[test]
fn time_never_runs_backwards() {
    let mut c = Controller::new(Config {
        heartbeat_timeout_ms: 0,
        ..Config::default()
    });
    c.poll(5000, closed_inputs());
    c.handle(5000, Command::Raise);
    c.poll(100, RawInputs::default());
    assert_eq!(c.now(), 5000);
    assert_eq!(c.state().kind(), BarrierState::Opening);
}

#[test]
fn every_state_change_is_recorded() {
    let mut lane = Lane::new();
    lane.open();
    lane.drive_through(300);
    lane.run_until(5000, |l| l.state() == BarrierState::Closed);
    let c = lane.board.controller();
    let seq: Vec<_> = c.history().map(|t| (t.from, t.to)).collect();
    use BarrierState::*;
    assert_eq!(
        seq,
        [
            (Stopped, Closed),
            (Closed, Opening),
            (Opening, Open),
            (Open, Closing),
            (Closing, Closed)
        ]
    );
    assert_eq!(c.transitions(), 5);
    let times: Vec<_> = c.history().map(|t| t.at_ms).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}
