//! A SQLite outbox for the link's crash tests and drain benchmark (the real
//! one is gate-store's). Same contract as `gate_link::Outbox`: ids from
//! `INTEGER PRIMARY KEY AUTOINCREMENT`, deletes in one transaction. It also
//! plays the agent's part: `enqueue_event` assigns the next per-lane `seq`
//! and enqueues the event in one transaction, so `seq` is gapless across
//! crashes.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Mutex;

use gate_link::{Outbox, OutboxDepth, OutboxItem, OutboxKind, OutboxMessage, StoreError};
use rusqlite::{params, Connection, OptionalExtension};

pub struct SqliteOutbox {
    conn: Mutex<Connection>,
}

fn se(e: rusqlite::Error) -> StoreError {
    StoreError::new(e)
}

impl SqliteOutbox {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS outbox (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 kind TEXT NOT NULL DEFAULT 'event',
                 topic TEXT NOT NULL,
                 payload BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
             INSERT OR IGNORE INTO meta (k, v) VALUES ('seq', 0);",
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last `seq` given out.
    pub fn last_seq(&self) -> rusqlite::Result<u64> {
        self.lock()
            .query_row("SELECT v FROM meta WHERE k = 'seq'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|v| v as u64)
    }

    /// The agent's part: next seq + enqueue, atomically. `make` builds the
    /// payload for a seq.
    pub fn enqueue_event(
        &self,
        topic: &str,
        make: impl FnOnce(u64) -> Vec<u8>,
    ) -> rusqlite::Result<u64> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        let seq: i64 = tx.query_row("SELECT v FROM meta WHERE k = 'seq'", [], |r| r.get(0))?;
        let seq = seq + 1;
        tx.execute("UPDATE meta SET v = ?1 WHERE k = 'seq'", params![seq])?;
        tx.execute(
            "INSERT INTO outbox (topic, payload) VALUES (?1, ?2)",
            params![topic, make(seq as u64)],
        )?;
        tx.commit()?;
        Ok(seq as u64)
    }

    /// Bulk fill in one transaction (benchmark).
    pub fn enqueue_many(&self, msgs: &[OutboxMessage]) -> rusqlite::Result<()> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        {
            let mut st =
                tx.prepare("INSERT INTO outbox (kind, topic, payload) VALUES (?1, ?2, ?3)")?;
            for m in msgs {
                st.execute(params![m.kind.as_str(), m.topic, m.payload])?;
            }
        }
        tx.commit()
    }
}

impl Outbox for SqliteOutbox {
    fn enqueue(&self, msg: &OutboxMessage) -> Result<i64, StoreError> {
        let c = self.lock();
        c.execute(
            "INSERT INTO outbox (kind, topic, payload) VALUES (?1, ?2, ?3)",
            params![msg.kind.as_str(), msg.topic, msg.payload],
        )
        .map_err(se)?;
        Ok(c.last_insert_rowid())
    }

    fn peek(&self, after: Option<i64>, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let c = self.lock();
        let mut st = c
            .prepare_cached(
                "SELECT id, kind, topic, payload FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(se)?;
        let rows = st
            .query_map(params![after.unwrap_or(i64::MIN), limit as i64], |r| {
                let kind: String = r.get(1)?;
                let kind = OutboxKind::parse(&kind).unwrap_or(OutboxKind::Event);
                let (topic, payload): (String, Vec<u8>) = (r.get(2)?, r.get(3)?);
                Ok(OutboxItem {
                    id: r.get(0)?,
                    kind,
                    bytes: (topic.len() + payload.len()) as u64,
                    topic,
                    payload,
                    retain: kind.retain(),
                    created_ms: 0,
                })
            })
            .map_err(se)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(se)
    }

    fn ack(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut c = self.lock();
        let tx = c.transaction().map_err(se)?;
        {
            let mut st = tx
                .prepare_cached("DELETE FROM outbox WHERE id = ?1")
                .map_err(se)?;
            for id in ids {
                st.execute(params![id]).map_err(se)?;
            }
        }
        tx.commit().map_err(se)
    }

    fn depth(&self) -> Result<OutboxDepth, StoreError> {
        let c = self.lock();
        let (count, bytes): (i64, Option<i64>) = c
            .query_row(
                "SELECT COUNT(*), SUM(LENGTH(payload)) FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(se)?
            .unwrap_or((0, None));
        Ok(OutboxDepth {
            count: count as u64,
            bytes: bytes.unwrap_or(0) as u64,
            quota_bytes: 0,
        })
    }
}
