//! In-memory implementations of the storage ports, for tests, examples and
//! the simulator. Nothing here survives a restart.
//!
//! Layer: test doubles of [`crate::store`]; they know nothing about MQTT.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use gate_proto::messages::{BatchKind, WhitelistBatch};

use crate::store::{
    ApplyOutcome, CommandLog, IgnoreReason, Outbox, OutboxDepth, OutboxItem, OutboxMessage,
    StoreError, WhitelistSink,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct OutboxInner {
    next_id: i64,
    items: BTreeMap<i64, OutboxItem>,
    acked: u64,
}

/// An outbox in memory. Ids start at 1 and are never reused.
#[derive(Default)]
pub struct MemOutbox {
    inner: Mutex<OutboxInner>,
}

impl MemOutbox {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// Every message still waiting, oldest first.
    pub fn pending(&self) -> Vec<OutboxItem> {
        lock(&self.inner).items.values().cloned().collect()
    }
    /// How many items were deleted by `ack`.
    pub fn acked(&self) -> u64 {
        lock(&self.inner).acked
    }
}

impl Outbox for MemOutbox {
    fn enqueue(&self, msg: &OutboxMessage) -> Result<i64, StoreError> {
        let mut g = lock(&self.inner);
        g.next_id += 1;
        let id = g.next_id;
        let item = OutboxItem {
            id,
            kind: msg.kind,
            topic: msg.topic.clone(),
            payload: msg.payload.clone(),
            retain: msg.kind.retain(),
            created_ms: gate_proto::time::now_unix_ms(),
            bytes: (msg.payload.len() + msg.topic.len()) as u64,
        };
        g.items.insert(id, item);
        Ok(id)
    }
    fn peek(&self, after: Option<i64>, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let g = lock(&self.inner);
        let from = after.map_or(i64::MIN, |a| a.saturating_add(1));
        Ok(g.items
            .range(from..)
            .take(limit)
            .map(|(_, item)| item.clone())
            .collect())
    }
    fn ack(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut g = lock(&self.inner);
        for id in ids {
            if g.items.remove(id).is_some() {
                g.acked += 1;
            }
        }
        Ok(())
    }
    fn depth(&self) -> Result<OutboxDepth, StoreError> {
        let g = lock(&self.inner);
        Ok(OutboxDepth {
            count: g.items.len() as u64,
            bytes: g.items.values().map(|m| m.payload.len() as u64).sum(),
            quota_bytes: 0,
        })
    }
}

#[derive(Default)]
struct WhitelistInner {
    version: u64,
    /// Snapshot chunks being gathered: version -> chunk index -> batch.
    chunks: BTreeMap<u64, BTreeMap<u32, WhitelistBatch>>,
    /// Batches applied, in order (for tests to inspect).
    applied: Vec<u64>,
}

/// A whitelist that only tracks versions (the records themselves are the
/// store's business). Follows the [`WhitelistSink`] contract exactly.
#[derive(Default)]
pub struct MemWhitelist {
    inner: Mutex<WhitelistInner>,
}

impl MemWhitelist {
    pub fn new(version: u64) -> Arc<Self> {
        let w = Self::default();
        lock(&w.inner).version = version;
        Arc::new(w)
    }
    /// The versions applied so far, in order.
    pub fn applied(&self) -> Vec<u64> {
        lock(&self.inner).applied.clone()
    }
}

impl WhitelistSink for MemWhitelist {
    fn version(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.inner).version)
    }
    fn apply(&self, batch: &WhitelistBatch) -> Result<ApplyOutcome, StoreError> {
        let mut g = lock(&self.inner);
        let have = g.version;
        if batch.version <= have {
            return Ok(ApplyOutcome::Ignored {
                have,
                reason: IgnoreReason::Stale,
            });
        }
        match batch.kind {
            BatchKind::Delta => {
                if batch.from_version != Some(have) {
                    return Ok(ApplyOutcome::NeedResync { have });
                }
                g.version = batch.version;
                g.applied.push(batch.version);
                Ok(ApplyOutcome::Applied {
                    version: batch.version,
                    records: batch.records(),
                })
            }
            BatchKind::Snapshot => {
                let count = batch.chunk.count;
                // Keep only chunks of versions above the current one.
                g.chunks.retain(|v, _| *v > have);
                let set = g.chunks.entry(batch.version).or_default();
                // A chunk count that changed means a new snapshot: restart.
                if set.values().any(|b| b.chunk.count != count) {
                    set.clear();
                }
                set.insert(batch.chunk.index, batch.clone());
                let got = set.len() as u32;
                if got < count {
                    return Ok(ApplyOutcome::Staged {
                        version: batch.version,
                        received: got,
                        count,
                    });
                }
                let chunks = g.chunks.remove(&batch.version).unwrap_or_default();
                g.version = batch.version;
                g.applied.push(batch.version);
                Ok(ApplyOutcome::Applied {
                    version: batch.version,
                    records: chunks.values().map(WhitelistBatch::records).sum(),
                })
            }
        }
    }
}

#[derive(Default)]
struct CommandInner {
    /// id -> (received at, answered)
    seen: HashMap<String, (i64, bool)>,
    order: Vec<String>,
}

/// A command log in memory, writing replies into a [`MemOutbox`] (so that
/// "answer" is one step, as the store does it in one transaction).
pub struct MemCommandLog {
    inner: Mutex<CommandInner>,
    outbox: Arc<MemOutbox>,
}

impl MemCommandLog {
    pub fn new(outbox: Arc<MemOutbox>) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(CommandInner::default()),
            outbox,
        })
    }
    /// Whether `id` has been recorded.
    pub fn seen(&self, id: &str) -> bool {
        lock(&self.inner).seen.contains_key(id)
    }
}

impl CommandLog for MemCommandLog {
    fn begin(&self, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let mut g = lock(&self.inner);
        if g.seen.contains_key(id) {
            return Ok(false);
        }
        g.seen.insert(id.to_owned(), (at_ms, false));
        g.order.push(id.to_owned());
        Ok(true)
    }
    fn answer(&self, id: &str, reply: &OutboxMessage) -> Result<Option<i64>, StoreError> {
        let mut g = lock(&self.inner);
        match g.seen.get_mut(id) {
            Some((_, true)) => return Ok(None),
            Some((_, answered)) => *answered = true,
            None => {
                g.seen.insert(id.to_owned(), (0, true));
                g.order.push(id.to_owned());
            }
        }
        // Same lock held: the pair is atomic for observers of this log.
        self.outbox.enqueue(reply).map(Some)
    }
    fn unanswered(&self, limit: usize) -> Result<Vec<String>, StoreError> {
        let g = lock(&self.inner);
        Ok(g.order
            .iter()
            .filter(|id| g.seen.get(*id).is_some_and(|(_, a)| !a))
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutboxKind;
    use gate_proto::messages::{Chunk, Deletes, Upserts, WHITELIST_SCHEMA};

    fn batch(
        kind: BatchKind,
        from: Option<u64>,
        version: u64,
        chunk: (u32, u32),
    ) -> WhitelistBatch {
        WhitelistBatch {
            schema: WHITELIST_SCHEMA.into(),
            site: "S".into(),
            kind,
            from_version: from,
            version,
            chunk: Chunk {
                index: chunk.0,
                count: chunk.1,
            },
            issued_at: "2026-01-01T00:00:00.000Z".into(),
            upserts: Upserts::default(),
            deletes: Deletes::default(),
        }
    }

    #[test]
    fn outbox_order_and_ids_never_reused() {
        let o = MemOutbox::default();
        let m = |t: &str| OutboxMessage::new(OutboxKind::Event, t, vec![1]);
        let a = o.enqueue(&m("a")).unwrap();
        let b = o.enqueue(&m("b")).unwrap();
        assert!(b > a);
        let p = o.peek(None, 10).unwrap();
        assert_eq!(p.iter().map(|i| i.id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(o.peek(Some(a), 10).unwrap()[0].topic, "b");
        o.ack(&[a, b, 99]).unwrap();
        assert_eq!(o.depth().unwrap().count, 0);
        let c = o.enqueue(&m("c")).unwrap();
        assert!(c > b, "ids are not reused after the outbox empties");
        assert_eq!(o.acked(), 2);
    }

    #[test]
    fn whitelist_versions() {
        let w = MemWhitelist::default();
        assert_eq!(
            w.apply(&batch(BatchKind::Delta, Some(3), 4, (0, 1)))
                .unwrap(),
            ApplyOutcome::NeedResync { have: 0 }
        );
        assert_eq!(
            w.apply(&batch(BatchKind::Snapshot, None, 5, (1, 2)))
                .unwrap(),
            ApplyOutcome::Staged {
                version: 5,
                received: 1,
                count: 2
            }
        );
        assert_eq!(
            w.version().unwrap(),
            0,
            "a partial snapshot changes nothing"
        );
        assert_eq!(
            w.apply(&batch(BatchKind::Snapshot, None, 5, (0, 2)))
                .unwrap(),
            ApplyOutcome::Applied {
                version: 5,
                records: 0
            }
        );
        assert_eq!(
            w.apply(&batch(BatchKind::Delta, Some(4), 5, (0, 1)))
                .unwrap(),
            ApplyOutcome::Ignored {
                have: 5,
                reason: IgnoreReason::Stale
            }
        );
        assert_eq!(
            w.apply(&batch(BatchKind::Delta, Some(5), 6, (0, 1)))
                .unwrap(),
            ApplyOutcome::Applied {
                version: 6,
                records: 0
            }
        );
        assert_eq!(w.applied(), vec![5, 6]);
    }

    #[test]
    fn command_log_one_answer() {
        let o = MemOutbox::new();
        let l = MemCommandLog::new(o.clone());
        assert!(l.begin("c1", 1).unwrap());
        assert!(!l.begin("c1", 2).unwrap());
        assert_eq!(l.unanswered(10).unwrap(), vec!["c1".to_owned()]);
        let r = OutboxMessage::new(OutboxKind::Reply, "r", b"{}".to_vec());
        assert!(l.answer("c1", &r).unwrap().is_some());
        assert!(l.answer("c1", &r).unwrap().is_none());
        assert!(l.unanswered(10).unwrap().is_empty());
        assert_eq!(o.depth().unwrap().count, 1);
        // Answering an id never begun records it.
        assert!(l.answer("c2", &r).unwrap().is_some());
        assert!(!l.begin("c2", 3).unwrap());
    }
}
