//! Fuzz target: the control-socket protocol (gate-wire `control`, the
//! agent's Unix socket and `gatectl`, docs/control-protocol.md).
//!
//! The input is one request line as the agent's server reads it, and also a
//! response line as gatectl reads it. Invariants: no panic; a request that
//! parses is re-emitted by `Request::emit` (what gatectl sends) as a line
//! that parses back to the same envelope; a refused request yields an error
//! response that survives emit/parse with its id and code; a response that
//! parses survives emit/parse unchanged.
#![no_main]

use gate_fuzz::json_eq;
use gate_wire::control::{parse_request, Response, MAX_REQUEST_BYTES};
use libfuzzer_sys::fuzz_target;

fn response_round_trip(r: &Response) {
    let line = r.emit();
    assert_eq!(line.last(), Some(&b'\n'));
    assert!(!line[..line.len() - 1].contains(&b'\n'), "one line");
    let back = Response::parse(&line).expect("an emitted response parses");
    assert_eq!((back.v, back.id, back.ok), (r.v, r.id, r.ok));
    assert_eq!((&back.error, back.code), (&r.error, r.code));
    match (&back.data, &r.data) {
        (Some(a), Some(b)) => assert!(json_eq(a, b), "{a} != {b}"),
        (a, b) => assert_eq!(a, b),
    }
}

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(env) => {
            assert!(data.len() <= MAX_REQUEST_BYTES);
            let line = env.request.emit(env.id);
            assert_eq!(line.last(), Some(&b'\n'));
            let back = parse_request(&line).expect("an emitted request parses");
            assert_eq!(back, env);
        }
        Err(e) => {
            let r = e.response();
            assert!(!r.ok && r.code == Some(e.code) && r.id == e.id);
            response_round_trip(&r);
        }
    }
    if let Ok(r) = Response::parse(data) {
        response_round_trip(&r);
    }
});
