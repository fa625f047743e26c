//! What the simulated platform receives from lanes, checked against the
//! contract: events (schema, de-duplication, per-lane gapless `seq`,
//! conflicting duplicates), photos (size and sha256 against the event's
//! `photos`), alarms, status, sync requests and command replies.
//!
//! Layer: sans-IO core of the platform. It is fed `(topic, payload, now)` and
//! returns what the platform must do (answer a sync request); it knows the
//! contract's topics and JSON (gate-proto) but nothing about MQTT clients,
//! tokio or signing.

mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gate_proto::messages::{
    validate_event, Alarm, Command, DecisionResult, LaneEvent, Outcome, Reply, Status, SyncRequest,
};
use gate_proto::topics::{parse_lane_topic, LaneTopic};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use report::{
    Action, Conflict, DuplicateEvent, LaneAlarm, LaneReply, PhotoProblem, PlatformReport,
    SchemaError, SeqGap, SyncSeen,
};

/// Largest JSON payload accepted on event/alarm/status/sync/reply topics.
pub const MAX_JSON_BYTES: usize = 1024 * 1024;
/// Bound on every collected list (events, alarms, errors, ...); past it,
/// records are counted in `dropped` and not kept.
pub const MAX_RECORDS: usize = 100_000;
/// How much of a bad payload is kept in a [`SchemaError`].
const EXCERPT_CHARS: usize = 200;

struct StoredEvent {
    lane: String,
    event: LaneEvent,
    raw: Value,
    copies: u64,
    /// The `now` the first copy came with (the platform's clock, Unix ms).
    received_ms: i64,
}

/// When the platform first received an event: its `decided_at` and
/// `finished_at` (the lane's clock) beside the platform's clock at
/// receipt, all Unix ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub lane: String,
    pub event_id: String,
    pub seq: u64,
    pub decided_at_ms: Option<i64>,
    pub finished_at_ms: Option<i64>,
    pub received_ms: i64,
    /// Copies received beyond the first.
    pub extra_copies: u64,
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
            LaneTopic::Event => return self.on_event(topic, &lane, value, payload, now_ms),
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

    /// Each valid event's first receipt, in the order first received.
    pub fn receipts(&self) -> impl Iterator<Item = Receipt> + '_ {
        self.events.iter().map(|e| Receipt {
            lane: e.lane.clone(),
            event_id: e.event.event_id.clone(),
            seq: e.event.seq,
            decided_at_ms: gate_proto::time::parse_unix_ms(&e.event.decided_at),
            finished_at_ms: gate_proto::time::parse_unix_ms(&e.event.finished_at),
            received_ms: e.received_ms,
            extra_copies: e.copies - 1,
        })
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
        now_ms: i64,
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
            received_ms: now_ms,
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
mod tests;
