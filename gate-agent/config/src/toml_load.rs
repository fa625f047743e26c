//! Reading TOML files with errors that point at file, line and column.
//!
//! Every configuration file of the agent (the lane config, register profiles)
//! goes through [`parse`], so a field engineer always gets
//! `lane.toml:12:5: unknown field `baudrate`, expected one of ...`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A configuration error with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the error has a location.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about a whole file, or located at a byte offset in `src`.
    pub fn at(file: &Path, src: Option<(&str, usize)>, message: impl Into<String>) -> Self {
        let (line, column) = match src {
            Some((text, offset)) => {
                let (l, c) = line_col(text, offset);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Self {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

use gate_wire::locate::line_col;

/// Parse TOML text into `T`, mapping errors to file:line:column.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let msg = e.message().trim().to_owned();
        match e.span() {
            Some(span) => ConfigError::at(file, Some((text, span.start)), msg),
            None => ConfigError::at(file, None, msg),
        }
    })
}

/// Read and parse a TOML file.
pub fn load<T: DeserializeOwned>(file: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::at(file, None, format!("cannot read: {e}")))?;
    parse(file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        b: Option<String>,
    }

    #[test]
    fn located_errors() {
        let f = Path::new("x.toml");
        let e = parse::<T>(f, "a = 1\nbogus = 2\n").expect_err("unknown key");
        assert_eq!((e.line, e.column), (Some(2), Some(1)), "{e}");
        assert!(
            e.to_string()
                .starts_with("x.toml:2:1: unknown field `bogus`"),
            "{e}"
        );
        let e = parse::<T>(f, "a = \"str\"\n").expect_err("type");
        assert_eq!(e.line, Some(1), "{e}");
        assert!(e.column.is_some_and(|c| c >= 5), "{e}");
        assert!(parse::<T>(f, "a = 3\nb = \"x\"").is_ok());
    }
}
