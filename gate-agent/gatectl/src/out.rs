//! Human and JSON output of `gatectl`: aligned tables, colour on a
//! terminal, one JSON document per answer.
//!
//! Layer: presentation only. Colour is used when stdout is a terminal,
//! `NO_COLOR` is unset or empty, and `TERM` is not `dumb`; otherwise the
//! output is plain text (what scripts and the tests see). Column widths
//! count East Asian wide characters (plates such as 琼A12345) as two
//! columns.

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::Value;

/// How a cell is painted on a colour terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Good,
    Bad,
    Warn,
    Dim,
    Bold,
}

/// Output settings.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub json: bool,
    pub color: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        Self {
            json,
            color: !json && !no_color && !dumb && std::io::stdout().is_terminal(),
        }
    }

    pub fn paint(&self, s: &str, style: Style) -> String {
        if !self.color {
            return s.to_owned();
        }
        let code = match style {
            Style::Plain => return s.to_owned(),
            Style::Good => "32",
            Style::Bad => "31;1",
            Style::Warn => "33",
            Style::Dim => "2",
            Style::Bold => "1",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }

    /// Print one line on stdout (a closed pipe ends the program quietly).
    pub fn line(&self, s: &str) {
        let mut o = std::io::stdout().lock();
        if writeln!(o, "{s}").and_then(|()| o.flush()).is_err() {
            std::process::exit(0);
        }
    }

    /// Print a JSON document (one line) with `"ok": true` and, when given,
    /// a `note`.
    pub fn json<T: Serialize>(&self, data: &T, note: Option<&str>) {
        let mut v = serde_json::to_value(data).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("ok".into(), Value::Bool(true));
            if let Some(n) = note {
                m.insert("note".into(), Value::String(n.to_owned()));
            }
        }
        self.line(&v.to_string());
    }

    /// An aligned table: a header row and rows of cells.
    pub fn table(&self, header: &[&str], rows: &[Vec<(String, Style)>]) {
        let n = header.len();
        let mut width: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
        for r in rows {
            for (i, (c, _)) in r.iter().enumerate().take(n) {
                width[i] = width[i].max(display_width(c));
            }
        }
        let head: Vec<String> = header
            .iter()
            .enumerate()
            .map(|(i, h)| pad(h, width[i], i + 1 == n))
            .collect();
        self.line(&self.paint(head.join("  ").trim_end(), Style::Bold));
        for r in rows {
            let cells: Vec<String> = r
                .iter()
                .enumerate()
                .take(n)
                .map(|(i, (c, st))| self.paint(&pad(c, width[i], i + 1 == n), *st))
                .collect();
            self.line(cells.join("  ").trim_end());
        }
    }

    /// Two aligned columns: `key  value`.
    pub fn pairs(&self, rows: &[(&str, String, Style)]) {
        let w = rows
            .iter()
            .map(|(k, _, _)| display_width(k))
            .max()
            .unwrap_or(0);
        for (k, v, st) in rows {
            self.line(&format!(
                "{}  {}",
                self.paint(&pad(k, w, false), Style::Dim),
                self.paint(v, *st)
            ));
        }
    }

    /// A warning line about where the data came from.
    pub fn notice(&self, s: &str) {
        self.line(&self.paint(s, Style::Warn));
    }
}

fn pad(s: &str, width: usize, last: bool) -> String {
    if last {
        return s.to_owned();
    }
    let w = display_width(s);
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

/// Terminal columns of `s` (wide CJK and full-width forms count 2).
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            let wide = matches!(c,
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
                | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
                | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

/// `yes`/`no` cell, painted as good when it matches `good`.
pub fn flag(v: bool, good: bool) -> (String, Style) {
    (
        if v { "yes" } else { "no" }.to_owned(),
        if v == good { Style::Good } else { Style::Bad },
    )
}

/// `-` for nothing.
pub fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".to_owned())
}

/// A duration in ms as `850 ms`, `12.3 s`, `4 min`, `2.5 h`.
pub fn ago(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min", ms / 60_000)
    } else {
        format!("{:.1} h", ms as f64 / 3_600_000.0)
    }
}

/// Bytes as `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
pub fn bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f < K {
        format!("{n} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / K / K)
    } else {
        format!("{:.1} GiB", f / K / K / K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_units() {
        assert_eq!(display_width("琼A12345"), 8);
        assert_eq!(display_width("abc"), 3);
        assert_eq!(pad("琼A", 5, false), "琼A  ");
        assert_eq!(ago(850), "850 ms");
        assert_eq!(ago(12_340), "12.3 s");
        assert_eq!(ago(240_000), "4 min");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        let o = Out {
            json: false,
            color: false,
        };
        assert_eq!(o.paint("x", Style::Bad), "x");
        let c = Out {
            json: false,
            color: true,
        };
        assert_eq!(c.paint("x", Style::Good), "\x1b[32mx\x1b[0m");
    }
}
