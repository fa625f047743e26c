//! The platform contract and the identifier formats, shared by the agent and
//! the simulator's platform.
//!
//! - [`topics`]: MQTT topic names (`gate/v1/...`).
//! - [`messages`]: every JSON payload of shared/spec/platform.md as serde types,
//!   with schema validation.
//! - [`sign`]: the signed envelope `{"body","kid","sig"}` (Ed25519).
//! - [`formats`]: GA 36 plates and ISO 6346 container codes.
//! - [`time`]: RFC 3339 UTC timestamps with milliseconds.
//! - [`verify`]: the lane's checks of a platform message body after its
//!   signature (schema, site/lane, command validity window).
//!
//! This crate knows nothing about MQTT clients, SQLite or tokio: it is data
//! and pure functions only.
#![deny(unsafe_code)]

pub mod formats;
pub mod messages;
pub mod sign;
pub mod time;
pub mod topics;
pub mod verify;

/// A site or lane identifier: `[A-Z0-9-]{1,16}`.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 16
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_id("HK-XINHAI"));
        assert!(valid_id("L03"));
        assert!(!valid_id(""));
        assert!(!valid_id("l03"));
        assert!(!valid_id("L03/x"));
        assert!(!valid_id("ABCDEFGHIJKLMNOPQ"));
    }
}
