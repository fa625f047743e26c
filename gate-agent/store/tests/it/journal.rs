//! Event journal: gapless per-lane seq across restarts, idempotent finish,
//! recovery of unfinished events, retention.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gate_proto::messages::{
    DecidedBy, DecisionResult, Direction, EventDecision, LaneEvent, Outcome, Reason, EVENT_SCHEMA,
};
use gate_store::{new_event_id, Clock, JournalState, OutboxKind, Store, StoreConfig, StoreError};
use serde_json::json;

fn decision() -> EventDecision {
    EventDecision {
        result: DecisionResult::Release,
        reasons: vec![Reason::R00],
        by: DecidedBy::Local,
        officer: None,
        offline: false,
        whitelist_version: 7,
    }
}

fn event(lane: &str, event_id: &str) -> LaneEvent {
    LaneEvent {
        schema: EVENT_SCHEMA.into(),
        event_id: event_id.into(),
        seq: 999, // ignored by the store
        site: "HK-XINHAI".into(),
        lane: lane.into(),
        direction: Direction::Exit,
        arrived_at: "2026-11-27T10:00:00.000Z".into(),
        decided_at: "2026-11-27T10:00:05.000Z".into(),
        finished_at: "2026-11-27T10:00:30.000Z".into(),
        vehicle: None,
        trailer: None,
        containers: vec![],
        eseal: None,
        weight: None,
        gate_pass: Some("HP1".into()),
        decision: decision(),
        outcome: Outcome::Passed,
        photos: vec![],
        clock_synced: true,
        led_text: None,
        note: None,
        officer_entry: None,
    }
}

fn topic(lane: &str) -> String {
    format!("gate/v1/HK-XINHAI/{lane}/event")
}

/// Run one passage through the journal; returns its seq.
fn passage(store: &Store, lane: &str) -> u64 {
    let id = new_event_id();
    store
        .journal_start(
            lane,
            &id,
            "2026-11-27T10:00:00.000Z",
            &json!({"plate": "琼A12345"}),
        )
        .expect("start");
    store
        .journal_decided(
            &id,
            &decision(),
            "2026-11-27T10:00:05.000Z",
            &json!({"plate": "琼A12345"}),
        )
        .expect("decided");
    store
        .journal_finish(&event(lane, &id), &topic(lane))
        .expect("finish")
        .seq
}

#[test]
fn seq_is_gapless_per_lane_across_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    let mut l1 = Vec::new();
    let mut l2 = Vec::new();
    {
        let store = Store::open(&path, StoreConfig::default()).expect("open");
        for i in 0..5 {
            l1.push(passage(&store, "L01"));
            if i % 2 == 0 {
                l2.push(passage(&store, "L02"));
            }
        }
    }
    for _ in 0..2 {
        let store = Store::open(&path, StoreConfig::default()).expect("reopen");
        for _ in 0..3 {
            l1.push(passage(&store, "L01"));
            l2.push(passage(&store, "L02"));
        }
    }
    assert_eq!(l1, (1..=11).collect::<Vec<_>>());
    assert_eq!(l2, (1..=9).collect::<Vec<_>>());

    // The outbox holds the events in order, each with its seq and id.
    let store = Store::open(&path, StoreConfig::default()).expect("reopen");
    let items = store.outbox_peek(None, 100).expect("peek");
    assert_eq!(items.len(), 20);
    let mut seen_l1 = Vec::new();
    for it in &items {
        assert_eq!(it.kind, OutboxKind::Event);
        let ev: LaneEvent = serde_json::from_slice(&it.payload).expect("event json");
        gate_proto::messages::validate_event(&serde_json::from_slice(&it.payload).expect("json"))
            .expect("valid event");
        assert_eq!(it.topic, topic(&ev.lane));
        if ev.lane == "L01" {
            seen_l1.push(ev.seq);
        }
    }
    assert_eq!(seen_l1, (1..=11).collect::<Vec<_>>());
    assert_eq!(
        store.last_seqs().expect("seqs"),
        vec![("L01".to_owned(), 11), ("L02".to_owned(), 9)]
    );
    let recent = store.recent_events(3).expect("recent");
    assert_eq!(recent.len(), 3);
    assert!(recent.iter().all(|r| r.event.seq == r.seq));
}

#[test]
fn finishing_twice_keeps_seq_and_enqueues_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path().join("lane.db"), StoreConfig::default()).expect("open");
    let id = new_event_id();
    store
        .journal_start("L01", &id, "2026-11-27T10:00:00.000Z", &json!({}))
        .expect("start");
    let a = store
        .journal_finish(&event("L01", &id), &topic("L01"))
        .expect("finish");
    let b = store
        .journal_finish(&event("L01", &id), &topic("L01"))
        .expect("again");
    assert_eq!((a.seq, a.already_finished), (1, false));
    assert!(a.outbox_id.is_some());
    assert_eq!((b.seq, b.outbox_id, b.already_finished), (1, None, true));
    assert_eq!(store.outbox_stats().expect("stats").events, 1);
    // The next event still gets 2.
    assert_eq!(passage(&store, "L01"), 2);
    // The stored event keeps the id the agent gave it.
    let items = store.outbox_peek(None, 10).expect("peek");
    let first: LaneEvent = serde_json::from_slice(&items[0].payload).expect("json");
    assert_eq!(first.event_id, id);
    assert_eq!(first.seq, 1);
}

#[test]
fn unfinished_entries_survive_reopen_for_recovery() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    let (a, b) = (new_event_id(), new_event_id());
    {
        let store = Store::open(&path, StoreConfig::default()).expect("open");
        store
            .journal_start(
                "L01",
                &a,
                "2026-11-27T10:00:00.000Z",
                &json!({"step": "identifying"}),
            )
            .expect("a");
        store
            .journal_start(
                "L01",
                &b,
                "2026-11-27T10:01:00.000Z",
                &json!({"step": "identifying"}),
            )
            .expect("b");
        store
            .journal_decided(
                &b,
                &decision(),
                "2026-11-27T10:01:05.000Z",
                &json!({"step": "decided"}),
            )
            .expect("b decided");
        passage(&store, "L01");
    }
    let store = Store::open(&path, StoreConfig::default()).expect("reopen");
    let open = store.unfinished_journal().expect("unfinished");
    assert_eq!(open.len(), 2);
    assert_eq!(
        (open[0].event_id.as_str(), open[0].state),
        (a.as_str(), JournalState::Started)
    );
    assert_eq!(open[0].context, Some(json!({"step": "identifying"})));
    assert_eq!(open[0].decision, None);
    assert_eq!(
        (open[1].event_id.as_str(), open[1].state),
        (b.as_str(), JournalState::Decided)
    );
    assert_eq!(open[1].decision, Some(decision()));
    assert_eq!(
        open[1].decided_at.as_deref(),
        Some("2026-11-27T10:01:05.000Z")
    );
    assert_eq!(open[1].context, Some(json!({"step": "decided"})));
    // Settling them continues the sequence.
    let mut ev = event("L01", &b);
    ev.outcome = Outcome::Timeout;
    assert_eq!(store.journal_finish(&ev, &topic("L01")).expect("b").seq, 2);
    let open = store.unfinished_journal().expect("unfinished");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].event_id, a);
}

#[test]
fn journal_misuse_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path().join("lane.db"), StoreConfig::default()).expect("open");
    let id = new_event_id();
    assert!(matches!(
        store.journal_decided(&id, &decision(), "2026-11-27T10:00:05.000Z", &json!({})),
        Err(StoreError::Journal(_))
    ));
    assert!(matches!(
        store.journal_start("l01", &id, "2026-11-27T10:00:00.000Z", &json!({})),
        Err(StoreError::Journal(_))
    ));
    assert!(matches!(
        store.journal_start("L01", "", "2026-11-27T10:00:00.000Z", &json!({})),
        Err(StoreError::Journal(_))
    ));
    store
        .journal_start("L01", &id, "2026-11-27T10:00:00.000Z", &json!({}))
        .expect("start");
    // Another lane cannot finish or restart it.
    assert!(matches!(
        store.journal_finish(&event("L02", &id), &topic("L02")),
        Err(StoreError::Journal(_))
    ));
    assert!(matches!(
        store.journal_start("L02", &id, "2026-11-27T10:00:00.000Z", &json!({})),
        Err(StoreError::Journal(_))
    ));
    store
        .journal_finish(&event("L01", &id), &topic("L01"))
        .expect("finish");
    assert!(matches!(
        store.journal_start("L01", &id, "2026-11-27T10:00:00.000Z", &json!({})),
        Err(StoreError::Journal(_))
    ));
    assert!(matches!(
        store.journal_decided(&id, &decision(), "2026-11-27T10:00:05.000Z", &json!({})),
        Err(StoreError::Journal(_))
    ));
    // Refused calls consumed no seq.
    assert_eq!(
        store.last_seqs().expect("seqs"),
        vec![("L01".to_owned(), 1)]
    );
}

#[test]
fn finish_without_start_is_journalled_too() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path().join("lane.db"), StoreConfig::default()).expect("open");
    let id = new_event_id();
    assert_eq!(
        store
            .journal_finish(&event("L01", &id), &topic("L01"))
            .expect("f")
            .seq,
        1
    );
    assert_eq!(store.recent_events(10).expect("recent")[0].event_id, id);
    assert!(store.unfinished_journal().expect("u").is_empty());
}

#[test]
fn old_finished_entries_are_purged_but_seq_continues() {
    let dir = tempfile::tempdir().expect("tmp");
    let now = Arc::new(AtomicI64::new(1_800_000_000_000));
    let clock = {
        let now = now.clone();
        Clock::from_fn(move || now.load(Ordering::Relaxed))
    };
    let cfg = StoreConfig {
        journal_keep: Duration::from_secs(3600),
        journal_max: 4,
        clock,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path().join("lane.db"), cfg).expect("open");
    for _ in 0..3 {
        passage(&store, "L01");
    }
    now.fetch_add(2 * 3600 * 1000, Ordering::Relaxed);
    assert_eq!(passage(&store, "L01"), 4);
    let recent = store.recent_events(100).expect("recent");
    assert_eq!(recent.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4]);
    // The row cap: 6 more, only the newest 4 kept.
    for _ in 0..6 {
        passage(&store, "L01");
    }
    let recent = store.recent_events(100).expect("recent");
    assert_eq!(
        recent.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![10, 9, 8, 7]
    );
    // Purging never touches the outbox: all 10 events still to publish.
    assert_eq!(store.outbox_stats().expect("stats").events, 10);
}

#[test]
fn journal_update_replaces_the_record_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    let id = new_event_id();
    {
        let store = Store::open(&path, StoreConfig::default()).expect("open");
        // Never started: refused.
        assert!(matches!(
            store.journal_update(&id, &json!({"step": "identified"})),
            Err(StoreError::Journal(_))
        ));
        store
            .journal_start(
                "L01",
                &id,
                "2026-11-27T10:00:00.000Z",
                &json!({"step": "arrived"}),
            )
            .expect("start");
        store
            .journal_update(&id, &json!({"step": "identified", "plate": "琼A12345"}))
            .expect("update");
    }
    let store = Store::open(&path, StoreConfig::default()).expect("reopen");
    let open = store.unfinished_journal().expect("unfinished");
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0].state,
        JournalState::Started,
        "an update keeps the state"
    );
    assert_eq!(
        open[0].context,
        Some(json!({"step": "identified", "plate": "琼A12345"}))
    );
    store
        .journal_finish(&event("L01", &id), &topic("L01"))
        .expect("finish");
    // Finished: no more updates.
    assert!(matches!(
        store.journal_update(&id, &json!({})),
        Err(StoreError::Journal(_))
    ));
}

#[test]
fn a_corrupt_main_file_is_quarantined_and_the_lane_goes_on() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    {
        let store = Store::open(&path, StoreConfig::default()).expect("open");
        assert_eq!(passage(&store, "L01"), 1);
    }
    // Garbage over the SQLite header: not a database any more.
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[..64].fill(0xA5);
    std::fs::write(&path, &bytes).expect("write");
    assert!(matches!(
        Store::open(&path, StoreConfig::default()),
        Err(StoreError::NotADatabase { .. })
    ));
    let (store, moved) = Store::open_or_quarantine(&path, StoreConfig::default()).expect("open");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].file, path);
    assert!(moved[0].moved_to.exists(), "the bad file is kept aside");
    assert!(
        moved[0].salvage_error.is_some(),
        "nothing readable: said so"
    );
    // A fresh journal: the lane serves again, and its numbering goes on
    // from the copy of the counters kept beside the file (never reused).
    assert!(store.unfinished_journal().expect("journal").is_empty());
    assert_eq!(moved[0].seqs_salvaged, 1);
    // The event the platform had not acknowledged is in the fresh outbox,
    // from its copy beside the file.
    assert_eq!(moved[0].outbox_salvaged, 1);
    let items = store.outbox_peek(None, 10).expect("outbox");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].kind, OutboxKind::Event);
    assert_eq!(items[0].topic, topic("L01"));
    let ev: LaneEvent = serde_json::from_slice(&items[0].payload).expect("event");
    assert_eq!(ev.seq, 1);
    store.outbox_ack(items[0].id).expect("ack");
    assert_eq!(passage(&store, "L01"), 2);
    // Opening again finds nothing wrong.
    drop(store);
    let (s, moved) = Store::open_or_quarantine(&path, StoreConfig::default()).expect("reopen");
    assert!(moved.is_empty());
    assert_eq!(passage(&s, "L01"), 3);
}

#[test]
fn a_corrupt_whitelist_file_is_replaced_and_the_journal_kept() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    let wl = StoreConfig::default().whitelist_path_for(&path);
    {
        let store = Store::open(&path, StoreConfig::default()).expect("open");
        passage(&store, "L01");
        passage(&store, "L01");
    }
    std::fs::write(
        &wl,
        b"this is not a database, it is a text file of some length....",
    )
    .expect("write");
    let (store, moved) = Store::open_or_quarantine(&path, StoreConfig::default()).expect("open");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0].file, wl);
    assert_eq!(store.whitelist_version().expect("version"), 0);
    // The journal and its numbering are untouched.
    assert_eq!(passage(&store, "L01"), 3);
}

/// The chaos run of 1,000 faults (docs/reliability.md): a full disk let an
/// event's commit through but not the copy of the lane counters, then the
/// file was found corrupt and quarantined; the fresh store took its
/// numbering from the stale copy and gave the same seq twice. The copy is
/// now written before the commit: when it cannot be, the finish fails (the
/// runtime retries it) and nothing is committed.
#[test]
fn a_number_the_counter_copy_does_not_hold_is_never_committed() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    let store = Store::open(&path, StoreConfig::default()).expect("open");
    assert_eq!(passage(&store, "L01"), 1);
    // The copy cannot be written (its temporary file's name is taken by a
    // directory, as good as a full disk for this write).
    let tmp = dir.path().join("lane.db.seq.tmp");
    std::fs::create_dir(&tmp).expect("block the copy");
    let id = new_event_id();
    store
        .journal_start("L01", &id, "2026-11-27T10:00:00.000Z", &json!({}))
        .expect("start");
    let r = store.journal_finish(&event("L01", &id), &topic("L01"));
    assert!(r.is_err(), "the finish must fail: {r:?}");
    assert_eq!(
        store.unfinished_journal().expect("journal").len(),
        1,
        "nothing committed: the passage is still open"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lane.db.seq")).expect("copy"),
        "L01 1\n"
    );
    // Writable again: the retry finishes it with the next number.
    std::fs::remove_dir(&tmp).expect("unblock");
    let f = store
        .journal_finish(&event("L01", &id), &topic("L01"))
        .expect("finish");
    assert_eq!(f.seq, 2);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("lane.db.seq")).expect("copy"),
        "L01 2\n"
    );
}
