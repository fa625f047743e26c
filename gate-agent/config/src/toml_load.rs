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
    toml::from_str(text).map_err(|e| located(file, text, &e))
}

/// Parse TOML text into `T`, reporting every table's first problem, not
/// only the file's first: after a type error or an unknown key, the table
/// it is in (`[policy]`, one `[[devices.buses]]` entry, ...) is blanked out
/// (every character but the newlines replaced by spaces, so the other
/// tables keep their lines and columns) and the text parsed again. A syntax
/// error stops there (what follows it cannot be read reliably); a table
/// blanked out that the type requires ends the search (its "missing"
/// error is a consequence, not a problem of the file).
pub fn parse_all<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Vec<ConfigError>> {
    let first = match toml::from_str::<T>(text) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let mut errors = vec![located(file, text, &first)];
    // A syntax error: nothing after it is reliable.
    if text.parse::<toml::Table>().is_err() {
        return Err(errors);
    }
    let mut work = text.to_owned();
    let mut blanked: Vec<std::ops::Range<usize>> = Vec::new();
    let mut last = first;
    for _ in 0..64 {
        let Some(span) = last.span() else { break };
        let range = table_range(&work, span.start);
        if blanked.iter().any(|r| r.contains(&span.start)) {
            // The error is in a table already blanked: a consequence.
            break;
        }
        blank(&mut work, range.clone());
        blanked.push(range);
        match toml::from_str::<T>(&work) {
            Ok(_) => break,
            Err(e) => {
                // A required table that was blanked is now "missing" (at
                // the root, or inside a blanked table): a consequence.
                let consequence = e.message().starts_with("missing field")
                    && e.span().is_none_or(|s| {
                        s.start == 0 || blanked.iter().any(|r| r.contains(&s.start))
                    });
                if consequence {
                    break;
                }
                errors.push(located(file, text, &e));
                last = e;
            }
        }
    }
    errors.sort_by_key(|e| (e.line, e.column));
    errors.dedup();
    Err(errors)
}

fn located(file: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let msg = e.message().trim().to_owned();
    match e.span() {
        Some(span) => ConfigError::at(file, Some((text, span.start.min(text.len()))), msg),
        None => ConfigError::at(file, None, msg),
    }
}

/// The byte range of the table (header line to the next header line)
/// holding `offset`; a line before any header: that line.
fn table_range(text: &str, offset: usize) -> std::ops::Range<usize> {
    let is_header = |line: &str| line.trim_start().starts_with('[');
    let mut starts: Vec<usize> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if is_header(line) {
            starts.push(pos);
        }
        pos += line.len();
    }
    match starts.iter().rposition(|s| *s <= offset) {
        Some(i) => starts[i]..starts.get(i + 1).copied().unwrap_or(text.len()),
        None => {
            // Byte searches: `offset` need not be on a character boundary.
            let bytes = text.as_bytes();
            let start = bytes[..offset.min(bytes.len())]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            let end = bytes[start..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |i| start + i);
            start..end
        }
    }
}

/// Replace every character of `range` but newlines with spaces (byte for
/// byte: a multi-byte character becomes as many spaces as it had bytes).
fn blank(text: &mut String, range: std::ops::Range<usize>) {
    let blanked: String = text[range.clone()]
        .bytes()
        .map(|b| if b == b'\n' { '\n' } else { ' ' })
        .collect();
    text.replace_range(range, &blanked);
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

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        a: Section,
        #[serde(default)]
        b: Option<Section>,
        #[serde(default)]
        c: Vec<Section>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Section {
        n: u32,
        #[serde(default)]
        s: Option<String>,
    }

    #[test]
    fn every_table_reports_its_problem_at_its_place() {
        let f = Path::new("x.toml");
        let text = "[a]\nn = 1\n\n[b]\nn = \"two\"\n\n[[c]]\nn = 3\n\n[[c]]\nn = 4\nbogus = 1\n\n[[c]]\nn = 5\ns = 6\n";
        let errs = parse_all::<Doc>(f, text).expect_err("three problems");
        let at: Vec<(Option<usize>, Option<usize>)> =
            errs.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(
            at,
            vec![(Some(5), Some(5)), (Some(12), Some(1)), (Some(16), Some(5))],
            "{errs:#?}"
        );
        assert!(errs[1].message.contains("bogus"), "{errs:#?}");
        // A field missing in a later table is a problem of its own.
        let text = "[a]\nn = \"x\"\n\n[[c]]\ns = \"no n\"\n";
        let errs = parse_all::<Doc>(f, text).expect_err("two problems");
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[1].message.contains("missing field `n`"), "{errs:#?}");
        // A good file, and one problem alone, as before.
        assert!(parse_all::<Doc>(f, "[a]\nn = 1\n").is_ok());
        let one = parse_all::<Doc>(f, "[a]\nn = \"x\"\n").expect_err("one");
        assert_eq!(
            one.len(),
            1,
            "the blanked required table is not a second problem: {one:#?}"
        );
        // A syntax error stops there.
        let syn = parse_all::<Doc>(f, "[a]\nn = = 1\n[b]\nn = \"x\"\n").expect_err("syntax");
        assert_eq!(syn.len(), 1, "{syn:#?}");
    }
}
