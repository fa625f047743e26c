//! Fuzz target: what the lane receives from the platform over MQTT — signed
//! whitelist batches (snapshot chunks, deltas: also the platform's answers
//! to a sync request) and signed commands — through the path gate-link runs
//! on every message: `Keyring::open` (envelope parse + Ed25519 verify), then
//! `verify::check_batch` / `verify::check_command` (schema, site/lane,
//! validity window), and `claimed_id` / `command_id` for the alarm and the
//! reply of a refused message.
//!
//! First byte, bit 0: 0 = the rest is the raw MQTT payload (a forged or
//! mangled envelope: it must never open unless it is a seed signed with the
//! test key); 1 = the rest is a body, which the target signs with the
//! simulated platform's test key (config/keys) so that mutations reach the
//! message decoders behind the signature. Bit 1 chooses a second clock
//! (commands far in the future must be refused, not panic).
//!
//! Invariants: no panic; open(sign(body)) == body; an accepted batch or
//! command is for this site (and lane), passes its own `validate()`, and
//! survives a JSON round trip unchanged (checked again the same way).
#![no_main]

use gate_fuzz::same_json;
use gate_proto::messages::{BatchKind, Command, WhitelistBatch};
use gate_proto::sign::{self, Keyring};
use gate_proto::verify::{check_batch, check_command, claimed_id, command_id};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = include_str!("../../config/keys/platform-test.secret");
const KID: &str = "platform-test-1";
const SITE: &str = "HK-XINHAI";
const LANE: &str = "L03";
/// 2026-11-18T...: the seeds' commands are valid around this time.
const NOW_MS: i64 = 1_795_000_000_000;
const SKEW_MS: i64 = 30_000;

fn checks(body: &str, now_ms: i64) {
    if let Some(id) = command_id(body) {
        assert!(!id.is_empty() && id.len() <= 128);
    }
    if let Ok(batch) = check_batch(body, SITE) {
        assert_eq!(batch.site, SITE);
        assert_eq!(batch.validate(), Ok(()));
        assert!(batch.chunk.index < batch.chunk.count);
        if batch.kind == BatchKind::Delta {
            assert!(batch.from_version.is_some_and(|f| f < batch.version));
        }
        let json = serde_json::to_string(&batch).expect("a batch serialises");
        let again: WhitelistBatch = check_batch(&json, SITE).expect("re-encoded batch is valid");
        assert!(same_json(&batch, &again), "{batch:?}\n{again:?}");
    }
    if let Ok(cmd) = check_command(body, SITE, LANE, now_ms, SKEW_MS) {
        assert_eq!((cmd.site.as_str(), cmd.lane.as_str()), (SITE, LANE));
        assert_eq!(cmd.validate(), Ok(()));
        let json = serde_json::to_string(&cmd).expect("a command serialises");
        let again: Command =
            check_command(&json, SITE, LANE, now_ms, SKEW_MS).expect("re-encoded command is valid");
        assert_eq!(cmd, again);
        assert_eq!(command_id(&json).as_deref(), Some(cmd.id.as_str()));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let key = sign::parse_secret_key(SECRET.trim()).expect("the test key parses");
    let mut ring = Keyring::new();
    ring.insert(KID, key.verifying_key());
    let now = if mode & 2 == 0 { NOW_MS } else { 0 };

    let payload: Vec<u8> = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let body = String::from_utf8_lossy(rest);
        let env = sign::sign(&body, KID, &key);
        let payload = serde_json::to_vec(&env).expect("an envelope serialises");
        assert_eq!(ring.open(&payload).ok().as_deref(), Some(&*body));
        payload
    };
    if let Some(id) = claimed_id(&payload) {
        assert!(id.chars().count() <= 65);
    }
    match ring.open(&payload) {
        Ok(body) => checks(&body, now),
        Err(e) => {
            let _ = (e.to_string(), e.kind());
        }
    }
    // The body decoders on their own, signature or not (no state changes
    // here: the lane would refuse an unsigned body before these).
    if let Ok(text) = std::str::from_utf8(rest) {
        checks(text, now);
    }
});
