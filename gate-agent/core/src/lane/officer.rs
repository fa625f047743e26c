//! Officer actions: raise, lower, hold decisions, manual data entry.

use gate_proto::messages::DecisionResult;

use crate::decision::Decision;
use crate::identified::OfficerEntry;

use super::{Command, Lane, OfficerAction, OfficerKind, State};

impl Lane {
    // ----------------------------------------------------------- officer

    pub(super) fn officer(&mut self, now: u64, a: OfficerAction, out: &mut Vec<Command>) {
        let ack = |out: &mut Vec<Command>, ok: bool, detail: &str| {
            out.push(Command::Ack {
                ok,
                detail: detail.to_string(),
            })
        };
        if let Some(c) = self.cur.as_mut() {
            c.officer = Some(a.officer.clone());
            if a.note.is_some() {
                c.note = a.note.clone();
            }
        }
        let note = a.note.as_deref();
        match a.kind {
            // Override: raise now. A vehicle not yet released is released by
            // the officer (journaled); with no sequence one is opened so the
            // passage is recorded.
            OfficerKind::Raise | OfficerKind::Release => {
                let is_release = a.kind == OfficerKind::Release;
                if is_release && note.is_none_or(|n| n.trim().is_empty()) {
                    return ack(out, false, "an exceptional release needs a note");
                }
                if self.barrier_fault {
                    return ack(out, false, "barrier in fault");
                }
                match self.state {
                    State::Idle if is_release => ack(out, false, "no vehicle in the lane"),
                    State::Idle => {
                        self.start(now, out);
                        if let Some(c) = self.cur.as_mut() {
                            c.officer = Some(a.officer.clone());
                            c.note = a.note.clone();
                        }
                        self.officer_decides(now, DecisionResult::Release, &a.officer, note, out);
                        ack(out, true, "raised by officer");
                    }
                    s if s.before_release() => {
                        self.officer_decides(now, DecisionResult::Release, &a.officer, note, out);
                        ack(out, true, "released by officer");
                    }
                    _ if is_release => ack(out, true, "already released"),
                    // Releasing / Passing: the release is journaled already.
                    _ => {
                        out.push(Command::Raise);
                        ack(out, true, "raised again");
                    }
                }
            }
            OfficerKind::Lower => {
                if !self.have_board {
                    return ack(out, false, "refused: lane I/O board not read yet");
                }
                if self.board.under_arm() {
                    return ack(out, false, "refused: safety loop or photocell occupied");
                }
                if let State::Releasing { .. } = self.state {
                    // Withdrawing the release before the vehicle moved: hold.
                    self.officer_decides(now, DecisionResult::Hold, &a.officer, note, out);
                }
                self.lower_if_safe(out);
                ack(out, true, "lowered");
            }
            OfficerKind::Hold => match self.state {
                State::Idle => ack(out, false, "no vehicle in the lane"),
                State::Passing { .. } => ack(out, false, "vehicle already passing"),
                State::Releasing { .. } => {
                    self.officer_decides(now, DecisionResult::Hold, &a.officer, note, out);
                    self.lower_if_safe(out);
                    ack(out, true, "held by officer");
                }
                _ => {
                    self.officer_decides(now, DecisionResult::Hold, &a.officer, note, out);
                    ack(out, true, "held by officer");
                }
            },
            OfficerKind::Inspect => {
                if note.is_none_or(|n| n.trim().is_empty()) {
                    return ack(out, false, "sending to inspection needs a note");
                }
                if self.barrier_fault {
                    return ack(out, false, "barrier in fault");
                }
                match self.state {
                    State::Idle => ack(out, false, "no vehicle in the lane"),
                    s if s.before_release() => {
                        self.officer_decides(now, DecisionResult::Inspect, &a.officer, note, out);
                        ack(out, true, "sent to inspection by officer");
                    }
                    _ => ack(out, false, "vehicle already released"),
                }
            }
            OfficerKind::Regather => match self.state {
                State::Idle if self.board.arrival => {
                    self.start(now, out);
                    ack(out, true, "new sequence started");
                }
                State::Idle => ack(out, false, "no vehicle in the lane"),
                s if s.before_release() => {
                    self.regather(now, out);
                    ack(out, true, "identifying again");
                }
                _ => ack(out, false, "vehicle already released"),
            },
            OfficerKind::Manual(data) => {
                let entry = OfficerEntry {
                    officer: a.officer.clone(),
                    note: a.note.clone(),
                    data,
                };
                match self.state {
                    State::Idle if self.board.arrival => {
                        self.start(now, out);
                        self.manual(now, entry, out);
                        ack(out, true, "new sequence, deciding on typed data");
                    }
                    State::Idle => ack(out, false, "no vehicle in the lane"),
                    s if s.before_release() => {
                        self.manual(now, entry, out);
                        ack(out, true, "deciding on typed data");
                    }
                    _ => ack(out, false, "vehicle already released"),
                }
            }
        }
    }

    fn manual(&mut self, now: u64, entry: OfficerEntry, out: &mut Vec<Command>) {
        if let Some(c) = self.cur.as_mut() {
            c.identified.officer = Some(entry);
        }
        self.enter_deciding(now, out);
    }

    fn officer_decides(
        &mut self,
        now: u64,
        result: DecisionResult,
        officer: &str,
        note: Option<&str>,
        out: &mut Vec<Command>,
    ) {
        let base = self.cur.as_ref().and_then(|c| c.decision.as_ref());
        let d = Decision::officer(base, result, officer, note);
        self.apply_decision(now, d, out);
    }
}
