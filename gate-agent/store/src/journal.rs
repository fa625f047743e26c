//! The event journal (write-ahead log of lane events) and the per-lane
//! gapless sequence counter.
//!
//! A passage is journalled as it happens: `started` at arrival, its record
//! (`context`, the agent's) replaced at each step, `decided` (durably,
//! before the barrier moves), `finished` when its outcome is
//! known, which is when it gets its `seq` and enters the outbox, in one
//! durable transaction. After a crash, the entries not finished are what
//! the agent must settle ([`crate::Store::unfinished_journal`]).
//!
//! This module knows SQL and the event types of the contract; it knows
//! nothing about the lane sequence or MQTT.

use gate_proto::messages::{EventDecision, LaneEvent};
use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::Value;

use crate::error::{Ctx, Result, StoreError};

/// Where an event is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JournalState {
    Started,
    Decided,
    Finished,
}

impl JournalState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Decided => "decided",
            Self::Finished => "finished",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "started" => Some(Self::Started),
            "decided" => Some(Self::Decided),
            "finished" => Some(Self::Finished),
            _ => None,
        }
    }
}

/// A journalled event not yet finished (recovery after a crash).
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    pub event_id: String,
    pub lane: String,
    pub state: JournalState,
    pub arrived_at: String,
    /// Unix ms when `journal_start` was called.
    pub started_ms: i64,
    /// The agent's latest draft of the event (what it identified so far).
    pub context: Option<Value>,
    /// The decision, once `journal_decided` was called.
    pub decision: Option<EventDecision>,
    pub decided_at: Option<String>,
}

/// Result of [`crate::Store::journal_finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The event's per-lane sequence number.
    pub seq: u64,
    /// Its outbox item; `None` when the event had already been finished
    /// (a repeated call: nothing was enqueued again).
    pub outbox_id: Option<i64>,
    /// True for a repeated call on an already finished event.
    pub already_finished: bool,
    /// Outbox pressure after the enqueue.
    pub pressure: crate::outbox::Pressure,
}

/// A finished event as stored (diagnostics).
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub seq: u64,
    pub event_id: String,
    pub lane: String,
    pub finished_ms: i64,
    /// The event exactly as published (with its `seq`).
    pub event: LaneEvent,
}

fn check_ids(lane: &str, event_id: &str) -> Result<()> {
    if event_id.is_empty() || event_id.len() > 64 {
        return Err(StoreError::Journal(format!(
            "event_id `{event_id}` empty or longer than 64"
        )));
    }
    if !gate_proto::valid_id(lane) {
        return Err(StoreError::Journal(format!(
            "lane `{lane}` is not [A-Z0-9-]{{1,16}}"
        )));
    }
    Ok(())
}

/// (state, lane, seq) of a journalled event.
fn state_of(
    tx: &Transaction<'_>,
    event_id: &str,
) -> Result<Option<(JournalState, String, Option<i64>)>> {
    let row: Option<(String, String, Option<i64>)> = tx
        .prepare_cached("SELECT state, lane, seq FROM journal WHERE event_id = ?1")
        .and_then(|mut s| {
            s.query_row([event_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .ctx("reading a journal entry")?;
    row.map(|(s, lane, seq)| {
        JournalState::parse(&s)
            .map(|st| (st, lane, seq))
            .ok_or_else(|| StoreError::BadValue {
                context: format!("journal state of {event_id}"),
                detail: s,
            })
    })
    .transpose()
}

pub(crate) fn start(
    tx: &Transaction<'_>,
    lane: &str,
    event_id: &str,
    arrived_at: &str,
    context: &Value,
    now_ms: i64,
) -> Result<()> {
    check_ids(lane, event_id)?;
    let ctx_json = serde_json::to_string(context).ctx("encoding journal context")?;
    match state_of(tx, event_id)? {
        Some((JournalState::Finished, _, _)) => Err(StoreError::Journal(format!(
            "event {event_id} is already finished"
        ))),
        Some((_, l, _)) if l != lane => Err(StoreError::Journal(format!(
            "event {event_id} belongs to lane {l}, not {lane}"
        ))),
        Some(_) => {
            tx.execute(
                "UPDATE journal SET context = ?2, arrived_at = ?3 WHERE event_id = ?1",
                params![event_id, ctx_json, arrived_at],
            )
            .ctx("updating a journal entry")?;
            Ok(())
        }
        None => {
            tx.execute(
                "INSERT INTO journal (event_id, lane, state, arrived_at, started_ms, context) \
                 VALUES (?1, ?2, 'started', ?3, ?4, ?5)",
                params![event_id, lane, arrived_at, now_ms, ctx_json],
            )
            .ctx("journalling an arrival")?;
            Ok(())
        }
    }
}

pub(crate) fn decided(
    tx: &Transaction<'_>,
    event_id: &str,
    decision: &EventDecision,
    decided_at: &str,
    context: &Value,
) -> Result<()> {
    match state_of(tx, event_id)? {
        None => Err(StoreError::Journal(format!(
            "event {event_id} was never started"
        ))),
        Some((JournalState::Finished, _, _)) => Err(StoreError::Journal(format!(
            "event {event_id} is already finished"
        ))),
        Some(_) => {
            let d = serde_json::to_string(decision).ctx("encoding a decision")?;
            let c = serde_json::to_string(context).ctx("encoding journal context")?;
            tx.execute(
                "UPDATE journal SET state = 'decided', decision = ?2, decided_at = ?3, context = ?4 \
                 WHERE event_id = ?1",
                params![event_id, d, decided_at, c],
            )
            .ctx("journalling a decision")?;
            Ok(())
        }
    }
}

pub(crate) fn update(tx: &Transaction<'_>, event_id: &str, context: &Value) -> Result<()> {
    match state_of(tx, event_id)? {
        None => Err(StoreError::Journal(format!(
            "event {event_id} was never started"
        ))),
        Some((JournalState::Finished, _, _)) => Err(StoreError::Journal(format!(
            "event {event_id} is already finished"
        ))),
        Some(_) => {
            let c = serde_json::to_string(context).ctx("encoding journal context")?;
            tx.execute(
                "UPDATE journal SET context = ?2 WHERE event_id = ?1",
                params![event_id, c],
            )
            .ctx("updating a journal record")?;
            Ok(())
        }
    }
}

/// Finish an event: next seq of its lane, final JSON. Returns
/// `Err(seq)` inside `Ok` when it was already finished.
pub(crate) fn finish(
    tx: &Transaction<'_>,
    event: &LaneEvent,
    now_ms: i64,
) -> Result<std::result::Result<(u64, Vec<u8>), u64>> {
    check_ids(&event.lane, &event.event_id)?;
    let existing = state_of(tx, &event.event_id)?;
    match &existing {
        Some((JournalState::Finished, _, seq)) => {
            return Ok(Err(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0)));
        }
        Some((_, l, _)) if *l != event.lane => {
            return Err(StoreError::Journal(format!(
                "event {} belongs to lane {l}, not {}",
                event.event_id, event.lane
            )))
        }
        _ => {}
    }
    let last: i64 = tx
        .prepare_cached("SELECT last_seq FROM lane_seq WHERE lane = ?1")
        .and_then(|mut s| s.query_row([&event.lane], |r| r.get(0)).optional())
        .ctx("reading the lane sequence")?
        .unwrap_or(0);
    let seq = last + 1;
    tx.prepare_cached(
        "INSERT INTO lane_seq (lane, last_seq) VALUES (?1, ?2) \
         ON CONFLICT (lane) DO UPDATE SET last_seq = excluded.last_seq",
    )
    .and_then(|mut s| s.execute(params![event.lane, seq]))
    .ctx("advancing the lane sequence")?;
    let mut ev = event.clone();
    ev.seq = u64::try_from(seq).unwrap_or(0);
    let json = serde_json::to_vec(&ev).ctx("encoding the event")?;
    let json_text = std::str::from_utf8(&json).map_err(|e| StoreError::BadValue {
        context: "event JSON".into(),
        detail: e.to_string(),
    })?;
    let decision = serde_json::to_string(&ev.decision).ctx("encoding a decision")?;
    if existing.is_some() {
        tx.prepare_cached(
            "UPDATE journal SET state = 'finished', seq = ?2, event = ?3, finished_ms = ?4, \
             decision = ?5, decided_at = ?6 WHERE event_id = ?1",
        )
        .and_then(|mut s| {
            s.execute(params![
                ev.event_id,
                seq,
                json_text,
                now_ms,
                decision,
                ev.decided_at
            ])
        })
        .ctx("finishing a journal entry")?;
    } else {
        tx.prepare_cached(
            "INSERT INTO journal (event_id, lane, state, arrived_at, started_ms, decision, decided_at, \
             seq, event, finished_ms) VALUES (?1, ?2, 'finished', ?3, ?4, ?5, ?6, ?7, ?8, ?4)",
        )
        .and_then(|mut s| {
            s.execute(params![
                ev.event_id,
                ev.lane,
                ev.arrived_at,
                now_ms,
                decision,
                ev.decided_at,
                seq,
                json_text
            ])
        })
        .ctx("journalling a finished event")?;
    }
    Ok(Ok((ev.seq, json)))
}

/// Drop finished entries older than `cutoff_ms`, then the oldest beyond
/// `max` finished entries. Returns how many went.
pub(crate) fn purge(tx: &Transaction<'_>, cutoff_ms: i64, max: u64) -> Result<u64> {
    let mut n = tx
        .prepare_cached("DELETE FROM journal WHERE finished_ms IS NOT NULL AND finished_ms < ?1")
        .and_then(|mut s| s.execute([cutoff_ms]))
        .ctx("purging old journal entries")?;
    let count: i64 = tx
        .query_row(
            "SELECT count(*) FROM journal WHERE finished_ms IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .ctx("counting journal entries")?;
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    if count > max {
        n += tx
            .execute(
                "DELETE FROM journal WHERE event_id IN (SELECT event_id FROM journal \
                 WHERE finished_ms IS NOT NULL ORDER BY finished_ms, rowid LIMIT ?1)",
                [count - max],
            )
            .ctx("capping the journal")?;
    }
    Ok(n as u64)
}

pub(crate) fn unfinished(tx: &Transaction<'_>) -> Result<Vec<JournalEntry>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT event_id, lane, state, arrived_at, started_ms, context, decision, decided_at \
             FROM journal WHERE state <> 'finished' ORDER BY started_ms, event_id",
        )
        .ctx("preparing the unfinished journal")?;
    type Raw = (
        String,
        String,
        String,
        String,
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Raw> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .and_then(Iterator::collect)
        .ctx("reading the unfinished journal")?;
    rows.into_iter()
        .map(
            |(event_id, lane, state, arrived_at, started_ms, context, decision, decided_at)| {
                let state = JournalState::parse(&state).ok_or_else(|| StoreError::BadValue {
                    context: format!("journal state of {event_id}"),
                    detail: state.clone(),
                })?;
                let context = context
                    .map(|c| serde_json::from_str(&c))
                    .transpose()
                    .ctx("decoding journal context")?;
                let decision = decision
                    .map(|d| serde_json::from_str(&d))
                    .transpose()
                    .ctx("decoding a journalled decision")?;
                Ok(JournalEntry {
                    event_id,
                    lane,
                    state,
                    arrived_at,
                    started_ms,
                    context,
                    decision,
                    decided_at,
                })
            },
        )
        .collect()
}

pub(crate) fn recent(tx: &Transaction<'_>, limit: usize) -> Result<Vec<EventRecord>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT seq, event_id, lane, finished_ms, event FROM journal \
             WHERE finished_ms IS NOT NULL ORDER BY finished_ms DESC, seq DESC LIMIT ?1",
        )
        .ctx("preparing recent events")?;
    let rows: Vec<(i64, String, String, i64, String)> = stmt
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .and_then(Iterator::collect)
        .ctx("reading recent events")?;
    rows.into_iter()
        .map(|(seq, event_id, lane, finished_ms, json)| {
            Ok(EventRecord {
                seq: u64::try_from(seq).unwrap_or(0),
                event: serde_json::from_str(&json).ctx("decoding a stored event")?,
                event_id,
                lane,
                finished_ms,
            })
        })
        .collect()
}

/// Last seq given per lane.
pub(crate) fn last_seqs(tx: &Transaction<'_>) -> Result<Vec<(String, u64)>> {
    let mut stmt = tx
        .prepare_cached("SELECT lane, last_seq FROM lane_seq ORDER BY lane")
        .ctx("preparing lane sequences")?;
    let rows: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(Iterator::collect)
        .ctx("reading lane sequences")?;
    Ok(rows
        .into_iter()
        .map(|(l, s)| (l, u64::try_from(s).unwrap_or(0)))
        .collect())
}
