//! Turning a key path such as `trucks[3].plate` into a line and column of the
//! scenario file, for semantic errors found after parsing.
//!
//! Layer: scenario helper; knows TOML source text (toml_edit keeps spans),
//! nothing about what the keys mean.

use toml_edit::{ImDocument, Item};

use super::check::{KeyPath, Problem, Seg};

use gate_wire::locate::line_col;

pub(crate) struct Locator<'a> {
    text: &'a str,
    doc: Option<ImDocument<&'a str>>,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
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

    pub(crate) fn problem(&self, path: &KeyPath, message: String) -> Problem {
        let (line, column) = self.offset(path).map_or((1, 1), |o| line_col(self.text, o));
        Problem {
            line,
            column,
            path: path.to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_the_deepest_present_key() {
        let t = "[lane]\nsite = \"HK\"\n\n[[trucks]]\nplate = \"A\"\n\n[[trucks]]\nplate = \"B\"\ncontainers = [{ number = \"X\" }, { number = \"Y\" }]\n";
        let l = Locator::new(t);
        let p = |segs: Vec<Seg>| l.problem(&KeyPath(segs), String::new());
        let k = |s: &str| Seg::Key(s.to_owned());
        let at = |pr: Problem| (pr.line, pr.column);
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
