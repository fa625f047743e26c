//! Lane physics: trucks moving along one axis through a barrier lane, the
//! barrier arm, the loops, the photocell and the load on the weighbridge
//! platform.
//!
//! Layer: pure simulation model. No I/O, no clock, no tokio, no protocols, no
//! identities (plates, tags): time enters only through [`Physics::step`], and
//! randomness only through the seed in [`PhysicsConfig`], so a run is
//! reproducible. The lane task ([`crate::lane`]) feeds it the board's motor
//! outputs and reads the sensors back.
//!
//! Coordinates: metres along the direction of travel; trucks come from
//! negative x, the barrier arm is at x = 0 by default, the exit is at positive
//! x. A truck is described by the x of its front bumper; its body extends
//! backwards from there.
//!
//! Driver model (documented in docs/devices/lane-physics.md):
//! - a truck approaches at its cruise speed, brakes comfortably and stops at
//!   the stop line (`stops_short`: a few metres before it), or behind the
//!   truck in front with a queue gap;
//! - at the line it waits until the arm is fully up (up limit) *for it*: the
//!   arm must have been seen not fully up while it waited, or the traffic
//!   light must have turned green while it waited (an arm left up by the
//!   previous truck is not an invitation); after a reaction time it drives
//!   through at passing speed;
//! - `reverses_out`: backs away after waiting a configurable time; any waiting
//!   truck backs out when told ([`Physics::reverse`], [`Physics::reverse_held`]);
//!   a reversing truck is assumed to pull aside into the bypass once its front
//!   is behind `reverse_exit_x`; the trucks queued behind it do not move up
//!   until then (they stop where they are: the reverser passing them is not
//!   modelled), so no follower is on the weighbridge with a truck backing off
//!   it (the chaos run of 1,000 faults met that: the follower's weight never
//!   settled);
//! - `tailgate`: follows the truck in front through the open arm at a short
//!   gap instead of stopping at the line;
//! - any driver brakes (up to the emergency deceleration) for an arm that is
//!   below the clearance angle in front of it.
//!
//! Violations (test assertions, never expected in a correct lane): the arm
//! came down on a truck ([`ViolationKind::ArmStruckTruck`]), a truck drove into
//! a lowered arm ([`ViolationKind::TruckHitArm`]), both motor outputs on at once
//! ([`ViolationKind::MotorBothDirections`]).

mod body;
mod config;
mod events;

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use body::{Axle, Behaviour, TrailerBody, TruckBody, TruckId};
pub use config::{ArmConfig, DriverConfig, LaneGeometry, PhysicsConfig, Span};
pub use events::{Actuators, Event, EventKind, Violation, ViolationKind};
use lane_io::board::RawInputs;

/// What a truck is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Driving towards the stop line (or queued behind another truck).
    Approaching,
    /// Stopped at (or short of) the stop line, waiting for the arm.
    Waiting,
    /// Driving through the gate.
    Proceeding,
    /// Backing away from the gate.
    Reversing,
    /// Left the simulation.
    Gone,
}

/// A truck in the lane.
#[derive(Clone, Debug)]
pub struct Truck {
    pub id: TruckId,
    pub body: TruckBody,
    pub behaviour: Behaviour,
    /// x of the front bumper.
    pub front_x: f64,
    /// m/s, negative when reversing.
    pub speed: f64,
    pub phase: Phase,
    cruise_mps: f64,
    stop_target: f64,
    short: bool,
    waiting_since_ms: u64,
    go_at_ms: Option<u64>,
    saw_arm_not_up: bool,
    saw_green_edge: bool,
    reaction_ms: u64,
    arrived: bool,
    on_exit_loop: bool,
    passed_arm: bool,
    left_exit: bool,
    struck: bool,
    hit: bool,
}

impl Truck {
    pub fn rear_x(&self) -> f64 {
        self.front_x - self.body.length()
    }
    /// Whether any solid part covers `[a, b]`.
    pub fn overlaps(&self, a: f64, b: f64) -> bool {
        let (segs, n) = self.body.segments(self.front_x);
        segs[..n].iter().any(|&(r, f)| a < f && b > r)
    }
    pub fn covers(&self, x: f64) -> bool {
        let (segs, n) = self.body.segments(self.front_x);
        segs[..n].iter().any(|&(r, f)| x >= r && x <= f)
    }
    /// Whether the truck stopped short of the stop line.
    pub fn stopped_short(&self) -> bool {
        self.short
    }
    fn active(&self) -> bool {
        self.phase != Phase::Gone
    }
}

/// Physics sub-step, milliseconds.
const SUBSTEP_MS: u64 = 10;
/// Bound on queued events between drains (bounded buffer; oldest dropped).
const MAX_EVENTS: usize = 4096;
/// Bound on recorded violations.
const MAX_VIOLATIONS: usize = 1024;

struct Pending {
    id: TruckId,
    body: TruckBody,
    behaviour: Behaviour,
    cruise_mps: Option<f64>,
}

/// The lane's physical state.
pub struct Physics {
    cfg: PhysicsConfig,
    rng: StdRng,
    now_ms: u64,
    angle_deg: f64,
    act: Actuators,
    prev_green: bool,
    motor_conflict: bool,
    prev_down_limit: bool,
    arm_closures: u64,
    closures_at_last_pass: Option<u64>,
    trucks: Vec<Truck>,
    pending: VecDeque<Pending>,
    events: VecDeque<Event>,
    dropped_events: u64,
    violations: Vec<Violation>,
}

impl Physics {
    /// A lane at lane time `start_ms` with the arm at its start angle.
    pub fn new(cfg: PhysicsConfig, start_ms: u64) -> Self {
        let angle = cfg.arm.start_angle_deg.clamp(0.0, 90.0);
        let mut p = Self {
            rng: StdRng::seed_from_u64(cfg.seed),
            cfg,
            now_ms: start_ms,
            angle_deg: angle,
            act: Actuators::default(),
            prev_green: false,
            motor_conflict: false,
            prev_down_limit: false,
            arm_closures: 0,
            closures_at_last_pass: None,
            trucks: Vec::new(),
            pending: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            violations: Vec::new(),
        };
        if p.sensors().down_limit {
            p.prev_down_limit = true;
            p.arm_closures = 1;
        }
        p
    }

    pub fn config(&self) -> &PhysicsConfig {
        &self.cfg
    }

    /// Lane time of the last step.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Queues a truck; it enters at `spawn_x` as soon as there is room.
    /// `cruise_mps` overrides the configured approach speed.
    pub fn add_truck(
        &mut self,
        id: TruckId,
        body: TruckBody,
        behaviour: Behaviour,
        cruise_mps: Option<f64>,
    ) {
        self.pending.push_back(Pending {
            id,
            body,
            behaviour,
            cruise_mps,
        });
    }

    /// Trucks not yet entered.
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The board outputs to apply from now on.
    pub fn set_actuators(&mut self, act: Actuators) {
        self.act = act;
    }

    pub fn actuators(&self) -> Actuators {
        self.act
    }

    pub fn arm_angle_deg(&self) -> f64 {
        self.angle_deg
    }

    /// Trucks in the lane (entered and not yet gone), in order of entry.
    pub fn trucks(&self) -> impl Iterator<Item = &Truck> {
        self.trucks.iter().filter(|t| t.active())
    }

    pub fn truck(&self, id: TruckId) -> Option<&Truck> {
        self.trucks.iter().find(|t| t.id == id && t.active())
    }

    /// Current field inputs: loops, photocell and limits (the manual key
    /// and the motor fault are the board's own switches: off here).
    pub fn sensors(&self) -> RawInputs {
        let g = &self.cfg.geometry;
        let band = self.cfg.arm.limit_band_deg;
        let mut s = RawInputs {
            up_limit: self.angle_deg >= 90.0 - band,
            down_limit: self.angle_deg <= band,
            ..RawInputs::default()
        };
        for t in self.trucks() {
            s.arrival_loop |= t.overlaps(g.arrival_loop.start, g.arrival_loop.end);
            s.safety_loop |= t.overlaps(g.safety_loop.start, g.safety_loop.end);
            s.exit_loop |= t.overlaps(g.exit_loop.start, g.exit_loop.end);
            s.photocell |= t.covers(g.photocell_x);
        }
        s
    }

    /// Sum of the static loads of the axles standing on the platform.
    pub fn platform_load_kg(&self) -> f64 {
        let p = self.cfg.geometry.platform;
        self.trucks()
            .flat_map(|t| {
                t.body
                    .axles
                    .iter()
                    .map(move |a| (t.front_x - a.offset_m, a.load_kg))
            })
            .filter(|&(x, _)| p.contains(x))
            .map(|(_, kg)| kg)
            .sum()
    }

    /// Takes the events since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Events dropped because nobody drained them (bounded buffer).
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Every violation so far (bounded).
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Tells a truck that has not reached the arm to back out. Returns false
    /// if it is not in the lane or already under or past the arm.
    pub fn reverse(&mut self, id: TruckId) -> bool {
        let arm_x = self.cfg.geometry.arm_x - self.cfg.geometry.arm_half_width_m;
        let now = self.now_ms;
        let Some(t) = self.trucks.iter_mut().find(|t| t.id == id && t.active()) else {
            return false;
        };
        if t.phase == Phase::Reversing {
            return true;
        }
        if !matches!(t.phase, Phase::Approaching | Phase::Waiting) || t.front_x >= arm_x {
            return false;
        }
        t.phase = Phase::Reversing;
        push_event(
            &mut self.events,
            &mut self.dropped_events,
            now,
            id,
            EventKind::ReversingStarted,
        );
        true
    }

    /// The truck waiting at the gate (the first waiting one).
    pub fn waiting_truck(&self) -> Option<TruckId> {
        self.trucks
            .iter()
            .find(|t| t.phase == Phase::Waiting)
            .map(|t| t.id)
    }

    /// Tells the truck waiting at the gate (the first waiting one) to back out.
    pub fn reverse_held(&mut self) -> Option<TruckId> {
        let id = self.trucks.iter().find(|t| t.phase == Phase::Waiting)?.id;
        self.reverse(id).then_some(id)
    }

    /// Waves a truck that stopped short forward to the stop line.
    pub fn pull_forward(&mut self, id: TruckId) -> bool {
        let line = self.cfg.geometry.stop_line_x;
        let Some(t) = self.trucks.iter_mut().find(|t| t.id == id && t.active()) else {
            return false;
        };
        if !matches!(t.phase, Phase::Waiting | Phase::Approaching) || !t.short {
            return false;
        }
        t.short = false;
        t.stop_target = line;
        t.phase = Phase::Approaching;
        true
    }

    /// Advances the lane by `dt_ms` (in sub-steps of at most 10 ms).
    pub fn step(&mut self, dt_ms: u64) {
        let mut left = dt_ms;
        while left > 0 {
            let d = left.min(SUBSTEP_MS);
            self.substep(d);
            left -= d;
        }
    }

    fn substep(&mut self, dt_ms: u64) {
        self.now_ms += dt_ms;
        let dt = dt_ms as f64 / 1000.0;
        let now = self.now_ms;

        // 1. Arm.
        let prev_angle = self.angle_deg;
        if self.act.motor_up && self.act.motor_down {
            if !self.motor_conflict {
                self.violation(ViolationKind::MotorBothDirections, None);
            }
            self.motor_conflict = true;
        } else {
            self.motor_conflict = false;
            if self.act.motor_up {
                let rate = 90.0 / (self.cfg.arm.up_time_ms.max(1) as f64 / 1000.0);
                self.angle_deg = (self.angle_deg + rate * dt).min(90.0);
            } else if self.act.motor_down {
                let rate = 90.0 / (self.cfg.arm.down_time_ms.max(1) as f64 / 1000.0);
                self.angle_deg = (self.angle_deg - rate * dt).max(0.0);
            }
        }
        let sensors_arm = self.sensors();
        let up = sensors_arm.up_limit;
        if sensors_arm.down_limit && !self.prev_down_limit {
            self.arm_closures += 1;
        }
        self.prev_down_limit = sensors_arm.down_limit;
        let green_edge = self.act.light_green && !self.prev_green;
        self.prev_green = self.act.light_green;

        // 2. Spawn.
        self.spawn_pending();

        // 3. Drivers.
        let g = self.cfg.geometry.clone();
        let d = self.cfg.driver.clone();
        let clear = self.angle_deg >= self.cfg.arm.clear_angle_deg;
        let arm_front = g.arm_x - g.arm_half_width_m;
        for i in 0..self.trucks.len() {
            if !self.trucks[i].active() {
                continue;
            }
            // Leader: nearest earlier truck still driving forward.
            // A truck backing out is a leader too: the trucks behind it do
            // not move up (onto the weighbridge) until it has pulled aside.
            let leader = self.trucks[..i]
                .iter()
                .rev()
                .find(|t| {
                    matches!(
                        t.phase,
                        Phase::Approaching | Phase::Waiting | Phase::Proceeding | Phase::Reversing
                    )
                })
                .map(|t| (t.rear_x(), t.phase));
            let reaction = d.reaction_ms + self.rng.gen_range(0..=d.reaction_jitter_ms);
            let t = &mut self.trucks[i];
            match t.phase {
                Phase::Gone => {}
                Phase::Waiting => {
                    t.speed = 0.0;
                    if !up {
                        t.saw_arm_not_up = true;
                        t.go_at_ms = None;
                    }
                    if green_edge {
                        t.saw_green_edge = true;
                    }
                    if up && (t.saw_arm_not_up || t.saw_green_edge) {
                        let go = *t.go_at_ms.get_or_insert(now + t.reaction_ms);
                        if now >= go && t.behaviour == Behaviour::ReversesWhenReleased {
                            t.phase = Phase::Reversing;
                            t.go_at_ms = None;
                            push_event(
                                &mut self.events,
                                &mut self.dropped_events,
                                now,
                                t.id,
                                EventKind::ReversingStarted,
                            );
                        } else if now >= go {
                            t.phase = Phase::Proceeding;
                            t.go_at_ms = None;
                            push_event(
                                &mut self.events,
                                &mut self.dropped_events,
                                now,
                                t.id,
                                EventKind::StartedThrough,
                            );
                        }
                    }
                    if t.phase == Phase::Waiting
                        && t.behaviour == Behaviour::ReversesOut
                        && now.saturating_sub(t.waiting_since_ms) >= d.reverse_after_ms
                    {
                        t.phase = Phase::Reversing;
                        push_event(
                            &mut self.events,
                            &mut self.dropped_events,
                            now,
                            t.id,
                            EventKind::ReversingStarted,
                        );
                    }
                }
                Phase::Reversing => {
                    t.speed = (t.speed - d.accel_mps2 * dt).max(-d.reverse_speed_mps);
                    t.front_x += t.speed * dt;
                    if t.front_x < g.reverse_exit_x {
                        t.phase = Phase::Gone;
                        push_event(
                            &mut self.events,
                            &mut self.dropped_events,
                            now,
                            t.id,
                            EventKind::ReversedOut,
                        );
                    }
                }
                Phase::Approaching | Phase::Proceeding => {
                    // Tailgaters join a leader that drives through the open arm.
                    if t.phase == Phase::Approaching && t.behaviour == Behaviour::Tailgate && clear
                    {
                        if let Some((lrear, Phase::Proceeding)) = leader {
                            if lrear - t.front_x <= d.tailgate_reach_m && t.front_x < arm_front {
                                t.phase = Phase::Proceeding;
                                push_event(
                                    &mut self.events,
                                    &mut self.dropped_events,
                                    now,
                                    t.id,
                                    EventKind::StartedThrough,
                                );
                            }
                        }
                    }
                    let proceeding = t.phase == Phase::Proceeding;
                    let gap = if proceeding && t.behaviour == Behaviour::Tailgate {
                        d.tailgate_gap_m
                    } else {
                        d.queue_gap_m
                    };
                    // Hard limits (never crossed): own stop target, the truck in front.
                    let mut hard = f64::INFINITY;
                    let mut own_binding = false;
                    if !proceeding {
                        hard = t.stop_target.max(t.front_x.min(t.stop_target));
                        own_binding = true;
                    }
                    if let Some((lrear, _)) = leader {
                        let lim = lrear - gap;
                        if lim < hard {
                            hard = lim;
                            own_binding = false;
                        }
                    }
                    // Soft limit: an arm below the clearance angle ahead.
                    let arm_stop = if !clear && t.front_x <= arm_front {
                        arm_front - 0.3
                    } else {
                        f64::INFINITY
                    };
                    let cruise = if proceeding {
                        d.pass_speed_mps.min(t.cruise_mps)
                    } else {
                        t.cruise_mps
                    };
                    let target = hard.min(arm_stop);
                    let dist = (target - t.front_x).max(0.0);
                    let v_des = cruise.min((2.0 * d.brake_mps2 * dist).sqrt());
                    if t.speed < v_des {
                        t.speed = (t.speed + d.accel_mps2 * dt).min(v_des);
                    } else {
                        t.speed = (t.speed - d.emergency_brake_mps2 * dt).max(v_des).max(0.0);
                    }
                    let prev_front = t.front_x;
                    t.front_x += t.speed * dt;
                    if t.front_x >= hard {
                        t.front_x = hard.max(prev_front);
                        t.speed = 0.0;
                    }
                    let stopped = t.speed < 1e-3;
                    let at_hard = (hard - t.front_x).abs() < 0.02;
                    let at_arm = arm_stop.is_finite() && stopped && (arm_stop - t.front_x) < 0.5;
                    if stopped && ((own_binding && at_hard) || at_arm) {
                        // Waits for the arm: at the line, short of it, or before a lowered arm.
                        t.phase = Phase::Waiting;
                        t.speed = 0.0;
                        t.waiting_since_ms = now;
                        t.saw_arm_not_up = !up;
                        t.saw_green_edge = false;
                        t.go_at_ms = None;
                        t.reaction_ms = reaction;
                        let kind = EventKind::StoppedAtLine {
                            front_x: t.front_x,
                            short: t.short,
                        };
                        push_event(&mut self.events, &mut self.dropped_events, now, t.id, kind);
                    }
                    // Hit: the front entered the arm's sweep while the arm is low.
                    if !clear && !t.hit && prev_front < arm_front && t.front_x >= arm_front {
                        t.hit = true;
                        push_event(
                            &mut self.events,
                            &mut self.dropped_events,
                            now,
                            t.id,
                            EventKind::HitArm,
                        );
                        let (id, angle) = (t.id, self.angle_deg);
                        push_violation(
                            &mut self.violations,
                            now,
                            ViolationKind::TruckHitArm,
                            Some(id),
                            angle,
                        );
                    }
                }
            }
        }

        // 4. Arm coming down on a truck.
        if self.angle_deg < self.cfg.arm.clear_angle_deg && self.angle_deg < prev_angle {
            let (a, b) = (g.arm_x - g.arm_half_width_m, g.arm_x + g.arm_half_width_m);
            for t in self.trucks.iter_mut().filter(|t| t.active()) {
                if !t.struck && t.overlaps(a, b) {
                    t.struck = true;
                    push_event(
                        &mut self.events,
                        &mut self.dropped_events,
                        now,
                        t.id,
                        EventKind::StruckByArm,
                    );
                    push_violation(
                        &mut self.violations,
                        now,
                        ViolationKind::ArmStruckTruck,
                        Some(t.id),
                        self.angle_deg,
                    );
                }
            }
        }

        // 5. Sensor-related events and leaving.
        let closures = self.arm_closures;
        for t in self.trucks.iter_mut().filter(|t| t.active()) {
            if !t.arrived && t.overlaps(g.arrival_loop.start, g.arrival_loop.end) {
                t.arrived = true;
                push_event(
                    &mut self.events,
                    &mut self.dropped_events,
                    now,
                    t.id,
                    EventKind::ArrivedAtArrivalLoop,
                );
            }
            if t.overlaps(g.exit_loop.start, g.exit_loop.end) {
                t.on_exit_loop = true;
            }
            if !t.passed_arm && t.rear_x() > g.arm_x + g.arm_half_width_m {
                t.passed_arm = true;
                push_event(
                    &mut self.events,
                    &mut self.dropped_events,
                    now,
                    t.id,
                    EventKind::PassedUnderArm,
                );
                if self.closures_at_last_pass == Some(closures) {
                    push_event(
                        &mut self.events,
                        &mut self.dropped_events,
                        now,
                        t.id,
                        EventKind::Tailgated,
                    );
                }
                self.closures_at_last_pass = Some(closures);
            }
            if t.on_exit_loop && !t.left_exit && t.rear_x() > g.exit_loop.end {
                t.left_exit = true;
                push_event(
                    &mut self.events,
                    &mut self.dropped_events,
                    now,
                    t.id,
                    EventKind::LeftExitLoop,
                );
            }
            if t.rear_x() > g.leave_x {
                t.phase = Phase::Gone;
            }
        }
        self.trucks.retain(|t| t.active());
    }

    fn spawn_pending(&mut self) {
        let g = &self.cfg.geometry;
        let d = &self.cfg.driver;
        let Some(p) = self.pending.front() else {
            return;
        };
        // Rear of the last truck still driving forward (reversing trucks are pulling aside).
        let last_rear = self
            .trucks
            .iter()
            .rev()
            .find(|t| {
                matches!(
                    t.phase,
                    Phase::Approaching | Phase::Waiting | Phase::Proceeding
                )
            })
            .map(|t| t.rear_x());
        if let Some(r) = last_rear {
            if r - d.queue_gap_m < g.spawn_x {
                return;
            }
        }
        let cruise = p
            .cruise_mps
            .filter(|v| v.is_finite() && *v > 0.1)
            .unwrap_or(d.approach_speed_mps);
        let room = last_rear.map_or(f64::INFINITY, |r| r - d.queue_gap_m - g.spawn_x);
        let v0 = cruise.min((2.0 * d.brake_mps2 * room.max(0.0)).sqrt());
        let Some(p) = self.pending.pop_front() else {
            return;
        };
        let short = p.behaviour == Behaviour::StopsShort;
        let jitter = if d.stop_jitter_m > 0.0 {
            self.rng.gen_range(0.0..=d.stop_jitter_m)
        } else {
            0.0
        };
        let stop_target = g.stop_line_x - if short { d.stop_short_m } else { 0.0 } - jitter;
        let reaction = d.reaction_ms + self.rng.gen_range(0..=d.reaction_jitter_ms);
        let t = Truck {
            id: p.id,
            body: p.body,
            behaviour: p.behaviour,
            front_x: g.spawn_x,
            speed: v0,
            phase: Phase::Approaching,
            cruise_mps: cruise,
            stop_target,
            short,
            waiting_since_ms: 0,
            go_at_ms: None,
            saw_arm_not_up: false,
            saw_green_edge: false,
            reaction_ms: reaction,
            arrived: false,
            on_exit_loop: false,
            passed_arm: false,
            left_exit: false,
            struck: false,
            hit: false,
        };
        push_event(
            &mut self.events,
            &mut self.dropped_events,
            self.now_ms,
            t.id,
            EventKind::Entered,
        );
        self.trucks.push(t);
    }

    fn violation(&mut self, kind: ViolationKind, truck: Option<TruckId>) {
        push_violation(
            &mut self.violations,
            self.now_ms,
            kind,
            truck,
            self.angle_deg,
        );
    }
}

fn push_event(
    events: &mut VecDeque<Event>,
    dropped: &mut u64,
    t_ms: u64,
    truck: TruckId,
    kind: EventKind,
) {
    if events.len() >= MAX_EVENTS {
        events.pop_front();
        *dropped += 1;
    }
    events.push_back(Event { t_ms, truck, kind });
}

fn push_violation(
    v: &mut Vec<Violation>,
    t_ms: u64,
    kind: ViolationKind,
    truck: Option<TruckId>,
    angle: f64,
) {
    if v.len() < MAX_VIOLATIONS {
        v.push(Violation {
            t_ms,
            kind,
            truck,
            arm_angle_deg: angle,
        });
    }
}

#[cfg(test)]
mod tests;
