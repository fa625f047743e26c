//! The sequence's transitions (start, identification, decision, finish) and
//! the outputs they share (journal, lowering when safe, light, alarms).

use std::collections::BTreeSet;

use gate_proto::messages::{DecisionResult, Outcome, Reason};

use crate::decision::{Decision, LED_MAX_BYTES};
use crate::identified::{Device, Identified};

use super::{AlarmKind, Command, EventRecord, Lane, Light, Passage, State, Step};

impl Lane {
    // ------------------------------------------------------- transitions

    /// ARRIVED: allocate the seq, journal, trigger the devices.
    pub(super) fn start(&mut self, now: u64, out: &mut Vec<Command>) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.arrival_pending = false;
        self.cur = Some(Passage {
            seq,
            step: Step::Arrived,
            arrived_ms: now,
            decided_ms: None,
            identified: Identified::default(),
            reported: BTreeSet::new(),
            decision: None,
            officer: None,
            note: None,
            tailgating: false,
            stopped_short: false,
            alarms: Vec::new(),
            vehicles_at_raise: None,
            prior: None,
        });
        self.journal(Step::Arrived, out);
        self.begin_identification(now, out);
    }

    /// Clear the reads and trigger the devices; known-faulty devices count
    /// as reported (at fault).
    pub(super) fn begin_identification(&mut self, now: u64, out: &mut Vec<Command>) {
        let faults: Vec<Device> = self
            .cfg
            .expect
            .iter()
            .copied()
            .filter(|d| self.faults.contains(d))
            .collect();
        let Some(c) = self.cur.as_mut() else { return };
        let officer = c.identified.officer.take();
        c.identified = Identified {
            faults: faults.clone(),
            officer,
            ..Identified::default()
        };
        c.reported = faults.into_iter().collect();
        let seq = c.seq;
        out.push(Command::StartIdentification {
            seq,
            devices: self.cfg.expect.clone(),
        });
        self.set_state(State::Identifying {
            deadline: now + self.cfg.identify_timeout_ms,
        });
        if self.all_reported() {
            self.identification_done(now, out);
        }
    }

    pub(super) fn identification_done(&mut self, now: u64, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            c.settle_prior();
        }
        let stable = self
            .cur
            .as_ref()
            .and_then(|c| c.identified.weight.as_ref())
            .is_some_and(|w| w.stable);
        if self.cfg.weigh && !stable && !self.faults.contains(&Device::Scale) {
            self.set_state(State::Weighing {
                deadline: now + self.cfg.weigh_timeout_ms,
            });
            // What was read is kept while the weight settles.
            self.journal(Step::Identified, out);
        } else {
            self.enter_deciding(now, out);
        }
    }

    pub(super) fn enter_deciding(&mut self, now: u64, out: &mut Vec<Command>) {
        let scale_fault = self.faults.contains(&Device::Scale) && self.cfg.weigh;
        let Some(c) = self.cur.as_mut() else { return };
        if scale_fault && !c.identified.faults.contains(&Device::Scale) {
            c.identified.faults.push(Device::Scale);
        }
        let (seq, identified) = (c.seq, Box::new(c.identified.clone()));
        self.journal(Step::Identified, out);
        out.push(Command::Decide { seq, identified });
        self.set_state(State::Deciding {
            deadline: now + self.cfg.decide_timeout_ms,
        });
    }

    /// Journal `d`, show it, and act on it: raise for release / inspect,
    /// hold otherwise. A barrier in fault turns a release into a hold.
    pub(super) fn apply_decision(&mut self, now: u64, mut d: Decision, out: &mut Vec<Command>) {
        if self.barrier_fault && d.result != DecisionResult::Hold {
            d = d.into_hold(Reason::H08, "barrier fault");
        }
        d.led_text = crate::decision::truncate_utf8(&d.led_text, LED_MAX_BYTES);
        let Some(c) = self.cur.as_mut() else { return };
        c.decided_ms = Some(now);
        // Decided on data an officer typed: the decision names the officer
        // (the lane's rules decided; `by` stays as the engine set it).
        if d.officer.is_none() {
            if let Some(e) = &c.identified.officer {
                d.officer = Some(e.officer.clone());
                if d.note.is_none() {
                    d.note = e.note.clone();
                }
            }
        }
        if d.officer.is_some() {
            c.officer = d.officer.clone();
        }
        if d.note.is_some() {
            c.note = d.note.clone();
        }
        c.decision = Some(d.clone());
        let releasing = d.result != DecisionResult::Hold;
        let at_arm = self.board.under_arm() || self.board.exit;
        if releasing {
            c.vehicles_at_raise = self.have_board.then_some(self.board.vehicles);
        }
        let step = match (releasing, at_arm) {
            (false, _) => Step::Decided,
            (true, false) => Step::Raised,
            (true, true) => Step::Passing,
        };
        // Write-ahead: the record with the decision before any Raise.
        self.journal(step, out);
        out.push(Command::SetLed(d.led_text.clone()));
        match d.result {
            DecisionResult::Release | DecisionResult::Inspect => {
                self.set_light(Light::Green, out);
                out.push(Command::Raise);
                let inspect = d.result == DecisionResult::Inspect;
                // Already under the arm (officer raise mid-passage): passing.
                let st = if at_arm {
                    State::Passing {
                        deadline: now + self.cfg.clear_timeout_ms,
                        inspect,
                    }
                } else {
                    State::Releasing {
                        deadline: now + self.cfg.pass_timeout_ms,
                        inspect,
                    }
                };
                self.set_state(st);
            }
            DecisionResult::Hold => {
                self.set_light(Light::Red, out);
                self.set_state(State::Hold {
                    deadline: now + self.cfg.hold_timeout_ms,
                });
            }
        }
    }

    /// Close the sequence with one [`Command::Finish`]; back to `Idle`, and
    /// start the next vehicle if one arrived meanwhile (or `next_waiting`:
    /// the current one cleared, so an occupied arrival loop is the next one).
    pub(super) fn finish(
        &mut self,
        now: u64,
        outcome: Outcome,
        next_waiting: bool,
        out: &mut Vec<Command>,
    ) {
        if let Some(c) = self.cur.as_mut() {
            c.settle_prior();
        }
        let Some(c) = self.cur.take() else {
            self.set_state(State::Idle);
            return;
        };
        out.push(Command::Finish(Box::new(EventRecord {
            seq: c.seq,
            arrived_ms: c.arrived_ms,
            decided_ms: c.decided_ms,
            finished_ms: now,
            identified: c.identified,
            decision: c.decision,
            outcome,
            officer: c.officer,
            note: c.note,
            tailgating: c.tailgating,
            stopped_short: c.stopped_short,
            alarms: c.alarms,
        })));
        self.set_light(Light::Red, out);
        let led = if self.admission_stop.is_some() {
            &self.cfg.closed_led
        } else {
            &self.cfg.idle_led
        };
        out.push(Command::SetLed(led.clone()));
        self.set_state(State::Idle);
        let pending = std::mem::take(&mut self.arrival_pending);
        if (pending || next_waiting)
            && self.board.arrival
            && !self.barrier_fault
            && self.admission_stop.is_none()
        {
            self.start(now, out);
        }
    }

    pub(super) fn regather(&mut self, now: u64, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            c.decision = None;
            c.decided_ms = None;
            c.vehicles_at_raise = None;
        }
        self.journal(Step::Arrived, out);
        self.out_led_waiting(out);
        self.begin_identification(now, out);
    }

    pub(super) fn out_led_waiting(&self, out: &mut Vec<Command>) {
        out.push(Command::SetLed("正在识别 Identifying".into()));
    }
}

impl Lane {
    // ---------------------------------------------------------- outputs

    /// Replace the passage's journal record: it is now at `step`.
    pub(super) fn journal(&mut self, step: Step, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            c.step = step;
            out.push(Command::Journal {
                seq: c.seq,
                step,
                passage: Box::new(c.clone()),
            });
        }
    }

    /// The only way [`Command::Lower`] is emitted: never onto the area
    /// under the arm.
    pub(super) fn lower_if_safe(&mut self, out: &mut Vec<Command>) -> bool {
        // An unknown board (not read since start) may have a vehicle under
        // the arm: never lowered blind.
        if !self.have_board || self.board.under_arm() {
            false
        } else {
            out.push(Command::Lower);
            true
        }
    }

    pub(super) fn set_light(&mut self, l: Light, out: &mut Vec<Command>) {
        if self.light != l {
            self.light = l;
            out.push(Command::SetLight(l));
        }
    }

    pub(super) fn alarm(&mut self, kind: AlarmKind, detail: &str, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            if !c.alarms.contains(&kind) {
                c.alarms.push(kind);
            }
        }
        out.push(Command::Alarm {
            kind,
            detail: detail.to_string(),
        });
    }
}
