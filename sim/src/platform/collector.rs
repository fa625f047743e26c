//! What the simulated platform receives from lanes, checked against the
//! contract: events (schema, de-duplication, per-lane gapless `seq`,
//! conflicting duplicates), photos (size and sha256 against the event's
//! `photos`), alarms, status, sync requests and command replies.
//!
//! Layer: sans-IO core of the platform. It is fed `(topic, payload, now)` and
//! returns what the platform must do (answer a sync request); it knows the
//! contract's topics and JSON (gate-proto) but nothing about MQTT clients,
//! tokio or signing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gate_proto::messages::{
    validate_event, Alarm, Command, DecisionResult, LaneEvent, Outcome, Reply, Status, SyncRequest,
};
use gate_proto::topics::{parse_lane_topic, LaneTopic};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Largest JSON payload accepted on event/alarm/status/sync/reply topics.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;
/// Bound on every collected list (events, alarms, errors, ...); past it,
/// records are counted in `dropped` and not kept.
pub const MAX_RECORDS: usize = 100_000;
/// How much of a bad payload is kept in a [`SchemaError`].
const EXCERPT_CHARS: usize = 200;

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

/// Everything the platform saw, checked. Produced by [`Collector::report`].
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
    /// Records not kept because a list reached [`MAX_RECORDS`].
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

struct StoredEvent {
    lane: String,
    event: LaneEvent,
    raw: Value,
    copies: u64,
}

struct PhotoSeen {
    lane: String,
    sha256: String,
    bytes: u64,
    /// Set when a later copy differs from the first.
    changed: bool,
}

struct SentCommand {
    lane: String,
    sends: u64,
    replies: u64,
}

/// The platform's receiving side (see the module doc).
pub struct Collector {
    site: String,
    expect_first_seq: Option<u64>,
    events: Vec<StoredEvent>,
    by_id: HashMap<String, usize>,
    /// lane -> seq -> event_id.
    seqs: BTreeMap<String, BTreeMap<u64, String>>,
    conflicts: Vec<Conflict>,
    schema_errors: Vec<SchemaError>,
    /// (event_id, camera) -> photo.
    photos: BTreeMap<(String, String), PhotoSeen>,
    alarms: Vec<LaneAlarm>,
    status: BTreeMap<String, Status>,
    replies: Vec<LaneReply>,
    unknown_replies: Vec<LaneReply>,
    commands: BTreeMap<String, SentCommand>,
    commands_sent: u64,
    syncs: Vec<SyncSeen>,
    sync_dropped: u64,
    dropped: u64,
    /// Bumped on every message; lets waiters see a change.
    generation: u64,
}

impl Collector {
    /// A collector for `site`. `expect_first_seq`: the seq the lanes start
    /// at (a gap before the first received seq is then reported too); `None`
    /// takes each lane's lowest received seq as its start.
    pub fn new(site: &str, expect_first_seq: Option<u64>) -> Self {
        Self {
            site: site.to_owned(),
            expect_first_seq,
            events: Vec::new(),
            by_id: HashMap::new(),
            seqs: BTreeMap::new(),
            conflicts: Vec::new(),
            schema_errors: Vec::new(),
            photos: BTreeMap::new(),
            alarms: Vec::new(),
            status: BTreeMap::new(),
            replies: Vec::new(),
            unknown_replies: Vec::new(),
            commands: BTreeMap::new(),
            commands_sent: 0,
            syncs: Vec::new(),
            sync_dropped: 0,
            dropped: 0,
            generation: 0,
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Handle one message received on `topic`.
    pub fn on_message(&mut self, topic: &str, payload: &[u8], now_ms: i64) -> Option<Action> {
        self.generation += 1;
        let Some((site, lane, kind)) = parse_lane_topic(topic) else {
            self.schema_error(
                topic,
                None,
                "topic",
                vec!["not a lane topic".into()],
                payload,
            );
            return None;
        };
        if site != self.site {
            // Subscriptions are per site; another site's traffic is not ours.
            return None;
        }
        if let LaneTopic::Photo { event_id, camera } = kind {
            self.on_photo(&lane, event_id, camera, payload);
            return None;
        }
        if payload.len() > MAX_JSON_BYTES {
            let e = format!("payload is {} bytes, over {MAX_JSON_BYTES}", payload.len());
            self.schema_error(topic, Some(&lane), kind_name(&kind), vec![e], payload);
            return None;
        }
        let value: Value = match serde_json::from_slice(payload) {
            Ok(v) => v,
            Err(e) => {
                let e = format!("not JSON: {e}");
                self.schema_error(topic, Some(&lane), kind_name(&kind), vec![e], payload);
                return None;
            }
        };
        match kind {
            LaneTopic::Event => return self.on_event(topic, &lane, value, payload),
            LaneTopic::Alarm => match serde_json::from_value::<Alarm>(value) {
                Ok(alarm) => self.push_alarm(LaneAlarm { lane, alarm }),
                Err(e) => {
                    self.schema_error(topic, Some(&lane), "alarm", vec![e.to_string()], payload)
                }
            },
            LaneTopic::Status => match serde_json::from_value::<Status>(value) {
                Ok(s) if s.state == "online" || s.state == "offline" => {
                    self.status.insert(lane, s);
                }
                Ok(s) => self.schema_error(
                    topic,
                    Some(&lane),
                    "status",
                    vec![format!("state `{}` is not online|offline", s.state)],
                    payload,
                ),
                Err(e) => {
                    self.schema_error(topic, Some(&lane), "status", vec![e.to_string()], payload)
                }
            },
            LaneTopic::Sync => match serde_json::from_value::<SyncRequest>(value) {
                Ok(r) => {
                    let seen = SyncSeen {
                        lane: lane.clone(),
                        have_version: r.have_version,
                        at_ms: now_ms,
                    };
                    if self.syncs.len() < MAX_RECORDS {
                        self.syncs.push(seen);
                    } else {
                        self.dropped += 1;
                    }
                    return Some(Action::AnswerSync {
                        lane,
                        have_version: r.have_version,
                    });
                }
                Err(e) => {
                    self.schema_error(topic, Some(&lane), "sync", vec![e.to_string()], payload)
                }
            },
            LaneTopic::Reply => match serde_json::from_value::<Reply>(value) {
                Ok(reply) => self.on_reply(lane, reply),
                Err(e) => {
                    self.schema_error(topic, Some(&lane), "reply", vec![e.to_string()], payload)
                }
            },
            // Our own commands come back only if someone subscribes us to
            // them; they are not lane output.
            LaneTopic::Command => {}
            LaneTopic::Photo { .. } => {}
        }
        None
    }

    /// Record a command the platform sent (once per publish).
    pub fn command_sent(&mut self, cmd: &Command) {
        self.commands_sent += 1;
        let e = self
            .commands
            .entry(cmd.id.clone())
            .or_insert_with(|| SentCommand {
                lane: cmd.lane.clone(),
                sends: 0,
                replies: 0,
            });
        e.sends += 1;
        self.generation += 1;
    }

    /// A sync request that could not be queued for an answer.
    pub fn sync_dropped(&mut self) {
        self.sync_dropped += 1;
    }

    /// Valid events, de-duplicated, in the order first received.
    pub fn events(&self) -> impl Iterator<Item = &LaneEvent> {
        self.events.iter().map(|e| &e.event)
    }

    pub fn event(&self, event_id: &str) -> Option<&LaneEvent> {
        self.by_id.get(event_id).map(|&i| &self.events[i].event)
    }

    /// The first reply to `command_id`, if any.
    pub fn reply(&self, command_id: &str) -> Option<&Reply> {
        self.replies
            .iter()
            .find(|r| r.reply.command_id == command_id)
            .map(|r| &r.reply)
    }

    pub fn status(&self, lane: &str) -> Option<&Status> {
        self.status.get(lane)
    }

    pub fn sync_requests(&self) -> &[SyncSeen] {
        &self.syncs
    }

    pub fn alarms(&self) -> &[LaneAlarm] {
        &self.alarms
    }

    /// The checked summary of everything received so far.
    pub fn report(&self, whitelist_version: u64) -> PlatformReport {
        let mut r = PlatformReport {
            site: self.site.clone(),
            whitelist_version,
            events: self.events.iter().map(|e| e.event.clone()).collect(),
            conflicts: self.conflicts.clone(),
            schema_errors: self.schema_errors.clone(),
            alarms: self.alarms.clone(),
            status: self.status.clone(),
            replies: self.replies.clone(),
            unknown_replies: self.unknown_replies.clone(),
            commands_sent: self.commands_sent,
            sync_requests: self.syncs.clone(),
            sync_dropped: self.sync_dropped,
            dropped: self.dropped,
            ..PlatformReport::default()
        };
        for e in &self.events {
            if e.copies > 1 {
                r.duplicates += e.copies - 1;
                r.duplicate_events.push(DuplicateEvent {
                    lane: e.lane.clone(),
                    event_id: e.event.event_id.clone(),
                    seq: e.event.seq,
                    extra_copies: e.copies - 1,
                });
            }
        }
        r.gaps = self.gaps();
        self.check_photos(&mut r);
        for (id, c) in &self.commands {
            if c.replies == 0 {
                r.commands_without_reply.push(id.clone());
            } else if c.replies > c.sends {
                r.extra_replies.push(id.clone());
            }
        }
        r
    }

    fn gaps(&self) -> Vec<SeqGap> {
        let mut out = Vec::new();
        for (lane, seqs) in &self.seqs {
            let Some((&lowest, _)) = seqs.first_key_value() else {
                continue;
            };
            let mut expected = match self.expect_first_seq {
                Some(f) if f < lowest => f,
                _ => lowest,
            };
            for &s in seqs.keys() {
                if s > expected {
                    out.push(SeqGap {
                        lane: lane.clone(),
                        from: expected,
                        to: s - 1,
                    });
                }
                expected = s.saturating_add(1);
            }
        }
        out
    }

    fn check_photos(&self, r: &mut PlatformReport) {
        let mut listed: BTreeSet<(String, String)> = BTreeSet::new();
        for e in &self.events {
            for p in &e.event.photos {
                let key = (e.event.event_id.clone(), p.camera.clone());
                listed.insert(key.clone());
                if !self.photos.contains_key(&key) {
                    r.photos_missing.push(PhotoProblem {
                        lane: e.lane.clone(),
                        event_id: key.0,
                        camera: key.1,
                        detail: "listed in the event, never received".into(),
                    });
                }
            }
        }
        for ((event_id, camera), seen) in &self.photos {
            let problem = |detail: String| PhotoProblem {
                lane: seen.lane.clone(),
                event_id: event_id.clone(),
                camera: camera.clone(),
                detail,
            };
            let Some(ev) = self.event(event_id) else {
                r.photos_bad.push(problem("no event with this id".into()));
                continue;
            };
            let Some(reference) = ev.photos.iter().find(|p| &p.camera == camera) else {
                r.photos_bad
                    .push(problem("the event does not list this camera".into()));
                continue;
            };
            if seen.changed {
                r.photos_bad
                    .push(problem("received again with different bytes".into()));
            } else if reference.bytes != seen.bytes {
                r.photos_bad.push(problem(format!(
                    "{} bytes received, event says {}",
                    seen.bytes, reference.bytes
                )));
            } else if !reference.sha256.eq_ignore_ascii_case(&seen.sha256) {
                r.photos_bad.push(problem(format!(
                    "sha256 {} received, event says {}",
                    seen.sha256, reference.sha256
                )));
            } else {
                r.photos_ok += 1;
            }
        }
    }

    fn on_event(
        &mut self,
        topic: &str,
        lane: &str,
        value: Value,
        payload: &[u8],
    ) -> Option<Action> {
        let ev = match validate_event(&value) {
            Ok(ev) => ev,
            Err(errs) => {
                self.schema_error(topic, Some(lane), "event", errs, payload);
                return None;
            }
        };
        let mut errs = Vec::new();
        if ev.site != self.site {
            errs.push(format!(
                "site `{}` on a topic of site `{}`",
                ev.site, self.site
            ));
        }
        if ev.lane != lane {
            errs.push(format!("lane `{}` on a topic of lane `{lane}`", ev.lane));
        }
        if !errs.is_empty() {
            self.schema_error(topic, Some(lane), "event", errs, payload);
            return None;
        }
        if let Some(&i) = self.by_id.get(&ev.event_id) {
            let stored = &mut self.events[i];
            if stored.raw == value {
                stored.copies += 1;
            } else {
                let detail = format!(
                    "same event_id, different content (first seq {}, outcome {:?}; now seq {}, outcome {:?})",
                    stored.event.seq, stored.event.outcome, ev.seq, ev.outcome
                );
                self.push_conflict(Conflict {
                    lane: lane.to_owned(),
                    event_id: ev.event_id,
                    seq: ev.seq,
                    detail,
                });
            }
            return None;
        }
        let lane_seqs = self.seqs.entry(lane.to_owned()).or_default();
        if let Some(other) = lane_seqs.get(&ev.seq) {
            let detail = format!("seq {} already used by event {other}", ev.seq);
            self.push_conflict(Conflict {
                lane: lane.to_owned(),
                event_id: ev.event_id,
                seq: ev.seq,
                detail,
            });
            return None;
        }
        if self.events.len() >= MAX_RECORDS {
            self.dropped += 1;
            return None;
        }
        let used = matches!(
            (ev.decision.result, ev.outcome),
            (DecisionResult::Release, Outcome::Passed)
                | (DecisionResult::Inspect, Outcome::Inspection)
        );
        let action = match (&ev.gate_pass, used) {
            (Some(p), true) => Some(Action::PassUsed {
                lane: lane.to_owned(),
                pass_no: p.clone(),
            }),
            _ => None,
        };
        lane_seqs.insert(ev.seq, ev.event_id.clone());
        self.by_id.insert(ev.event_id.clone(), self.events.len());
        self.events.push(StoredEvent {
            lane: lane.to_owned(),
            event: ev,
            raw: value,
            copies: 1,
        });
        action
    }

    fn on_photo(&mut self, lane: &str, event_id: String, camera: String, payload: &[u8]) {
        let sha256 = hex(&Sha256::digest(payload));
        let bytes = payload.len() as u64;
        match self.photos.get_mut(&(event_id.clone(), camera.clone())) {
            Some(seen) => {
                if seen.sha256 != sha256 || seen.bytes != bytes {
                    seen.changed = true;
                }
            }
            None => {
                if self.photos.len() >= MAX_RECORDS {
                    self.dropped += 1;
                    return;
                }
                self.photos.insert(
                    (event_id, camera),
                    PhotoSeen {
                        lane: lane.to_owned(),
                        sha256,
                        bytes,
                        changed: false,
                    },
                );
            }
        }
    }

    fn on_reply(&mut self, lane: String, reply: Reply) {
        let lr = LaneReply { lane, reply };
        match self.commands.get_mut(&lr.reply.command_id) {
            Some(c) if c.lane == lr.lane => {
                c.replies += 1;
                if self.replies.len() < MAX_RECORDS {
                    self.replies.push(lr);
                } else {
                    self.dropped += 1;
                }
            }
            _ => {
                if self.unknown_replies.len() < MAX_RECORDS {
                    self.unknown_replies.push(lr);
                } else {
                    self.dropped += 1;
                }
            }
        }
    }

    fn push_alarm(&mut self, a: LaneAlarm) {
        if self.alarms.len() < MAX_RECORDS {
            self.alarms.push(a);
        } else {
            self.dropped += 1;
        }
    }

    fn push_conflict(&mut self, c: Conflict) {
        tracing::warn!(lane = %c.lane, event_id = %c.event_id, detail = %c.detail, "event conflict");
        if self.conflicts.len() < MAX_RECORDS {
            self.conflicts.push(c);
        } else {
            self.dropped += 1;
        }
    }

    fn schema_error(
        &mut self,
        topic: &str,
        lane: Option<&str>,
        kind: &str,
        errors: Vec<String>,
        payload: &[u8],
    ) {
        tracing::warn!(topic, kind, errors = ?errors, "payload refused");
        if self.schema_errors.len() >= MAX_RECORDS {
            self.dropped += 1;
            return;
        }
        let excerpt: String = String::from_utf8_lossy(payload)
            .chars()
            .take(EXCERPT_CHARS)
            .collect();
        self.schema_errors.push(SchemaError {
            topic: topic.to_owned(),
            lane: lane.map(str::to_owned),
            kind: kind.to_owned(),
            errors,
            excerpt,
        });
    }
}

fn kind_name(k: &LaneTopic) -> &'static str {
    match k {
        LaneTopic::Event => "event",
        LaneTopic::Photo { .. } => "photo",
        LaneTopic::Status => "status",
        LaneTopic::Alarm => "alarm",
        LaneTopic::Sync => "sync",
        LaneTopic::Reply => "reply",
        LaneTopic::Command => "command",
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(D[usize::from(b >> 4)]));
        s.push(char::from(D[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use gate_proto::messages::{CommandKind, COMMAND_SCHEMA};
    use serde_json::json;

    const SITE: &str = "HK-XINHAI";

    fn event(id: &str, seq: u64, photo: &[u8]) -> Value {
        json!({
            "schema": "gate.event/1", "event_id": id, "seq": seq,
            "site": SITE, "lane": "L03", "direction": "exit",
            "arrived_at": "2026-11-27T10:00:00.000Z",
            "decided_at": "2026-11-27T10:00:05.000Z",
            "finished_at": "2026-11-27T10:00:30.000Z",
            "vehicle": {"plate": "琼A12345", "plate_colour": "yellow", "plate_confidence": 0.98, "etag": null},
            "trailer": null, "containers": [], "eseal": null,
            "weight": {"gross_kg": 31240.0, "stable": true},
            "gate_pass": "P1",
            "decision": {"result": "release", "reasons": ["R00"], "by": "local", "officer": null, "offline": false, "whitelist_version": 12},
            "outcome": "passed",
            "photos": [{"camera": "plate_front", "sha256": hex(&Sha256::digest(photo)), "bytes": photo.len()}]
        })
    }

    fn feed(c: &mut Collector, topic: &str, v: &Value) -> Option<Action> {
        c.on_message(topic, &serde_json::to_vec(v).unwrap(), 0)
    }

    const EV: &str = "gate/v1/HK-XINHAI/L03/event";

    #[test]
    fn duplicates_gaps_and_conflicts() {
        let mut c = Collector::new(SITE, Some(1));
        for (id, seq) in [("E1", 1), ("E2", 2), ("E2", 2), ("E5", 5), ("E2", 2)] {
            feed(&mut c, EV, &event(id, seq, b"x"));
        }
        // Same id, different content.
        let mut changed = event("E1", 1, b"x");
        changed["outcome"] = json!("held");
        feed(&mut c, EV, &changed);
        // Same seq, another id.
        feed(&mut c, EV, &event("E9", 5, b"x"));
        let r = c.report(1);
        assert_eq!(r.events.len(), 3);
        assert_eq!(r.duplicates, 2);
        assert_eq!(r.duplicate_events.len(), 1);
        assert_eq!(r.duplicate_events[0].event_id, "E2");
        assert_eq!(
            r.gaps,
            vec![SeqGap {
                lane: "L03".into(),
                from: 3,
                to: 4
            }]
        );
        assert_eq!(r.conflicts.len(), 2);
        assert!(r.conflicts[0].detail.contains("different content"));
        assert!(r.conflicts[1].detail.contains("already used by event E5"));
        assert!(!r.is_clean());
    }

    #[test]
    fn passage_on_a_pass_is_an_action_once() {
        let mut c = Collector::new(SITE, None);
        let e = event("E1", 1, b"x");
        assert_eq!(
            feed(&mut c, EV, &e),
            Some(Action::PassUsed {
                lane: "L03".into(),
                pass_no: "P1".into()
            })
        );
        assert_eq!(
            feed(&mut c, EV, &e),
            None,
            "a duplicate is not a new passage"
        );
        let mut held = event("E2", 2, b"x");
        held["decision"]["result"] = json!("hold");
        held["decision"]["reasons"] = json!(["H06"]);
        held["outcome"] = json!("reversed");
        assert_eq!(feed(&mut c, EV, &held), None);
        let mut inspected = event("E3", 3, b"x");
        inspected["decision"]["result"] = json!("inspect");
        inspected["decision"]["reasons"] = json!(["I01"]);
        inspected["outcome"] = json!("inspection");
        assert!(matches!(
            feed(&mut c, EV, &inspected),
            Some(Action::PassUsed { .. })
        ));
    }

    #[test]
    fn gap_before_first_seq_only_when_expected() {
        let mut c = Collector::new(SITE, None);
        feed(&mut c, EV, &event("E4", 4, b"x"));
        assert!(c.report(1).gaps.is_empty());
        let mut c = Collector::new(SITE, Some(1));
        feed(&mut c, EV, &event("E4", 4, b"x"));
        assert_eq!(c.report(1).gaps[0].from, 1);
        assert_eq!(c.report(1).gaps[0].to, 3);
    }

    #[test]
    fn schema_errors_are_collected() {
        let mut c = Collector::new(SITE, None);
        let mut bad = event("E1", 1, b"x");
        bad.as_object_mut().unwrap().remove("outcome");
        feed(&mut c, EV, &bad);
        c.on_message(EV, b"{not json", 0);
        // Lane of the topic differs from the event's.
        feed(&mut c, "gate/v1/HK-XINHAI/L04/event", &event("E2", 1, b"x"));
        feed(
            &mut c,
            "gate/v1/HK-XINHAI/L03/alarm",
            &json!({"alarm_id": 1}),
        );
        feed(
            &mut c,
            "gate/v1/HK-XINHAI/L03/status",
            &json!({"state": "sleepy"}),
        );
        let r = c.report(1);
        assert!(r.events.is_empty());
        assert_eq!(r.schema_errors.len(), 5, "{:?}", r.schema_errors);
        assert!(r.schema_errors[0].errors[0].contains("`outcome`"));
        assert!(r.schema_errors[1].errors[0].starts_with("not JSON"));
        assert!(r.schema_errors[2].errors[0].contains("lane `L03`"));
        assert_eq!(r.schema_errors[3].kind, "alarm");
        assert_eq!(r.schema_errors[4].kind, "status");
    }

    #[test]
    fn photos_are_matched_to_events() {
        let mut c = Collector::new(SITE, None);
        let jpeg = b"\xff\xd8 fake jpeg \xff\xd9";
        // Photo before its event; one photo for an event that never comes;
        // one with the wrong bytes; one camera the event does not list.
        c.on_message("gate/v1/HK-XINHAI/L03/photo/E1/plate_front", jpeg, 0);
        c.on_message("gate/v1/HK-XINHAI/L03/photo/E7/plate_front", jpeg, 0);
        c.on_message("gate/v1/HK-XINHAI/L03/photo/E2/plate_front", b"other", 0);
        c.on_message("gate/v1/HK-XINHAI/L03/photo/E1/plate_rear", jpeg, 0);
        feed(&mut c, EV, &event("E1", 1, jpeg));
        feed(&mut c, EV, &event("E2", 2, jpeg));
        feed(&mut c, EV, &event("E3", 3, jpeg));
        let r = c.report(1);
        assert_eq!(r.photos_ok, 1);
        let bad: Vec<(&str, &str)> = r
            .photos_bad
            .iter()
            .map(|p| (p.event_id.as_str(), p.camera.as_str()))
            .collect();
        assert_eq!(
            bad,
            vec![
                ("E1", "plate_rear"),
                ("E2", "plate_front"),
                ("E7", "plate_front")
            ]
        );
        assert!(r.photos_bad[1].detail.contains("bytes received"));
        assert_eq!(r.photos_missing.len(), 1);
        assert_eq!(r.photos_missing[0].event_id, "E3");
    }

    #[test]
    fn replies_match_commands_and_sync_is_an_action() {
        let mut c = Collector::new(SITE, None);
        let cmd = |id: &str| Command {
            schema: COMMAND_SCHEMA.into(),
            id: id.into(),
            site: SITE.into(),
            lane: "L03".into(),
            issued_at: "2026-11-27T10:00:00.000Z".into(),
            expires_at: "2026-11-27T10:01:00.000Z".into(),
            kind: CommandKind::Lower,
            officer: None,
            note: None,
            event_id: None,
            device: None,
        };
        for id in ["C1", "C2", "C3"] {
            c.command_sent(&cmd(id));
        }
        let reply = |id: &str| json!({"command_id": id, "ok": true, "detail": ""});
        let rt = "gate/v1/HK-XINHAI/L03/reply";
        feed(&mut c, rt, &reply("C1"));
        feed(&mut c, rt, &reply("C2"));
        feed(&mut c, rt, &reply("C2"));
        feed(&mut c, rt, &reply("C9"));
        // A reply on another lane's topic does not answer C3.
        feed(&mut c, "gate/v1/HK-XINHAI/L04/reply", &reply("C3"));
        let r = c.report(1);
        assert_eq!(r.commands_sent, 3);
        assert_eq!(r.commands_without_reply, vec!["C3".to_owned()]);
        assert_eq!(r.extra_replies, vec!["C2".to_owned()]);
        assert_eq!(r.unknown_replies.len(), 2);
        assert_eq!(
            feed(
                &mut c,
                "gate/v1/HK-XINHAI/L03/sync",
                &json!({"have_version": 4})
            ),
            Some(Action::AnswerSync {
                lane: "L03".into(),
                have_version: 4
            })
        );
        assert_eq!(
            feed(&mut c, "gate/v1/HK-XINHAI/L03/sync", &json!({"have": 4})),
            None
        );
        assert_eq!(c.report(1).schema_errors.len(), 1);
    }

    #[test]
    fn other_sites_are_ignored_and_status_kept() {
        let mut c = Collector::new(SITE, None);
        feed(&mut c, "gate/v1/HK-MACUN/L03/event", &event("E1", 1, b"x"));
        feed(
            &mut c,
            "gate/v1/HK-XINHAI/L03/status",
            &json!({"state": "online", "whitelist_version": 3}),
        );
        feed(
            &mut c,
            "gate/v1/HK-XINHAI/L03/status",
            &json!({"state": "offline"}),
        );
        let r = c.report(1);
        assert!(r.events.is_empty() && r.schema_errors.is_empty());
        assert_eq!(r.status["L03"].state, "offline");
    }
}
