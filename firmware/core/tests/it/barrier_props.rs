//! Property tests of the barrier board: long random sequences of field
//! changes, commands, faults and time steps against a physical arm model
//! (tests/common). Checked at every step, on the pins the board drives.

use crate::common;

use common::{Arm, Lane, TRAVEL};
use lane_io::barrier::Passage;
use lane_io::modbus::DataModel;
use lane_io::regmap::{coil, hr, ir, BarrierState, CommandResult, FaultCode};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed};

#[derive(Clone, Copy, Debug)]
enum Ev {
    Nothing,
    Safety(bool),
    Photocell(bool),
    Exit(bool),
    Arrival(bool),
    Manual(bool),
    Command(u16),
    Light(bool),
    Buzzer(bool),
    Heartbeat,
    /// HR write (address, value); may be refused.
    Config(u16, u16),
    Stuck(bool),
    LimitsShorted(bool),
    MotorFault(bool),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        6 => Just(Ev::Nothing),
        4 => any::<bool>().prop_map(Ev::Safety),
        3 => any::<bool>().prop_map(Ev::Photocell),
        3 => any::<bool>().prop_map(Ev::Exit),
        1 => any::<bool>().prop_map(Ev::Arrival),
        1 => any::<bool>().prop_map(Ev::Manual),
        2 => Just(Ev::Command(coil::RAISE)),
        1 => Just(Ev::Command(coil::LOWER)),
        1 => Just(Ev::Command(coil::STOP)),
        1 => Just(Ev::Command(coil::FAULT_RESET)),
        1 => any::<bool>().prop_map(Ev::Light),
        1 => any::<bool>().prop_map(Ev::Buzzer),
        2 => Just(Ev::Heartbeat),
        1 => (
            prop_oneof![
                Just(hr::HEARTBEAT_TIMEOUT_MS),
                Just(hr::AUTO_CLOSE_DELAY_MS),
                Just(hr::MOTOR_RUN_TIMEOUT_MS),
                Just(hr::DEBOUNCE_MS),
                Just(hr::FLAGS),
                Just(hr::CLEAR_DELAY_MS),
            ],
            prop_oneof![0u16..3, 0u16..1500, 0u16..10_000, any::<u16>()]
        )
            .prop_map(|(a, v)| Ev::Config(a, v)),
        // Faults are injected rarely and removed more often than set, so
        // that long stretches of normal operation happen too.
        1 => prop::bool::weighted(0.3).prop_map(Ev::Stuck),
        1 => prop::bool::weighted(0.3).prop_map(Ev::LimitsShorted),
        1 => prop::bool::weighted(0.3).prop_map(Ev::MotorFault),
    ]
}

/// (event, then this many ms pass before the next tick)
fn steps() -> impl Strategy<Value = Vec<(Ev, u64)>> {
    prop::collection::vec(
        (ev(), prop_oneof![1u64..20, 20u64..300, 300u64..3000]),
        1..400,
    )
}

/// What the test has seen, to check the board's counters against.
#[derive(Default)]
struct Seen {
    raises_accepted: u16,
    faults_entered: u16,
    closing_to_opening: u16,
    seq: u32,
    last: [u16; 5],
}

fn apply(lane: &mut Lane, e: Ev) -> Option<u16> {
    match e {
        Ev::Nothing => {}
        Ev::Safety(v) => lane.field.safety = v,
        Ev::Photocell(v) => lane.field.photocell = v,
        Ev::Exit(v) => lane.field.exit = v,
        Ev::Arrival(v) => lane.field.arrival = v,
        Ev::Manual(v) => lane.field.manual = v,
        Ev::Command(c) => {
            lane.coil(c, true);
            return Some(c);
        }
        Ev::Light(v) => lane.coil(coil::LIGHT_GREEN, v),
        Ev::Buzzer(v) => lane.coil(coil::BUZZER, v),
        Ev::Heartbeat => lane.heartbeat(),
        Ev::Config(a, v) => {
            let before = lane.board.read_holding_register(a);
            if lane.board.write_holding_register(a, v).is_err() {
                assert_eq!(
                    lane.board.read_holding_register(a),
                    before,
                    "refused write changed {a}"
                );
            }
        }
        Ev::Stuck(v) => lane.arm.stuck = v,
        Ev::LimitsShorted(v) => lane.arm.limits_shorted = v,
        Ev::MotorFault(v) => lane.arm.motor_fault = v,
    }
    None
}

/// Every invariant that must hold after every tick.
fn check(lane: &Lane, seen: &mut Seen, cmd: Option<u16>) {
    let b = &lane.board;
    let c = b.controller();
    let out = lane.out;
    let ir_ = |a| b.read_input_register(a).expect("input register");
    // Always a defined state, reported consistently.
    let state = BarrierState::from_u16(ir_(ir::BARRIER_STATE)).expect("defined state");
    assert_eq!(state, lane.state());
    let fault = FaultCode::from_u16(ir_(ir::FAULT_CODE)).expect("defined fault code");
    assert_eq!(state == BarrierState::Fault, fault != FaultCode::None);
    assert!(CommandResult::from_u16(ir_(ir::LAST_COMMAND)).is_some());
    assert_eq!(ir_(ir::OUTPUTS), out.bits());
    let defined = ir::ST_HEARTBEAT_LOST
        | ir::ST_TAILGATE
        | ir::ST_HELD_BY_OCCUPANCY
        | ir::ST_ADMIT_PENDING
        | ir::ST_MANUAL;
    let status = ir_(ir::STATUS);
    assert_eq!(status & !defined, 0);
    // Motor pins follow the state; never both (also checked in Lane::tick,
    // with "never down while occupied").
    assert_eq!(out.motor_up, state == BarrierState::Opening);
    if out.motor_down {
        assert_eq!(state, BarrierState::Closing);
    }
    if state == BarrierState::Closing {
        assert!(
            out.motor_down,
            "Closing must drive down (it reverses when occupied)"
        );
    }
    // Green only while up/rising, for an admitted vehicle, asked green, with heartbeat.
    if out.light_green {
        assert!(matches!(state, BarrierState::Open | BarrierState::Opening));
        assert_eq!(b.read_coil(coil::LIGHT_GREEN), Ok(true));
        assert_eq!(status & (ir::ST_HEARTBEAT_LOST | ir::ST_TAILGATE), 0);
        assert!(matches!(c.passage(), Passage::Granted | Passage::Passing));
    }
    assert_eq!(
        out.buzzer,
        b.read_coil(coil::BUZZER) == Ok(true) || status & ir::ST_TAILGATE != 0
    );
    if state == BarrierState::Closed {
        assert_eq!(c.passage(), Passage::Idle);
        assert_eq!(status & ir::ST_TAILGATE, 0);
    }
    // Momentary coils are taken by the tick.
    for m in [coil::RAISE, coil::LOWER, coil::STOP, coil::FAULT_RESET] {
        assert_eq!(b.read_coil(m), Ok(false));
    }
    // Counters: each event counted exactly as seen, never going back.
    if cmd == Some(coil::RAISE) && ir_(ir::LAST_COMMAND) == CommandResult::Accepted as u16 {
        seen.raises_accepted += 1;
    }
    let new = c.transitions().wrapping_sub(seen.seq) as usize;
    assert!(
        new <= lane_io::barrier::HISTORY,
        "history overflow in one tick"
    );
    let hist: Vec<_> = c.history().copied().collect();
    for t in &hist[hist.len() - new..] {
        if t.to == BarrierState::Fault {
            seen.faults_entered += 1;
        }
        if (t.from, t.to) == (BarrierState::Closing, BarrierState::Opening) {
            seen.closing_to_opening += 1;
        }
        assert_ne!(t.from, t.to);
    }
    seen.seq = c.transitions();
    let n = c.counters();
    assert_eq!(n.raises, seen.raises_accepted);
    assert_eq!(n.faults, seen.faults_entered);
    assert!(n.reversals <= seen.closing_to_opening);
    assert!(n.admitted <= n.raises, "one raise admits one vehicle");
    let now = [n.vehicles, n.raises, n.tailgates, n.reversals, n.faults];
    for (a, b) in seen.last.iter().zip(now) {
        assert!(b >= *a, "counters only grow");
    }
    seen.last = now;
    assert_eq!(ir_(ir::TAILGATE_COUNT), n.tailgates);
    assert_eq!(ir_(ir::REVERSAL_COUNT), n.reversals);
    assert_eq!(ir_(ir::VEHICLE_COUNT), n.vehicles);
    assert!(lane.arm.pos <= TRAVEL);
}

fn run(lane: &mut Lane, steps: &[(Ev, u64)], seen: &mut Seen) {
    for (e, dt) in steps {
        let cmd = apply(lane, *e);
        lane.arm.advance(*dt, lane.out);
        lane.now += dt;
        lane.tick();
        check(lane, seen, cmd);
    }
}

/// CI runs the same cases every time: a fixed seed, after the failures
/// kept in proptest-regressions/barrier_props.txt (replayed first, new ones
/// appended). `PROPTEST_RNG_SEED` and `PROPTEST_CASES` override both fields
/// for long random runs (`cargo xtask props`); `proptest!` applies them on
/// top of this config.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x6c61_6e65_2d69_6f15),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/barrier_props.txt"
        )))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn barrier_invariants_hold_at_every_step(start_up in any::<bool>(), steps in steps()) {
        let arm = if start_up { Arm { pos: TRAVEL, ..Arm::down() } } else { Arm::down() };
        let mut lane = Lane::with_arm(arm);
        lane.hr(hr::HEARTBEAT_TIMEOUT_MS, 3000);
        let mut seen = Seen { faults_entered: lane.board.controller().counters().faults, ..Seen::default() };
        seen.seq = lane.board.controller().transitions();
        run(&mut lane, &steps, &mut seen);
    }

    /// Whatever happened, once the field is clear and the faults are gone,
    /// the documented recovery (STOP, FAULT_RESET, LOWER) brings the arm down.
    #[test]
    fn board_always_recovers_to_closed(steps in steps()) {
        let mut lane = Lane::new();
        let mut seen = Seen { seq: lane.board.controller().transitions(), ..Seen::default() };
        run(&mut lane, &steps, &mut seen);
        prop_assert!(recover(&mut lane), "not closed after the recovery");
    }
}

/// The field engineer's recovery of the arm (docs/register-map.md,
/// "Recovering the arm"), asserted step by step; returns whether the arm
/// is down within one travel time (+ debounce) of the LOWER.
fn recover(lane: &mut Lane) -> bool {
    // 1. The causes are gone: the area under the arm is clear, the arm moves
    //    freely, the limit switches and the motor drive are sound.
    clear_causes(lane);
    // 2. A configuration the arm can live with: no watchdog during the
    //    intervention, a motor-run timeout longer than the arm's travel (a
    //    shorter one faults every move).
    lane.hr(hr::HEARTBEAT_TIMEOUT_MS, 0);
    lane.hr(hr::MOTOR_RUN_TIMEOUT_MS, 8000);
    // Let the debouncers settle (max debounce 1000 ms).
    lane.run(1100);
    // 3. STOP: a move still under way keeps the deadline it started with
    //    (the old timeout, or the time it spent against a stuck arm), so it
    //    may still time out after the reset; stop it first.
    assert_eq!(lane.command(coil::STOP), CommandResult::Accepted as u16);
    assert!(
        !matches!(lane.state(), BarrierState::Opening | BarrierState::Closing),
        "STOP left the arm moving: {:?}",
        lane.state()
    );
    // 4. FAULT_RESET, accepted once the cause has gone.
    assert_eq!(
        lane.command(coil::FAULT_RESET),
        CommandResult::Accepted as u16
    );
    assert_ne!(lane.state(), BarrierState::Fault);
    // 5. LOWER: a fresh move with the timeout of step 2.
    let lowered = lane.lower();
    assert_eq!(
        lowered,
        CommandResult::Accepted as u16,
        "state {:?}",
        lane.state()
    );
    lane.run_until(TRAVEL + 1100, |l| l.state() == BarrierState::Closed)
}

fn clear_causes(lane: &mut Lane) {
    lane.field = common::Field::default();
    lane.arm.stuck = false;
    lane.arm.limits_shorted = false;
    lane.arm.motor_fault = false;
}

/// The recovery as the property had it before issue 15: FAULT_RESET and
/// LOWER without a STOP. Returns (FAULT_RESET result, LOWER result).
fn recover_without_stop(lane: &mut Lane) -> (u16, u16) {
    clear_causes(lane);
    lane.hr(hr::HEARTBEAT_TIMEOUT_MS, 0);
    lane.hr(hr::MOTOR_RUN_TIMEOUT_MS, 8000);
    lane.run(1100);
    let reset = lane.command(coil::FAULT_RESET);
    (reset, lane.lower())
}

fn replay(steps: &[(Ev, u64)]) -> Lane {
    let mut lane = Lane::new();
    let mut seen = Seen {
        seq: lane.board.controller().transitions(),
        ..Seen::default()
    };
    run(&mut lane, steps, &mut seen);
    lane
}

/// Issue 15, the minimal case CI found: a raise under way when a motor-run
/// timeout (1111 ms) shorter than the arm's travel (2000 ms) is written,
/// then a LOWER; the closing move keeps its 1111 ms deadline through the
/// recovery's new timeout. Without a STOP, FAULT_RESET is accepted (no fault
/// yet: nothing to do), the old deadline expires a tick later and LOWER is
/// refused in Fault. With the STOP the arm comes down.
#[test]
fn regression_short_timeout_move_under_way_needs_stop() {
    use Ev::{Command, Config, Nothing, Photocell};
    let steps = [
        (Config(hr::DEBOUNCE_MS, 0), 1),
        (Config(hr::HEARTBEAT_TIMEOUT_MS, 100), 1),
        (Command(coil::RAISE), 1),
        (Nothing, 1),
        (Config(hr::MOTOR_RUN_TIMEOUT_MS, 1111), 893),
        (Photocell(false), 223),
        (Command(coil::LOWER), 4),
    ];
    let mut lane = replay(&steps);
    assert_eq!(lane.state(), BarrierState::Closing);
    let (reset, lower) = recover_without_stop(&mut lane);
    assert_eq!(reset, CommandResult::Accepted as u16);
    assert_eq!(lower, CommandResult::RefusedFault as u16);
    assert_eq!(lane.state(), BarrierState::Fault);
    assert_eq!(
        lane.ir(ir::FAULT_CODE),
        FaultCode::CloseTimeout as u16,
        "the old deadline, not the new timeout"
    );
    // The board is not stuck there: the documented recovery works from here
    // too, and from the same history with the STOP.
    assert!(recover(&mut lane), "{:?}", lane.state());
    let mut lane = replay(&steps);
    assert!(recover(&mut lane), "{:?}", lane.state());
    assert_eq!(lane.arm.pos, 0);
}

/// Issue 15, the second shape: the heartbeat-loss close starts against a
/// stuck arm; once the arm is freed the move still carries the deadline it
/// started with. LOWER on a closing arm is accepted but does not restart the
/// motor-run timeout (repeated LOWERs must not keep a motor running against
/// a blocked arm), so without a STOP the arm times out just before its down
/// limit is debounced.
#[test]
fn regression_stuck_arm_closing_needs_stop() {
    use Ev::{Command, Config, Exit, Nothing, Photocell, Stuck};
    let steps = [
        (Config(hr::HEARTBEAT_TIMEOUT_MS, 1391), 1),
        (Nothing, 1),
        (Command(coil::RAISE), 1),
        (Nothing, 2000),
        (Stuck(true), 1),
        (Nothing, 49),
        (Config(hr::HEARTBEAT_TIMEOUT_MS, 1), 950),
        (Command(coil::FAULT_RESET), 2258),
        (Exit(false), 1399),
        (Command(coil::FAULT_RESET), 1302),
        (Photocell(false), 1001),
    ];
    let mut lane = replay(&steps);
    assert_eq!(lane.state(), BarrierState::Closing);
    let (reset, lower) = recover_without_stop(&mut lane);
    assert_eq!(reset, CommandResult::Accepted as u16);
    assert_eq!(lower, CommandResult::Accepted as u16);
    assert!(!lane.run_until(TRAVEL + 1100, |l| l.state() == BarrierState::Closed));
    assert_eq!(lane.ir(ir::FAULT_CODE), FaultCode::CloseTimeout as u16);
    assert!(recover(&mut lane), "{:?}", lane.state());
    let mut lane = replay(&steps);
    assert!(recover(&mut lane), "{:?}", lane.state());
}
