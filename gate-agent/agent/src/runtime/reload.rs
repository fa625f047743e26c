//! Reloading the configuration (SIGHUP, `gatectl reload`): the file is
//! checked first as a start would check it (every problem, located); a bad
//! file changes nothing and raises a `config_rejected` alarm. A good one:
//! the decision policy (`[policy]`) and the lane's sequence settings
//! (`[sequence]`) take effect between passages (a passage in progress
//! finishes under the settings it started with); any other section that
//! changed needs a restart and is listed as such, not applied. Audited.
//!
//! Layer: agent runtime (the lane task applies; this module checks and
//! hands over).

use std::path::Path;

use gate_proto::messages::Severity;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use super::Runner;
use crate::config::Config;

/// The sections a reload applies; every other one needs a restart.
pub const LIVE: [&str; 2] = ["policy", "sequence"];

/// A checked configuration for the lane task.
#[derive(Debug)]
pub struct ReloadRequest {
    pub cfg: Box<Config>,
    /// Who asked (officer id, or `SIGHUP`), and why (audited).
    pub who: String,
    pub why: String,
    pub reply: oneshot::Sender<ReloadOutcome>,
}

/// What a reload did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReloadOutcome {
    /// Sections taken (or to be taken at the end of the passage).
    pub applied: Vec<String>,
    /// A vehicle is in the lane: the sections apply when it has gone.
    pub deferred: bool,
    /// Sections that changed and need a restart (not applied).
    pub restart_needed: Vec<String>,
}

/// Load and check `path`, then hand it to the lane task. Err: every
/// problem (`FILE:LINE:COLUMN: message` or `FILE: key: message`); the
/// `config_rejected` alarm is raised and nothing changes.
pub async fn reload_from_file(
    tx: &mpsc::Sender<ReloadRequest>,
    link: &gate_link::LinkHandle,
    path: &Path,
    who: &str,
    why: &str,
) -> Result<ReloadOutcome, Vec<String>> {
    let checked = {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || crate::startcheck::check_file(&path))
            .await
            .unwrap_or_else(|e| Err(vec![format!("reload check failed: {e}")]))
    };
    let cfg = match checked {
        Ok(c) => c,
        Err(problems) => {
            warn!(file = %path.display(), ?problems, "configuration reload refused: nothing changed");
            let detail = format!(
                "reload of {} refused ({} problem(s)), nothing changed: {}",
                path.display(),
                problems.len(),
                problems
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            link.alarm("config_rejected", Severity::Warning, detail)
                .await;
            return Err(problems);
        }
    };
    let (reply, rx) = oneshot::channel();
    let req = ReloadRequest {
        cfg: Box::new(cfg),
        who: who.to_owned(),
        why: why.to_owned(),
        reply,
    };
    if tx.send(req).await.is_err() {
        return Err(vec!["the lane task is not running".into()]);
    }
    rx.await
        .map_err(|_| vec!["the lane task stopped before answering".into()])
}

/// Each top-level section whose value differs.
fn changed_sections(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return vec!["(the configurations do not compare)".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

impl Runner {
    /// A checked configuration from `reload_from_file`.
    pub(super) async fn on_reload(&mut self, req: ReloadRequest) {
        let changed = changed_sections(&self.cfg, &req.cfg);
        let (live, restart): (Vec<String>, Vec<String>) = changed
            .into_iter()
            .partition(|s| LIVE.contains(&s.as_str()));
        if !live.is_empty() {
            self.pending_reload = Some((req.cfg.policy.clone(), req.cfg.sequence.clone()));
            self.apply_pending_reload();
        }
        let outcome = ReloadOutcome {
            deferred: self.pending_reload.is_some(),
            applied: live,
            restart_needed: restart,
        };
        let detail = format!(
            "applied {:?}{}; needs a restart: {:?} ({})",
            outcome.applied,
            if outcome.deferred {
                " after the passage in progress"
            } else {
                ""
            },
            outcome.restart_needed,
            req.why
        );
        info!(who = %req.who, %detail, "configuration reload");
        self.audit_entry(req.who.clone(), "Reload".into(), detail)
            .await;
        let _ = req.reply.send(outcome);
    }

    /// Apply a reload's live sections once the lane is between passages
    /// (a no-op otherwise, or with nothing pending).
    pub(super) fn apply_pending_reload(&mut self) {
        if !self.lane.between_passages() {
            return;
        }
        let Some((policy, sequence)) = self.pending_reload.take() else {
            return;
        };
        let taken = self.lane.reconfigure(self.devs.lane_config(&sequence));
        debug_assert!(taken, "between passages");
        self.cfg.policy = policy;
        self.cfg.sequence = sequence;
        info!("reloaded settings in effect (policy, sequence)");
    }
}
