//! How the lane reacts to time and to what it senses: deadlines, board
//! changes, device reads and device faults.

use gate_proto::formats::plate::{self, PlateKind};
use gate_proto::messages::{DecisionResult, Outcome, Reason};

use crate::decision::Decision;
use crate::identified::Device;

use super::{
    AlarmKind, BarrierPos, BoardSnapshot, Command, Lane, Read, State, Step, LED_MOVE_FORWARD,
    MAX_TAILGATE_STEP,
};

impl Lane {
    // ------------------------------------------------------------- time

    pub(super) fn tick(&mut self, now: u64, out: &mut Vec<Command>) {
        let Some(deadline) = self.state.deadline() else {
            return;
        };
        if now < deadline {
            return;
        }
        match self.state {
            State::Idle => {}
            // Identification time is up: with neither plate nor e-tag read
            // the vehicle stopped short of the readers; otherwise go on with
            // what came in.
            State::Identifying { .. } => {
                if let Some(c) = self.cur.as_mut() {
                    c.settle_prior();
                }
                let nothing = self.cur.as_ref().is_some_and(|c| {
                    c.identified.plates.is_empty() && c.identified.etags.is_empty()
                });
                if nothing {
                    if let Some(c) = self.cur.as_mut() {
                        c.stopped_short = true;
                    }
                    let mut d = Decision::lane(
                        DecisionResult::Hold,
                        &[Reason::H08],
                        "nothing read: vehicle stopped short of the readers",
                    );
                    d.led_text = LED_MOVE_FORWARD.into();
                    self.apply_decision(now, d, out);
                } else {
                    self.identification_done(now, out);
                }
            }
            // No stable weight in time: decide with what there is.
            State::Weighing { .. } => self.enter_deciding(now, out),
            // The runtime did not answer: hold, alarm.
            State::Deciding { .. } => {
                self.alarm(
                    AlarmKind::DecisionTimeout,
                    "no decision within decide_timeout",
                    out,
                );
                let d = Decision::lane(DecisionResult::Hold, &[Reason::H08], "decision timed out");
                self.apply_decision(now, d, out);
            }
            // Released but the vehicle never reached the arm.
            State::Releasing { .. } => {
                self.alarm(
                    AlarmKind::StuckVehicle,
                    "released vehicle did not reach the arm",
                    out,
                );
                self.lower_if_safe(out);
                self.finish(now, Outcome::Timeout, false, out);
            }
            // Under the arm too long: it passed, but tell someone.
            State::Passing { inspect, .. } => {
                self.alarm(
                    AlarmKind::StuckVehicle,
                    "vehicle did not clear the arm",
                    out,
                );
                let o = if inspect {
                    Outcome::Inspection
                } else {
                    Outcome::Passed
                };
                self.finish(now, o, false, out);
            }
            // Nobody came for the held vehicle.
            State::Hold { .. } => {
                self.alarm(
                    AlarmKind::StuckVehicle,
                    "held vehicle waited beyond hold_timeout",
                    out,
                );
                self.finish(now, Outcome::Timeout, false, out);
            }
        }
    }

    // ------------------------------------------------------------ board

    pub(super) fn board_changed(&mut self, now: u64, b: BoardSnapshot, out: &mut Vec<Command>) {
        let prev = self.board;
        let first = !self.have_board;
        self.board = b;
        self.have_board = true;

        // The board counted a tailgater. (A large jump is a counter reset,
        // e.g. a board restart, not a hundred tailgaters.)
        let n = b.tailgates.wrapping_sub(prev.tailgates);
        if !first && (1..=MAX_TAILGATE_STEP).contains(&n) {
            let detail = match self.cur.as_mut() {
                Some(c) => {
                    c.tailgating = true;
                    format!("{n} vehicle(s) followed seq {} under the arm", c.seq)
                }
                None => format!("{n} vehicle(s) followed under the arm"),
            };
            self.alarm(AlarmKind::Tailgating, &detail, out);
            if let Some(step) = self.cur.as_ref().map(|c| c.step) {
                self.journal(step, out);
            }
        }

        // Barrier fault: alarm; a vehicle not yet released is held.
        let fault = b.barrier == BarrierPos::Fault;
        if fault && !self.barrier_fault {
            self.barrier_fault = true;
            self.alarm(AlarmKind::BarrierFault, "barrier reports a fault", out);
            match self.state {
                State::Identifying { .. } | State::Weighing { .. } | State::Deciding { .. } => {
                    let d = Decision::lane(DecisionResult::Hold, &[Reason::H08], "barrier fault");
                    self.apply_decision(now, d, out);
                }
                State::Releasing { .. } => {
                    let d = self
                        .cur
                        .as_ref()
                        .and_then(|c| c.decision.clone())
                        .unwrap_or_else(|| {
                            Decision::lane(DecisionResult::Hold, &[], "barrier fault")
                        })
                        .into_hold(Reason::H08, "barrier fault after release");
                    self.apply_decision(now, d, out);
                }
                _ => {}
            }
        } else if !fault {
            self.barrier_fault = false;
        }

        if std::mem::take(&mut self.resuming) {
            self.resume_on_board(now, b, out);
            return;
        }
        let arrived = b.arrival && (first || !prev.arrival);
        let vehicle_gone = !b.arrival && !b.under_arm();
        match self.state {
            // ARRIVED: a vehicle on the arrival loop starts a sequence.
            State::Idle => {
                if arrived && self.admission_stop.is_none() {
                    self.start(now, out);
                }
            }
            // Left before a decision (backed out): reversed. (A rising edge
            // here is the same vehicle moving on the loop.)
            State::Identifying { .. } | State::Weighing { .. } | State::Deciding { .. } => {
                if vehicle_gone {
                    self.finish(now, Outcome::Reversed, false, out);
                }
            }
            // The held vehicle left the lane (turned back, or sent away by
            // the officer): the passage ends `held`, with its decision and
            // reasons. (`reversed` is a vehicle that left before a decision
            // or after its release.)
            State::Hold { .. } => {
                if vehicle_gone {
                    self.finish(now, Outcome::Held, false, out);
                }
            }
            // Released: the vehicle reaches the arm, or backs out.
            State::Releasing { inspect, .. } => {
                // The board counted a vehicle through the arm since the
                // release (the snapshots in between were missed: board
                // silent for a moment): it passed, and whatever is on the
                // arrival loop now is the next vehicle.
                let went_through = self
                    .cur
                    .as_ref()
                    .and_then(|c| c.vehicles_at_raise)
                    .is_some_and(|v| v != b.vehicles);
                if went_through {
                    let o = if inspect {
                        Outcome::Inspection
                    } else {
                        Outcome::Passed
                    };
                    self.finish(now, o, true, out);
                } else if b.under_arm() || b.exit {
                    self.set_state(State::Passing {
                        deadline: now + self.cfg.clear_timeout_ms,
                        inspect,
                    });
                    self.journal(Step::Passing, out);
                } else if !b.arrival {
                    self.lower_if_safe(out);
                    self.finish(now, Outcome::Reversed, false, out);
                }
            }
            // Under the arm: a vehicle arriving now is the next one; cleared
            // once the arm area and the exit loop are free.
            State::Passing { inspect, .. } => {
                if arrived {
                    self.arrival_pending = true;
                }
                if !b.under_arm() && !b.exit {
                    if self.cfg.lower_on_clear {
                        self.lower_if_safe(out);
                    }
                    let o = if inspect {
                        Outcome::Inspection
                    } else {
                        Outcome::Passed
                    };
                    // Whatever is on the arrival loop now is the next vehicle.
                    self.finish(now, o, true, out);
                }
            }
        }
    }

    // ------------------------------------------------------------ reads

    pub(super) fn read(&mut self, now: u64, r: Read, out: &mut Vec<Command>) {
        // A vehicle held for stopping short that now shows up on a reader
        // moved forward: identify again.
        if matches!(self.state, State::Hold { .. })
            && self.cur.as_ref().is_some_and(|c| c.stopped_short)
            && matches!(r, Read::Plate(_) | Read::Etag { .. })
        {
            if let Some(c) = self.cur.as_mut() {
                c.stopped_short = false;
            }
            self.regather(now, out);
        }
        if !matches!(
            self.state,
            State::Identifying { .. } | State::Weighing { .. }
        ) {
            return;
        }
        if let Read::Weight(w) = r {
            let stable = w.stable;
            if let Some(c) = self.cur.as_mut() {
                c.identified.weight = Some(w);
            }
            if stable && matches!(self.state, State::Weighing { .. }) {
                self.enter_deciding(now, out);
            }
            return;
        }
        let max = self.cfg.max_reads;
        let Some(c) = self.cur.as_mut() else { return };
        let id = &mut c.identified;
        let device = match r {
            Read::Plate(p) => {
                let dev = p.camera;
                let trailer = plate::parse(&p.text).is_ok_and(|x| x.kind() == PlateKind::Trailer);
                if trailer {
                    if id
                        .trailer_plate
                        .as_ref()
                        .is_none_or(|t| p.confidence > t.confidence)
                    {
                        id.trailer_plate = Some(p);
                    }
                } else if id.plates.len() < max {
                    id.plates.push(p);
                }
                Some(dev)
            }
            Read::Etag { id: tag, trailer } => {
                if trailer {
                    id.trailer_etag = Some(tag);
                } else if id.etags.len() < max && !id.etags.contains(&tag) {
                    id.etags.push(tag);
                }
                Some(Device::Etag)
            }
            Read::Container(cs) => {
                let dev = match cs.position {
                    gate_proto::messages::ContainerPosition::Front => Device::ContainerFront,
                    gate_proto::messages::ContainerPosition::Back => Device::ContainerBack,
                };
                if id.containers.len() < max {
                    id.containers.push(cs);
                }
                Some(dev)
            }
            Read::Eseal(s) => {
                id.eseal = Some(s);
                Some(Device::Eseal)
            }
            Read::Weight(_) => None,
            Read::Nothing(d) => Some(d),
        };
        if let Some(d) = device {
            c.reported.insert(d);
        }
        if matches!(self.state, State::Identifying { .. }) && self.all_reported() {
            self.identification_done(now, out);
        }
    }

    pub(super) fn all_reported(&self) -> bool {
        self.cur
            .as_ref()
            .is_some_and(|c| self.cfg.expect.iter().all(|d| c.reported.contains(d)))
    }

    pub(super) fn device_fault(
        &mut self,
        now: u64,
        device: Device,
        detail: &str,
        out: &mut Vec<Command>,
    ) {
        if self.faults.insert(device) {
            let detail = format!("{}: {detail}", device.as_str());
            self.alarm(AlarmKind::DeviceFault, &detail, out);
        }
        if matches!(
            self.state,
            State::Identifying { .. } | State::Weighing { .. }
        ) {
            if let Some(c) = self.cur.as_mut() {
                if !c.identified.faults.contains(&device) {
                    c.identified.faults.push(device);
                }
                c.reported.insert(device);
            }
            if matches!(self.state, State::Identifying { .. }) && self.all_reported() {
                self.identification_done(now, out);
            } else if device == Device::Scale && matches!(self.state, State::Weighing { .. }) {
                // No weight will come: decide now (the fault is in the data).
                self.enter_deciding(now, out);
            }
        }
    }
}
