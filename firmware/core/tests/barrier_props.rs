//! Property tests of the barrier board: long random sequences of field
//! changes, commands, faults and time steps against a physical arm model
//! (tests/common). Checked at every step, on the pins the board drives.

mod common;

use common::{Arm, Lane, TRAVEL};
use lane_io::barrier::Passage;
use lane_io::modbus::DataModel;
use lane_io::regmap::{coil, hr, ir, BarrierState, CommandResult, FaultCode};
use proptest::prelude::*;

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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

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
    /// a fault reset and a lower bring the arm down.
    #[test]
    fn board_always_recovers_to_closed(steps in steps()) {
        let mut lane = Lane::new();
        let mut seen = Seen { seq: lane.board.controller().transitions(), ..Seen::default() };
        run(&mut lane, &steps, &mut seen);
        lane.field = common::Field::default();
        lane.arm.stuck = false;
        lane.arm.limits_shorted = false;
        lane.arm.motor_fault = false;
        // Settle the debouncers (max debounce 1000 ms).
        lane.hr(hr::HEARTBEAT_TIMEOUT_MS, 0);
        // A motor-run timeout shorter than the travel time faults every move.
        lane.hr(hr::MOTOR_RUN_TIMEOUT_MS, 8000);
        lane.run(1100);
        assert_eq!(lane.command(coil::FAULT_RESET), CommandResult::Accepted as u16);
        assert_ne!(lane.state(), BarrierState::Fault);
        let lowered = lane.lower();
        assert_eq!(lowered, CommandResult::Accepted as u16, "state {:?}", lane.state());
        let timeout = u64::from(lane.board.controller().config().motor_run_timeout_ms);
        prop_assert!(
            lane.run_until(TRAVEL + 1100, |l| l.state() == BarrierState::Closed),
            "not closed: {:?} pos {} timeout {}", lane.state(), lane.arm.pos, timeout
        );
    }
}
