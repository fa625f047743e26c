//! Executing the lane's commands in order (journal before barrier, board
//! writes through the ordered queue, alarms, answers owed to officers) and
//! taking the platform's remote commands and officer actions in (each
//! audited, each answered exactly once).
//!
//! Layer: agent runtime, between the sans-IO lane core and the I/O edges.

use gate_core::lane::{
    AlarmKind, Command, Input, Light, OfficerAction, OfficerKind, Passage, Step,
};
use gate_link::CommandRequest;
use gate_proto::messages::{CommandKind, DecisionResult, Severity};
use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::{devices, BoardOp, Runner};
use crate::drivers::board::BoardCommand;

impl Runner {
    pub(super) async fn audit(&self, a: &OfficerAction) {
        self.audit_entry(
            a.officer.clone(),
            format!("{:?}", a.kind),
            a.note.clone().unwrap_or_default(),
        )
        .await;
    }

    /// The event id of the passage in progress.
    pub(super) fn current_event_id(&self) -> Option<String> {
        self.lane
            .current_seq()
            .and_then(|s| self.seqs.get(&s))
            .map(|c| c.event_id.clone())
    }

    /// One line of the officer audit log, tied to the passage in progress.
    pub(super) async fn audit_entry(&self, officer: String, action: String, detail: String) {
        let store = self.store.clone();
        let event_id = self.current_event_id();
        let r = tokio::task::spawn_blocking(move || {
            store.audit(&officer, &action, &detail, event_id.as_deref())
        })
        .await;
        if !matches!(r, Ok(Ok(_))) {
            warn!("audit log write failed: {r:?}");
        }
    }

    pub(super) async fn on_platform_command(&mut self, req: CommandRequest) -> Option<Input> {
        let c = req.command.clone();
        let officer = c.officer.clone().unwrap_or_else(|| "platform".into());
        let kind = match c.kind {
            CommandKind::Raise => OfficerKind::Raise,
            CommandKind::Lower => OfficerKind::Lower,
            CommandKind::Release => OfficerKind::Release,
            CommandKind::Hold => OfficerKind::Hold,
            CommandKind::Regather => OfficerKind::Regather,
            CommandKind::Resync => {
                self.link.request_resync();
                req.respond(true, "resync requested");
                return None;
            }
            CommandKind::RestartDevice => {
                let dev = c.device.clone().unwrap_or_default();
                let reason = c.note.clone().unwrap_or_else(|| "platform command".into());
                let (targets, store) = (self.devs.restarts.clone(), self.store.clone());
                let event_id = self.current_event_id();
                // The lane goes on meanwhile: the driver reopens its
                // connection as after a failure, only at once.
                tokio::spawn(async move {
                    use super::devices::{restart_audited, RestartRefusal};
                    match restart_audited(&targets, &store, &dev, &officer, &reason, event_id).await
                    {
                        Ok((name, d)) => req.respond(true, format!("{name}: {d}")),
                        Err(
                            RestartRefusal::NotFound(e)
                            | RestartRefusal::NotAudited(e)
                            | RestartRefusal::Failed(e),
                        ) => req.respond(false, e),
                    }
                });
                return None;
            }
        };
        let action = OfficerAction {
            officer,
            note: c.note.clone(),
            kind,
        };
        let (tx, rx) = oneshot::channel();
        self.pending_acks.push(tx);
        self.audit(&action).await;
        tokio::spawn(async move {
            match rx.await {
                Ok((ok, detail)) => req.respond(ok, detail),
                Err(_) => req.respond(false, "agent stopped before answering"),
            }
        });
        Some(Input::Officer(action))
    }

    pub(super) async fn exec(&mut self, cmds: Vec<Command>) {
        // Journal before barrier: a release whose record could not be
        // written is not acted on (its Raise is dropped, the lane holds).
        let mut raise_blocked = false;
        // Identification (device reads) and a decision (a read-only
        // lookup) start before the batch's journal write (the arrival, what
        // was identified), so they run side by side with it. What they find
        // comes back as lane inputs, taken only after this batch: the
        // record is still written before anything acts on them.
        let (start, cmds): (Vec<Command>, Vec<Command>) = cmds.into_iter().partition(|c| {
            matches!(
                c,
                Command::StartIdentification { .. } | Command::Decide { .. }
            )
        });
        for c in start.into_iter().chain(cmds) {
            debug!(?c, "lane command");
            match c {
                Command::Journal { seq, step, passage } => {
                    self.note_decision(seq, step, &passage);
                    if let Err(detail) = self.journal(seq, step, &passage).await {
                        if matches!(step, Step::Raised | Step::Passing) {
                            raise_blocked = true;
                        }
                        self.followups.push(Input::JournalFailed { seq, detail });
                    }
                }
                Command::Raise if raise_blocked => {
                    warn!("raise not executed: its decision could not be journaled");
                }
                Command::StartIdentification { seq, devices } => {
                    self.start_identification(seq, &devices);
                    // The scale's current reading counts at once: a truck
                    // already settled on the platform is not kept waiting
                    // for the next poll (the reading taken while the lane
                    // was idle went to no passage).
                    let now = self
                        .devs
                        .weighbridge
                        .as_ref()
                        .and_then(|w| w.subscribe().borrow().clone());
                    if let Some(w) = now {
                        self.followups.push(Input::Read(devices::weight_read(&w)));
                    }
                }
                Command::Decide { seq, identified } => self.start_decision(seq, *identified),
                Command::Raise => {
                    let decided = self.raise_clock.take();
                    self.board(BoardOp::Raise(decided)).await
                }
                Command::Lower => self.board(BoardOp::Cmd(BoardCommand::Lower)).await,
                Command::SetLed(t) => {
                    self.stats.led = t.clone();
                    self.board(BoardOp::Led(t)).await
                }
                Command::SetLight(l) => {
                    self.board(BoardOp::Cmd(BoardCommand::Light(l == Light::Green)))
                        .await
                }
                Command::Alarm { kind, detail } => {
                    let sev = match kind {
                        AlarmKind::BarrierFault | AlarmKind::Tailgating => Severity::Critical,
                        AlarmKind::DeviceRecovered => Severity::Info,
                        _ => Severity::Warning,
                    };
                    let link = self.link.clone();
                    tokio::spawn(async move {
                        link.alarm(kind.as_str(), sev, detail).await;
                    });
                }
                Command::Ack { ok, detail } => {
                    if !self.pending_acks.is_empty() {
                        let tx = self.pending_acks.remove(0);
                        let _ = tx.send((ok, detail));
                    }
                }
                Command::Finish(rec) => self.finish(*rec).await,
            }
        }
    }

    /// Metrics of a decision the lane took, seen in the journal record that
    /// carries it (every decision is journaled before anything acts on it:
    /// automatic, officer, the lane's own hold): counted by result and
    /// reason, the passage's first one timed from the arrival, and a
    /// release or inspect starts the decision → raise clock. A record that
    /// carries the same decision again (a later step) counts nothing.
    fn note_decision(&mut self, seq: u64, step: Step, passage: &Passage) {
        if !matches!(step, Step::Decided | Step::Raised | Step::Passing) {
            return;
        }
        let (Some(d), Some(key)) = (&passage.decision, super::decision_key(passage)) else {
            return;
        };
        let ctx = self.ctx_for(seq);
        if ctx.counted.as_ref() == Some(&key) {
            return;
        }
        let first = ctx.counted.replace(key).is_none();
        self.metrics.decision(d.result, &d.reasons);
        if let (true, Some(decided)) = (first, passage.decided_ms) {
            let lane_ms = decided.saturating_sub(passage.arrived_ms);
            self.metrics.arrival_to_decision(self.clock.real(lane_ms));
        }
        self.raise_clock = (d.result != DecisionResult::Hold).then(std::time::Instant::now);
    }

    pub(super) async fn board(&self, op: BoardOp) {
        if self.board_tx.send(op).await.is_err() {
            warn!("board writer stopped");
        }
    }
}
