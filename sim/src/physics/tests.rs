//! Unit tests of `physics` (kept beside it so the module stays readable).

use super::*;

fn semi(gross: f64) -> TruckBody {
    TruckBody::semi(
        TruckBody::TRACTOR_LENGTH_M,
        TruckBody::SEMI_GAP_M,
        12.4,
        gross,
    )
}

/// A minimal, correct gate controller: raise when a truck waits, keep up
/// while anything is under the arm, lower once the lane under the arm is clear.
struct Gate {
    raised_for_waiting: bool,
    passed_since_raise: bool,
}

impl Gate {
    fn drive(&mut self, p: &mut Physics) {
        let s = p.sensors();
        let waiting = p
            .trucks()
            .any(|t| t.phase == Phase::Waiting && !t.stopped_short());
        let occupied = s.safety_loop || s.photocell;
        if waiting && s.down_limit && !occupied {
            self.raised_for_waiting = true;
            self.passed_since_raise = false;
        }
        if self.raised_for_waiting && s.exit_loop {
            self.passed_since_raise = true;
        }
        let want_up = (self.raised_for_waiting && !self.passed_since_raise) || occupied;
        if self.passed_since_raise && !occupied && !s.exit_loop {
            self.raised_for_waiting = false;
        }
        let act = Actuators {
            motor_up: want_up && !s.up_limit,
            motor_down: !want_up && !s.down_limit,
            light_green: want_up,
        };
        p.set_actuators(act);
    }
}

fn run(p: &mut Physics, gate: &mut Option<Gate>, ms: u64, mut f: impl FnMut(&Physics)) {
    for _ in 0..ms / 10 {
        if let Some(g) = gate.as_mut() {
            g.drive(p);
        }
        p.step(10);
        f(p);
    }
}

#[test]
fn span_geometry() {
    let s = Span::new(-4.0, -1.5);
    assert!(s.overlaps(-2.0, 3.0));
    assert!(!s.overlaps(-1.5, 3.0));
    assert!(s.contains(-4.0) && s.contains(-1.5) && !s.contains(-1.4));
    assert!((s.len() - 2.5).abs() < 1e-9);
}

#[test]
fn semi_body_masses_and_length() {
    let b = semi(40_000.0);
    assert!((b.gross_kg() - 40_000.0).abs() < 1e-6);
    assert!((b.length() - 16.9).abs() < 1e-9);
    for a in &b.axles {
        assert!(a.offset_m > 0.0 && a.offset_m < b.length(), "{a:?}");
    }
    let r = TruckBody::rigid(9.0, 20_000.0);
    assert!((r.gross_kg() - 20_000.0).abs() < 1e-6);
    assert_eq!(r.length(), 9.0);
}

#[test]
fn a_passing_truck_sets_loops_in_order_and_leaves() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    p.add_truck(TruckId(1), semi(30_000.0), Behaviour::Normal, None);
    let mut gate = Some(Gate {
        raised_for_waiting: false,
        passed_since_raise: false,
    });
    let mut seq: Vec<&'static str> = Vec::new();
    let mut prev = lane_io::board::RawInputs::default();
    let mut max_load: f64 = 0.0;
    run(&mut p, &mut gate, 120_000, |p| {
        let s = p.sensors();
        for (now, was, name) in [
            (s.arrival_loop, prev.arrival_loop, "arrival"),
            (s.safety_loop, prev.safety_loop, "safety"),
            (s.photocell, prev.photocell, "photocell"),
            (s.exit_loop, prev.exit_loop, "exit"),
        ] {
            if now && !was {
                seq.push(name);
            }
            if !now && was {
                seq.push(match name {
                    "arrival" => "arrival-off",
                    "safety" => "safety-off",
                    "photocell" => "photocell-off",
                    _ => "exit-off",
                });
            }
        }
        prev = s;
        max_load = max_load.max(p.platform_load_kg());
    });
    assert_eq!(
        seq,
        // A 16.9 m truck reaches the exit loop while its rear is still over the arrival loop.
        [
            "arrival",
            "safety",
            "photocell",
            "exit",
            "arrival-off",
            "photocell-off",
            "safety-off",
            "exit-off"
        ]
    );
    assert!(
        (max_load - 30_000.0).abs() < 1e-6,
        "whole truck on the platform at the line: {max_load}"
    );
    assert_eq!(p.trucks().count(), 0, "the truck left");
    assert!(p.violations().is_empty(), "{:?}", p.violations());
    let kinds: Vec<_> = p.drain_events().into_iter().map(|e| e.kind).collect();
    assert!(matches!(kinds[0], EventKind::Entered));
    assert!(matches!(kinds[1], EventKind::ArrivedAtArrivalLoop));
    assert!(matches!(
        kinds[2],
        EventKind::StoppedAtLine { short: false, .. }
    ));
    assert!(matches!(kinds[3], EventKind::StartedThrough));
    assert!(matches!(kinds[4], EventKind::PassedUnderArm));
    assert!(matches!(kinds[5], EventKind::LeftExitLoop));
    assert_eq!(kinds.len(), 6, "{kinds:?}");
}

#[test]
fn waits_for_the_arm_and_stops_on_the_line() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    p.add_truck(TruckId(1), semi(30_000.0), Behaviour::Normal, None);
    run(&mut p, &mut None, 60_000, |_| {});
    let t = p.truck(TruckId(1)).unwrap();
    assert_eq!(t.phase, Phase::Waiting);
    let line = p.config().geometry.stop_line_x;
    assert!(
        t.front_x <= line && t.front_x >= line - 0.2,
        "{}",
        t.front_x
    );
    let s = p.sensors();
    assert!(s.arrival_loop && !s.safety_loop && !s.photocell && !s.exit_loop);
    assert!((p.platform_load_kg() - 30_000.0).abs() < 1e-6);
}

#[test]
fn an_arm_left_up_is_not_an_invitation() {
    let cfg = PhysicsConfig {
        arm: ArmConfig {
            start_angle_deg: 90.0,
            ..ArmConfig::default()
        },
        ..PhysicsConfig::default()
    };
    let mut p = Physics::new(cfg, 0);
    p.add_truck(TruckId(1), semi(30_000.0), Behaviour::Normal, None);
    run(&mut p, &mut None, 60_000, |_| {});
    assert_eq!(p.truck(TruckId(1)).unwrap().phase, Phase::Waiting);
    // The light turning green is.
    p.set_actuators(Actuators {
        light_green: true,
        ..Actuators::default()
    });
    run(&mut p, &mut None, 3_000, |_| {});
    assert_eq!(p.truck(TruckId(1)).unwrap().phase, Phase::Proceeding);
}

#[test]
fn stops_short_is_off_the_arrival_loop_and_can_be_waved_forward() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    p.add_truck(TruckId(7), semi(30_000.0), Behaviour::StopsShort, None);
    run(&mut p, &mut None, 60_000, |_| {});
    let t = p.truck(TruckId(7)).unwrap();
    assert_eq!(t.phase, Phase::Waiting);
    assert!(t.stopped_short());
    assert!(!p.sensors().arrival_loop);
    assert!(
        p.platform_load_kg() < 30_000.0,
        "rear axles off the platform"
    );
    assert!(p.pull_forward(TruckId(7)));
    run(&mut p, &mut None, 20_000, |_| {});
    assert!(p.sensors().arrival_loop);
    assert!((p.platform_load_kg() - 30_000.0).abs() < 1e-6);
}

#[test]
fn reverses_out_after_waiting() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    p.add_truck(TruckId(3), semi(30_000.0), Behaviour::ReversesOut, None);
    run(&mut p, &mut None, 120_000, |_| {});
    assert!(p.truck(TruckId(3)).is_none());
    let kinds: Vec<_> = p.drain_events().into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventKind::ReversingStarted), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&EventKind::ReversedOut));
    assert!(!kinds.contains(&EventKind::PassedUnderArm));
}

#[test]
fn the_truck_behind_waits_while_the_held_one_backs_out() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    p.add_truck(TruckId(1), semi(30_000.0), Behaviour::Normal, None);
    p.add_truck(
        TruckId(2),
        TruckBody::rigid(9.0, 15_000.0),
        Behaviour::Normal,
        None,
    );
    run(&mut p, &mut None, 60_000, |_| {});
    let queued_at = p.truck(TruckId(2)).unwrap().front_x;
    assert_eq!(p.reverse_held(), Some(TruckId(1)));
    // While the first backs off the weighbridge, the second stays put
    // (it would otherwise be weighed together with a moving truck).
    for _ in 0..1200 {
        run(&mut p, &mut None, 50, |_| {});
        let reversing = p
            .truck(TruckId(1))
            .is_some_and(|t| t.phase == Phase::Reversing);
        if !reversing {
            break;
        }
        let front = p.truck(TruckId(2)).unwrap().front_x;
        assert!(
            front <= queued_at + 1e-9,
            "moved up to {front} from {queued_at}"
        );
    }
    assert!(p.truck(TruckId(1)).is_none(), "the first pulled aside");
    run(&mut p, &mut None, 60_000, |_| {});
    assert_eq!(p.truck(TruckId(2)).unwrap().phase, Phase::Waiting);
}

#[test]
fn reverse_held_backs_out_the_waiting_truck_and_the_next_moves_up() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    p.add_truck(TruckId(1), semi(30_000.0), Behaviour::Normal, None);
    p.add_truck(
        TruckId(2),
        TruckBody::rigid(9.0, 15_000.0),
        Behaviour::Normal,
        None,
    );
    run(&mut p, &mut None, 60_000, |_| {});
    assert_eq!(
        p.truck(TruckId(2)).unwrap().phase,
        Phase::Approaching,
        "queued"
    );
    assert_eq!(p.reverse_held(), Some(TruckId(1)));
    run(&mut p, &mut None, 80_000, |_| {});
    assert!(p.truck(TruckId(1)).is_none());
    let t2 = p.truck(TruckId(2)).unwrap();
    assert_eq!(t2.phase, Phase::Waiting);
    assert!((p.platform_load_kg() - 15_000.0).abs() < 1e-6);
}

#[test]
fn lowering_the_arm_on_a_truck_is_a_violation() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    p.add_truck(TruckId(1), semi(30_000.0), Behaviour::Normal, None);
    let mut gate = Some(Gate {
        raised_for_waiting: false,
        passed_since_raise: false,
    });
    // Drive correctly until the truck is under the arm, then lower it.
    let mut under = false;
    for _ in 0..12_000 {
        if !under {
            if let Some(g) = gate.as_mut() {
                g.drive(&mut p);
            }
        }
        p.step(10);
        under = under || p.sensors().photocell;
        if under {
            p.set_actuators(Actuators {
                motor_down: true,
                ..Actuators::default()
            });
        }
    }
    let v = p.violations();
    assert!(!v.is_empty());
    assert_eq!(v[0].kind, ViolationKind::ArmStruckTruck);
    assert_eq!(v[0].truck, Some(TruckId(1)));
}

#[test]
fn both_motors_is_a_violation() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    p.set_actuators(Actuators {
        motor_up: true,
        motor_down: true,
        light_green: false,
    });
    p.step(100);
    assert_eq!(p.violations().len(), 1);
    assert_eq!(p.violations()[0].kind, ViolationKind::MotorBothDirections);
    assert_eq!(p.arm_angle_deg(), 0.0, "no movement");
}

#[test]
fn arm_travel_times_and_limits() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    assert!(p.sensors().down_limit && !p.sensors().up_limit);
    p.set_actuators(Actuators {
        motor_up: true,
        ..Actuators::default()
    });
    p.step(2900);
    assert!(!p.sensors().up_limit, "{}", p.arm_angle_deg());
    p.step(100);
    assert!(p.sensors().up_limit && !p.sensors().down_limit);
    p.set_actuators(Actuators {
        motor_down: true,
        ..Actuators::default()
    });
    p.step(3400);
    assert!(!p.sensors().down_limit, "{}", p.arm_angle_deg());
    p.step(100);
    assert!(p.sensors().down_limit);
}

#[test]
fn a_tailgater_follows_through_and_is_flagged() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    p.add_truck(TruckId(1), semi(30_000.0), Behaviour::Normal, None);
    p.add_truck(
        TruckId(2),
        TruckBody::rigid(9.0, 15_000.0),
        Behaviour::Tailgate,
        None,
    );
    let mut gate = Some(Gate {
        raised_for_waiting: false,
        passed_since_raise: false,
    });
    run(&mut p, &mut gate, 150_000, |_| {});
    let ev = p.drain_events();
    let tailgated: Vec<_> = ev
        .iter()
        .filter(|e| e.kind == EventKind::Tailgated)
        .map(|e| e.truck)
        .collect();
    assert_eq!(tailgated, [TruckId(2)]);
    assert!(p.violations().is_empty(), "{:?}", p.violations());
    assert_eq!(p.trucks().count(), 0);
}

#[test]
fn normal_followers_each_get_their_own_raise() {
    let mut p = Physics::new(PhysicsConfig::default(), 0);
    for i in 1..=3 {
        p.add_truck(TruckId(i), semi(30_000.0), Behaviour::Normal, None);
    }
    let mut gate = Some(Gate {
        raised_for_waiting: false,
        passed_since_raise: false,
    });
    run(&mut p, &mut gate, 400_000, |_| {});
    let ev = p.drain_events();
    assert_eq!(
        ev.iter()
            .filter(|e| e.kind == EventKind::PassedUnderArm)
            .count(),
        3
    );
    assert!(!ev.iter().any(|e| e.kind == EventKind::Tailgated), "{ev:?}");
    assert!(p.violations().is_empty());
}

#[test]
fn same_seed_same_run() {
    let trace = |seed: u64| {
        let cfg = PhysicsConfig {
            seed,
            ..PhysicsConfig::default()
        };
        let mut p = Physics::new(cfg, 0);
        p.add_truck(TruckId(1), semi(30_000.0), Behaviour::Normal, None);
        p.add_truck(TruckId(2), semi(25_000.0), Behaviour::Normal, None);
        let mut gate = Some(Gate {
            raised_for_waiting: false,
            passed_since_raise: false,
        });
        let mut xs = Vec::new();
        run(&mut p, &mut gate, 100_000, |p| {
            xs.push(p.trucks().map(|t| t.front_x.to_bits()).collect::<Vec<_>>())
        });
        xs
    };
    assert_eq!(trace(5), trace(5));
    assert_ne!(trace(5), trace(6));
}
