//! What goes into and comes out of the physics: the board's outputs, the field
//! inputs, the events that happen to trucks and the safety violations.

use serde::Serialize;

use super::TruckId;

/// The board's outputs as the physics sees them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Actuators {
    pub motor_up: bool,
    pub motor_down: bool,
    pub light_green: bool,
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
