//! The physics' configuration: lane geometry, arm and driver parameters.

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
