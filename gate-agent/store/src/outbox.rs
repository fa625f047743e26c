//! The outbox: what the lane must publish, in order, kept until the broker
//! acknowledges it (PUBACK). Bounded by a disk quota: photos are evicted
//! oldest first when it is exceeded, events (and alarms, replies) never;
//! the pressure level tells the agent when to raise alarms and when to stop
//! admitting vehicles (docs/store.md, "Outbox quota").
//!
//! This module knows SQL and the quota policy; it knows nothing about MQTT
//! (topics arrive as strings, each item with the kind its maker stated:
//! `gate_link_port::OutboxKind`) or what a payload contains.

use gate_link_port::{OutboxItem, OutboxKind};
use rusqlite::{params, Transaction};

use crate::error::{Ctx, Result, StoreError};

/// The slot of a kind in the per-kind totals.
fn index(k: OutboxKind) -> usize {
    k as usize
}

/// How full the outbox is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pressure {
    /// Below the warning level.
    Normal,
    /// At or above `outbox_warn_percent` of the quota: photos are being or
    /// will soon be evicted. Raise a warning alarm.
    Warn,
    /// Events, alarms and replies alone exceed the quota (all photos are
    /// gone): the lane must stop admitting vehicles until the link drains
    /// the outbox. Raise a critical alarm.
    Critical,
}

/// Result of an enqueue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// The item's id; `None` when a photo was refused because even evicting
    /// every older photo would not make room for it.
    pub id: Option<i64>,
    /// Pressure after the enqueue.
    pub pressure: Pressure,
    /// Photos evicted to make room.
    pub evicted_photos: u64,
}

/// Outbox figures for the status message and diagnostics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxStats {
    pub depth: u64,
    pub bytes: u64,
    pub events: u64,
    pub event_bytes: u64,
    pub photos: u64,
    pub photo_bytes: u64,
    /// `created_ms` of the oldest item.
    pub oldest_ms: Option<i64>,
    pub quota_bytes: u64,
    pub pressure: Pressure,
    /// Photos evicted since the store was opened.
    pub evicted_photos: u64,
}

impl OutboxStats {
    /// Items that are neither events nor photos (alarms, replies, status,
    /// sync requests).
    pub fn others(&self) -> u64 {
        self.depth.saturating_sub(self.events + self.photos)
    }

    /// The bytes waiting over the quota (1.0 = at the quota; 0 without one).
    pub fn used_ratio(&self) -> f64 {
        if self.quota_bytes == 0 {
            0.0
        } else {
            self.bytes as f64 / self.quota_bytes as f64
        }
    }

    /// Age (ms) of the oldest item at `now_ms`; None when the outbox is
    /// empty.
    pub fn oldest_age_ms(&self, now_ms: i64) -> Option<i64> {
        self.oldest_ms.map(|t| (now_ms - t).max(0))
    }
}

/// Count and bytes per kind; kept beside the writer, rebuilt at open,
/// updated only after a commit.
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    count: [u64; 6],
    bytes: [u64; 6],
    pub(crate) evicted_photos: u64,
}

impl Totals {
    pub(crate) fn load(conn: &rusqlite::Connection) -> Result<Self> {
        let mut t = Self::default();
        let mut stmt = conn
            .prepare("SELECT kind, count(*), coalesce(sum(bytes), 0) FROM outbox GROUP BY kind")
            .ctx("preparing outbox totals")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .ctx("reading outbox totals")?;
        for (kind, n, b) in rows {
            let k = OutboxKind::parse(&kind).ok_or_else(|| StoreError::BadValue {
                context: "outbox kind".into(),
                detail: kind.clone(),
            })?;
            t.count[index(k)] = u64::try_from(n).unwrap_or(0);
            t.bytes[index(k)] = u64::try_from(b).unwrap_or(0);
        }
        Ok(t)
    }
    fn add(&mut self, k: OutboxKind, bytes: u64) {
        self.count[index(k)] += 1;
        self.bytes[index(k)] += bytes;
    }
    pub(crate) fn remove(&mut self, k: OutboxKind, bytes: u64) {
        self.count[index(k)] = self.count[index(k)].saturating_sub(1);
        self.bytes[index(k)] = self.bytes[index(k)].saturating_sub(bytes);
    }
    fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }
    fn photo_bytes(&self) -> u64 {
        self.bytes[index(OutboxKind::Photo)]
    }
    pub(crate) fn pressure(&self, quota: u64, warn_percent: u8) -> Pressure {
        let total = self.total_bytes();
        if total.saturating_sub(self.photo_bytes()) > quota {
            Pressure::Critical
        } else if u128::from(total) * 100 >= u128::from(quota) * u128::from(warn_percent) {
            Pressure::Warn
        } else {
            Pressure::Normal
        }
    }
    pub(crate) fn stats(
        &self,
        quota: u64,
        warn_percent: u8,
        oldest_ms: Option<i64>,
    ) -> OutboxStats {
        OutboxStats {
            depth: self.count.iter().sum(),
            bytes: self.total_bytes(),
            events: self.count[index(OutboxKind::Event)],
            event_bytes: self.bytes[index(OutboxKind::Event)],
            photos: self.count[index(OutboxKind::Photo)],
            photo_bytes: self.photo_bytes(),
            oldest_ms,
            quota_bytes: quota,
            pressure: self.pressure(quota, warn_percent),
            evicted_photos: self.evicted_photos,
        }
    }
}

/// Quota settings for an enqueue.
pub(crate) struct Quota {
    pub bytes: u64,
    pub warn_percent: u8,
}

/// Enqueue inside the caller's transaction. `totals` is the caller's copy,
/// updated here; the caller stores it only once the transaction commits.
pub(crate) fn enqueue(
    tx: &Transaction<'_>,
    totals: &mut Totals,
    quota: &Quota,
    kind: OutboxKind,
    topic: &str,
    payload: &[u8],
    now_ms: i64,
) -> Result<Enqueued> {
    let size = (payload.len() + topic.len()) as u64;
    if kind.coalesces() {
        let mut stmt = tx
            .prepare_cached("DELETE FROM outbox WHERE kind = ?1 RETURNING bytes")
            .ctx("preparing outbox coalesce")?;
        let gone: Vec<i64> = stmt
            .query_map([kind.as_str()], |r| r.get(0))
            .and_then(Iterator::collect)
            .ctx("replacing an unsent item")?;
        for b in gone {
            totals.remove(kind, u64::try_from(b).unwrap_or(0));
        }
    }
    let mut evicted = 0;
    let total = totals.total_bytes();
    if total + size > quota.bytes {
        let others = total.saturating_sub(totals.photo_bytes());
        if kind == OutboxKind::Photo && others + size > quota.bytes {
            // Even without any older photo this one does not fit: refuse it
            // and keep the older photos.
            tracing::warn!(topic, size, "outbox over quota: photo refused");
            return Ok(Enqueued {
                id: None,
                pressure: totals.pressure(quota.bytes, quota.warn_percent),
                evicted_photos: 0,
            });
        }
        let mut need = total + size - quota.bytes;
        let mut oldest = tx
            .prepare_cached(
                "SELECT id, bytes FROM outbox WHERE kind = 'photo' ORDER BY id LIMIT 64",
            )
            .ctx("preparing photo eviction")?;
        let mut del = tx
            .prepare_cached("DELETE FROM outbox WHERE id = ?1")
            .ctx("preparing photo eviction")?;
        while need > 0 {
            let batch: Vec<(i64, i64)> = oldest
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(Iterator::collect)
                .ctx("choosing photos to evict")?;
            if batch.is_empty() {
                break;
            }
            for (id, b) in batch {
                let b = u64::try_from(b).unwrap_or(0);
                del.execute([id]).ctx("evicting a photo")?;
                totals.remove(OutboxKind::Photo, b);
                evicted += 1;
                need = need.saturating_sub(b);
                if need == 0 {
                    break;
                }
            }
        }
        if evicted > 0 {
            tracing::warn!(evicted, "outbox over quota: oldest photos evicted");
        }
    }
    tx.prepare_cached(
        "INSERT INTO outbox (kind, topic, payload, qos, retain, created_ms, bytes) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            kind.as_str(),
            topic,
            payload,
            kind.retain(),
            now_ms,
            i64::try_from(size).unwrap_or(i64::MAX)
        ])
    })
    .ctx("enqueueing an outbox item")?;
    let id = tx.last_insert_rowid();
    totals.add(kind, size);
    totals.evicted_photos += evicted;
    Ok(Enqueued {
        id: Some(id),
        pressure: totals.pressure(quota.bytes, quota.warn_percent),
        evicted_photos: evicted,
    })
}

/// Remove an acknowledged item; returns (kind, bytes) when it was there.
pub(crate) fn ack(tx: &Transaction<'_>, id: i64) -> Result<Option<(OutboxKind, u64)>> {
    let mut stmt = tx
        .prepare_cached("DELETE FROM outbox WHERE id = ?1 RETURNING kind, bytes")
        .ctx("preparing outbox ack")?;
    let mut rows = stmt.query([id]).ctx("acknowledging an outbox item")?;
    let Some(r) = rows.next().ctx("acknowledging an outbox item")? else {
        return Ok(None);
    };
    let kind: String = r.get(0).ctx("reading an acked item")?;
    let bytes: i64 = r.get(1).ctx("reading an acked item")?;
    let kind = OutboxKind::parse(&kind).ok_or_else(|| StoreError::BadValue {
        context: "outbox kind".into(),
        detail: kind,
    })?;
    Ok(Some((kind, u64::try_from(bytes).unwrap_or(0))))
}

pub(crate) fn peek(
    tx: &Transaction<'_>,
    after_id: Option<i64>,
    limit: usize,
) -> Result<Vec<OutboxItem>> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT id, kind, topic, payload, retain, created_ms, bytes FROM outbox \
             WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .ctx("preparing outbox peek")?;
    let rows = stmt
        .query_map(
            params![
                after_id.unwrap_or(0),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            },
        )
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .ctx("reading the outbox")?;
    rows.into_iter()
        .map(|(id, kind, topic, payload, retain, created_ms, bytes)| {
            Ok(OutboxItem {
                id,
                kind: OutboxKind::parse(&kind).ok_or_else(|| StoreError::BadValue {
                    context: format!("kind of outbox item {id}"),
                    detail: kind.clone(),
                })?,
                topic,
                payload,
                retain,
                created_ms,
                bytes: u64::try_from(bytes).unwrap_or(0),
            })
        })
        .collect()
}

pub(crate) fn oldest_ms(tx: &Transaction<'_>) -> Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    tx.prepare_cached("SELECT created_ms FROM outbox ORDER BY id LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .ctx("reading the oldest outbox item")
}
