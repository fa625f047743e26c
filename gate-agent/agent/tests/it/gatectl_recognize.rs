//! `gatectl recognize` on rendered camera frames (gate-agent/ocr/tests/fixtures):
//! the real binary, the real models (fetched on first use into the default
//! models directory, as on a fresh machine).

use std::path::{Path, PathBuf};
use std::process::Command;

const GATECTL: &str = env!("CARGO_BIN_EXE_gatectl");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ocr/tests/fixtures")
        .join(name)
}

fn gatectl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(GATECTL)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run gatectl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn recognize_reads_a_plate_and_a_container_code_with_json_too() {
    let plate = fixture("plate_front_blue.jpg");
    let code = fixture("container_v_1.jpg");
    let p = plate.to_str().expect("utf-8 path");
    let (code_, out, err) = gatectl(&["recognize", "plate", p]);
    assert_eq!(code_, 0, "stdout:\n{out}\nstderr:\n{err}");
    let line = out
        .lines()
        .find(|l| l.contains("plate_front_blue.jpg"))
        .unwrap_or("");
    assert!(line.contains("琼A7K352") && line.contains("blue"), "{out}");

    let (code_, out, err) = gatectl(&["recognize", "--json", "plate", p]);
    assert_eq!(code_, 0, "stdout:\n{out}\nstderr:\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(v["plate"]["text"], "琼A7K352");
    assert_eq!(v["plate"]["colour"], "blue");
    assert_eq!(v["plate"]["valid"], true);
    let conf = v["plate"]["confidence"].as_f64().expect("confidence");
    assert!((0.5..=1.0).contains(&conf), "{conf}");
    assert!(v["ms"].as_f64().is_some_and(|ms| ms > 0.0));

    let c = code.to_str().expect("utf-8 path");
    let (code_, out, err) = gatectl(&["recognize", "container", "--json", c]);
    assert_eq!(code_, 0, "stdout:\n{out}\nstderr:\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert_eq!(v["codes"][0]["text"], "OOLU6180231");
    assert_eq!(v["codes"][0]["layout"], "vertical");
    assert_eq!(v["codes"][0]["check_ok"], true);
}

#[test]
fn recognize_exits_0_when_every_file_was_processed_read_or_not() {
    // An empty lane: nothing to read is a result, not a failure (issue 17
    // item 6: it used to exit 1).
    let empty = fixture("empty_lane.jpg");
    let e = empty.to_str().expect("utf-8 path");
    let (code, out, err) = gatectl(&["recognize", "--json", "plate", e]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert!(v["error"].is_null(), "{v}");
    assert!(v["plate"].is_null() || v["plate"]["valid"] == false, "{v}");
    let (code, out, err) = gatectl(&["recognize", "container", e]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    // One file that cannot be processed among good ones: 1, every file
    // still reported.
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("truncated.png");
    std::fs::write(&bad, b"\x89PNG\r\n").expect("write");
    let b = bad.to_str().expect("utf-8 path");
    let (code, out, err) = gatectl(&["recognize", "--json", "plate", e, b]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn recognize_reports_a_bad_file_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("not-an-image.jpg");
    std::fs::write(&bad, b"not a jpeg").expect("write");
    let b = bad.to_str().expect("utf-8 path");
    let (code, out, err) = gatectl(&["recognize", "--json", "plate", b]);
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot decode")),
        "{v}"
    );
    let (code, _, err) = gatectl(&["recognize", "plate"]);
    assert_eq!(code, 2, "{err}");
}
