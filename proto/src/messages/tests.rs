//! Unit tests of `messages` (kept beside it so the module stays readable).

use super::*;
use serde_json::json;

fn sample_event() -> Value {
    json!({
        "schema": "gate.event/1", "event_id": "01JABC", "seq": 7,
        "site": "HK-XINHAI", "lane": "L03", "direction": "exit",
        "arrived_at": "2026-11-27T10:00:00.000Z",
        "decided_at": "2026-11-27T10:00:05.000Z",
        "finished_at": "2026-11-27T10:00:30.000Z",
        "vehicle": {"plate": "琼A12345", "plate_colour": "yellow", "plate_confidence": 0.98, "etag": "E2801160"},
        "trailer": null,
        "containers": [{"number": "CSQU3054383", "position": "front", "check_digit_ok": true, "confidence": 0.97}],
        "eseal": {"id": "S1", "intact": true},
        "weight": {"gross_kg": 31240.0, "stable": true},
        "gate_pass": "P1",
        "decision": {"result": "release", "reasons": ["R00"], "by": "local", "officer": null, "offline": false, "whitelist_version": 12},
        "outcome": "passed",
        "photos": [{"camera": "plate_front", "sha256": "ab", "bytes": 100}],
        "extra_field_allowed": 1
    })
}

#[test]
fn event_valid_and_roundtrip() {
    let ev = validate_event(&sample_event()).expect("valid");
    assert_eq!(ev.decision.reasons, vec![Reason::R00]);
    assert!(ev.clock_synced);
    let back = serde_json::to_value(&ev).expect("ser");
    assert!(validate_event(&back).is_ok());
}

#[test]
fn event_missing_fields_reported() {
    let mut v = sample_event();
    let o = v.as_object_mut().expect("obj");
    o.remove("seq");
    o.remove("trailer");
    let errs = validate_event(&v).expect_err("invalid");
    assert!(errs.iter().any(|e| e.contains("`seq`")));
    assert!(errs.iter().any(|e| e.contains("`trailer`")));
}

#[test]
fn event_bad_values_reported() {
    let mut v = sample_event();
    v["site"] = json!("hk");
    v["arrived_at"] = json!("noon");
    let errs = validate_event(&v).expect_err("invalid");
    assert_eq!(errs.len(), 2, "{errs:?}");
    let mut v = sample_event();
    v["decision"]["reasons"] = json!(["X99"]);
    assert!(validate_event(&v).is_err());
}

#[test]
fn reasons_roundtrip() {
    for r in Reason::ALL {
        assert_eq!(Reason::parse(r.as_str()), Some(r));
        assert_eq!(
            serde_json::to_string(&r).expect("ser"),
            format!("\"{}\"", r.as_str())
        );
    }
}

#[test]
fn batch_validation() {
    let mut b = WhitelistBatch {
        schema: WHITELIST_SCHEMA.into(),
        site: "HK".into(),
        kind: BatchKind::Delta,
        from_version: Some(3),
        version: 4,
        chunk: Chunk { index: 0, count: 1 },
        issued_at: "2026-11-27T10:00:00.000Z".into(),
        upserts: Upserts::default(),
        deletes: Deletes::default(),
    };
    assert!(b.validate().is_ok());
    b.from_version = Some(4);
    assert!(b.validate().is_err());
    b.from_version = None;
    assert!(b.validate().is_err());
    b.kind = BatchKind::Snapshot;
    assert!(b.validate().is_ok());
    b.chunk = Chunk { index: 2, count: 2 };
    assert!(b.validate().is_err());
}

#[test]
fn command_validation() {
    let c: Command = serde_json::from_value(json!({
        "schema": "gate.command/1", "id": "c1", "site": "HK", "lane": "L1",
        "issued_at": "2026-11-27T10:00:00.000Z", "expires_at": "2026-11-27T10:01:00.000Z",
        "kind": "release", "officer": "O1"
    }))
    .expect("parse");
    assert_eq!(
        c.validate().map_err(|e| e.to_string()),
        Err("an exceptional release requires a note".into())
    );
    let mut ok = c.clone();
    ok.note = Some("checked by hand".into());
    assert!(ok.validate().is_ok());
    let mut no_officer = ok;
    no_officer.officer = None;
    assert!(no_officer.validate().is_err());
}
