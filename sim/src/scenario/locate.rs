//! Turning a key path such as `trucks[3].plate` into a line and column of the
//! scenario file, for semantic errors found after parsing (each a
//! [`LocatedError`], as every located error of a file).
//!
//! Layer: scenario helper; knows TOML source text (toml_edit keeps spans),
//! nothing about what the keys mean.

use std::path::Path;

use gate_wire::locate::LocatedError;
use toml_edit::{ImDocument, Item};

use super::check::{KeyPath, Seg};

pub(crate) struct Locator<'a> {
    file: &'a Path,
    text: &'a str,
    doc: Option<ImDocument<&'a str>>,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Self {
            file,
            text,
            doc: ImDocument::parse(text).ok(),
        }
    }

    /// The deepest part of `path` present in the file (a key given a default
    /// value is absent: its table is reported).
    fn offset(&self, path: &KeyPath) -> Option<usize> {
        let doc = self.doc.as_ref()?;
        let mut node: &Item = doc.as_item();
        let mut found = None;
        for seg in &path.0 {
            let next = match seg {
                Seg::Key(k) => node.get(k.as_str()),
                Seg::Index(i) => node.get(*i),
            };
            let Some(next) = next else { break };
            if let Some(sp) = next.span() {
                found = Some(sp.start);
            }
            node = next;
        }
        found
    }

    /// The problem `message` at `path` (no part of it in the file: at its
    /// first line and column).
    pub(crate) fn problem(&self, path: &KeyPath, message: String) -> LocatedError {
        let at = self.offset(path).unwrap_or(0);
        LocatedError::at(
            self.file,
            Some((self.text, at)),
            format!("{message} (at {path})"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_the_deepest_present_key() {
        let t = "[lane]\nsite = \"HK\"\n\n[[trucks]]\nplate = \"A\"\n\n[[trucks]]\nplate = \"B\"\ncontainers = [{ number = \"X\" }, { number = \"Y\" }]\n";
        let l = Locator::new(Path::new("s.toml"), t);
        let p = |segs: Vec<Seg>| l.problem(&KeyPath(segs), String::new());
        let k = |s: &str| Seg::Key(s.to_owned());
        let at = |pr: LocatedError| (pr.line.unwrap_or(0), pr.column.unwrap_or(0));
        assert_eq!(at(p(vec![k("lane"), k("site")])), (2, 8));
        assert_eq!(at(p(vec![k("trucks"), Seg::Index(1), k("plate")])), (8, 9));
        assert_eq!(
            at(p(vec![
                k("trucks"),
                Seg::Index(1),
                k("containers"),
                Seg::Index(1),
                k("number")
            ])),
            (9, 44)
        );
        // Absent key: the nearest present parent.
        assert_eq!(at(p(vec![k("lane"), k("lane")])).0, 1);
        assert_eq!(at(p(vec![k("nothing")])), (1, 1));
    }
}
