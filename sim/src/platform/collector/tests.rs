//! Unit tests of `collector` (kept beside it so the module stays readable).

use super::*;
use gate_proto::messages::{CommandKind, COMMAND_SCHEMA};
use serde_json::json;

const SITE: &str = "HK-XINHAI";

fn event(id: &str, seq: u64, photo: &[u8]) -> Value {
    json!({
        "schema": "gate.event/1", "event_id": id, "seq": seq,
        "site": SITE, "lane": "L03", "direction": "exit",
        "arrived_at": "2026-11-27T10:00:00.000Z",
        "decided_at": "2026-11-27T10:00:05.000Z",
        "finished_at": "2026-11-27T10:00:30.000Z",
        "vehicle": {"plate": "琼A12345", "plate_colour": "yellow", "plate_confidence": 0.98, "etag": null},
        "trailer": null, "containers": [], "eseal": null,
        "weight": {"gross_kg": 31240.0, "stable": true},
        "gate_pass": "P1",
        "decision": {"result": "release", "reasons": ["R00"], "by": "local", "officer": null, "offline": false, "whitelist_version": 12},
        "outcome": "passed",
        "photos": [{"camera": "plate_front", "sha256": hex(&Sha256::digest(photo)), "bytes": photo.len()}]
    })
}

fn feed(c: &mut Collector, topic: &str, v: &Value) -> Option<Action> {
    c.on_message(topic, &serde_json::to_vec(v).unwrap(), 0)
}

const EV: &str = "gate/v1/HK-XINHAI/L03/event";

#[test]
fn duplicates_gaps_and_conflicts() {
    let mut c = Collector::new(SITE, Some(1));
    for (id, seq) in [("E1", 1), ("E2", 2), ("E2", 2), ("E5", 5), ("E2", 2)] {
        feed(&mut c, EV, &event(id, seq, b"x"));
    }
    // Same id, different content.
    let mut changed = event("E1", 1, b"x");
    changed["outcome"] = json!("held");
    feed(&mut c, EV, &changed);
    // Same seq, another id.
    feed(&mut c, EV, &event("E9", 5, b"x"));
    let r = c.report(1);
    assert_eq!(r.events.len(), 3);
    assert_eq!(r.duplicates, 2);
    assert_eq!(r.duplicate_events.len(), 1);
    assert_eq!(r.duplicate_events[0].event_id, "E2");
    assert_eq!(
        r.gaps,
        vec![SeqGap {
            lane: "L03".into(),
            from: 3,
            to: 4
        }]
    );
    assert_eq!(r.conflicts.len(), 2);
    assert!(r.conflicts[0].detail.contains("different content"));
    assert!(r.conflicts[1].detail.contains("already used by event E5"));
    assert!(!r.is_clean());
}

#[test]
fn passage_on_a_pass_is_an_action_once() {
    let mut c = Collector::new(SITE, None);
    let e = event("E1", 1, b"x");
    assert_eq!(
        feed(&mut c, EV, &e),
        Some(Action::PassUsed {
            lane: "L03".into(),
            pass_no: "P1".into()
        })
    );
    assert_eq!(
        feed(&mut c, EV, &e),
        None,
        "a duplicate is not a new passage"
    );
    let mut held = event("E2", 2, b"x");
    held["decision"]["result"] = json!("hold");
    held["decision"]["reasons"] = json!(["H06"]);
    held["outcome"] = json!("reversed");
    assert_eq!(feed(&mut c, EV, &held), None);
    let mut inspected = event("E3", 3, b"x");
    inspected["decision"]["result"] = json!("inspect");
    inspected["decision"]["reasons"] = json!(["I01"]);
    inspected["outcome"] = json!("inspection");
    assert!(matches!(
        feed(&mut c, EV, &inspected),
        Some(Action::PassUsed { .. })
    ));
}

#[test]
fn gap_before_first_seq_only_when_expected() {
    let mut c = Collector::new(SITE, None);
    feed(&mut c, EV, &event("E4", 4, b"x"));
    assert!(c.report(1).gaps.is_empty());
    let mut c = Collector::new(SITE, Some(1));
    feed(&mut c, EV, &event("E4", 4, b"x"));
    assert_eq!(c.report(1).gaps[0].from, 1);
    assert_eq!(c.report(1).gaps[0].to, 3);
}

#[test]
fn schema_errors_are_collected() {
    let mut c = Collector::new(SITE, None);
    let mut bad = event("E1", 1, b"x");
    bad.as_object_mut().unwrap().remove("outcome");
    feed(&mut c, EV, &bad);
    c.on_message(EV, b"{not json", 0);
    // Lane of the topic differs from the event's.
    feed(&mut c, "gate/v1/HK-XINHAI/L04/event", &event("E2", 1, b"x"));
    feed(
        &mut c,
        "gate/v1/HK-XINHAI/L03/alarm",
        &json!({"alarm_id": 1}),
    );
    feed(
        &mut c,
        "gate/v1/HK-XINHAI/L03/status",
        &json!({"state": "sleepy"}),
    );
    let r = c.report(1);
    assert!(r.events.is_empty());
    assert_eq!(r.schema_errors.len(), 5, "{:?}", r.schema_errors);
    assert!(r.schema_errors[0].errors[0].contains("`outcome`"));
    assert!(r.schema_errors[1].errors[0].starts_with("not JSON"));
    assert!(r.schema_errors[2].errors[0].contains("lane `L03`"));
    assert_eq!(r.schema_errors[3].kind, "alarm");
    assert_eq!(r.schema_errors[4].kind, "status");
}

#[test]
fn photos_are_matched_to_events() {
    let mut c = Collector::new(SITE, None);
    let jpeg = b"\xff\xd8 fake jpeg \xff\xd9";
    // Photo before its event; one photo for an event that never comes;
    // one with the wrong bytes; one camera the event does not list.
    c.on_message("gate/v1/HK-XINHAI/L03/photo/E1/plate_front", jpeg, 0);
    c.on_message("gate/v1/HK-XINHAI/L03/photo/E7/plate_front", jpeg, 0);
    c.on_message("gate/v1/HK-XINHAI/L03/photo/E2/plate_front", b"other", 0);
    c.on_message("gate/v1/HK-XINHAI/L03/photo/E1/plate_rear", jpeg, 0);
    feed(&mut c, EV, &event("E1", 1, jpeg));
    feed(&mut c, EV, &event("E2", 2, jpeg));
    feed(&mut c, EV, &event("E3", 3, jpeg));
    let r = c.report(1);
    assert_eq!(r.photos_ok, 1);
    let bad: Vec<(&str, &str)> = r
        .photos_bad
        .iter()
        .map(|p| (p.event_id.as_str(), p.camera.as_str()))
        .collect();
    assert_eq!(
        bad,
        vec![
            ("E1", "plate_rear"),
            ("E2", "plate_front"),
            ("E7", "plate_front")
        ]
    );
    assert!(r.photos_bad[1].detail.contains("bytes received"));
    assert_eq!(r.photos_missing.len(), 1);
    assert_eq!(r.photos_missing[0].event_id, "E3");
}

#[test]
fn replies_match_commands_and_sync_is_an_action() {
    let mut c = Collector::new(SITE, None);
    let cmd = |id: &str| Command {
        schema: COMMAND_SCHEMA.into(),
        id: id.into(),
        site: SITE.into(),
        lane: "L03".into(),
        issued_at: "2026-11-27T10:00:00.000Z".into(),
        expires_at: "2026-11-27T10:01:00.000Z".into(),
        kind: CommandKind::Lower,
        officer: None,
        note: None,
        event_id: None,
        device: None,
    };
    for id in ["C1", "C2", "C3"] {
        c.command_sent(&cmd(id));
    }
    let reply = |id: &str| json!({"command_id": id, "ok": true, "detail": ""});
    let rt = "gate/v1/HK-XINHAI/L03/reply";
    feed(&mut c, rt, &reply("C1"));
    feed(&mut c, rt, &reply("C2"));
    feed(&mut c, rt, &reply("C2"));
    feed(&mut c, rt, &reply("C9"));
    // A reply on another lane's topic does not answer C3.
    feed(&mut c, "gate/v1/HK-XINHAI/L04/reply", &reply("C3"));
    let r = c.report(1);
    assert_eq!(r.commands_sent, 3);
    assert_eq!(r.commands_without_reply, vec!["C3".to_owned()]);
    assert_eq!(r.extra_replies, vec!["C2".to_owned()]);
    assert_eq!(r.unknown_replies.len(), 2);
    assert_eq!(
        feed(
            &mut c,
            "gate/v1/HK-XINHAI/L03/sync",
            &json!({"have_version": 4})
        ),
        Some(Action::AnswerSync {
            lane: "L03".into(),
            have_version: 4
        })
    );
    assert_eq!(
        feed(&mut c, "gate/v1/HK-XINHAI/L03/sync", &json!({"have": 4})),
        None
    );
    assert_eq!(c.report(1).schema_errors.len(), 1);
}

#[test]
fn other_sites_are_ignored_and_status_kept() {
    let mut c = Collector::new(SITE, None);
    feed(&mut c, "gate/v1/HK-MACUN/L03/event", &event("E1", 1, b"x"));
    feed(
        &mut c,
        "gate/v1/HK-XINHAI/L03/status",
        &json!({"state": "online", "whitelist_version": 3}),
    );
    feed(
        &mut c,
        "gate/v1/HK-XINHAI/L03/status",
        &json!({"state": "offline"}),
    );
    let r = c.report(1);
    assert!(r.events.is_empty() && r.schema_errors.is_empty());
    assert_eq!(r.status["L03"].state, "offline");
}
