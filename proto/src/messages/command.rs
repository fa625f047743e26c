//! The command body (`gate/v1/{site}/{lane}/command`, the signed
//! envelope's `body`) and its schema check.

use serde::{Deserialize, Serialize};

use super::COMMAND_SCHEMA;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    Raise,
    Lower,
    Release,
    Hold,
    Regather,
    Resync,
    RestartDevice,
}

/// A command body (the signed envelope's `body`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub schema: String,
    pub id: String,
    pub site: String,
    pub lane: String,
    pub issued_at: String,
    pub expires_at: String,
    pub kind: CommandKind,
    #[serde(default)]
    pub officer: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub device: Option<String>,
}

impl Command {
    /// Schema-level checks (not signature, replay or expiry).
    pub fn validate(&self) -> Result<(), CommandError> {
        if self.schema != COMMAND_SCHEMA {
            return Err(CommandError::Schema(self.schema.clone()));
        }
        if self.id.is_empty() || self.id.len() > 128 {
            return Err(CommandError::Id);
        }
        for (field, t) in [
            ("issued_at", &self.issued_at),
            ("expires_at", &self.expires_at),
        ] {
            if crate::time::parse_unix_ms(t).is_none() {
                return Err(CommandError::Time {
                    field,
                    value: t.clone(),
                });
            }
        }
        let needs_officer = matches!(
            self.kind,
            CommandKind::Raise | CommandKind::Release | CommandKind::Hold
        );
        if needs_officer && self.officer.as_deref().is_none_or(str::is_empty) {
            return Err(CommandError::NeedsOfficer(self.kind));
        }
        if self.kind == CommandKind::Release && self.note.as_deref().is_none_or(str::is_empty) {
            return Err(CommandError::ReleaseWithoutNote);
        }
        if self.kind == CommandKind::RestartDevice
            && self.device.as_deref().is_none_or(str::is_empty)
        {
            return Err(CommandError::RestartWithoutDevice);
        }
        Ok(())
    }
}

/// A command body that breaks the contract's schema ([`Command::validate`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("schema `{0}` is not `{COMMAND_SCHEMA}`")]
    Schema(String),
    #[error("id empty or too long")]
    Id,
    /// `issued_at` or `expires_at` (`field`) is not a timestamp.
    #[error("{field} `{value}` is not RFC 3339")]
    Time { field: &'static str, value: String },
    #[error("{0:?} requires an officer")]
    NeedsOfficer(CommandKind),
    #[error("an exceptional release requires a note")]
    ReleaseWithoutNote,
    #[error("restart_device requires a device")]
    RestartWithoutDevice,
}
