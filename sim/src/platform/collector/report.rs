//! What the collector found: the platform's report (schema errors, duplicates,
//! conflicts, sequence gaps, photo problems, alarms, replies, sync requests)
//! and the actions it asks of the platform.

use std::collections::BTreeMap;

use gate_proto::messages::{Alarm, LaneEvent, Reply, Status};
use serde::Serialize;

/// An action the I/O side must take after a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A lane asked for the batches after `have_version`.
    AnswerSync { lane: String, have_version: u64 },
    /// A new event released a truck (or sent it to inspection) through the
    /// gate on this pass: a single-use pass is now used.
    PassUsed { lane: String, pass_no: String },
}

/// A payload that does not follow the contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SchemaError {
    pub topic: String,
    pub lane: Option<String>,
    /// "event" | "alarm" | "status" | "sync" | "reply" | "photo" | "topic".
    pub kind: String,
    pub errors: Vec<String>,
    /// The start of the payload (lossy UTF-8).
    pub excerpt: String,
}

/// An event received more than once with the same content (not an error:
/// delivery is at-least-once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DuplicateEvent {
    pub lane: String,
    pub event_id: String,
    pub seq: u64,
    /// Copies beyond the first.
    pub extra_copies: u64,
}

/// Contradicting data: the same event id with different content, or one seq
/// used by two event ids. An error of the lane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub lane: String,
    pub event_id: String,
    pub seq: u64,
    pub detail: String,
}

/// Seqs `from..=to` of a lane were never received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeqGap {
    pub lane: String,
    pub from: u64,
    pub to: u64,
}

/// A photo that does not match, or an event photo that never came.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PhotoProblem {
    pub lane: String,
    pub event_id: String,
    pub camera: String,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LaneAlarm {
    pub lane: String,
    pub alarm: Alarm,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LaneReply {
    pub lane: String,
    pub reply: Reply,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SyncSeen {
    pub lane: String,
    pub have_version: u64,
    pub at_ms: i64,
}

/// Everything the platform saw, checked. Produced by [`Collector::report`](super::Collector::report).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlatformReport {
    pub site: String,
    /// The platform's whitelist version when the report was made.
    pub whitelist_version: u64,
    /// Valid events, de-duplicated, in the order first received.
    pub events: Vec<LaneEvent>,
    /// Total extra copies of events (sum of `duplicate_events[].extra_copies`).
    pub duplicates: u64,
    pub duplicate_events: Vec<DuplicateEvent>,
    /// Missing seqs per lane, as ranges.
    pub gaps: Vec<SeqGap>,
    pub conflicts: Vec<Conflict>,
    pub schema_errors: Vec<SchemaError>,
    /// Photos received whose event lists them with the same sha256 and size.
    pub photos_ok: u64,
    /// Photos whose event never came, or that do not match the event's list.
    pub photos_bad: Vec<PhotoProblem>,
    /// Photos listed in an event that never arrived.
    pub photos_missing: Vec<PhotoProblem>,
    pub alarms: Vec<LaneAlarm>,
    /// Latest (retained) status per lane.
    pub status: BTreeMap<String, Status>,
    pub replies: Vec<LaneReply>,
    pub commands_sent: u64,
    /// Ids of commands sent that got no reply (yet).
    pub commands_without_reply: Vec<String>,
    /// Ids of commands that got more replies than times sent.
    pub extra_replies: Vec<String>,
    /// Replies naming a command this platform never sent.
    pub unknown_replies: Vec<LaneReply>,
    pub sync_requests: Vec<SyncSeen>,
    /// Sync requests not answered because the answer queue was full.
    pub sync_dropped: u64,
    /// Records not kept because a list reached [`MAX_RECORDS`](super::MAX_RECORDS).
    pub dropped: u64,
}

impl PlatformReport {
    /// Every lane error found, one line each (duplicates are not errors).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        for g in &self.gaps {
            p.push(format!(
                "lane {}: seq {}..={} missing",
                g.lane, g.from, g.to
            ));
        }
        for c in &self.conflicts {
            p.push(format!(
                "lane {}: conflict on event {} (seq {}): {}",
                c.lane, c.event_id, c.seq, c.detail
            ));
        }
        for e in &self.schema_errors {
            p.push(format!(
                "{} on {}: {}",
                e.kind,
                e.topic,
                e.errors.join("; ")
            ));
        }
        for ph in self.photos_bad.iter().chain(&self.photos_missing) {
            p.push(format!(
                "lane {}: photo {}/{}: {}",
                ph.lane, ph.event_id, ph.camera, ph.detail
            ));
        }
        for id in &self.commands_without_reply {
            p.push(format!("command {id}: no reply"));
        }
        for id in &self.extra_replies {
            p.push(format!("command {id}: more than one reply"));
        }
        for r in &self.unknown_replies {
            p.push(format!(
                "lane {}: reply to unknown command {}",
                r.lane, r.reply.command_id
            ));
        }
        if self.sync_dropped > 0 {
            p.push(format!("{} sync requests dropped", self.sync_dropped));
        }
        if self.dropped > 0 {
            p.push(format!("{} records dropped (collector full)", self.dropped));
        }
        p
    }

    /// No lane error found.
    pub fn is_clean(&self) -> bool {
        self.problems().is_empty()
    }
}
