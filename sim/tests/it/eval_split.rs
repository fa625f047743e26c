//! The recognition evaluation's fixed split (sim/eval/split.toml, issue 17
//! item 1) keeps tune and report apart, and the second renderer's labels
//! (sim/eval/gen2_labels.py, pure Python: the system python3, no Pillow)
//! are valid by gate_proto's own grammar. Fast: no image is drawn.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use gate_proto::formats::{iso6346, plate};

fn split() -> toml::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/split.toml");
    let text = std::fs::read_to_string(&path).expect("sim/eval/split.toml");
    toml::from_str(&text).expect("split.toml parses")
}

fn intervals(v: &toml::Value) -> Vec<(f64, f64)> {
    v.as_array()
        .expect("a list of intervals")
        .iter()
        .map(|i| {
            let a = i.as_array().expect("[lo, hi]");
            let f = |x: &toml::Value| {
                x.as_float()
                    .or_else(|| x.as_integer().map(|i| i as f64))
                    .expect("a number")
            };
            assert_eq!(a.len(), 2, "{i}");
            let (lo, hi) = (f(&a[0]), f(&a[1]));
            assert!(lo < hi, "{i}");
            (lo, hi)
        })
        .collect()
}

#[test]
fn the_report_split_shares_no_typeface_and_no_setting_value_with_the_tune_split() {
    let s = split();
    let renderers = |name: &str| -> Vec<String> {
        s["splits"][name]["renderers"]
            .as_array()
            .expect("renderers")
            .iter()
            .map(|r| r.as_str().expect("a name").to_string())
            .collect()
    };
    // The crate's own renderer is tuned on; the report is the second one.
    assert!(renderers("tune").contains(&"sim".to_string()));
    assert_eq!(renderers("report"), vec!["gen2".to_string()]);

    let fonts = s["fonts"].as_array().expect("fonts");
    let fams = |split: &str, script: &str| -> BTreeSet<String> {
        fonts
            .iter()
            .filter(|f| f["split"].as_str() == Some(split) && f["script"].as_str() == Some(script))
            .map(|f| f["family"].as_str().expect("family").to_string())
            .collect()
    };
    let files = |split: &str| -> BTreeSet<String> {
        fonts
            .iter()
            .filter(|f| f["split"].as_str() == Some(split))
            .map(|f| f["file"].as_str().expect("file").to_string())
            .collect()
    };
    for script in ["cjk", "latin"] {
        let (t, r) = (fams("tune", script), fams("report", script));
        assert!(t.len() >= 3 && r.len() >= 3, "{script}: {t:?} {r:?}");
        assert!(t.len() + r.len() >= 6, "{script}: {t:?} {r:?}");
        assert!(t.is_disjoint(&r), "{script}: {t:?} {r:?}");
    }
    assert!(files("tune").is_disjoint(&files("report")));
    // The sim renderer's font is a tune font.
    assert!(fams("tune", "cjk").contains("Noto Sans CJK SC"));

    // Every continuous setting: disjoint intervals; together they span the
    // issue's ranges where it names them.
    let settings = s["settings"].as_table().expect("settings");
    for (name, v) in settings {
        if name == "conditions" {
            continue;
        }
        let (t, r) = (intervals(&v["tune"]), intervals(&v["report"]));
        assert!(!r.is_empty(), "{name}: the report split has no values");
        for a in &t {
            for b in &r {
                assert!(
                    a.1 <= b.0 || b.1 <= a.0,
                    "{name}: tune {a:?} overlaps report {b:?}"
                );
            }
        }
        let all: Vec<(f64, f64)> = t.iter().chain(&r).copied().collect();
        let lo = all.iter().map(|i| i.0).fold(f64::INFINITY, f64::min);
        let hi = all.iter().map(|i| i.1).fold(f64::NEG_INFINITY, f64::max);
        match name.as_str() {
            "char_height_px" => assert_eq!((lo, hi), (12.0, 40.0), "{name}"),
            "jpeg_quality" => assert_eq!((lo, hi), (30.0, 95.0), "{name}"),
            "yaw_deg" => assert_eq!((lo, hi), (0.0, 30.0), "{name}"),
            _ => {}
        }
    }
    let conds = |split: &str| -> BTreeSet<String> {
        s["settings"]["conditions"][split]
            .as_array()
            .expect("conditions")
            .iter()
            .map(|c| c.as_str().expect("a name").to_string())
            .collect()
    };
    for c in ["day", "dirt", "glare", "night_ir", "motion_blur", "rain"] {
        assert!(conds("report").contains(c), "{c}");
    }
    assert!(conds("tune").is_subset(&conds("report")));
}

#[test]
fn the_second_renderers_labels_are_valid_by_gate_proto() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/gen2_labels.py");
    let out = Command::new("python3")
        .arg("-B")
        .arg(&script)
        .args(["--check", "--sample", "400", "--seed", "7"])
        .output()
        .expect("python3 runs sim/eval/gen2_labels.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut plates, mut codes) = (0, 0);
    let mut kinds = BTreeSet::new();
    for line in stdout.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "plate" => {
                let p = plate::parse(f[1]).unwrap_or_else(|e| panic!("{}: {e}", f[1]));
                assert_eq!(p.as_str(), f[1]);
                kinds.insert(format!("{:?}", p.kind()));
                plates += 1;
            }
            "code" => {
                let c = iso6346::parse(f[1]).unwrap_or_else(|e| panic!("{}: {e}", f[1]));
                assert_eq!(c.as_str(), f[1]);
                let cd = iso6346::check_digit(f[1]).expect("check digit");
                assert_eq!(f[1].as_bytes()[10], b'0' + cd, "{}", f[1]);
                codes += 1;
            }
            other => panic!("unexpected line {other}"),
        }
    }
    assert_eq!((plates, codes), (400, 400));
    // Ordinary, new-energy, trailer, police, Hong Kong/Macau, learner.
    assert!(kinds.len() >= 5, "{kinds:?}");
}
