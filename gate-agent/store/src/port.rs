//! The platform link's storage port (crate `gate-link-port`) implemented for
//! [`Store`]: the agent passes the same `Arc<Store>` as the link's outbox,
//! whitelist and command log.
//!
//! Layer: the store's side of the port; no logic beyond mapping results (a
//! photo refused by the quota becomes an error, the store's errors the
//! port's opaque one). Every message keeps the kind its maker stated.
//! Knows no MQTT.

use gate_link_port::{
    self as port, ApplyOutcome, CommandLog, Outbox, OutboxDepth, OutboxItem, OutboxMessage,
    WhitelistSink,
};
use gate_proto::messages::WhitelistBatch;

use crate::{Store, StoreError};

impl From<StoreError> for port::StoreError {
    fn from(e: StoreError) -> Self {
        port::StoreError::new(e)
    }
}

impl Outbox for Store {
    fn enqueue(&self, msg: &OutboxMessage) -> Result<i64, port::StoreError> {
        self.outbox_enqueue(msg)?
            .id
            .ok_or_else(|| port::StoreError::new("outbox full: item refused by the quota"))
    }

    fn peek(&self, after: Option<i64>, limit: usize) -> Result<Vec<OutboxItem>, port::StoreError> {
        Ok(self.outbox_peek(after, limit)?)
    }

    fn ack(&self, ids: &[i64]) -> Result<(), port::StoreError> {
        // Ids already gone (an evicted photo, a replaced status) are skipped.
        self.outbox_ack_all(ids)?;
        Ok(())
    }

    fn depth(&self) -> Result<OutboxDepth, port::StoreError> {
        let s = self.outbox_stats()?;
        Ok(OutboxDepth {
            count: s.depth,
            bytes: s.bytes,
            quota_bytes: s.quota_bytes,
        })
    }
}

impl WhitelistSink for Store {
    fn version(&self) -> Result<u64, port::StoreError> {
        Ok(self.whitelist_version()?)
    }

    fn apply(&self, batch: &WhitelistBatch) -> Result<ApplyOutcome, port::StoreError> {
        Ok(self.apply_batch(batch)?)
    }
}

impl CommandLog for Store {
    fn begin(&self, id: &str, _at_ms: i64) -> Result<bool, port::StoreError> {
        // The store stamps the time itself (its own clock).
        Ok(self.command_begin(id)?)
    }

    fn answer(&self, id: &str, reply: &OutboxMessage) -> Result<Option<i64>, port::StoreError> {
        Ok(self.command_answer(id, reply)?)
    }

    fn unanswered(&self, limit: usize) -> Result<Vec<String>, port::StoreError> {
        Ok(self.commands_unanswered(limit)?)
    }
}
