//! Checks on what the platform sends, after the signature: whitelist batch
//! and command bodies against the contract, the lane's own site/lane, and
//! the command validity window. `gate-link` runs them on every message
//! ([`crate::sign::Keyring::open`] first) and re-exports this module as
//! `gate_link::verify`.
//!
//! Layer: pure functions (time is passed in); no I/O, no store, no MQTT.

use crate::messages::{BatchError, Command, CommandError, WhitelistBatch};

/// Longest command id accepted (the schema's bound).
const MAX_ID: usize = 128;

/// The `id` of a command body, when the body is a JSON object with a string
/// `id` of 1..=128 bytes. Used to answer a command whose body is otherwise
/// invalid.
pub fn command_id(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let id = v.get("id")?.as_str()?;
    (!id.is_empty() && id.len() <= MAX_ID).then(|| id.to_owned())
}

/// The id an unverified envelope claims (for alarm details only: it is not
/// trusted and never recorded or answered).
pub fn claimed_id(payload: &[u8]) -> Option<String> {
    let env: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let body = env.get("body")?.as_str()?;
    command_id(body).map(|id| printable(&id, 64))
}

/// `s` made safe for a log line or alarm detail: control characters escaped,
/// at most `max` characters.
pub fn printable(s: &str, max: usize) -> String {
    let mut out: String = s.chars().flat_map(char::escape_debug).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// Why [`check_command`] refuses a command body.
#[derive(Debug, thiserror::Error)]
pub enum CommandCheckError {
    /// Not JSON, or not the command's shape.
    #[error("invalid command: {0}")]
    Json(#[source] serde_json::Error),
    /// The schema-level checks ([`Command::validate`]).
    #[error("invalid command: {0}")]
    Invalid(#[source] CommandError),
    /// Addressed to another site or lane (`to_site`/`to_lane`, as sent,
    /// printed made safe).
    #[error(
        "wrong lane: addressed to {}/{}, this is {site}/{lane}",
        printable(.to_site, 32),
        printable(.to_lane, 32)
    )]
    WrongLane {
        to_site: String,
        to_lane: String,
        site: String,
        lane: String,
    },
    #[error("invalid command: expires_at is before issued_at")]
    Inverted,
    #[error(
        "issued in the future: issued_at {issued_at} is more than {skew_ms} ms ahead of the lane clock"
    )]
    IssuedInFuture { issued_at: String, skew_ms: i64 },
    #[error("expired at {expires_at}")]
    Expired { expires_at: String },
}

/// A verified command body: schema, the lane's own site and lane, and the
/// validity window (`issued_at` not after now + skew, `expires_at` not before
/// now - skew).
pub fn check_command(
    body: &str,
    site: &str,
    lane: &str,
    now_ms: i64,
    skew_ms: i64,
) -> Result<Command, CommandCheckError> {
    let cmd: Command = serde_json::from_str(body).map_err(CommandCheckError::Json)?;
    cmd.validate().map_err(CommandCheckError::Invalid)?;
    if cmd.site != site || cmd.lane != lane {
        return Err(CommandCheckError::WrongLane {
            to_site: cmd.site,
            to_lane: cmd.lane,
            site: site.to_owned(),
            lane: lane.to_owned(),
        });
    }
    // validate() checked both parse.
    let issued = crate::time::parse_unix_ms(&cmd.issued_at).unwrap_or(i64::MAX);
    let expires = crate::time::parse_unix_ms(&cmd.expires_at).unwrap_or(i64::MIN);
    if expires < issued {
        return Err(CommandCheckError::Inverted);
    }
    if issued > now_ms.saturating_add(skew_ms) {
        return Err(CommandCheckError::IssuedInFuture {
            issued_at: cmd.issued_at,
            skew_ms,
        });
    }
    if expires < now_ms.saturating_sub(skew_ms) {
        return Err(CommandCheckError::Expired {
            expires_at: cmd.expires_at,
        });
    }
    Ok(cmd)
}

/// Why [`check_batch`] refuses a whitelist batch body.
#[derive(Debug, thiserror::Error)]
pub enum BatchCheckError {
    /// Not JSON, or not the batch's shape.
    #[error("invalid whitelist batch: {0}")]
    Json(#[source] serde_json::Error),
    /// The structural checks ([`WhitelistBatch::validate`]).
    #[error("invalid whitelist batch: {0}")]
    Invalid(#[source] BatchError),
    /// For another site (`to_site` as sent, printed made safe).
    #[error(
        "wrong site: batch for {}, this lane is at {site}",
        printable(.to_site, 32)
    )]
    WrongSite { to_site: String, site: String },
}

/// A verified whitelist batch body: schema and structure, and the site.
pub fn check_batch(body: &str, site: &str) -> Result<WhitelistBatch, BatchCheckError> {
    let batch: WhitelistBatch = serde_json::from_str(body).map_err(BatchCheckError::Json)?;
    batch.validate().map_err(BatchCheckError::Invalid)?;
    if batch.site != site {
        return Err(BatchCheckError::WrongSite {
            to_site: batch.site,
            site: site.to_owned(),
        });
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_000_000_000; // 2026-11-18

    fn cmd(issued: i64, expires: i64) -> String {
        json!({
            "schema": "gate.command/1", "id": "C1", "site": "HK", "lane": "L1",
            "issued_at": crate::time::format_unix_ms(issued),
            "expires_at": crate::time::format_unix_ms(expires),
            "kind": "lower"
        })
        .to_string()
    }

    #[test]
    fn command_window() {
        let ok = check_command(&cmd(NOW - 1_000, NOW + 60_000), "HK", "L1", NOW, 30_000);
        assert_eq!(ok.unwrap().id, "C1");
        // Expired, but within the skew: accepted.
        assert!(check_command(&cmd(NOW - 60_000, NOW - 20_000), "HK", "L1", NOW, 30_000).is_ok());
        // Expired beyond the skew.
        let e = check_command(&cmd(NOW - 60_000, NOW - 31_000), "HK", "L1", NOW, 30_000);
        assert!(e.unwrap_err().to_string().starts_with("expired"));
        // Issued in the future beyond the skew.
        let e = check_command(&cmd(NOW + 31_000, NOW + 90_000), "HK", "L1", NOW, 30_000);
        assert!(e
            .unwrap_err()
            .to_string()
            .starts_with("issued in the future"));
        assert!(check_command(&cmd(NOW + 29_000, NOW + 90_000), "HK", "L1", NOW, 30_000).is_ok());
        // Inverted window.
        assert!(check_command(&cmd(NOW, NOW - 1), "HK", "L1", NOW, 30_000).is_err());
    }

    #[test]
    fn command_addressing_and_schema() {
        let body = cmd(NOW, NOW + 60_000);
        let e = check_command(&body, "HK", "L2", NOW, 0)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "wrong lane: addressed to HK/L1, this is HK/L2");
        assert!(check_command(&body, "HK2", "L1", NOW, 0).is_err());
        let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["kind"] = json!("raise"); // needs an officer
        let e = check_command(&v.to_string(), "HK", "L1", NOW, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("officer"), "{e}");
        assert!(check_command("[]", "HK", "L1", NOW, 0).is_err());
    }

    #[test]
    fn ids() {
        assert_eq!(command_id(r#"{"id":"C9","kind":"zzz"}"#), Some("C9".into()));
        assert_eq!(command_id(r#"{"id":""}"#), None);
        assert_eq!(command_id(r#"{"id":7}"#), None);
        assert_eq!(
            command_id(&json!({"id": "x".repeat(129)}).to_string()),
            None
        );
        assert_eq!(command_id("not json"), None);
        let env = json!({"body": "{\"id\":\"F\\n1\"}", "kid": "k", "sig": "x"}).to_string();
        assert_eq!(claimed_id(env.as_bytes()), Some("F\\n1".into()));
        assert_eq!(claimed_id(b"\xff"), None);
        assert_eq!(printable("abcdef", 3), "abc…");
    }

    #[test]
    fn batches() {
        let b = json!({
            "schema": "gate.whitelist/1", "site": "HK", "kind": "delta", "from_version": 1,
            "version": 2, "chunk": {"index": 0, "count": 1}, "issued_at": "2026-01-01T00:00:00Z"
        });
        assert_eq!(check_batch(&b.to_string(), "HK").unwrap().version, 2);
        assert!(check_batch(&b.to_string(), "HZ")
            .unwrap_err()
            .to_string()
            .starts_with("wrong site"));
        let mut bad = b.clone();
        bad["from_version"] = json!(2);
        assert!(check_batch(&bad.to_string(), "HK").is_err());
        assert!(check_batch("{}", "HK").is_err());
    }
}
