//! Unit tests of `control` (kept beside it so the module stays readable).

use super::*;

#[test]
fn a_deadline_travels_with_the_request() {
    let r = Request::Status;
    let e = parse_request(&r.emit_until(Some(3), Some(1_765_000_000_123))).expect("status");
    assert_eq!(e.deadline_ms, Some(1_765_000_000_123));
    assert_eq!(e.id, Some(3));
    assert_eq!(
        parse_request(&r.emit(Some(3))).expect("status").deadline_ms,
        None
    );
    let bad = br#"{"v":1,"cmd":"status","deadline_ms":"soon"}"#;
    assert_eq!(
        parse_request(bad).err().map(|e| e.code),
        Some(ErrorCode::BadRequest)
    );
}

#[test]
fn parses_requests() {
    let e = parse_request(b"{\"v\":1,\"id\":7,\"cmd\":\"status\"}\n").expect("status");
    assert_eq!((e.id, e.request), (Some(7), Request::Status));
    let e = parse_request(b"{\"v\":1,\"cmd\":\"io\",\"args\":{}}").expect("io");
    assert_eq!((e.id, e.request), (None, Request::Io));
    let e = parse_request(
        br#"{"v":1,"id":2,"cmd":"barrier","args":{"action":"lower","officer":"O-17","reason":"truck reversed"}}"#,
    )
    .expect("barrier");
    assert_eq!(
        e.request,
        Request::Barrier(BarrierArgs {
            action: BarrierAction::Lower,
            officer: "O-17".into(),
            reason: "truck reversed".into()
        })
    );
    let e = parse_request(br#"{"v":1,"cmd":"lookup","args":{"by":"pass_no","key":"P1"}}"#)
        .expect("lookup");
    assert_eq!(
        e.request,
        Request::Lookup(LookupArgs {
            by: LookupBy::PassNo,
            key: "P1".into()
        })
    );
    let e = parse_request(br#"{"v":1,"cmd":"events"}"#).expect("events");
    assert_eq!(e.request, Request::Events(EventsArgs::default()));
    let e = parse_request(br#"{"v":1,"cmd":"events","args":{"limit":5,"after_seq":9}}"#)
        .expect("events");
    assert_eq!(
        e.request,
        Request::Events(EventsArgs {
            limit: Some(5),
            after_seq: Some(9)
        })
    );
    let e = parse_request(br#"{"v":1,"cmd":"sync","args":{"resync":true}}"#).expect("sync");
    assert_eq!(e.request, Request::Sync(SyncArgs { resync: true }));
    let r = Request::Restart(RestartArgs {
        device: "bus/wb".into(),
        officer: "O-17".into(),
        reason: "frozen display".into(),
    });
    let e = parse_request(&r.emit(Some(4))).expect("restart");
    assert_eq!((e.id, e.request), (Some(4), r));
}

#[test]
fn refuses_bad_requests_with_codes() {
    let code = |l: &[u8]| parse_request(l).expect_err("refused");
    let e = code(b"not json");
    assert_eq!((e.code, e.id), (ErrorCode::BadRequest, None));
    let e = code(b"[1,2]");
    assert_eq!(e.code, ErrorCode::BadRequest);
    let e = code(br#"{"v":2,"id":5,"cmd":"status"}"#);
    assert_eq!((e.code, e.id), (ErrorCode::UnsupportedVersion, Some(5)));
    let e = code(br#"{"id":5,"cmd":"status"}"#);
    assert_eq!((e.code, e.id), (ErrorCode::BadRequest, Some(5)));
    let e = code(br#"{"v":1,"id":3,"cmd":"reboot"}"#);
    assert_eq!((e.code, e.id), (ErrorCode::UnknownCommand, Some(3)));
    assert_eq!(e.message, "unknown command `reboot`");
    let e = code(br#"{"v":1,"cmd":"status","extra":1}"#);
    assert_eq!(e.code, ErrorCode::BadRequest);
    let e = code(br#"{"v":1,"cmd":"status","args":{"x":1}}"#);
    assert!(e.message.contains("takes no args"), "{}", e.message);
    // Barrier: officer and reason are required and checked.
    let e = code(br#"{"v":1,"cmd":"barrier","args":{"action":"raise","officer":"O1"}}"#);
    assert!(e.message.contains("reason"), "{}", e.message);
    let e =
        code(br#"{"v":1,"cmd":"barrier","args":{"action":"raise","officer":" ","reason":"x"}}"#);
    assert!(e.message.contains("officer is empty"), "{}", e.message);
    let e =
        code(br#"{"v":1,"cmd":"barrier","args":{"action":"open","officer":"O1","reason":"x"}}"#);
    assert_eq!(e.code, ErrorCode::BadRequest);
    let long = format!(
        r#"{{"v":1,"cmd":"barrier","args":{{"action":"raise","officer":"O1","reason":"{}"}}}}"#,
        "x".repeat(300)
    );
    assert!(code(long.as_bytes()).message.contains("longer than 256"));
    // Restart: device, officer and reason are required and checked.
    let e = code(br#"{"v":1,"cmd":"restart","args":{"device":"wb","officer":"O1"}}"#);
    assert!(e.message.contains("reason"), "{}", e.message);
    let e = code(br#"{"v":1,"cmd":"restart","args":{"device":"a b","officer":"O1","reason":"x"}}"#);
    assert!(
        e.message.contains("device contains white space"),
        "{}",
        e.message
    );
    let e = code(br#"{"v":1,"cmd":"restart","args":{"officer":"O1","reason":"x"}}"#);
    assert!(e.message.contains("device"), "{}", e.message);
    let e = code(br#"{"v":1,"cmd":"events","args":{"limit":0}}"#);
    assert!(e.message.contains("limit"), "{}", e.message);
    // Too large.
    let big = vec![b' '; MAX_REQUEST_BYTES + 1];
    assert_eq!(code(&big).code, ErrorCode::TooLarge);
    // Control characters in a command name are not echoed raw.
    let e = code(b"{\"v\":1,\"cmd\":\"a\\u0007b\"}");
    assert_eq!(e.message, "unknown command `a?b`");
}

#[test]
fn emit_and_parse_round_trip() {
    let reqs = [
        Request::Status,
        Request::Barrier(BarrierArgs {
            action: BarrierAction::Raise,
            officer: "O1".into(),
            reason: "manual pass".into(),
        }),
        Request::Capture(CaptureArgs {
            camera: "plate-front".into(),
        }),
        Request::Events(EventsArgs {
            limit: Some(3),
            after_seq: None,
        }),
        Request::Alarms(AlarmsArgs { limit: None }),
        Request::Selftest,
    ];
    for r in reqs {
        let line = r.emit(Some(42));
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        let e = parse_request(&line).expect("round trip");
        assert_eq!((e.id, e.request), (Some(42), r));
    }
    assert_eq!(
        Request::Status.emit(Some(1)),
        b"{\"v\":1,\"id\":1,\"cmd\":\"status\"}\n"
    );
}

#[test]
fn responses() {
    let r = Response::err(Some(4), ErrorCode::Refused, "refused: safety loop occupied");
    assert_eq!(
        r.emit(),
        b"{\"v\":1,\"id\":4,\"ok\":false,\"error\":\"refused: safety loop occupied\",\"code\":\"refused\"}\n"
    );
    let back = Response::parse(&r.emit()).expect("parse");
    assert_eq!(back, r);
    let ok = Response::ok(
        None,
        &VersionData {
            agent_version: "0.1.0".into(),
            protocol: 1,
            site: "S".into(),
            lane: "L".into(),
        },
    );
    let back = Response::parse(&ok.emit()).expect("parse");
    let v: VersionData = back.data().expect("typed");
    assert_eq!(v.lane, "L");
    assert!(Response::parse(b"{\"v\":9,\"ok\":true}").is_err());
    assert!(Response::parse(b"garbage").is_err());
}
