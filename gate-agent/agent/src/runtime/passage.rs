//! A passage's records: the journal record written at each lane step
//! (write-ahead of the barrier), the finished event (journal and outbox in
//! one transaction), the tailgater's own event, and finished events kept to
//! write again while the store fails.
//!
//! Layer: agent runtime, the store edge (blocking SQLite on blocking
//! threads, never on the lane task).

use anyhow::{Context, Result};
use gate_core::decision::Decision;
use gate_core::lane::{AlarmKind, EventRecord, Passage, Step};
use gate_proto::messages::Severity;
use gate_store::OutboxMessage;
use tracing::{debug, error, info, warn};

use super::event::{self, Photo};
use super::{journal, Runner, SeqCtx};

impl Runner {
    pub(super) fn ctx_for(&mut self, seq: u64) -> &mut SeqCtx {
        self.seqs.entry(seq).or_insert_with(|| SeqCtx {
            event_id: gate_store::new_event_id(),
            photos: Vec::new(),
            tasks: Vec::new(),
            journaled: false,
            counted: None,
        })
    }

    /// A passage finished (its event journaled): the view's count and the
    /// metrics' counter.
    fn count_finished(&mut self) {
        self.stats.finished += 1;
        self.metrics.passage_finished();
    }

    pub(super) fn whitelist_version(&self) -> u64 {
        self.store.whitelist_version().unwrap_or(0)
    }

    /// The contract's event for a lane record, stamped with this lane's
    /// identity, clock and whitelist version.
    pub(super) fn lane_event(
        &self,
        rec: &EventRecord,
        event_id: &str,
        photos: &[Photo],
    ) -> gate_proto::messages::LaneEvent {
        journal::build_event(rec, event_id, photos, &self.cfg, &self.clock, &self.store)
    }

    /// Write the passage's journal record for `step`: the row is opened at
    /// the arrival and replaced at every later step; a record with a
    /// decision also sets the store's decision columns. Durable before the
    /// next command (a Raise) runs. A failed write raises `store_error`
    /// (the lane goes on: it must not trap a truck).
    pub(super) async fn journal(
        &mut self,
        seq: u64,
        step: Step,
        passage: &Passage,
    ) -> Result<(), String> {
        let wl = self.whitelist_version();
        let ctx = self.ctx_for(seq);
        let first = !std::mem::replace(&mut ctx.journaled, true);
        let event_id = ctx.event_id.clone();
        let record = journal::PassageRecord::new(&event_id, passage, &self.clock);
        let arrived_at = gate_proto::time::format_unix_ms(record.arrived_unix_ms);
        let decided = match (step, &passage.decision) {
            (Step::Decided | Step::Raised | Step::Passing, Some(d)) => Some((
                event::event_decision(Some(d), wl),
                gate_proto::time::format_unix_ms(
                    record.decided_unix_ms.unwrap_or(record.written_unix_ms),
                ),
            )),
            _ => None,
        };
        let store = self.store.clone();
        let lane = self.cfg.lane.lane.clone();
        let id = event_id.clone();
        let copy = record.clone();
        let r = tokio::task::spawn_blocking(move || -> Result<()> {
            let v = serde_json::to_value(&record).context("encoding the passage record")?;
            if first {
                store.journal_start(&lane, &id, &arrived_at, &v)?;
            }
            match decided {
                Some((ed, at)) => store.journal_decided(&id, &ed, &at, &v)?,
                None if !first => store.journal_update(&id, &v)?,
                None => {}
            }
            Ok(())
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
        // The copy beside the database follows, off this path; never one
        // that says the arm went up when its record could not be written.
        if r.is_ok() || !matches!(step, Step::Raised | Step::Passing) {
            self.copies.write(&self.cfg.store.path, copy);
        }
        if let Err(e) = r {
            let detail = format!("{e:#}");
            warn!(error = %detail, %event_id, ?step, "journal write failed");
            self.stats.store_failing = Some(detail.clone());
            self.stats.pressure = Some(self.store.outbox_pressure());
            let link = self.link.clone();
            let text = format!("journal write failed for event {event_id} at {step:?}: {detail}");
            tokio::spawn(async move {
                link.alarm("store_error", Severity::Critical, text).await;
            });
            return Err(detail);
        }
        self.stats.store_failing = None;
        match step {
            Step::Arrived if first => info!(seq, %event_id, "vehicle arrived"),
            Step::Decided | Step::Raised => {
                if let Some(d) = &passage.decision {
                    info!(seq, result = ?d.result, reasons = ?d.reasons, details = ?d.details, "decided");
                }
            }
            _ => debug!(seq, %event_id, ?step, "passage journaled"),
        }
        Ok(())
    }

    pub(super) async fn finish(&mut self, rec: EventRecord) {
        let Some(mut ctx) = self.seqs.remove(&rec.seq) else {
            warn!(seq = rec.seq, "finish for an unknown sequence");
            return;
        };
        for t in ctx.tasks.drain(..) {
            t.abort();
        }
        let mut ev = self.lane_event(&rec, &ctx.event_id, &ctx.photos);
        let topics = self.cfg.topics();
        let store = self.store.clone();
        let photos = std::mem::take(&mut ctx.photos);
        self.recent_photos.push(&ctx.event_id, photos.clone());
        let event_id = ctx.event_id.clone();
        let event_topic = topics.event();
        // A passage that ended before its decision (the truck backed out,
        // the lane restarted under it) still says which gate pass its reads
        // match, so the platform can tell which truck it was. The decision
        // is not changed (none was taken) and no pass is consumed.
        let undecided =
            (rec.decision.is_none() && rec.identified != Default::default()).then(|| {
                (
                    rec.identified.clone(),
                    self.cfg.policy.clone(),
                    self.link.state().connected,
                )
            });
        let mut kept = (ev.clone(), event_topic.clone());
        let behind = self.behind_refused().await;
        let r = tokio::task::spawn_blocking(move || {
            if let Some((identified, policy, online)) = undecided {
                match super::identify::lookup_and_decide(&store, &identified, &policy, online) {
                    Ok(d) => ev.gate_pass = d.gate_pass,
                    Err(e) => warn!(%e, "gate pass lookup for an undecided passage failed"),
                }
            }
            for p in &photos {
                // A photo that cannot be stored does not stop the event.
                let msg = OutboxMessage::photo(&topics, &event_id, &p.camera, p.jpeg.to_vec());
                if let Err(e) = store.outbox_enqueue(&msg) {
                    warn!(%e, camera = %p.camera, "photo not queued");
                }
            }
            // Behind an earlier refused event: not offered to the store.
            let r = (!behind).then(|| store.journal_finish(&ev, &event_topic));
            (ev, r)
        })
        .await
        .map(|(ev, r)| {
            kept.0 = ev;
            r
        });
        match r {
            Ok(None) => {
                warn!(event_id = %ctx.event_id, "event waits behind an earlier one for the store");
                self.keep(kept);
            }
            Ok(Some(Ok(f))) => {
                self.count_finished();
                self.copies.remove(&self.cfg.store.path);
                info!(seq = f.seq, event_id = %ctx.event_id, outcome = ?rec.outcome, "event finished");
                self.stats.pressure = Some(f.pressure);
                if f.pressure == gate_store::Pressure::Warn {
                    let link = self.link.clone();
                    tokio::spawn(async move {
                        let why = format!("outbox pressure {:?}", f.pressure);
                        link.alarm("outbox_filling", Severity::Warning, why).await;
                    });
                }
            }
            other => {
                let detail = format!("{other:?}");
                warn!(%detail, event_id = %ctx.event_id, "journal_finish failed: kept to write again");
                self.stats.store_failing = Some(detail);
                self.stats.pressure = Some(self.store.outbox_pressure());
                self.keep(kept);
            }
        }
        if rec.tailgating {
            self.report_tailgater(&rec).await;
        }
        self.link.notify_outbox();
    }

    /// A vehicle that followed another under the open arm passed without
    /// being identified or decided: it gets an event of its own (hold, H08,
    /// outcome passed) so the platform sees every passage, beside the
    /// `tailgating` alarm.
    pub(super) async fn report_tailgater(&mut self, leader: &EventRecord) {
        let event_id = gate_store::new_event_id();
        let leader_plate = leader
            .decision
            .as_ref()
            .and_then(|d| d.plate.clone())
            .unwrap_or_else(|| "an unidentified vehicle".into());
        let rec = EventRecord {
            seq: leader.seq,
            arrived_ms: leader.finished_ms,
            decided_ms: Some(leader.finished_ms),
            finished_ms: leader.finished_ms,
            identified: Default::default(),
            decision: Some(Decision::lane(
                gate_proto::messages::DecisionResult::Hold,
                &[gate_proto::messages::Reason::H08],
                &format!("passed without identification or decision, following {leader_plate} (tailgating)"),
            )),
            outcome: gate_proto::messages::Outcome::Passed,
            officer: None,
            note: None,
            tailgating: true,
            stopped_short: false,
            alarms: vec![AlarmKind::Tailgating],
        };
        let mut ev = self.lane_event(&rec, &event_id, &[]);
        ev.note = Some(format!("tailgated behind {leader_plate}"));
        let store = self.store.clone();
        let topic = self.cfg.topics().event();
        // One transaction: the event is journaled finished at once.
        let kept = (ev.clone(), topic.clone());
        if self.behind_refused().await {
            warn!(%event_id, "tailgater event waits behind an earlier one for the store");
            self.keep(kept);
            return;
        }
        let r = tokio::task::spawn_blocking(move || store.journal_finish(&ev, &topic)).await;
        match r {
            Ok(Ok(f)) => {
                self.count_finished();
                warn!(seq = f.seq, %event_id, "tailgater reported");
            }
            other => {
                warn!(?other, "tailgater event not journaled: kept to write again");
                self.stats.store_failing = Some(format!("{other:?}"));
                self.keep(kept);
            }
        }
    }

    /// Whether an earlier event the store refused still waits after one
    /// more try: a new event then goes behind it, so events are journaled
    /// (and numbered) in the order they finished.
    async fn behind_refused(&mut self) -> bool {
        if !self.unfinished.is_empty() {
            self.retry_unfinished().await;
        }
        !self.unfinished.is_empty()
    }

    /// Hold a finished event the store did not take, and keep its copy
    /// beside the database ([`journal::keep_unfinished`]).
    fn keep(&mut self, (event, topic): (gate_proto::messages::LaneEvent, String)) {
        let on_disk = journal::keep_unfinished(&self.cfg.store.path, &event, &topic);
        self.unfinished.push(Unfinished {
            event,
            topic,
            on_disk,
        });
    }

    /// Events whose journal_finish failed (disk full...) are written again
    /// every second, in order, until the store takes them: a passage that
    /// happened is never dropped. Meanwhile admission is stopped. A copy
    /// not yet written beside the database is tried again too.
    pub(super) async fn retry_unfinished(&mut self) {
        while let Some(u) = self.unfinished.first() {
            let store = self.store.clone();
            let (ev, topic) = (u.event.clone(), u.topic.clone());
            let r = tokio::task::spawn_blocking(move || store.journal_finish(&ev, &topic)).await;
            match r {
                Ok(Ok(f)) => {
                    let u = self.unfinished.remove(0);
                    journal::forget_unfinished(&self.cfg.store.path, &u.event.event_id);
                    info!(seq = f.seq, event_id = %u.event.event_id, "event journaled after a store failure");
                    self.count_finished();
                    self.link.notify_outbox();
                }
                other => {
                    debug!(?other, "store still failing");
                    let db = self.cfg.store.path.clone();
                    for u in self.unfinished.iter_mut().filter(|u| !u.on_disk) {
                        u.on_disk = journal::keep_unfinished(&db, &u.event, &u.topic);
                    }
                    return;
                }
            }
        }
        self.stats.store_failing = None;
    }

    /// At a clean stop: try the store again for up to `within` before the
    /// process ends; what is still refused stays in its copy beside the
    /// database (journaled at the next start) or, without one, is logged
    /// whole at ERROR level.
    pub(super) async fn flush_unfinished(&mut self, within: std::time::Duration) {
        let until = tokio::time::Instant::now() + within;
        while !self.unfinished.is_empty() {
            self.retry_unfinished().await;
            if self.unfinished.is_empty() || tokio::time::Instant::now() >= until {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        for u in &self.unfinished {
            if u.on_disk {
                warn!(event_id = %u.event.event_id, "stopping with an event the store refused: its copy is journaled at the next start");
            } else {
                let json = serde_json::to_string(&u.event).unwrap_or_default();
                error!(event_id = %u.event.event_id, topic = %u.topic, event = %json, "stopping with an event neither the store nor its copy took");
            }
        }
    }
}

/// A finished event waiting for the store.
pub(super) struct Unfinished {
    pub event: gate_proto::messages::LaneEvent,
    pub topic: String,
    /// Its copy beside the database is written.
    pub on_disk: bool,
}
