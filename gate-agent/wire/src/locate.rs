//! Where a byte offset is in a text file, as people count it: 1-based line
//! and 1-based column in characters ([`line_col`]), and the one error type
//! located that way ([`LocatedError`]): the agent's configuration, register
//! profiles and the simulator's scenarios all report their problems as
//! `file:line:column: message`.
//!
//! Layer: text only; never panics (an offset past the end or inside a
//! multi-byte character is clamped down).

use std::fmt;
use std::path::{Path, PathBuf};

/// A problem of a text file, located: prints as `file:line:column: message`,
/// or `file: message` when it is about the whole file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LocatedError {
    pub file: PathBuf,
    /// 1-based line and column (in characters), when the error has a place.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for LocatedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file.display(), self.message),
            _ => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl LocatedError {
    /// An error about a whole file (`src` none), or located at a byte
    /// offset of the file's text.
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

    /// A TOML parser's error in `text`, at the start of its span (none:
    /// about the whole file).
    pub fn toml(file: &Path, text: &str, e: &toml::de::Error) -> Self {
        let at = e.span().map(|s| (text, s.start.min(text.len())));
        Self::at(file, at, e.message().trim())
    }
}

/// 1-based line and character column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let t = "a = 1\n琼 = \"x\"\nb";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (1, 5));
        // After the CJK character (3 bytes) and a space: column 3.
        assert_eq!(line_col(t, 6 + 4), (2, 3));
        assert_eq!(line_col(t, t.len()), (3, 2));
        // Inside a multi-byte character: rounded down, no panic.
        assert_eq!(line_col(t, 7), (2, 1));
        assert_eq!(line_col(t, 10_000), (3, 2));
        assert_eq!(line_col("ab\n琼x", 6), (2, 2));
        assert_eq!(line_col("", 10), (1, 1));
    }

    #[test]
    fn located_errors_print_file_line_and_column() {
        let f = Path::new("lane.toml");
        let e = LocatedError::at(f, Some(("a = 1\nb = x\n", 10)), "bad value");
        assert_eq!((e.line, e.column), (Some(2), Some(5)));
        assert_eq!(e.to_string(), "lane.toml:2:5: bad value");
        let e = LocatedError::at(f, None, "cannot read");
        assert_eq!(e.to_string(), "lane.toml: cannot read");
        let text = "a = 1\nb = \"x\n";
        let parse = toml::from_str::<toml::Table>(text).expect_err("unterminated");
        let e = LocatedError::toml(f, text, &parse);
        assert_eq!(e.line, Some(2), "{e}");
        assert_eq!(e.message, parse.message().trim());
    }
}
