//! A barrier arm without hardware: it moves while the board drives its
//! motor and closes the limit switches at the ends of its travel. For hosts
//! that run the board core with nothing attached (the board harness, the
//! agent's tests and bench); the simulator's lane has its own physics (arm
//! angle, trucks under it).

use lane_io::board::{Board, Outputs, RawInputs};

/// Arm position between the down (0) and up (`travel_ms`) limits, in ms of
/// motor travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arm {
    pos_ms: u64,
    travel_ms: u64,
    last_ms: u64,
}

impl Arm {
    /// An arm at its down limit that takes `travel_ms` between the limits
    /// (0: no arm, the limit inputs stay open).
    pub fn new(travel_ms: u64) -> Self {
        Self {
            pos_ms: 0,
            travel_ms,
            last_ms: 0,
        }
    }

    /// `field` with the limit switches as the arm sets them now.
    pub fn inputs(&self, field: RawInputs) -> RawInputs {
        RawInputs {
            up_limit: self.travel_ms > 0 && self.pos_ms >= self.travel_ms,
            down_limit: self.travel_ms > 0 && self.pos_ms == 0,
            ..field
        }
    }

    /// Moves the arm for the time since the last step as `out` drives it.
    pub fn step(&mut self, now_ms: u64, out: Outputs) {
        let dt = now_ms.saturating_sub(self.last_ms);
        self.last_ms = now_ms;
        if out.motor_up && !out.motor_down {
            self.pos_ms = (self.pos_ms + dt).min(self.travel_ms);
        } else if out.motor_down && !out.motor_up {
            self.pos_ms = self.pos_ms.saturating_sub(dt);
        }
    }

    /// One board tick at `now_ms` on `field` inputs with this arm's limits,
    /// then the arm moved as the board drives it. Returns the inputs the
    /// board saw.
    pub fn tick(&mut self, board: &mut Board, now_ms: u64, field: RawInputs) -> RawInputs {
        let raw = self.inputs(field);
        let out = board.tick(now_ms, raw);
        self.step(now_ms, out);
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn travels_between_the_limits_as_driven() {
        let mut arm = Arm::new(300);
        let idle = RawInputs::default();
        assert!(arm.inputs(idle).down_limit && !arm.inputs(idle).up_limit);
        let up = Outputs {
            motor_up: true,
            ..Outputs::default()
        };
        arm.step(100, up);
        let mid = arm.inputs(idle);
        assert!(!mid.down_limit && !mid.up_limit, "between the limits");
        arm.step(500, up);
        assert!(arm.inputs(idle).up_limit, "stops at the up limit");
        let down = Outputs {
            motor_down: true,
            ..Outputs::default()
        };
        arm.step(900, down);
        assert!(arm.inputs(idle).down_limit);
        // Both motor outputs at once: the arm does not move.
        arm.step(1000, up);
        let both = Outputs {
            motor_up: true,
            motor_down: true,
            ..Outputs::default()
        };
        arm.step(1100, both);
        assert!(!arm.inputs(idle).down_limit && !arm.inputs(idle).up_limit);
    }

    #[test]
    fn without_travel_the_limits_stay_open() {
        let arm = Arm::new(0);
        let raw = arm.inputs(RawInputs::default());
        assert!(!raw.up_limit && !raw.down_limit);
    }
}
