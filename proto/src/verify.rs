//! Checks on what the platform sends, after the signature: whitelist batch
//! and command bodies against the contract, the lane's own site/lane, and
//! the command validity window. `gate-link` runs them on every message
//! ([`crate::sign::Keyring::open`] first) and re-exports this module as
//! `gate_link::verify`.
//!
//! Layer: pure functions (time is passed in); no I/O, no store, no MQTT.

use crate::messages::{Command, WhitelistBatch};

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

/// A verified command body: schema, the lane's own site and lane, and the
/// validity window (`issued_at` not after now + skew, `expires_at` not before
/// now - skew).
pub fn check_command(
    body: &str,
    site: &str,
    lane: &str,
    now_ms: i64,
    skew_ms: i64,
) -> Result<Command, String> {
    let cmd: Command = serde_json::from_str(body).map_err(|e| format!("invalid command: {e}"))?;
    cmd.validate()
        .map_err(|e| format!("invalid command: {e}"))?;
    if cmd.site != site || cmd.lane != lane {
        return Err(format!(
            "wrong lane: addressed to {}/{}, this is {site}/{lane}",
            printable(&cmd.site, 32),
            printable(&cmd.lane, 32)
        ));
    }
    // validate() checked both parse.
    let issued = crate::time::parse_unix_ms(&cmd.issued_at).unwrap_or(i64::MAX);
    let expires = crate::time::parse_unix_ms(&cmd.expires_at).unwrap_or(i64::MIN);
    if expires < issued {
        return Err("invalid command: expires_at is before issued_at".into());
    }
    if issued > now_ms.saturating_add(skew_ms) {
        return Err(format!(
            "issued in the future: issued_at {} is more than {skew_ms} ms ahead of the lane clock",
            cmd.issued_at
        ));
    }
    if expires < now_ms.saturating_sub(skew_ms) {
        return Err(format!("expired at {}", cmd.expires_at));
    }
    Ok(cmd)
}

/// A verified whitelist batch body: schema and structure, and the site.
pub fn check_batch(body: &str, site: &str) -> Result<WhitelistBatch, String> {
    let batch: WhitelistBatch =
        serde_json::from_str(body).map_err(|e| format!("invalid whitelist batch: {e}"))?;
    batch
        .validate()
        .map_err(|e| format!("invalid whitelist batch: {e}"))?;
    if batch.site != site {
        return Err(format!(
            "wrong site: batch for {}, this lane is at {site}",
            printable(&batch.site, 32)
        ));
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
        assert!(e.unwrap_err().starts_with("expired"));
        // Issued in the future beyond the skew.
        let e = check_command(&cmd(NOW + 31_000, NOW + 90_000), "HK", "L1", NOW, 30_000);
        assert!(e.unwrap_err().starts_with("issued in the future"));
        assert!(check_command(&cmd(NOW + 29_000, NOW + 90_000), "HK", "L1", NOW, 30_000).is_ok());
        // Inverted window.
        assert!(check_command(&cmd(NOW, NOW - 1), "HK", "L1", NOW, 30_000).is_err());
    }

    #[test]
    fn command_addressing_and_schema() {
        let body = cmd(NOW, NOW + 60_000);
        let e = check_command(&body, "HK", "L2", NOW, 0).unwrap_err();
        assert!(e.starts_with("wrong lane"), "{e}");
        assert!(check_command(&body, "HK2", "L1", NOW, 0).is_err());
        let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["kind"] = json!("raise"); // needs an officer
        let e = check_command(&v.to_string(), "HK", "L1", NOW, 0).unwrap_err();
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
            .starts_with("wrong site"));
        let mut bad = b.clone();
        bad["from_version"] = json!(2);
        assert!(check_batch(&bad.to_string(), "HK").is_err());
        assert!(check_batch("{}", "HK").is_err());
    }
}
