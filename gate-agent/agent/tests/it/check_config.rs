//! Issue 18: `gate-agent --check-config` loads the register profiles the
//! configuration names, as the start would: a missing profile, or a
//! weighbridge flag the driver does not know (a misspelt `overload`), is an
//! error with exit code 2, every one of them reported; a good file is `ok`.

use crate::gatectl_support;

use std::process::Command;

use gatectl_support::*;

const AGENT: &str = env!("CARGO_BIN_EXE_gate-agent");

/// A lane file as an engineer writes it (defaults omitted): the tests below
/// add their faults to its text. The profile is the one `write_config`
/// wrote beside it.
fn hand_written(paths: &LanePaths) {
    let text = format!(
        r#"[lane]
site = "HK-XINHAI"
lane = "L03"

[store]
path = "{db}"

[platform]
broker = "mqtt://127.0.0.1:1"
keys = {{ platform-test-1 = "{key}" }}

[[devices.buses]]
name = "board"
tcp = "127.0.0.1:1502"

[[devices.buses]]
name = "wb"
tcp = "127.0.0.1:1503"

[devices.board]
bus = "board"

[devices.weighbridge]
modbus = {{ bus = "wb", unit_id = 1, profile = "{profile}" }}
"#,
        db = paths.db.display(),
        key = PLATFORM_KEY,
        profile = paths.dir.join("wb-gatectl-test.toml").display(),
    );
    std::fs::write(&paths.config, text).expect("config");
}

fn check(config: &std::path::Path) -> (i32, String) {
    let out = Command::new(AGENT)
        .arg("--check-config")
        .arg(config)
        .output()
        .expect("run gate-agent");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn profiles_are_checked_and_every_problem_is_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let paths = write_config(dir.path(), 1502, 1503, "http://127.0.0.1:1", None);
    // The file the configuration builder wrote passes, and so does the
    // hand-written one the faults are added to.
    let (code, out) = check(&paths.config);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(": ok"), "{out}");
    hand_written(&paths);
    let (code, out) = check(&paths.config);
    assert_eq!(code, 0, "{out}");

    // The weighbridge profile's `overload` misspelt, and an RFID reader
    // whose profile does not exist.
    let profile = dir.path().join("wb-gatectl-test.toml");
    let text = std::fs::read_to_string(&profile).expect("profile");
    let bits = "bits = [{ name = \"stable\", mask = 0x0001 }]";
    assert!(text.contains(bits), "the test profile's status bits");
    std::fs::write(
        &profile,
        text.replace(
            bits,
            "bits = [{ name = \"stable\", mask = 0x0001 }, { name = \"overlaod\", mask = 0x0004 }, { name = \"x_printing\", mask = 0x0008 }]",
        ),
    )
    .expect("profile");
    let mut cfg = std::fs::read_to_string(&paths.config).expect("config");
    cfg.push_str(
        "\n[[devices.buses]]\nname = \"etag\"\ntcp = \"127.0.0.1:1504\"\n\n[[devices.rfid]]\nname = \"etag-reader\"\nkind = \"e-tag\"\nbus = \"etag\"\nunit_id = 1\nprofile = \"no-such-profile\"\n",
    );
    std::fs::write(&paths.config, cfg).expect("config");
    let (code, out) = check(&paths.config);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("overlaod") && out.contains("devices.weighbridge.modbus.profile"),
        "the misspelt flag is named: {out}"
    );
    assert!(
        !out.contains("x_printing"),
        "a vendor's x_ bit is allowed: {out}"
    );
    assert!(
        out.contains("devices.rfid[0].profile") && out.contains("no-such-profile"),
        "the missing profile is named too (every problem, not the first): {out}"
    );
}

/// Issue 18: the type errors and unknown keys of the file are all reported
/// at once, each at its line, two in one table too, with exit code 2.
#[test]
fn type_errors_and_unknown_keys_of_every_table_at_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let paths = write_config(dir.path(), 1502, 1503, "http://127.0.0.1:1", None);
    hand_written(&paths);
    let mut cfg = std::fs::read_to_string(&paths.config).expect("config");
    cfg.push_str("\n[policy]\nmin_plate_confidence = \"high\"\nweight_tolerance_pct = \"3%\"\n");
    cfg.push_str("\n[sequence]\nhold_timeout_ms = 1000\nhold_timout_ms = 5\n");
    cfg.push_str("\n[[devices.buses]]\nname = \"etag\"\ntcp = \"127.0.0.1:1504\"\nbaud = 9600\n");
    std::fs::write(&paths.config, &cfg).expect("config");
    let (code, out) = check(&paths.config);
    assert_eq!(code, 2, "{out}");
    let line_of = |needle: &str| {
        cfg.lines()
            .position(|l| l.starts_with(needle))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("{needle} not in the config"))
    };
    for (needle, what) in [
        ("min_plate_confidence", "invalid type"),
        ("weight_tolerance_pct", "invalid type"),
        ("hold_timout_ms", "hold_timout_ms"),
        ("baud", "baud"),
    ] {
        let at = format!("{}:{}:", paths.config.display(), line_of(needle));
        assert!(
            out.lines().any(|l| l.starts_with(&at) && l.contains(what)),
            "`{what}` at {at} in:\n{out}"
        );
    }
}
