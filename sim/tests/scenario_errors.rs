//! Issue 3: a malformed scenario is refused with the file, line and column of
//! the problem: syntax errors and unknown keys (from the TOML parser) and
//! semantic errors (from the checks, located through the key path). Each case
//! mutates demo.toml in one place and expects the error exactly there.

use std::path::PathBuf;

use sim::scenario::{Scenario, ScenarioError};

fn demo() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/demo.toml");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Replace the single occurrence of `from` (which must exist exactly once).
fn mutate(src: &str, from: &str, to: &str) -> String {
    assert_eq!(src.matches(from).count(), 1, "`{from}` must occur once");
    src.replacen(from, to, 1)
}

/// 1-based line and character column of the first occurrence of `needle`.
fn where_is(src: &str, needle: &str) -> (usize, usize) {
    let off = src
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in source"));
    let before = &src[..off];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

fn syntax(src: &str) -> (usize, usize, String) {
    match Scenario::parse(src, "demo-mutated.toml") {
        Err(ScenarioError::Syntax {
            file,
            line,
            column,
            message,
        }) => {
            assert_eq!(file, "demo-mutated.toml");
            (line, column, message)
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

/// The problems of a semantically invalid scenario as (line, column, message).
fn problems(src: &str) -> Vec<(usize, usize, String)> {
    match Scenario::parse(src, "demo-mutated.toml") {
        Err(ScenarioError::Invalid { file, problems }) => {
            assert_eq!(file, "demo-mutated.toml");
            problems
                .into_iter()
                .map(|p| (p.line, p.column, p.message))
                .collect()
        }
        other => panic!("expected semantic problems, got {other:?}"),
    }
}

#[test]
fn demo_itself_is_fine() {
    Scenario::parse(&demo(), "demo.toml").unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn unknown_key_is_an_error_at_its_line_and_column() {
    let src = mutate(
        &demo(),
        "seed = 20251218\n",
        "seed = 20251218\n  colour = \"red\"\n",
    );
    let (line, col, msg) = syntax(&src);
    assert_eq!((line, col), where_is(&src, "colour = \"red\""));
    assert!(msg.contains("unknown field `colour`"), "{msg}");
    // Unknown keys are refused at every level, also inside inline tables.
    let src = mutate(
        &demo(),
        "eseal = { id = \"HKES25000137\" }",
        "eseal = { id = \"HKES25000137\", colour = \"red\" }",
    );
    let (line, col, msg) = syntax(&src);
    assert_eq!(line, where_is(&src, "colour = \"red\"").0);
    assert!(col > 1);
    assert!(msg.contains("unknown field `colour`"), "{msg}");
}

#[test]
fn bad_toml_and_bad_values_are_located() {
    // Unterminated string.
    let src = mutate(&demo(), "name = \"demo\"", "name = \"demo");
    let (line, _, _) = syntax(&src);
    assert_eq!(line, where_is(&src, "name = \"demo").0);
    // Wrong type.
    let src = mutate(&demo(), "at_s = 90\n", "at_s = \"ninety\"\n");
    let (line, col, msg) = syntax(&src);
    assert_eq!((line, col), where_is(&src, "\"ninety\""));
    assert!(msg.contains("invalid type"), "{msg}");
    // Unknown enum value.
    let src = mutate(&demo(), "behaviour = \"tailgate\"", "behaviour = \"flies\"");
    let (line, col, msg) = syntax(&src);
    assert_eq!((line, col), where_is(&src, "\"flies\""));
    assert!(msg.contains("flies"), "{msg}");
    // Unknown reason code.
    let src = mutate(&demo(), "reasons = [\"H06\"]", "reasons = [\"H66\"]");
    let (line, _, msg) = syntax(&src);
    assert_eq!(line, where_is(&src, "\"H66\"").0);
    assert!(msg.contains("H66"), "{msg}");
}

#[test]
fn wrong_check_digit_is_located_at_the_container_number() {
    // The pass's container list and the truck's container: both located.
    let src = demo().replace("CBHU1141052", "CBHU1141053");
    let p = problems(&src);
    let first = where_is(&src, "\"CBHU1141053\"");
    assert!(
        p.iter()
            .any(|(l, c, m)| (*l, *c) == first && m.contains("check digit")),
        "{p:?}"
    );
    let truck_line = src
        .match_indices("CBHU1141053")
        .nth(1)
        .map(|(off, _)| src[..off].matches('\n').count() + 1)
        .expect("second occurrence");
    assert!(
        p.iter()
            .any(|(l, _, m)| *l == truck_line && m.contains("check digit")),
        "{p:?}"
    );
}

#[test]
fn bad_plate_and_etag_are_located() {
    let src = mutate(
        &demo(),
        "at_s = 700\nplate = \"琼C70318\"",
        "at_s = 700\nplate = \"琼C7O318\"",
    );
    let p = problems(&src);
    let at = where_is(&src, "\"琼C7O318\"");
    assert!(
        p.iter()
            .any(|(l, c, m)| (*l, *c) == at && m.contains("琼C7O318")),
        "{p:?}"
    );
    let src = demo().replace("E28011606000020BC0984933", "E28011606000020BC098493");
    let p = problems(&src);
    assert!(
        p.iter().any(|(_, _, m)| m.contains("24 upper-case hex")),
        "{p:?}"
    );
}

#[test]
fn expectations_must_agree_with_the_data() {
    // t1 weighs 3 t more than declared: it cannot be a clean release.
    let src = mutate(&demo(), "cargo_kg = 23800", "cargo_kg = 26800");
    let p = problems(&src);
    let (line, _) = where_is(&src, "reasons = [\"R00\"], outcome = \"passed\", gate_pass");
    assert!(
        p.iter()
            .any(|(l, _, m)| *l == line && m.contains("tolerance")),
        "{p:?}"
    );
    // A release cannot carry a hold reason without an officer.
    let src = mutate(
        &demo(),
        "reasons = [\"H06\"], outcome = \"reversed\"",
        "reasons = [\"R00\", \"H06\"], outcome = \"reversed\"",
    );
    let p = problems(&src);
    assert!(
        p.iter()
            .any(|(_, _, m)| m.contains("R00/E00 are release reasons")),
        "{p:?}"
    );
    // H09 needs the broker down; I01 needs an instruction.
    let src = mutate(
        &demo(),
        "decision = \"inspect\", reasons = [\"I01\"]",
        "decision = \"hold\", reasons = [\"H09\"]",
    );
    let p = problems(&src);
    assert!(p.iter().any(|(_, _, m)| m.contains("H09")), "{p:?}");
    let src = mutate(&demo(), "target = \"琼B5D318\"", "target = \"琼B5D319\"");
    let p = problems(&src);
    assert!(
        p.iter().any(|(_, _, m)| m.starts_with("I01 expected")),
        "{p:?}"
    );
    // Outcome must follow the decision.
    let src = mutate(&demo(), "outcome = \"inspection\"", "outcome = \"held\"");
    let p = problems(&src);
    assert!(
        p.iter().any(|(_, _, m)| m.contains("does not follow")),
        "{p:?}"
    );
}

#[test]
fn times_references_and_every_problem_at_once() {
    let src = mutate(&demo(), "at_s = 250\n", "at_s = 50\n");
    let src = mutate(
        &src,
        "[[trucks]]\nid = \"t1\"",
        "[[commands]]\nat_s = 5\nkind = \"release\"\nofficer = \"HK0231\"\nnote = \"x\"\ntruck = \"t99\"\n\n[[trucks]]\nid = \"t1\"",
    );
    let p = problems(&src);
    let at = where_is(&src, "at_s = 50\n");
    assert!(
        p.iter()
            .any(|(l, _, m)| *l == at.0 && m.contains("increasing time order")),
        "{p:?}"
    );
    let tr = where_is(&src, "\"t99\"");
    assert!(
        p.iter()
            .any(|(l, c, m)| (*l, *c) == tr && m.contains("no truck with id `t99`")),
        "{p:?}"
    );
    assert!(p.len() >= 2);
    // Display: one line per problem, `file:line:column: message`.
    let e = Scenario::parse(&src, "x.toml").expect_err("invalid");
    let text = e.to_string();
    assert!(
        text.contains(&format!("x.toml:{}:{}: no truck with id `t99`", tr.0, tr.1)),
        "{text}"
    );
}

#[test]
fn load_reports_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("broken.toml");
    std::fs::write(
        &f,
        "[scenario]\nname = \"x\"\n[lane]\nsite = \"HK\"\nlane = \"L1\"\nspeed = 3\n",
    )
    .expect("write");
    let e = Scenario::load(&f).expect_err("unknown key");
    let text = e.to_string();
    assert!(text.starts_with(&format!("{}:6:1:", f.display())), "{text}");
    let e = Scenario::load(dir.path().join("missing.toml")).expect_err("missing");
    assert!(matches!(e, ScenarioError::Io { .. }));
}

#[test]
fn only_a_tailgater_passes_without_a_release() {
    // The demo's tailgater: hold, H08, passed. The same on a normal truck is
    // refused at its outcome.
    let src = mutate(&demo(), "behaviour = \"tailgate\"\n", "");
    let p = problems(&src);
    let at = where_is(&src, "\"passed\", alarms");
    assert!(
        p.iter()
            .any(|(l, c, m)| (*l, *c) == at && m.contains("does not follow a Hold decision")),
        "{p:?}"
    );
}
