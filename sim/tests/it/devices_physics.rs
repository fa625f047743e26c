//! Issue 3: the lane physics driven by the real board firmware
//! (`lane_io::board::Board`, through its Modbus data model), with no I/O and
//! no clock: a deterministic lock-step loop of 10 ms.
//!
//! Guards: the board's safety rules and the physics agree (the arm never
//! comes down on a truck, even when the master asks it to), every truck that
//! passes is counted, and a tailgater increments TAILGATE_COUNT.

use lane_io::board::{Board, RawInputs};
use lane_io::modbus::DataModel;
use lane_io::regmap::{coil, hr, ir, BarrierState, CommandResult};
use sim::physics::{
    Actuators, Behaviour, EventKind, Phase, Physics, PhysicsConfig, TruckBody, TruckId,
    ViolationKind,
};

fn semi(gross: f64) -> TruckBody {
    TruckBody::semi(
        TruckBody::TRACTOR_LENGTH_M,
        TruckBody::SEMI_GAP_M,
        12.4,
        gross,
    )
}

/// What the test's master does to the board each step.
#[derive(Clone, Copy, PartialEq)]
enum Master {
    /// Raises for each truck waiting at the line, keeps the heartbeat.
    Polite,
    /// Like Polite, and also asks to LOWER every 200 ms while a truck is
    /// under the arm (safety loop or photocell occupied): exactly when it must not.
    LowerSpammer,
}

struct Rig {
    physics: Physics,
    board: Board,
    t: u64,
    master: Master,
    raised_for: Option<TruckId>,
    /// A LOWER was refused because the area under the arm was occupied.
    saw_refused_lower: bool,
}

impl Rig {
    fn new(master: Master, seed: u64) -> Self {
        let cfg = PhysicsConfig {
            seed,
            ..PhysicsConfig::default()
        };
        Self {
            physics: Physics::new(cfg, 0),
            board: Board::new(),
            t: 0,
            master,
            raised_for: None,
            saw_refused_lower: false,
        }
    }

    fn ir(&self, addr: u16) -> u16 {
        self.board
            .read_input_register(addr)
            .expect("input register")
    }

    fn step(&mut self) {
        self.t += 10;
        // Master side (Modbus data model, as the agent would write it).
        if self.t.checked_rem(500) == Some(0) {
            self.board
                .write_holding_register(hr::HEARTBEAT, (self.t / 500) as u16)
                .expect("heartbeat");
        }
        let waiting = self
            .physics
            .trucks()
            .find(|t| t.phase == Phase::Waiting && !t.stopped_short())
            .map(|t| t.id);
        if let Some(id) = waiting {
            if self.raised_for != Some(id) && self.board.state() == BarrierState::Closed {
                self.board.write_coil(coil::RAISE, true).expect("raise");
                self.board
                    .write_coil(coil::LIGHT_GREEN, true)
                    .expect("green");
                self.raised_for = Some(id);
            }
        }
        if self.board.state() == BarrierState::Closed
            && self.raised_for.is_some()
            && waiting.is_none()
        {
            self.board
                .write_coil(coil::LIGHT_GREEN, false)
                .expect("red");
        }
        let s = self.physics.sensors();
        if self.master == Master::LowerSpammer
            && self.t.checked_rem(200) == Some(0)
            && (s.safety_loop || s.photocell)
        {
            self.board.write_coil(coil::LOWER, true).expect("lower");
        }
        // Field side.
        let raw = RawInputs {
            arrival_loop: s.arrival_loop,
            safety_loop: s.safety_loop,
            exit_loop: s.exit_loop,
            photocell: s.photocell,
            up_limit: s.up_limit,
            down_limit: s.down_limit,
            manual_key: false,
            motor_fault: false,
        };
        let out = self.board.tick(self.t, raw);
        self.physics.set_actuators(Actuators {
            motor_up: out.motor_up,
            motor_down: out.motor_down,
            light_green: out.light_green,
        });
        self.physics.step(10);
        if self.ir(ir::LAST_COMMAND) == CommandResult::RefusedOccupied as u16 {
            self.saw_refused_lower = true;
        }
    }

    fn run_until_empty(&mut self, limit_ms: u64) -> Vec<sim::physics::Event> {
        let mut events = Vec::new();
        while self.t < limit_ms {
            self.step();
            events.extend(self.physics.drain_events());
            if self.physics.trucks().count() == 0 && self.physics.pending_count() == 0 {
                break;
            }
        }
        events
    }
}

#[test]
fn every_truck_passes_and_is_counted_and_the_arm_never_strikes() {
    let mut rig = Rig::new(Master::Polite, 11);
    for i in 1..=4 {
        let body = if i % 2 == 0 {
            TruckBody::rigid(9.0, 18_000.0)
        } else {
            semi(38_000.0)
        };
        rig.physics
            .add_truck(TruckId(i), body, Behaviour::Normal, None);
    }
    let events = rig.run_until_empty(900_000);
    assert_eq!(
        rig.physics.trucks().count(),
        0,
        "all trucks left within the time limit (t = {} ms)",
        rig.t
    );
    assert!(
        rig.physics.violations().is_empty(),
        "{:?}",
        rig.physics.violations()
    );
    let passed = events
        .iter()
        .filter(|e| e.kind == EventKind::PassedUnderArm)
        .count();
    assert_eq!(passed, 4);
    assert!(!events.iter().any(|e| e.kind == EventKind::Tailgated));
    assert_eq!(
        rig.ir(ir::VEHICLE_COUNT),
        4,
        "the board counted every vehicle"
    );
    assert_eq!(rig.ir(ir::RAISE_COUNT), 4);
    assert_eq!(rig.ir(ir::TAILGATE_COUNT), 0);
    // Let the arm close after the last truck.
    for _ in 0..1000 {
        rig.step();
    }
    assert_eq!(rig.board.state(), BarrierState::Closed);
    assert!(rig.physics.sensors().down_limit);
}

#[test]
fn a_master_spamming_lower_cannot_bring_the_arm_down_on_a_truck() {
    for seed in [1, 2, 3] {
        let mut rig = Rig::new(Master::LowerSpammer, seed);
        rig.physics
            .add_truck(TruckId(1), semi(40_000.0), Behaviour::Normal, None);
        rig.physics.add_truck(
            TruckId(2),
            TruckBody::rigid(9.0, 15_000.0),
            Behaviour::Tailgate,
            None,
        );
        rig.physics
            .add_truck(TruckId(3), semi(30_000.0), Behaviour::Normal, None);
        let events = rig.run_until_empty(900_000);
        assert_eq!(
            rig.physics.trucks().count(),
            0,
            "seed {seed}: every truck left"
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| e.kind == EventKind::PassedUnderArm)
                .count(),
            3
        );
        let struck: Vec<_> = rig
            .physics
            .violations()
            .iter()
            .filter(|v| v.kind == ViolationKind::ArmStruckTruck)
            .collect();
        assert!(struck.is_empty(), "seed {seed}: {struck:?}");
        assert!(
            rig.saw_refused_lower,
            "seed {seed}: the board refused a LOWER while a truck was under the arm"
        );
        assert!(
            rig.physics
                .violations()
                .iter()
                .all(|v| v.kind != ViolationKind::MotorBothDirections),
            "the board never drives both motor outputs"
        );
    }
}

#[test]
fn a_tailgater_increments_tailgate_count() {
    let mut rig = Rig::new(Master::Polite, 5);
    rig.physics
        .add_truck(TruckId(1), semi(35_000.0), Behaviour::Normal, None);
    rig.physics.add_truck(
        TruckId(2),
        TruckBody::rigid(9.0, 16_000.0),
        Behaviour::Tailgate,
        None,
    );
    let events = rig.run_until_empty(600_000);
    let tailgated: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Tailgated)
        .map(|e| e.truck)
        .collect();
    assert_eq!(
        tailgated,
        [TruckId(2)],
        "physics saw the second truck follow through"
    );
    assert!(
        rig.ir(ir::TAILGATE_COUNT) >= 1,
        "board TAILGATE_COUNT = {}",
        rig.ir(ir::TAILGATE_COUNT)
    );
    assert_eq!(rig.ir(ir::RAISE_COUNT), 1, "one raise for two vehicles");
    assert!(
        rig.physics.violations().is_empty(),
        "{:?}",
        rig.physics.violations()
    );
}

#[test]
fn loops_and_limits_reach_the_board_in_order() {
    // The board's debounced discrete inputs follow the physics: arrival ->
    // safety -> photocell -> exit for a passing truck, up limit before it moves.
    let mut rig = Rig::new(Master::Polite, 9);
    rig.physics.add_truck(
        TruckId(1),
        TruckBody::rigid(9.0, 15_000.0),
        Behaviour::Normal,
        None,
    );
    let mut first_seen: Vec<(u16, u64)> = Vec::new();
    while rig.t < 300_000 && (rig.physics.trucks().count() > 0 || rig.physics.pending_count() > 0) {
        rig.step();
        for di in 0..6u16 {
            if rig.board.read_discrete_input(di) == Ok(true)
                && !first_seen.iter().any(|(d, _)| *d == di)
            {
                first_seen.push((di, rig.t));
            }
        }
    }
    let order: Vec<u16> = first_seen.iter().map(|(d, _)| *d).collect();
    use lane_io::regmap::di;
    // DOWN_LIMIT is active from the start; then arrival, up limit (raise), safety, photocell, exit.
    assert_eq!(
        order,
        [
            di::DOWN_LIMIT,
            di::ARRIVAL_LOOP,
            di::UP_LIMIT,
            di::SAFETY_LOOP,
            di::PHOTOCELL,
            di::EXIT_LOOP
        ]
    );
}
