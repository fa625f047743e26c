//! The storage ports implemented for `gate_store::Store` (the lane's SQLite
//! store), so the agent passes the same `Arc<Store>` as outbox, whitelist and
//! command log.
//!
//! Layer: an adapter between two crates' types; no logic beyond mapping.
//! Knows no SQL (gate-store does) and no MQTT.

use gate_proto::messages::WhitelistBatch;
use gate_proto::topics::{parse_lane_topic, LaneTopic};
use gate_store::{OutboxKind, Store};

use crate::store::{
    ApplyOutcome, CommandLog, Outbox, OutboxDepth, OutboxItem, OutboxMessage, StoreError,
    WhitelistSink,
};

/// The store's outbox kind of a lane topic (decides eviction and retain).
fn kind_of(topic: &str) -> Option<OutboxKind> {
    let (_, _, t) = parse_lane_topic(topic)?;
    Some(match t {
        LaneTopic::Event => OutboxKind::Event,
        LaneTopic::Photo { .. } => OutboxKind::Photo,
        LaneTopic::Status => OutboxKind::Status,
        LaneTopic::Alarm => OutboxKind::Alarm,
        LaneTopic::Sync => OutboxKind::Sync,
        LaneTopic::Reply => OutboxKind::Reply,
        LaneTopic::Command => return None,
    })
}

impl Outbox for Store {
    fn enqueue(&self, msg: &OutboxMessage) -> Result<i64, StoreError> {
        let kind = kind_of(&msg.topic)
            .ok_or_else(|| StoreError::new(format!("no outbox kind for topic `{}`", msg.topic)))?;
        let q = self
            .outbox_enqueue(kind, &msg.topic, &msg.payload)
            .map_err(StoreError::new)?;
        q.id.ok_or_else(|| StoreError::new("outbox full: item refused by the quota"))
    }

    fn peek(&self, after: Option<i64>, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        Ok(self
            .outbox_peek(after, limit)
            .map_err(StoreError::new)?
            .into_iter()
            .map(|i| OutboxItem {
                id: i.id,
                topic: i.topic,
                payload: i.payload,
                retain: i.retain,
            })
            .collect())
    }

    fn ack(&self, ids: &[i64]) -> Result<(), StoreError> {
        // Ids already gone (an evicted photo, a replaced status) are skipped.
        self.outbox_ack_all(ids)
            .map(|_| ())
            .map_err(StoreError::new)
    }

    fn depth(&self) -> Result<OutboxDepth, StoreError> {
        let s = self.outbox_stats().map_err(StoreError::new)?;
        Ok(OutboxDepth {
            count: s.depth,
            bytes: s.bytes,
            quota_bytes: s.quota_bytes,
        })
    }
}

impl WhitelistSink for Store {
    fn version(&self) -> Result<u64, StoreError> {
        self.whitelist_version().map_err(StoreError::new)
    }

    fn apply(&self, batch: &WhitelistBatch) -> Result<ApplyOutcome, StoreError> {
        use gate_store::ApplyOutcome as S;
        Ok(match self.apply_batch(batch).map_err(StoreError::new)? {
            S::Applied { version, .. } => ApplyOutcome::Applied { version },
            S::Staged {
                version,
                received,
                count,
            } => ApplyOutcome::Partial {
                version,
                have: received,
                count,
            },
            S::Ignored { have, .. } => ApplyOutcome::Stale { have },
            S::NeedResync { have } => ApplyOutcome::NeedResync { have },
        })
    }
}

impl CommandLog for Store {
    fn begin(&self, id: &str, _at_ms: i64) -> Result<bool, StoreError> {
        // The store stamps the time itself (its own clock).
        self.command_begin(id).map_err(StoreError::new)
    }

    fn answer(&self, id: &str, reply: &OutboxMessage) -> Result<Option<i64>, StoreError> {
        self.command_answer(id, &reply.topic, &reply.payload)
            .map_err(StoreError::new)
    }

    fn unanswered(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.commands_unanswered(limit).map_err(StoreError::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_kinds() {
        let t = gate_proto::topics::LaneTopics::new("HK", "L1");
        assert_eq!(kind_of(&t.event()), Some(OutboxKind::Event));
        assert_eq!(kind_of(&t.photo("E1", "cam")), Some(OutboxKind::Photo));
        assert_eq!(kind_of(&t.alarm()), Some(OutboxKind::Alarm));
        assert_eq!(kind_of(&t.reply()), Some(OutboxKind::Reply));
        assert_eq!(kind_of(&t.status()), Some(OutboxKind::Status));
        assert_eq!(kind_of(&t.sync()), Some(OutboxKind::Sync));
        assert_eq!(kind_of(&t.command()), None);
        assert_eq!(kind_of("other/topic"), None);
    }
}
