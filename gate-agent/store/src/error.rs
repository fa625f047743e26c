//! The store's error type. SQLite errors carry what the store was doing;
//! corruption and foreign files get their own variants so the agent can
//! tell "this file is broken" from "this call failed".

use std::path::PathBuf;

use rusqlite::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not an SQLite database (or is encrypted).
    #[error("{path}: not an SQLite database (wrong file, or encrypted); refusing to use it")]
    NotADatabase { path: PathBuf },
    /// SQLite reports corruption (`SQLITE_CORRUPT`, `SQLITE_NOTADB`, or a
    /// failed quick_check).
    #[error("database corrupt ({context}): {detail}")]
    Corrupt { context: String, detail: String },
    /// The file was written by a newer build (its `user_version` is higher
    /// than the migrations this build knows).
    #[error("{path}: schema version {found} is newer than this build supports ({supported})")]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// Any other SQLite failure, with what the store was doing.
    #[error("{context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    /// A whitelist batch that fails its structural checks.
    #[error("invalid whitelist batch: {0}")]
    InvalidBatch(String),
    /// A journal call that does not fit the event's recorded state.
    #[error("journal: {0}")]
    Journal(String),
    /// A stored value that does not decode (written by a broken build or
    /// edited by hand).
    #[error("bad stored value ({context}): {detail}")]
    BadValue { context: String, detail: String },
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    pub(crate) fn sqlite(context: impl Into<String>, source: rusqlite::Error) -> Self {
        let context = context.into();
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => Self::Corrupt {
                context,
                detail: source.to_string(),
            },
            _ => Self::Sqlite { context, source },
        }
    }

    /// True when the error says the file itself is damaged.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Self::Corrupt { .. } | Self::NotADatabase { .. })
    }
}

/// `.ctx("what")` on rusqlite / serde_json results.
pub(crate) trait Ctx<T> {
    fn ctx(self, context: &str) -> Result<T>;
}

impl<T> Ctx<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, context: &str) -> Result<T> {
        self.map_err(|e| StoreError::sqlite(context, e))
    }
}

impl<T> Ctx<T> for std::result::Result<T, serde_json::Error> {
    fn ctx(self, context: &str) -> Result<T> {
        self.map_err(|source| StoreError::Json {
            context: context.to_owned(),
            source,
        })
    }
}
