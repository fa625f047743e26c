//! The command log as the platform link needs it: "begun" when a command
//! id is first seen, "answered" when its one reply is enqueued. The reply is
//! enqueued and the id marked in ONE durable transaction, so a command gets
//! exactly one reply even across a crash (`unanswered` lists the ids begun
//! but never answered; the link answers them at start-up).
//!
//! Same table as [`Store::record_command`] (`commands.result` holds the
//! state); knows SQL and the outbox, nothing about MQTT.

use rusqlite::{params, OptionalExtension};

use crate::config::ms;
use crate::conn::lock;
use crate::error::{Ctx, Result};
use crate::outbox;
use crate::{OutboxKind, OutboxMessage, Store};

const BEGUN: &str = "begun";
const ANSWERED: &str = "answered";

impl Store {
    /// Record `id` as begun unless it is known. True when new; false: a
    /// replay. DURABLE.
    pub fn command_begin(&self, id: &str) -> Result<bool> {
        self.record_command(id, "", BEGUN)
    }

    /// Enqueue the reply of command `id` (a message of kind
    /// [`OutboxKind::Reply`], `OutboxMessage::reply`) and mark it answered,
    /// in one durable transaction. `None` when it was already answered
    /// (nothing enqueued). An id never begun is recorded first.
    pub fn command_answer(&self, id: &str, reply: &OutboxMessage) -> Result<Option<i64>> {
        debug_assert_eq!(reply.kind, OutboxKind::Reply, "a command's reply");
        let now = self.now();
        let cfg = &self.inner.cfg;
        let quota = outbox::Quota {
            bytes: cfg.outbox_quota_bytes,
            warn_percent: cfg.outbox_warn_percent,
        };
        let mut guard = lock(&self.inner.main);
        let m = &mut *guard;
        let mut totals = m.totals.clone();
        let tx = m.w.begin(true)?;
        let state: Option<String> = tx
            .query_row("SELECT result FROM commands WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .ctx("reading a command id")?;
        if state.as_deref() == Some(ANSWERED) {
            return Ok(None);
        }
        if state.is_none() {
            crate::admin::record_command(
                &tx,
                id,
                "",
                ANSWERED,
                now,
                now - ms(cfg.command_keep),
                cfg.command_max,
            )?;
        }
        let q = outbox::enqueue(
            &tx,
            &mut totals,
            &quota,
            reply.kind,
            &reply.topic,
            &reply.payload,
            now,
        )?;
        tx.execute(
            "UPDATE commands SET result = ?2 WHERE id = ?1",
            params![id, ANSWERED],
        )
        .ctx("marking a command answered")?;
        tx.commit().ctx("committing a command reply")?;
        m.totals = totals;
        drop(guard);
        self.inner.ckpt.notify(crate::checkpoint::File::Main);
        Ok(q.id)
    }

    /// Ids begun but not answered, oldest first.
    pub fn commands_unanswered(&self, limit: usize) -> Result<Vec<String>> {
        let mut r = self.inner.main_readers.get();
        let tx = r.read_tx()?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT id FROM commands WHERE result = ?1 ORDER BY received_ms, id LIMIT ?2",
            )
            .ctx("listing unanswered commands")?;
        let rows = stmt
            .query_map(params![BEGUN, limit as i64], |r| r.get::<_, String>(0))
            .ctx("listing unanswered commands")?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.ctx("reading a command id")?);
        }
        Ok(out)
    }
}
