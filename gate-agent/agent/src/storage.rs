//! The platform link's storage traits ([`gate_link::Outbox`],
//! [`gate_link::WhitelistSink`], [`gate_link::CommandLog`]) implemented on
//! the lane's SQLite store. Glue only: the semantics live in gate-store.

use gate_link::{ApplyOutcome, OutboxDepth, OutboxItem, OutboxMessage, StoreError};
use gate_proto::messages::WhitelistBatch;
use gate_store::{OutboxKind, Store};

/// The lane store seen by the link.
#[derive(Clone)]
pub struct LinkStore(pub Store);

fn err(e: gate_store::StoreError) -> StoreError {
    StoreError::new(e.to_string())
}

/// The store's outbox kinds as the link names them.
pub fn kind_of(topic: &str) -> OutboxKind {
    match gate_proto::topics::parse_lane_topic(topic) {
        Some((_, _, t)) => match t {
            gate_proto::topics::LaneTopic::Event => OutboxKind::Event,
            gate_proto::topics::LaneTopic::Photo { .. } => OutboxKind::Photo,
            gate_proto::topics::LaneTopic::Status => OutboxKind::Status,
            gate_proto::topics::LaneTopic::Sync => OutboxKind::Sync,
            gate_proto::topics::LaneTopic::Reply => OutboxKind::Reply,
            gate_proto::topics::LaneTopic::Alarm | gate_proto::topics::LaneTopic::Command => {
                OutboxKind::Alarm
            }
        },
        None => OutboxKind::Alarm,
    }
}

impl gate_link::Outbox for LinkStore {
    fn enqueue(&self, msg: &OutboxMessage) -> Result<i64, StoreError> {
        let q = self
            .0
            .outbox_enqueue(kind_of(&msg.topic), &msg.topic, &msg.payload)
            .map_err(err)?;
        q.id.ok_or_else(|| StoreError::new("outbox full: item refused by the quota policy"))
    }

    fn peek(&self, after: Option<i64>, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        Ok(self
            .0
            .outbox_peek(after, limit)
            .map_err(err)?
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
        for id in ids {
            self.0.outbox_ack(*id).map_err(err)?;
        }
        Ok(())
    }

    fn depth(&self) -> Result<OutboxDepth, StoreError> {
        let s = self.0.outbox_stats().map_err(err)?;
        Ok(OutboxDepth {
            count: s.depth,
            bytes: s.bytes,
            quota_bytes: s.quota_bytes,
        })
    }
}

impl gate_link::WhitelistSink for LinkStore {
    fn version(&self) -> Result<u64, StoreError> {
        self.0.whitelist_version().map_err(err)
    }

    fn apply(&self, batch: &WhitelistBatch) -> Result<ApplyOutcome, StoreError> {
        Ok(match self.0.apply_batch(batch).map_err(err)? {
            gate_store::ApplyOutcome::Applied { version, .. } => ApplyOutcome::Applied { version },
            gate_store::ApplyOutcome::Staged {
                version,
                received,
                count,
            } => ApplyOutcome::Partial {
                version,
                have: received,
                count,
            },
            gate_store::ApplyOutcome::Ignored { have, .. } => ApplyOutcome::Stale { have },
            gate_store::ApplyOutcome::NeedResync { have } => ApplyOutcome::NeedResync { have },
        })
    }
}

impl gate_link::CommandLog for LinkStore {
    fn begin(&self, id: &str, _at_ms: i64) -> Result<bool, StoreError> {
        self.0.command_begin(id).map_err(err)
    }

    fn answer(&self, id: &str, reply: &OutboxMessage) -> Result<Option<i64>, StoreError> {
        self.0
            .command_answer(id, &reply.topic, &reply.payload)
            .map_err(err)
    }

    fn unanswered(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        self.0.commands_unanswered(limit).map_err(err)
    }
}
