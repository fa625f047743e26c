//! Command replay protection (with retention) and the append-only audit log.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gate_store::{Clock, OutboxKind, OutboxMessage, Store, StoreConfig};

/// A command's reply message on `topic`.
fn reply(topic: &str, payload: &[u8]) -> OutboxMessage {
    OutboxMessage::new(OutboxKind::Reply, topic, payload)
}

#[test]
fn commands_are_recorded_once_and_expire_from_the_window() {
    let dir = tempfile::tempdir().expect("tmp");
    let now = Arc::new(AtomicI64::new(1_800_000_000_000));
    let cfg = StoreConfig {
        command_keep: Duration::from_secs(24 * 3600),
        command_max: 3,
        clock: {
            let now = now.clone();
            Clock::from_fn(move || now.load(Ordering::Relaxed))
        },
        ..StoreConfig::default()
    };
    let path = dir.path().join("lane.db");
    let store = Store::open(&path, cfg.clone()).expect("open");
    assert!(!store.command_seen("c1").expect("seen"));
    assert!(store
        .record_command("c1", r#"{"id":"c1"}"#, "ok")
        .expect("record"));
    assert!(store.command_seen("c1").expect("seen"));
    assert!(!store
        .record_command("c1", r#"{"id":"c1"}"#, "ok")
        .expect("replay"));
    drop(store);
    // Durable across reopen.
    let store = Store::open(&path, cfg).expect("reopen");
    assert!(store.command_seen("c1").expect("seen"));
    // Past the retention window it is forgotten.
    now.fetch_add(25 * 3600 * 1000, Ordering::Relaxed);
    assert!(store.record_command("c2", "{}", "ok").expect("c2"));
    assert!(!store.command_seen("c1").expect("seen"));
    // At most 3 kept: the oldest go first.
    for (i, id) in ["c3", "c4", "c5"].into_iter().enumerate() {
        now.fetch_add(1000 * (i as i64 + 1), Ordering::Relaxed);
        store.record_command(id, "{}", "ok").expect("record");
    }
    let seen: Vec<bool> = ["c2", "c3", "c4", "c5"]
        .iter()
        .map(|id| store.command_seen(id).expect("seen"))
        .collect();
    assert_eq!(seen, [false, true, true, true]);
}

#[test]
fn audit_is_append_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path().join("lane.db"), StoreConfig::default()).expect("open");
    let a = store
        .audit("O1", "raise", "barrier raised by hand", None)
        .expect("a");
    let b = store
        .audit("O2", "release", "checked papers", Some("01JABC"))
        .expect("b");
    assert!(b > a);
    let recent = store.recent_audit(10).expect("recent");
    assert_eq!(recent.len(), 2);
    assert_eq!(recent[0].id, b);
    assert_eq!(recent[0].officer, "O2");
    assert_eq!(recent[0].event_id.as_deref(), Some("01JABC"));
    assert_eq!(recent[1].action, "raise");
    assert_eq!(store.recent_audit(1).expect("recent").len(), 1);

    // Even a raw connection cannot rewrite or delete it.
    let raw = rusqlite::Connection::open(store.path()).expect("raw");
    let upd = raw.execute("UPDATE audit SET officer = 'X'", []);
    assert!(upd
        .expect_err("update refused")
        .to_string()
        .contains("append-only"));
    let del = raw.execute("DELETE FROM audit", []);
    assert!(del
        .expect_err("delete refused")
        .to_string()
        .contains("append-only"));
    assert_eq!(store.recent_audit(10).expect("recent").len(), 2);
}

#[test]
fn maintenance_runs_on_a_busy_store() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path().join("lane.db"), StoreConfig::default()).expect("open");
    store.record_command("c1", "{}", "ok").expect("record");
    let r = store.maintenance().expect("maintenance");
    assert_eq!((r.journal_purged, r.commands_purged), (0, 0));
    assert!(store.command_seen("c1").expect("seen"));
}

#[test]
fn a_command_gets_exactly_one_reply_across_restarts() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    {
        let store = Store::open(&path, StoreConfig::default()).expect("open");
        assert!(store.command_begin("c1").expect("begin"));
        assert!(!store.command_begin("c1").expect("replay"));
        assert!(store.command_begin("c2").expect("begin"));
        let id = store
            .command_answer(
                "c2",
                &reply(
                    "gate/v1/HK/L01/reply",
                    br#"{"command_id":"c2","ok":true,"detail":""}"#,
                ),
            )
            .expect("answer");
        assert!(id.is_some());
        // A second answer enqueues nothing.
        assert_eq!(
            store
                .command_answer("c2", &reply("t", b"again"))
                .expect("again"),
            None
        );
        // c1 begun, never answered ("crash" here).
    }
    let store = Store::open(&path, StoreConfig::default()).expect("reopen");
    assert_eq!(
        store.commands_unanswered(10).expect("unanswered"),
        vec!["c1".to_owned()]
    );
    assert!(store.command_seen("c1").expect("seen"));
    store
        .command_answer("c1", &reply("t", b"late"))
        .expect("answer c1");
    assert!(store
        .commands_unanswered(10)
        .expect("unanswered")
        .is_empty());
    // An id never begun is recorded by its answer.
    assert!(store
        .command_answer("c3", &reply("t", b"x"))
        .expect("c3")
        .is_some());
    assert!(!store.command_begin("c3").expect("c3 replay"));
    let replies: Vec<Vec<u8>> = store
        .outbox_peek(None, 10)
        .expect("peek")
        .into_iter()
        .map(|i| i.payload)
        .collect();
    assert_eq!(replies.len(), 3);
    assert_eq!(replies[1], b"late");
}
