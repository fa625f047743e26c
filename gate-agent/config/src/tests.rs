//! Unit tests of the crate root's helpers (broker URLs), kept beside it so `lib.rs`
//! stays readable.

use super::*;

#[test]
fn broker_urls() {
    assert_eq!(
        parse_broker_url("mqtt://127.0.0.1:1883"),
        Ok((false, "127.0.0.1".into(), 1883))
    );
    assert_eq!(
        parse_broker_url("mqtts://platform.example"),
        Ok((true, "platform.example".into(), 8883))
    );
    assert!(parse_broker_url("tcp://x:1").is_err());
    assert!(parse_broker_url("mqtt://x:99999").is_err());
    assert!(parse_broker_url("mqtt://:1").is_err());
}
