//! The outbox port: what an item is ([`OutboxKind`]), the one way in
//! ([`OutboxMessage`], given to [`Outbox::enqueue`] or
//! [`crate::CommandLog::answer`]), what comes out ([`OutboxItem`]).
//!
//! Layer: data and a trait; the topics come from the contract
//! (`gate_proto::topics::LaneTopics`), the payloads from its messages.

use gate_proto::messages::{Alarm, Reply};
use gate_proto::topics::LaneTopics;

use crate::StoreError;

/// What an outbox item is: which of the lane's topics it goes to, and how
/// the store treats it (eviction over the quota, coalescing, retain).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxKind {
    /// A lane event. Never evicted.
    Event,
    /// A photo (JPEG). Evicted oldest first when over quota.
    Photo,
    /// An alarm. Never evicted.
    Alarm,
    /// Lane status (retained topic): a new one replaces any unsent one.
    Status,
    /// A command reply. Never evicted.
    Reply,
    /// A sync request: a new one replaces any unsent one.
    Sync,
}

impl OutboxKind {
    pub const ALL: [OutboxKind; 6] = [
        Self::Event,
        Self::Photo,
        Self::Alarm,
        Self::Status,
        Self::Reply,
        Self::Sync,
    ];
    /// The kind's name (what the store writes in its `kind` column).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Photo => "photo",
            Self::Alarm => "alarm",
            Self::Status => "status",
            Self::Reply => "reply",
            Self::Sync => "sync",
        }
    }
    /// The kind named `s` ([`OutboxKind::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Published with the MQTT retain flag (the status topic is retained).
    pub fn retain(self) -> bool {
        self == Self::Status
    }
    /// Only the newest unsent item of this kind matters: the store replaces
    /// an unsent one.
    pub fn coalesces(self) -> bool {
        matches!(self, Self::Status | Self::Sync)
    }
}

/// A message to put in the outbox: its kind, the MQTT topic and the raw
/// payload (JSON for events, alarms and replies; JPEG bytes for photos).
/// The kind is always stated by the maker; the constructors below build
/// the topic that goes with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    pub kind: OutboxKind,
    pub topic: String,
    pub payload: Vec<u8>,
}

impl OutboxMessage {
    /// A message of `kind` on any topic (tests and benchmarks use their
    /// own topics; the lane uses the constructors below).
    pub fn new(kind: OutboxKind, topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            kind,
            topic: topic.into(),
            payload: payload.into(),
        }
    }
    /// A lane event's JSON on `.../event`. The lane's events enter the
    /// outbox through the store's journal (which numbers them); this is for
    /// an outbox used without one.
    pub fn event(topics: &LaneTopics, json: Vec<u8>) -> Self {
        Self::new(OutboxKind::Event, topics.event(), json)
    }
    /// A camera's photo of event `event_id` on `.../photo/{event_id}/{camera}`.
    pub fn photo(topics: &LaneTopics, event_id: &str, camera: &str, jpeg: Vec<u8>) -> Self {
        Self::new(OutboxKind::Photo, topics.photo(event_id, camera), jpeg)
    }
    /// An alarm on `.../alarm`.
    pub fn alarm(topics: &LaneTopics, alarm: &Alarm) -> serde_json::Result<Self> {
        Ok(Self::new(
            OutboxKind::Alarm,
            topics.alarm(),
            serde_json::to_vec(alarm)?,
        ))
    }
    /// A command's reply on `.../reply`.
    pub fn reply(topics: &LaneTopics, reply: &Reply) -> serde_json::Result<Self> {
        Ok(Self::new(
            OutboxKind::Reply,
            topics.reply(),
            serde_json::to_vec(reply)?,
        ))
    }
}

/// A message in the outbox, with its id. Published with QoS 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxItem {
    /// Strictly increasing in enqueue order and never reused, even after the
    /// outbox was emptied (SQLite: `INTEGER PRIMARY KEY AUTOINCREMENT`).
    pub id: i64,
    pub kind: OutboxKind,
    pub topic: String,
    pub payload: Vec<u8>,
    /// Publish with the MQTT retain flag.
    pub retain: bool,
    /// When it was enqueued (Unix ms; 0 where the outbox does not record it).
    pub created_ms: i64,
    /// Bytes charged against the quota (payload + topic).
    pub bytes: u64,
}

/// How full the outbox is (reported in the lane status).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    /// Messages waiting for a PUBACK.
    pub count: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// The store's byte quota for the outbox (0: none).
    pub quota_bytes: u64,
}

/// The store-and-forward queue of everything the lane sends to the platform
/// that must arrive (events, photos, alarms, command replies). The agent
/// enqueues; the link publishes in id order and deletes an item only when
/// the broker's PUBACK for it has arrived.
pub trait Outbox: Send + Sync + 'static {
    /// Append a message durably, as its kind says; returns its id.
    fn enqueue(&self, msg: &OutboxMessage) -> Result<i64, StoreError>;
    /// Up to `limit` items with an id greater than `after` (from the oldest
    /// when `None`), in increasing id order.
    fn peek(&self, after: Option<i64>, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;
    /// Delete these items (each was acknowledged by the broker). Ids no longer
    /// present are ignored. Should be one transaction.
    fn ack(&self, ids: &[i64]) -> Result<(), StoreError>;
    /// Current depth.
    fn depth(&self) -> Result<OutboxDepth, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in OutboxKind::ALL {
            assert_eq!(OutboxKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(OutboxKind::parse("command"), None);
    }

    #[test]
    fn constructors_state_kind_and_topic() {
        let t = LaneTopics::new("HK", "L1");
        let p = OutboxMessage::photo(&t, "E1", "cam", vec![0xff, 0xd8]);
        assert_eq!(
            (p.kind, p.topic.as_str()),
            (OutboxKind::Photo, &*t.photo("E1", "cam"))
        );
        let a = Alarm {
            alarm_id: "A1".into(),
            kind: "device_fault".into(),
            severity: gate_proto::messages::Severity::Critical,
            at: "2026-01-01T00:00:00.000Z".into(),
            detail: "d".into(),
        };
        let m = OutboxMessage::alarm(&t, &a).expect("alarm");
        assert_eq!((m.kind, m.topic.as_str()), (OutboxKind::Alarm, &*t.alarm()));
        assert_eq!(
            serde_json::from_slice::<Alarm>(&m.payload).expect("json"),
            a
        );
        let r = Reply {
            command_id: "C1".into(),
            ok: true,
            detail: String::new(),
        };
        let m = OutboxMessage::reply(&t, &r).expect("reply");
        assert_eq!((m.kind, m.topic.as_str()), (OutboxKind::Reply, &*t.reply()));
        let e = OutboxMessage::event(&t, b"{}".to_vec());
        assert_eq!((e.kind, e.topic.as_str()), (OutboxKind::Event, &*t.event()));
    }
}
