//! Outbox: order, ack, stats, and the quota policy (photos evicted oldest
//! first, events never dropped, pressure levels).

use gate_store::{OutboxKind, OutboxMessage, Pressure, Store, StoreConfig};

/// A message of `kind` (the store takes every item as its maker states it).
fn msg(kind: OutboxKind, topic: &str, payload: &[u8]) -> OutboxMessage {
    OutboxMessage::new(kind, topic, payload)
}

/// Items of exactly `n` quota bytes on topic "t" (1 byte).
fn payload(n: usize, fill: u8) -> Vec<u8> {
    vec![fill; n - 1]
}

fn open_with_quota(dir: &tempfile::TempDir, quota: u64) -> Store {
    let cfg = StoreConfig {
        outbox_quota_bytes: quota,
        ..StoreConfig::default()
    };
    Store::open(dir.path().join("lane.db"), cfg).expect("open")
}

#[test]
fn peek_in_order_and_ack() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open_with_quota(&dir, 1 << 20);
    let kinds = [
        OutboxKind::Alarm,
        OutboxKind::Photo,
        OutboxKind::Reply,
        OutboxKind::Event,
    ];
    let ids: Vec<i64> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            store
                .outbox_enqueue(&msg(*k, &format!("topic/{i}"), format!("p{i}").as_bytes()))
                .expect("enqueue")
                .id
                .expect("id")
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let all = store.outbox_peek(None, 10).expect("peek");
    assert_eq!(all.iter().map(|i| i.id).collect::<Vec<_>>(), ids);
    assert_eq!(all.iter().map(|i| i.kind).collect::<Vec<_>>(), kinds);
    assert_eq!(all[1].payload, b"p1");
    assert_eq!(all[1].topic, "topic/1");
    assert_eq!((all[1].retain, all[1].bytes), (false, 9));
    let page = store.outbox_peek(Some(ids[1]), 1).expect("peek");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, ids[2]);

    assert!(store.outbox_ack(ids[1]).expect("ack"));
    assert!(!store.outbox_ack(ids[1]).expect("ack twice"));
    let s = store.outbox_stats().expect("stats");
    assert_eq!((s.depth, s.photos, s.events), (3, 0, 1));
    assert_eq!(s.bytes, 9 * 3);
    // Ids are never reused, even after the newest is acked.
    assert!(store.outbox_ack(ids[3]).expect("ack"));
    let next = store
        .outbox_enqueue(&msg(OutboxKind::Alarm, "a", b"x"))
        .expect("enqueue")
        .id
        .expect("id");
    assert!(next > ids[3]);
}

/// A window of PUBACKs is removed in one transaction: ids already gone and
/// unknown ids are skipped, the totals follow, and the pressure drops with
/// them (what lets a stopped lane admit vehicles again).
#[test]
fn ack_all_in_one_transaction() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open_with_quota(&dir, 1000);
    let ids: Vec<i64> = (0..6)
        .map(|i| {
            store
                .outbox_enqueue(&msg(OutboxKind::Event, "t", &payload(200, i)))
                .expect("enqueue")
                .id
                .expect("id")
        })
        .collect();
    assert_eq!(store.outbox_pressure(), Pressure::Critical);
    assert!(store.outbox_ack(ids[0]).expect("ack"));
    let n = store
        .outbox_ack_all(&[ids[0], ids[1], ids[2], 999_999, ids[2]])
        .expect("ack all");
    assert_eq!(n, 2, "ids[0] was gone, 999999 unknown, ids[2] twice");
    let s = store.outbox_stats().expect("stats");
    assert_eq!((s.depth, s.events, s.bytes), (3, 3, 600));
    assert_ne!(store.outbox_pressure(), Pressure::Critical);
    assert_eq!(store.outbox_ack_all(&[]).expect("nothing"), 0);
    let left: Vec<i64> = store
        .outbox_peek(None, 10)
        .expect("peek")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(left, ids[3..]);
    // Reopened: the same (the deletes were committed).
    drop(store);
    let store = open_with_quota(&dir, 1000);
    assert_eq!(store.outbox_stats().expect("stats").depth, 3);
}

#[test]
fn status_and_sync_replace_unsent_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open_with_quota(&dir, 1 << 20);
    store
        .outbox_enqueue(&msg(OutboxKind::Status, "s", b"old"))
        .expect("s1");
    store
        .outbox_enqueue(&msg(OutboxKind::Event, "e", b"ev"))
        .expect("e");
    store
        .outbox_enqueue(&msg(OutboxKind::Status, "s", b"new"))
        .expect("s2");
    store
        .outbox_enqueue(&msg(OutboxKind::Sync, "y", b"1"))
        .expect("y1");
    store
        .outbox_enqueue(&msg(OutboxKind::Sync, "y", b"2"))
        .expect("y2");
    let items = store.outbox_peek(None, 10).expect("peek");
    let got: Vec<(OutboxKind, &[u8])> = items
        .iter()
        .map(|i| (i.kind, i.payload.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            (OutboxKind::Event, b"ev".as_slice()),
            (OutboxKind::Status, b"new".as_slice()),
            (OutboxKind::Sync, b"2".as_slice())
        ]
    );
    assert!(items[1].retain, "status is published retained");
    assert_eq!(store.outbox_stats().expect("stats").depth, 3);
}

#[test]
fn quota_evicts_oldest_photos_first_and_never_drops_events() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open_with_quota(&dir, 10_000);
    // 7 photos: 70 % -> Normal; the 8th reaches 80 % -> Warn.
    let mut photos = Vec::new();
    for i in 0..8 {
        let q = store
            .outbox_enqueue(&msg(OutboxKind::Photo, "t", &payload(1000, i)))
            .expect("photo");
        assert_eq!(q.evicted_photos, 0);
        let want = if i < 7 {
            Pressure::Normal
        } else {
            Pressure::Warn
        };
        assert_eq!(q.pressure, want, "after photo {i}");
        photos.push(q.id.expect("id"));
    }
    // 3 events (3000 bytes): 11000 > 10000 -> the oldest photo goes.
    for i in 0..3 {
        let q = store
            .outbox_enqueue(&msg(OutboxKind::Event, "t", &payload(1000, 100 + i)))
            .expect("event");
        assert!(q.id.is_some());
        assert_eq!(q.pressure, Pressure::Warn);
        assert_eq!(q.evicted_photos, u64::from(i >= 2));
    }
    let left: Vec<i64> = store
        .outbox_peek(None, 100)
        .expect("peek")
        .iter()
        .filter(|i| i.kind == OutboxKind::Photo)
        .map(|i| i.id)
        .collect();
    assert_eq!(
        left,
        photos[1..].to_vec(),
        "the oldest photo is evicted first"
    );

    // A photo larger than what is left after the events: refused, and the
    // photos already queued stay.
    let q = store
        .outbox_enqueue(&msg(OutboxKind::Photo, "t", &payload(7_500, 9)))
        .expect("photo");
    assert_eq!(q.id, None);
    assert_eq!(store.outbox_stats().expect("stats").photos, 7);

    // 8 more events: every photo evicted, events kept beyond the quota.
    let mut last = None;
    for i in 0..8 {
        last = Some(
            store
                .outbox_enqueue(&msg(OutboxKind::Event, "t", &payload(1000, 200 + i)))
                .expect("event"),
        );
    }
    let last = last.expect("last");
    assert_eq!(last.pressure, Pressure::Critical);
    let s = store.outbox_stats().expect("stats");
    assert_eq!((s.photos, s.events, s.event_bytes), (0, 11, 11_000));
    assert_eq!(s.pressure, Pressure::Critical);
    assert_eq!(s.evicted_photos, 8);
    assert!(s.bytes > s.quota_bytes);
    // No photo fits now.
    assert_eq!(
        store
            .outbox_enqueue(&msg(OutboxKind::Photo, "t", &payload(10, 1)))
            .expect("photo")
            .id,
        None
    );
    // Alarms are still accepted (never dropped) under Critical.
    assert!(store
        .outbox_enqueue(&msg(OutboxKind::Alarm, "t", &payload(100, 1)))
        .expect("alarm")
        .id
        .is_some());

    // Draining: the link acks in order, pressure falls back.
    let items = store.outbox_peek(None, 100).expect("peek");
    // 11 100 bytes; two acks leave 9 100 (91 %: Warn), two more 7 100.
    for it in items.iter().take(2) {
        assert!(store.outbox_ack(it.id).expect("ack"));
    }
    assert_eq!(store.outbox_pressure(), Pressure::Warn);
    for it in items.iter().skip(2).take(2) {
        store.outbox_ack(it.id).expect("ack");
    }
    assert_eq!(store.outbox_pressure(), Pressure::Normal);

    // Totals survive a reopen.
    let before = store.outbox_stats().expect("stats");
    drop(store);
    let store = open_with_quota(&dir, 10_000);
    let after = store.outbox_stats().expect("stats");
    assert_eq!(
        (after.depth, after.bytes, after.events, after.photos),
        (before.depth, before.bytes, before.events, before.photos)
    );
}

#[test]
fn finished_events_enter_the_outbox_under_quota_pressure() {
    use gate_proto::messages::*;
    let dir = tempfile::tempdir().expect("tmp");
    let store = open_with_quota(&dir, 2_000);
    for i in 0..3 {
        store
            .outbox_enqueue(&msg(OutboxKind::Photo, "t", &payload(600, i)))
            .expect("photo");
    }
    let ev = LaneEvent {
        schema: EVENT_SCHEMA.into(),
        event_id: gate_store::new_event_id(),
        seq: 0,
        site: "HK".into(),
        lane: "L01".into(),
        direction: Direction::Exit,
        arrived_at: "2026-11-27T10:00:00.000Z".into(),
        decided_at: "2026-11-27T10:00:05.000Z".into(),
        finished_at: "2026-11-27T10:00:30.000Z".into(),
        vehicle: None,
        trailer: None,
        containers: vec![],
        eseal: None,
        weight: None,
        gate_pass: None,
        decision: EventDecision {
            result: DecisionResult::Hold,
            reasons: vec![Reason::H01],
            by: DecidedBy::Local,
            officer: None,
            offline: true,
            whitelist_version: 0,
        },
        outcome: Outcome::Held,
        photos: vec![],
        clock_synced: true,
        led_text: Some("x".repeat(600)),
        note: None,
        officer_entry: None,
    };
    let f = store
        .journal_finish(&ev, "gate/v1/HK/L01/event")
        .expect("finish");
    assert!(f.outbox_id.is_some());
    let s = store.outbox_stats().expect("stats");
    assert_eq!(s.events, 1);
    assert!(s.photos < 3, "a photo was evicted for the event");
    assert!(s.bytes <= 2_000);
}

/// Every alarm queued for the platform is also in the lane's alarm log,
/// kept after the broker took it, until an officer acknowledges it (once).
#[test]
fn alarms_are_logged_kept_after_delivery_and_acknowledged_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open_with_quota(&dir, 1 << 20);
    let alarm = |id: &str, kind: &str| {
        serde_json::json!({
            "alarm_id": id, "kind": kind, "severity": "critical",
            "at": "2026-12-07T08:00:00Z", "detail": format!("{kind} detail")
        })
        .to_string()
    };
    let a1 = store
        .outbox_enqueue(&msg(
            OutboxKind::Alarm,
            "gate/v1/S/L/alarm",
            alarm("A1", "device_fault").as_bytes(),
        ))
        .expect("enqueue")
        .id
        .expect("id");
    store
        .outbox_enqueue(&msg(
            OutboxKind::Alarm,
            "gate/v1/S/L/alarm",
            alarm("A2", "tailgating").as_bytes(),
        ))
        .expect("enqueue");
    // Not an alarm, and an alarm that does not decode: sent, not logged.
    store
        .outbox_enqueue(&msg(OutboxKind::Reply, "gate/v1/S/L/reply", b"{}"))
        .expect("enqueue");
    store
        .outbox_enqueue(&msg(OutboxKind::Alarm, "gate/v1/S/L/alarm", b"not json"))
        .expect("a bad alarm is still queued");
    // The broker took the first: the log keeps it.
    assert!(store.outbox_ack(a1).expect("ack"));
    let log = store.alarm_log(10, false).expect("log");
    assert_eq!(
        log.iter().map(|a| a.alarm_id.as_str()).collect::<Vec<_>>(),
        ["A2", "A1"],
        "newest first"
    );
    assert_eq!(log[1].kind, "device_fault");
    assert_eq!(log[1].severity, "critical");
    assert_eq!(store.open_alarms().expect("open"), 2);

    let id = log[1].id;
    assert!(store.ack_alarm(id, "O-17", "camera cleaned").expect("ack"));
    assert!(!store.ack_alarm(id, "O-18", "again").expect("ack"), "once");
    assert!(!store.ack_alarm(9999, "O-17", "unknown").expect("ack"));
    assert_eq!(store.open_alarms().expect("open"), 1);
    let open = store.alarm_log(10, true).expect("log");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].alarm_id, "A2");
    let all = store.alarm_log(10, false).expect("log");
    let acked = all.iter().find(|a| a.alarm_id == "A1").expect("A1");
    assert_eq!(acked.acked_by.as_deref(), Some("O-17"));
    assert_eq!(acked.ack_note.as_deref(), Some("camera cleaned"));
    assert!(acked.acked_ms.is_some());

    // Kept across a reopen.
    drop(store);
    let store = open_with_quota(&dir, 1 << 20);
    assert_eq!(store.open_alarms().expect("open"), 1);
}

/// Through the link's storage port (`gate_link_port::Outbox`, what the
/// link holds) every message keeps the kind its maker stated: nothing is
/// derived from its topic. A photo the quota refuses is an error there.
#[test]
fn the_link_port_takes_the_stated_kind() {
    use gate_link_port::Outbox;
    use gate_proto::messages::{Alarm, Severity};
    use gate_proto::topics::LaneTopics;

    let dir = tempfile::tempdir().expect("tmp");
    let store = open_with_quota(&dir, 1_000);
    let t = LaneTopics::new("S", "L");
    let alarm = Alarm {
        alarm_id: "A1".into(),
        kind: "device_fault".into(),
        severity: Severity::Critical,
        at: "2026-12-07T08:00:00Z".into(),
        detail: "camera down".into(),
    };
    let a = OutboxMessage::alarm(&t, &alarm).expect("alarm");
    // A stated kind on a topic of another kind stays what it was stated.
    let odd = msg(OutboxKind::Event, &t.alarm(), b"{}");
    let ids = [
        store.enqueue(&a).expect("alarm"),
        store.enqueue(&odd).expect("event"),
    ];
    let items = store.peek(None, 10).expect("peek");
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), ids);
    assert_eq!(
        items.iter().map(|i| i.kind).collect::<Vec<_>>(),
        [OutboxKind::Alarm, OutboxKind::Event]
    );
    let log = store.alarm_log(10, false).expect("log");
    assert_eq!(log.len(), 1, "only the alarm is logged");
    assert_eq!(log[0].alarm_id, "A1");

    let big = OutboxMessage::photo(&t, "E1", "plate_front", payload(2_000, 7));
    assert!(store.enqueue(&big).is_err(), "refused by the quota");
    assert_eq!(store.depth().expect("depth").count, 2);
}
