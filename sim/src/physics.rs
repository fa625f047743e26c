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

use std::collections::VecDeque;
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// An interval along the lane axis, metres, `start < end`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
pub struct Span {
    pub start: f64,
    pub end: f64,
}

impl Span {
    pub const fn new(start: f64, end: f64) -> Self {
        Self { start, end }
    }
    /// Whether `[a, b]` (a <= b) overlaps this span.
    pub fn overlaps(&self, a: f64, b: f64) -> bool {
        a < self.end && b > self.start
    }
    pub fn contains(&self, x: f64) -> bool {
        x >= self.start && x <= self.end
    }
    pub fn len(&self) -> f64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Where things are along the lane. Defaults describe a typical exit lane:
/// 18 m weighbridge platform just before the arm, loops before, under and
/// after the arm.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LaneGeometry {
    /// x of the barrier arm (its sweep plane across the lane). Default 0.
    pub arm_x: f64,
    /// Half the arm's thickness along x. Default 0.05 m.
    pub arm_half_width_m: f64,
    /// Weighbridge platform. Default [-19, -1].
    pub platform: Span,
    /// Arrival loop, before the arm. Default [-4, -1.5].
    pub arrival_loop: Span,
    /// Safety loop, under the arm. Default [-1, 1.2].
    pub safety_loop: Span,
    /// x of the anti-smash photocell beam. Default 0.3.
    pub photocell_x: f64,
    /// Exit loop, after the arm. Default [6, 8.5].
    pub exit_loop: Span,
    /// Where a truck's front stops when it waits for the arm. Default -1.2
    /// (over the arrival loop, off the safety loop, on the platform).
    pub stop_line_x: f64,
    /// Where a new truck's front enters the simulation. Default -60.
    pub spawn_x: f64,
    /// A truck whose rear passes this x has left. Default 30.
    pub leave_x: f64,
    /// A reversing truck whose front is behind this x has pulled aside. Default -25.
    pub reverse_exit_x: f64,
}

impl Default for LaneGeometry {
    fn default() -> Self {
        Self {
            arm_x: 0.0,
            arm_half_width_m: 0.05,
            platform: Span::new(-19.0, -1.0),
            arrival_loop: Span::new(-4.0, -1.5),
            safety_loop: Span::new(-1.0, 1.2),
            photocell_x: 0.3,
            exit_loop: Span::new(6.0, 8.5),
            stop_line_x: -1.2,
            spawn_x: -60.0,
            leave_x: 30.0,
            reverse_exit_x: -25.0,
        }
    }
}

/// The barrier arm's mechanics.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArmConfig {
    /// Time for a full 0 -> 90 degree travel with the up motor on. Default 3000 ms.
    pub up_time_ms: u64,
    /// Time for a full 90 -> 0 degree travel with the down motor on. Default 3500 ms.
    pub down_time_ms: u64,
    /// Below this angle the arm reaches down to truck height: a truck under it
    /// is struck, a truck driving into it hits it. Default 70 degrees.
    pub clear_angle_deg: f64,
    /// The limit switches close within this many degrees of the end stops. Default 1.
    pub limit_band_deg: f64,
    /// Angle at start. Default 0 (down).
    pub start_angle_deg: f64,
}

impl Default for ArmConfig {
    fn default() -> Self {
        Self {
            up_time_ms: 3000,
            down_time_ms: 3500,
            clear_angle_deg: 70.0,
            limit_band_deg: 1.0,
            start_angle_deg: 0.0,
        }
    }
}

/// How the drivers drive.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriverConfig {
    /// Cruise speed on approach when the truck does not give one. Default 4.2 m/s (15 km/h).
    pub approach_speed_mps: f64,
    /// Speed when driving through the gate. Default 2.8 m/s (10 km/h).
    pub pass_speed_mps: f64,
    /// Acceleration. Default 0.8 m/s^2.
    pub accel_mps2: f64,
    /// Comfortable braking used to plan stops. Default 1.5 m/s^2.
    pub brake_mps2: f64,
    /// Hardest braking. Default 4.0 m/s^2.
    pub emergency_brake_mps2: f64,
    /// Bumper-to-bumper gap kept behind the truck in front. Default 3 m.
    pub queue_gap_m: f64,
    /// Gap a tailgater keeps behind the truck it follows. Default 3 m (enough
    /// for the safety loop to see two vehicles).
    pub tailgate_gap_m: f64,
    /// A tailgater only starts following when the truck in front is within
    /// this distance. Default 12 m.
    pub tailgate_reach_m: f64,
    /// Reversing speed. Default 1.2 m/s.
    pub reverse_speed_mps: f64,
    /// `reverses_out` trucks back away after waiting this long. Default 20 s.
    pub reverse_after_ms: u64,
    /// How far before the stop line a `stops_short` truck stops. Default 4 m
    /// (its front is then off the arrival loop).
    pub stop_short_m: f64,
    /// Reaction time between the arm reaching the up limit and moving off. Default 800 ms.
    pub reaction_ms: u64,
    /// Random extra reaction time, uniform in [0, this]. Default 400 ms.
    pub reaction_jitter_ms: u64,
    /// Random stop position before the target, uniform in [0, this]. Default 0.15 m.
    pub stop_jitter_m: f64,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            approach_speed_mps: 4.2,
            pass_speed_mps: 2.8,
            accel_mps2: 0.8,
            brake_mps2: 1.5,
            emergency_brake_mps2: 4.0,
            queue_gap_m: 3.0,
            tailgate_gap_m: 3.0,
            tailgate_reach_m: 12.0,
            reverse_speed_mps: 1.2,
            reverse_after_ms: 20_000,
            stop_short_m: 4.0,
            reaction_ms: 800,
            reaction_jitter_ms: 400,
            stop_jitter_m: 0.15,
        }
    }
}

/// Everything the physics needs.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhysicsConfig {
    pub geometry: LaneGeometry,
    pub arm: ArmConfig,
    pub driver: DriverConfig,
    /// Seed of the random source (reaction times, stop positions).
    pub seed: u64,
}

/// Identifies a truck within one lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(transparent)]
pub struct TruckId(pub u64);

impl fmt::Display for TruckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "truck#{}", self.0)
    }
}

/// How a driver behaves at the gate (identity faults such as a missing e-tag
/// are not behaviours; they live in the truck's identity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    #[default]
    Normal,
    /// Stops a few metres before the stop line (off the arrival loop, maybe
    /// partly off the platform) and waits there.
    StopsShort,
    /// Backs away after waiting at the gate for a while.
    ReversesOut,
    /// Follows the truck in front through the open arm.
    Tailgate,
    /// Released (arm up), the driver backs out instead of driving through.
    ReversesWhenReleased,
}

/// One axle: distance behind the truck's front and static load.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
pub struct Axle {
    pub offset_m: f64,
    pub load_kg: f64,
}

/// A trailer behind the tractor.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
pub struct TrailerBody {
    /// Horizontal distance from the tractor's rear to the trailer's front;
    /// negative when the semi-trailer overlaps the tractor (fifth wheel).
    pub gap_m: f64,
    pub length_m: f64,
}

/// A truck's shape and mass.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct TruckBody {
    pub tractor_length_m: f64,
    pub trailer: Option<TrailerBody>,
    pub axles: Vec<Axle>,
}

impl TruckBody {
    /// Default tractor length of a semi-trailer combination, metres.
    pub const TRACTOR_LENGTH_M: f64 = 6.0;
    /// Default overlap of a semi-trailer over its tractor (negative gap).
    pub const SEMI_GAP_M: f64 = -1.5;
    /// Default length of a rigid truck, metres.
    pub const RIGID_LENGTH_M: f64 = 9.0;

    /// A tractor with a semi-trailer: steer axle, tandem drive axles, tri-axle
    /// trailer bogie. Load shares of the gross mass: 14 %, 21 % + 21 %,
    /// 3 x 14.67 %.
    pub fn semi(tractor_length_m: f64, gap_m: f64, trailer_length_m: f64, gross_kg: f64) -> Self {
        let t = tractor_length_m;
        let trailer_front = t + gap_m;
        let l = trailer_length_m;
        let bogie = [l - 3.8, l - 2.5, l - 1.2].map(|o| trailer_front + o.max(0.5));
        let per_trailer_axle = gross_kg * 0.44 / 3.0;
        let mut axles = vec![
            Axle {
                offset_m: 1.4_f64.min(t * 0.5),
                load_kg: gross_kg * 0.14,
            },
            Axle {
                offset_m: (t - 1.95).max(t * 0.6),
                load_kg: gross_kg * 0.21,
            },
            Axle {
                offset_m: (t - 0.65).max(t * 0.7),
                load_kg: gross_kg * 0.21,
            },
        ];
        axles.extend(bogie.iter().map(|&o| Axle {
            offset_m: o,
            load_kg: per_trailer_axle,
        }));
        Self {
            tractor_length_m: t,
            trailer: Some(TrailerBody { gap_m, length_m: l }),
            axles,
        }
    }

    /// A rigid truck: steer axle and tandem rear axles, 30 % / 35 % / 35 %.
    pub fn rigid(length_m: f64, gross_kg: f64) -> Self {
        let l = length_m;
        Self {
            tractor_length_m: l,
            trailer: None,
            axles: vec![
                Axle {
                    offset_m: 1.4_f64.min(l * 0.3),
                    load_kg: gross_kg * 0.30,
                },
                Axle {
                    offset_m: (l - 2.6).max(l * 0.5),
                    load_kg: gross_kg * 0.35,
                },
                Axle {
                    offset_m: (l - 1.3).max(l * 0.6),
                    load_kg: gross_kg * 0.35,
                },
            ],
        }
    }

    /// Overall length, front bumper to rear.
    pub fn length(&self) -> f64 {
        match self.trailer {
            Some(tr) => (self.tractor_length_m + tr.gap_m + tr.length_m).max(self.tractor_length_m),
            None => self.tractor_length_m,
        }
    }

    /// Sum of the axle loads.
    pub fn gross_kg(&self) -> f64 {
        self.axles.iter().map(|a| a.load_kg).sum()
    }

    /// The solid parts as `(rear_x, front_x)` intervals for a truck whose front is at `front`.
    pub fn segments(&self, front: f64) -> ([(f64, f64); 2], usize) {
        let tractor = (front - self.tractor_length_m, front);
        match self.trailer {
            Some(tr) => {
                let tf = front - self.tractor_length_m - tr.gap_m;
                ([tractor, (tf - tr.length_m, tf)], 2)
            }
            None => ([tractor, tractor], 1),
        }
    }

    /// Offset behind the front of the trailer's front face (where a trailer
    /// e-tag sits), if there is a trailer.
    pub fn trailer_front_offset(&self) -> Option<f64> {
        self.trailer.map(|tr| self.tractor_length_m + tr.gap_m)
    }
}

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

/// The board's outputs as the physics sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actuators {
    pub motor_up: bool,
    pub motor_down: bool,
    pub light_green: bool,
}

/// The field inputs the physics produces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sensors {
    pub arrival_loop: bool,
    pub safety_loop: bool,
    pub exit_loop: bool,
    /// Beam broken.
    pub photocell: bool,
    pub up_limit: bool,
    pub down_limit: bool,
}

/// Something that physically happened to a truck.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum EventKind {
    /// Entered the simulation (upstream of the lane).
    Entered,
    /// Its body reached the arrival loop.
    ArrivedAtArrivalLoop,
    /// Stopped to wait for the arm; `short` when short of the stop line.
    StoppedAtLine { front_x: f64, short: bool },
    /// Moved off towards the arm.
    StartedThrough,
    /// Its rear passed under the arm.
    PassedUnderArm,
    /// Its rear left the exit loop.
    LeftExitLoop,
    /// Began backing away.
    ReversingStarted,
    /// Backed out of the lane.
    ReversedOut,
    /// Passed under the arm without the arm having closed since the previous truck passed.
    Tailgated,
    /// The arm came down on it (violation).
    StruckByArm,
    /// It drove into a lowered arm (violation).
    HitArm,
    /// Data, observed by the simulated lane (not the physics): the
    /// indicator first showed this truck's weight stable while it waited at
    /// the line.
    ScaleSettled { gross_kg: f64 },
    /// Data: a reader first reported one of this truck's tags (`eseal`:
    /// the e-seal reader, else the e-tag reader).
    TagFirstRead { eseal: bool },
}

/// A timestamped [`EventKind`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Event {
    pub t_ms: u64,
    pub truck: TruckId,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// The arm came down on a truck.
    ArmStruckTruck,
    /// A truck drove into a lowered arm.
    TruckHitArm,
    /// Up and down motor outputs on at once.
    MotorBothDirections,
}

/// A safety violation: never expected in a correct lane.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Violation {
    pub t_ms: u64,
    pub kind: ViolationKind,
    pub truck: Option<TruckId>,
    pub arm_angle_deg: f64,
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

    /// Current field inputs.
    pub fn sensors(&self) -> Sensors {
        let g = &self.cfg.geometry;
        let band = self.cfg.arm.limit_band_deg;
        let mut s = Sensors {
            up_limit: self.angle_deg >= 90.0 - band,
            down_limit: self.angle_deg <= band,
            ..Sensors::default()
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
mod tests {
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
        let mut prev = Sensors::default();
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
}
