//! What the controller tracks between polls: the inputs taken at the first
//! poll, the zone under the arm, the heartbeat, vehicles and passages, and
//! when an open arm closes.

use super::{idx, Controller, Passage, RawInputs, State, INPUTS, MAX_IN_PASSAGE};

impl Controller {
    /// The first poll: take the inputs as they are.
    pub(super) fn start(&mut self, now: u64, samples: [bool; INPUTS]) {
        self.started = true;
        for (d, s) in self.inputs.iter_mut().zip(samples) {
            d.reset(now, s);
        }
        self.last_heartbeat = now;
        let cur = self.inputs();
        self.track_zone(now, cur);
        self.in_passage = u8::from(cur.safety_loop);
        // The position from the limit switches; faults are checked by step().
        let initial = if cur.down_limit && !cur.up_limit {
            State::Closed
        } else if cur.up_limit && !cur.down_limit {
            State::Open
        } else {
            State::Stopped
        };
        self.set_state(now, initial);
        self.step(now);
    }

    pub(super) fn track_zone(&mut self, now: u64, cur: RawInputs) {
        if cur.safety_loop || cur.photocell {
            self.zone_free_since = None;
        } else if self.zone_free_since.is_none() {
            self.zone_free_since = Some(now);
        }
    }

    pub(super) fn track_heartbeat(&mut self, now: u64) {
        let timeout = u64::from(self.config.heartbeat_timeout_ms);
        if timeout == 0 {
            self.heartbeat_lost_since = None;
        } else if self.heartbeat_lost_since.is_none()
            && now >= self.last_heartbeat.saturating_add(timeout)
        {
            self.heartbeat_lost_since = Some(now);
        }
    }

    /// Vehicle counting: a safety-loop entry matched by a later exit-loop exit.
    pub(super) fn track_vehicles(&mut self, prev: RawInputs, cur: RawInputs) {
        if cur.safety_loop && !prev.safety_loop {
            self.in_passage = (self.in_passage + 1).min(MAX_IN_PASSAGE);
        }
        if prev.exit_loop && !cur.exit_loop && self.in_passage > 0 {
            self.in_passage -= 1;
            self.counters.vehicles = self.counters.vehicles.wrapping_add(1);
        }
    }

    /// The admitted vehicle's progress, and tailgating.
    pub(super) fn track_passage(&mut self, now: u64, prev: RawInputs, cur: RawInputs) {
        let zone = cur.safety_loop || cur.photocell;
        let safety_entry = cur.safety_loop && !prev.safety_loop;
        let exit_left = prev.exit_loop && !cur.exit_loop;
        let arm_down = self.state == State::Closed;
        match self.passage {
            Passage::Idle => {}
            // The admitted vehicle reaches the arm.
            Passage::Granted => {
                if zone {
                    self.passage = Passage::Passing;
                    self.counters.admitted = self.counters.admitted.wrapping_add(1);
                }
            }
            // It is under the arm until the area is free.
            Passage::Passing => {
                if !zone {
                    self.passage = Passage::Leaving;
                }
            }
            Passage::Leaving | Passage::Cleared { .. } => {}
        }
        match self.passage {
            // The area had been free: a new entry before the arm is down is
            // a second vehicle.
            Passage::Leaving | Passage::Cleared { .. } if safety_entry && !arm_down => {
                self.tailgate = true;
                self.counters.tailgates = self.counters.tailgates.wrapping_add(1);
                self.passage = Passage::Passing;
            }
            // The same vehicle is back under the arm (photocell only).
            Passage::Leaving if zone => self.passage = Passage::Passing,
            // It left the exit loop: cleared.
            Passage::Leaving if exit_left => self.passage = Passage::Cleared { at: now },
            // The area has been free long enough: cleared without the exit loop.
            Passage::Leaving => {
                let delay = u64::from(self.config.clear_delay_ms);
                if let (Some(free), true) = (self.zone_free_since, delay != 0) {
                    if now >= free.saturating_add(delay) {
                        self.passage = Passage::Cleared { at: now };
                    }
                }
            }
            _ => {}
        }
    }

    /// When an Open arm should start closing by itself, if it should.
    pub(super) fn close_at(&self) -> Option<u64> {
        if self.inputs[idx::MANUAL].stable {
            return None;
        }
        let free = self.zone_free_since?;
        let delay = u64::from(self.config.auto_close_delay_ms);
        let auto = match (self.config.auto_close, self.passage) {
            (true, Passage::Cleared { at }) => Some(at.max(free).saturating_add(delay)),
            _ => None,
        };
        let safe = self
            .heartbeat_lost_since
            .map(|lost| lost.max(free).saturating_add(delay));
        match (auto, safe) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
