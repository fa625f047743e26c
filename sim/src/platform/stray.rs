//! Stray publishers (issue 16): messages on the platform's topics that the
//! lane must refuse, each with a `rejected_message` alarm, changing nothing.
//!
//! Each kind is built so that accepting it would show: the whitelist kinds
//! carry a delta that deletes every gate pass of the site (a lane that
//! applied it would hold every later truck H01); the command kinds ask for
//! a `raise` (a lane that obeyed would open the arm).
//!
//! Layer: simulator platform. Uses the platform's connection; the lane's
//! answer is observed by the runner like anything else (alarms, events).

use serde::{Deserialize, Serialize};

use gate_proto::messages::{Command, CommandKind, Deletes, Upserts};
use gate_proto::time::format_unix_ms;
use gate_proto::topics::LaneTopics;

use super::{new_command_id, Platform, PlatformError, PlatformKey, COMMAND_SCHEMA};
use crate::fixture::Delta;

/// What a stray publisher sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrayKind {
    /// A whitelist delta body with no signature envelope.
    Unsigned,
    /// A signed whitelist delta whose body was changed after signing.
    BadSignature,
    /// A whitelist delta signed with a key the lane does not hold.
    UnknownKey,
    /// A command the lane already received, sent again (same id).
    Replayed,
    /// A signed `raise` command that expired ten minutes ago.
    Expired,
    /// An unsigned envelope of 24 MiB on the whitelist topic.
    Oversized,
    /// 4 KiB of random bytes on the whitelist topic and on the command topic.
    Garbage,
}

impl StrayKind {
    pub const ALL: [StrayKind; 7] = [
        StrayKind::Unsigned,
        StrayKind::BadSignature,
        StrayKind::UnknownKey,
        StrayKind::Replayed,
        StrayKind::Expired,
        StrayKind::Oversized,
        StrayKind::Garbage,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            StrayKind::Unsigned => "unsigned",
            StrayKind::BadSignature => "bad_signature",
            StrayKind::UnknownKey => "unknown_key",
            StrayKind::Replayed => "replayed",
            StrayKind::Expired => "expired",
            StrayKind::Oversized => "oversized",
            StrayKind::Garbage => "garbage",
        }
    }
}

/// Size of the [`StrayKind::Oversized`] payload.
pub const OVERSIZED_BYTES: usize = 24 * 1024 * 1024;

impl Platform {
    /// A delta (not applied to the platform's own whitelist) that deletes
    /// every gate pass: the body a forged whitelist batch carries.
    fn forged_delta_body(&self) -> Result<String, PlatformError> {
        let mut f = self.fixture();
        let passes: Vec<String> = f.gate_passes().map(|p| p.pass_no.clone()).collect();
        let delta = Delta {
            upserts: Upserts::default(),
            deletes: Deletes {
                gate_passes: passes,
                ..Deletes::default()
            },
        };
        let issued = format_unix_ms((self.shared.now)());
        let batch = f.apply(delta, &issued)?;
        Ok(serde_json::to_string(&batch)?)
    }

    /// Publish one stray message of `kind` for `lane` (commands) or the
    /// site (whitelist). `seed` picks the garbage bytes.
    pub async fn publish_stray(
        &self,
        kind: StrayKind,
        lane: &str,
        seed: u64,
    ) -> Result<(), PlatformError> {
        let site = self.shared.site.clone();
        let wl_topic = gate_proto::topics::whitelist(&site);
        let cmd_topic = LaneTopics::new(&site, lane).command();
        match kind {
            StrayKind::Unsigned => {
                let body = self.forged_delta_body()?;
                self.publish_raw(&wl_topic, body.into_bytes(), false).await
            }
            StrayKind::BadSignature => {
                let body = self.forged_delta_body()?;
                let mut env = self.shared.key.sign(&body);
                // The body changed after signing: one more pass deleted.
                env.body = env
                    .body
                    .replacen("\"deletes\":{", "\"deletes\":{\"x\":1,", 1);
                if env.body == body {
                    env.body.push(' ');
                }
                self.publish_raw(&wl_topic, serde_json::to_vec(&env)?, false)
                    .await
            }
            StrayKind::UnknownKey => {
                let body = self.forged_delta_body()?;
                let key = PlatformKey::new(
                    self.shared.key.kid(),
                    ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]),
                );
                let env = key.sign(&body);
                self.publish_raw(&wl_topic, serde_json::to_vec(&env)?, false)
                    .await
            }
            StrayKind::Replayed => {
                // A harmless command the lane answers once (resync), then
                // the very same body again.
                let cmd = self.command_body(lane, CommandKind::Resync, 60_000);
                self.send_command_body(&cmd).await?;
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                let body = serde_json::to_string(&cmd)?;
                let env = self.shared.key.sign(&body);
                self.publish_raw(&cmd_topic, serde_json::to_vec(&env)?, false)
                    .await
            }
            StrayKind::Expired => {
                let mut cmd = self.command_body(lane, CommandKind::Raise, -600_000);
                cmd.officer = Some("stray".into());
                // Tracked like any command: its one reply (refused) is expected.
                self.send_command_body(&cmd).await
            }
            StrayKind::Oversized => {
                let body = "x".repeat(OVERSIZED_BYTES);
                let env =
                    serde_json::json!({"body": body, "kid": self.shared.key.kid(), "sig": ""});
                self.publish_raw(&wl_topic, serde_json::to_vec(&env)?, false)
                    .await
            }
            StrayKind::Garbage => {
                let mut x = seed | 1;
                let bytes: Vec<u8> = (0..4096)
                    .map(|_| {
                        // xorshift64
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 24) as u8
                    })
                    .collect();
                self.publish_raw(&wl_topic, bytes.clone(), false).await?;
                self.publish_raw(&cmd_topic, bytes, false).await
            }
        }
    }

    /// A command body for `lane` valid for `ttl_ms` from now (negative: it
    /// expired that long ago).
    fn command_body(&self, lane: &str, kind: CommandKind, ttl_ms: i64) -> Command {
        let now = (self.shared.now)();
        let (issued, expires) = if ttl_ms >= 0 {
            (now, now.saturating_add(ttl_ms))
        } else {
            (now.saturating_add(ttl_ms * 2), now.saturating_add(ttl_ms))
        };
        Command {
            schema: COMMAND_SCHEMA.to_owned(),
            id: new_command_id(),
            site: self.shared.site.clone(),
            lane: lane.to_owned(),
            issued_at: format_unix_ms(issued),
            expires_at: format_unix_ms(expires),
            kind,
            officer: None,
            note: None,
            event_id: None,
            device: None,
        }
    }
}
