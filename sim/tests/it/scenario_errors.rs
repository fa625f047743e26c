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
        Err(ScenarioError::Syntax(e)) => {
            assert_eq!(e.file, std::path::Path::new("demo-mutated.toml"));
            (
                e.line.expect("a syntax error has a line"),
                e.column.expect("and a column"),
                e.message,
            )
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
                .map(|p| {
                    assert_eq!(p.file, std::path::Path::new("demo-mutated.toml"));
                    let line = p.line.expect("a problem has a line");
                    (line, p.column.expect("and a column"), p.message)
                })
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
fn expectations_are_not_re_derived_from_the_data() {
    // Issue 16: the checks hold no decision engine. A truck 3 t over its
    // declared total expected as a clean release, a hold reason on a
    // release, H09 with the broker up: the run compares, the load accepts.
    let src = mutate(&demo(), "cargo_kg = 23800", "cargo_kg = 26800");
    Scenario::parse(&src, "x.toml").unwrap_or_else(|e| panic!("{e}"));
    let src = mutate(
        &demo(),
        "decision = \"inspect\", reasons = [\"I01\"]",
        "decision = \"hold\", reasons = [\"H09\"]",
    );
    Scenario::parse(&src, "x.toml").unwrap_or_else(|e| panic!("{e}"));
    let src = mutate(&demo(), "outcome = \"inspection\"", "outcome = \"held\"");
    Scenario::parse(&src, "x.toml").unwrap_or_else(|e| panic!("{e}"));
    // Structure still counts: a repeated code, a pass never defined.
    let src = mutate(
        &demo(),
        "decision = \"inspect\", reasons = [\"I01\"]",
        "decision = \"inspect\", reasons = [\"I01\", \"I01\"]",
    );
    let p = problems(&src);
    assert!(
        p.iter().any(|(_, _, m)| m.contains("listed twice")),
        "{p:?}"
    );
}

#[test]
fn alarm_expectations_are_checked_for_typos_and_located() {
    let src = mutate(
        &demo(),
        "alarms = [\"tailgating\"]",
        "alarms = [\"tailgate\", { kind = \"device_fault\", count = 0 }]",
    );
    let p = problems(&src);
    let at = where_is(&src, "\"tailgate\", {");
    assert!(
        p.iter()
            .any(|(l, c, m)| (*l, *c) == at && m.contains("unknown alarm kind `tailgate`")),
        "{p:?}"
    );
    let at = where_is(&src, "{ kind = \"device_fault\"");
    assert!(
        p.iter()
            .any(|(l, c, m)| (*l, *c) == at && m.contains("count = 0")),
        "{p:?}"
    );
    // A table with an unknown key is a syntax error at the table.
    let src = mutate(
        &demo(),
        "alarms = [\"tailgating\"]",
        "alarms = [{ kind = \"tailgating\", level = \"critical\" }]",
    );
    let (line, _, msg) = syntax(&src);
    assert_eq!(line, where_is(&src, "level =").0);
    assert!(msg.contains("unknown field `level`"), "{msg}");
    // The forms the format documents load.
    let src = mutate(
        &demo(),
        "alarms = [\"tailgating\"]",
        "alarms = [{ kind = \"tailgating\", severity = \"critical\", detail = \"under the arm\", count = 1 }]",
    );
    Scenario::parse(&src, "x.toml").unwrap_or_else(|e| panic!("{e}"));
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

/// Issue 16, item 1: the runner fails a run whose trucks do not get what
/// their expectations state. Two clean trucks (both released R00, no alarm)
/// run through the real agent: the first expects an alarm, the second the
/// wrong reason; each fails with a message naming the difference.
#[test]
fn the_runner_fails_wrong_alarms_and_wrong_reasons() {
    let src = r#"
[scenario]
name = "runner-must-fail"
end_s = 200

[lane]
site = "HK-XINHAI"
lane = "L09"
time_scale = 10.0
weighbridge = { profile = "wb-i32-scaled" }

[[whitelist.enterprises]]
id = "91460100MA5RCK7Q2N"
name = "海南椰风国际贸易有限公司"
credit = "aeo"

[[whitelist.gate_passes]]
pass_no = "HKXH251218000901"
plate = "琼A66U73"
etag = "E28011606000021BFCC8C928"
trailer_plate = "琼A6673挂"
containers = ["DRYU6828931"]
declared_total_kg = 40900
enterprise = "91460100MA5RCK7Q2N"
goods_category = "zero_tariff"
valid_from = "-1d"
valid_until = "+1d"

[[whitelist.gate_passes]]
pass_no = "HKXH251218000905"
plate = "琼A77V84"
etag = "E28011606000021344B16103"
trailer_plate = "琼A7784挂"
containers = ["EMCU7612854"]
declared_total_kg = 39600
enterprise = "91460100MA5RCK7Q2N"
goods_category = "zero_tariff"
valid_from = "-1d"
valid_until = "+1d"

[[trucks]]
id = "wrong-alarm"
at_s = 10
plate = "琼A66U73"
etag = "E28011606000021BFCC8C928"
tare_kg = 8700
trailer = { plate = "琼A6673挂", tare_kg = 6500 }
containers = [{ number = "DRYU6828931", size_type = "45G1", position = "front" }]
cargo_kg = 21900
expect = { decision = "release", reasons = ["R00"], outcome = "passed", alarms = [{ kind = "device_fault", detail = "scale" }] }

[[trucks]]
id = "wrong-reason"
at_s = 70
plate = "琼A77V84"
etag = "E28011606000021344B16103"
tare_kg = 8650
trailer = { plate = "琼A7784挂", tare_kg = 6450 }
containers = [{ number = "EMCU7612854", size_type = "45G1", position = "front" }]
cargo_kg = 20700
expect = { decision = "release", reasons = ["E00"], outcome = "passed", alarms = [] }
"#;
    let s = Scenario::parse(src, "runner-must-fail.toml").unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let reports = rt
        .block_on(async {
            tokio::time::timeout(
                std::time::Duration::from_secs(240),
                sim::runner::run(&s, &sim::runner::RunOptions::new(), 1),
            )
            .await
        })
        .expect("finishes")
        .expect("runs");
    let summary = sim::runner::summary(&reports);
    let r = &reports[0];
    assert!(!r.passed, "the run must fail:{summary}");
    assert!(summary.contains("FAIL"), "{summary}");
    let truck = |id: &str| {
        r.trucks
            .iter()
            .find(|t| t.truck == id)
            .unwrap_or_else(|| panic!("no result for {id}:{summary}"))
    };
    let a = truck("wrong-alarm");
    assert!(!a.ok, "{summary}");
    assert_eq!(
        a.problems.len(),
        1,
        "only the alarm differs: {:?}",
        a.problems
    );
    assert!(
        a.problems[0].contains("alarm device_fault with detail containing \"scale\" expected but not received during the passage"),
        "{:?}",
        a.problems
    );
    let b = truck("wrong-reason");
    assert!(!b.ok, "{summary}");
    assert_eq!(
        b.problems.len(),
        1,
        "only the reasons differ: {:?}",
        b.problems
    );
    assert!(
        b.problems[0].contains("reasons [R00], expected [E00]"),
        "{:?}",
        b.problems
    );
    // The summary names each truck with its difference.
    assert!(
        summary.contains("wrong-alarm 琼A66U73: alarm device_fault"),
        "{summary}"
    );
    assert!(
        summary.contains("wrong-reason 琼A77V84: reasons"),
        "{summary}"
    );
}

/// Console steps (issue 19): an officer action needs its reason, an entry
/// needs a value, an officer-only action cannot come from the platform.
#[test]
fn console_steps_are_checked() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/console.toml");
    let src = std::fs::read_to_string(&p).expect("console.toml");
    Scenario::parse(&src, "console.toml").expect("the library's console scenario is valid");

    let no_note = mutate(
        &src,
        "note = \"箱号灯光故障, 人工核对 box read by eye\"\n",
        "",
    );
    let ps = problems(&no_note);
    assert!(
        ps.iter()
            .any(|(_, _, m)| m.contains("console action needs a note")),
        "{ps:?}"
    );

    let empty = mutate(
        &src,
        "entry = { containers = [\"EMCU7612854\"] }",
        "entry = { }",
    );
    let ps = problems(&empty);
    assert!(
        ps.iter().any(|(_, _, m)| m.contains("at least one value")),
        "{ps:?}"
    );

    let from_platform = mutate(
        &src,
        "via = \"console\"\nkind = \"inspect\"",
        "via = \"platform\"\nkind = \"inspect\"",
    );
    let ps = problems(&from_platform);
    let at = where_is(&from_platform, "via = \"platform\"\nkind = \"inspect\"");
    assert!(
        ps.iter()
            .any(|(l, _, m)| *l == at.0 && m.contains("officer's action")),
        "{ps:?} (expected at line {})",
        at.0
    );
}
