//! Reading TOML files with errors that point at file, line and column.
//!
//! Every configuration file of the agent (the lane config, register profiles)
//! goes through [`parse`], so a field engineer always gets
//! `lane.toml:12:5: unknown field `baudrate`, expected one of ...`.

use std::path::Path;

use serde::de::DeserializeOwned;

/// A configuration error with its location: the one located error of
/// configuration files, register profiles and scenarios.
pub use gate_wire::locate::LocatedError as ConfigError;

/// Parse TOML text into `T`, mapping errors to file:line:column.
pub fn parse<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::toml(file, text, &e))
}

/// Parse TOML text into `T`, reporting every problem of the file, not only
/// its first: after a type error or an unknown key, the offending line is
/// blanked out (every character but the newline replaced by spaces, so the
/// rest of the file keeps its lines and columns) and the text parsed again,
/// so a second problem in the same table is found too. When the blanked
/// line was required (the table now misses that field) or cannot be
/// blanked alone (a header, a value over several lines), its whole table
/// (`[policy]`, one `[[devices.buses]]` entry, ...) is blanked instead. A
/// syntax error stops there (what follows it cannot be read reliably); a
/// "missing" error that blanking caused is a consequence, not a problem of
/// the file, and is not reported.
pub fn parse_all<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, Vec<ConfigError>> {
    let first = match toml::from_str::<T>(text) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let mut errors = vec![ConfigError::toml(file, text, &first)];
    // A syntax error: nothing after it is reliable.
    if text.parse::<toml::Table>().is_err() {
        return Err(errors);
    }
    let mut work = text.to_owned();
    let mut lines: Vec<std::ops::Range<usize>> = Vec::new();
    let mut tables: Vec<std::ops::Range<usize>> = Vec::new();
    // The problem last reported: blank where it is, then read again.
    let mut last = first;
    for _ in 0..128 {
        let Some(span) = last.span() else { break };
        let at = span.start.min(work.len());
        if tables.iter().any(|r| r.contains(&at)) {
            // In a table already blanked: a consequence.
            break;
        }
        let line = line_range(&work, at);
        let alone = !lines.contains(&line) && {
            let mut t = work.clone();
            blank(&mut t, line.clone());
            !work[line.clone()].trim_start().starts_with('[') && t.parse::<toml::Table>().is_ok()
        };
        if alone {
            blank(&mut work, line.clone());
            lines.push(line);
        } else {
            let table = table_range(&work, at);
            blank(&mut work, table.clone());
            tables.push(table);
        }
        // Read again; a "missing" error the blanking caused blanks the
        // table that misses the field, and the text is read once more.
        let next = loop {
            let e = match toml::from_str::<T>(&work) {
                Ok(_) => break None,
                Err(e) => e,
            };
            match caused_missing(&e, &work, &lines, &tables) {
                // The file's own problem.
                None => break Some(e),
                // A table whose required line was blanked: blank it whole
                // and go on with the problems after it.
                Some(Some(t)) if !tables.contains(&t) => {
                    blank(&mut work, t.clone());
                    tables.push(t);
                }
                Some(_) => break None,
            }
        };
        let Some(e) = next else { break };
        errors.push(ConfigError::toml(file, text, &e));
        last = e;
    }
    errors.sort_by_key(|e| (e.line, e.column));
    errors.dedup();
    Err(errors)
}

/// Whether `e` is a "missing field" error that blanking caused (a required
/// line or table taken out): `None` when it is not (another error, or a
/// field the file itself lacks); else the table that misses the field
/// (`None` for the root table). Its span is that table (the root's: none,
/// or from 0 when the file does not start with a header).
fn caused_missing(
    e: &toml::de::Error,
    work: &str,
    lines: &[std::ops::Range<usize>],
    tables: &[std::ops::Range<usize>],
) -> Option<Option<std::ops::Range<usize>>> {
    if !e.message().starts_with("missing field") {
        return None;
    }
    let at = e.span().map(|s| s.start.min(work.len()));
    let table = at
        .map(|s| table_range(work, s))
        .filter(|t| work[t.clone()].trim_start().starts_with('['));
    let caused = match (&table, at) {
        (Some(t), Some(s)) => {
            tables.iter().any(|r| r.contains(&s)) || lines.iter().any(|l| t.contains(&l.start))
        }
        // The root misses a table: one that was blanked, if any was.
        _ => !tables.is_empty(),
    };
    caused.then_some(table)
}

/// The byte range of the line holding `offset`, its newline excluded.
fn line_range(text: &str, offset: usize) -> std::ops::Range<usize> {
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
        None => line_range(text, offset),
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
        // Two problems in one table, and one in another: all three.
        let text = "[a]\nn = 1\nbogus = 2\ns = 3\n\n[b]\nn = -1\n";
        let errs = parse_all::<Doc>(f, text).expect_err("three problems");
        let at: Vec<(Option<usize>, Option<usize>)> =
            errs.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(
            at,
            vec![(Some(3), Some(1)), (Some(4), Some(5)), (Some(7), Some(5))],
            "{errs:#?}"
        );
        // A required line blanked: its table's "missing" is not reported,
        // and the next table's problem still is.
        let text = "[a]\nn = \"x\"\ns = \"fine\"\n\n[b]\nn = \"y\"\n";
        let errs = parse_all::<Doc>(f, text).expect_err("problems");
        let at: Vec<(Option<usize>, Option<usize>)> =
            errs.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(
            at,
            vec![(Some(2), Some(5)), (Some(6), Some(5))],
            "{errs:#?}"
        );
        // A syntax error stops there.
        let syn = parse_all::<Doc>(f, "[a]\nn = = 1\n[b]\nn = \"x\"\n").expect_err("syntax");
        assert_eq!(syn.len(), 1, "{syn:#?}");
    }
}
