//! Issue 18: the Debian package's inputs stay consistent with the tree
//! (the package itself is built by `cargo xtask dist`, release build, not in
//! CI): every asset the package metadata names outside `target/` exists, the
//! maintainer scripts parse, the systemd unit runs the binary the package
//! installs with the configuration it installs and passes `systemd-analyze
//! verify` where that tool exists, and `gatectl man` writes the manual
//! pages the package ships. (`cargo xtask test` also assembles the package
//! from the debug binaries and checks its contents: xtask/src/dist.rs.)

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn package_metadata_names_files_that_exist() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).expect("Cargo.toml");
    let doc: toml::Value = toml::from_str(&text).expect("toml");
    let deb = &doc["package"]["metadata"]["deb"];
    let assets = deb["assets"].as_array().expect("assets");
    assert!(!assets.is_empty());
    let mut checked = 0;
    for a in assets {
        let src = a[0].as_str().expect("source");
        let dest = a[1].as_str().expect("destination");
        assert!(!dest.starts_with('/'), "relative destination: {dest}");
        if src.starts_with("target/") || src.starts_with("../../target/") {
            continue; // built by cargo / xtask dist
        }
        let matched = glob_count(&Path::new(ROOT).join(src));
        assert!(matched > 0, "asset `{src}` matches no file");
        checked += 1;
    }
    assert!(
        checked >= 4,
        "profiles, README, docs, LICENSE-like assets checked"
    );
    assert_eq!(
        deb["conf-files"].as_array().map(|c| c.len()),
        Some(1),
        "the configuration is a conffile"
    );
}

/// Files matching a path whose last component may hold one `*`.
fn glob_count(p: &Path) -> usize {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let Some((pre, post)) = name.split_once('*') else {
        return usize::from(p.exists());
    };
    std::fs::read_dir(p.parent().expect("dir"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with(pre) && n.ends_with(post)
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn maintainer_scripts_parse_and_the_unit_runs_the_packaged_paths() {
    let dir = Path::new(ROOT).join("debian");
    for s in ["postinst", "postrm"] {
        let ok = Command::new("sh")
            .arg("-n")
            .arg(dir.join(s))
            .status()
            .expect("sh")
            .success();
        assert!(ok, "{s} does not parse");
    }
    let unit = std::fs::read_to_string(dir.join("gate-agent.service")).expect("unit");
    assert!(unit.contains("ExecStart=/usr/bin/gate-agent --config /etc/gate-agent/lane.toml"));
    assert!(
        unit.contains("ExecStartPre=/usr/bin/gate-agent --check-config /etc/gate-agent/lane.toml")
    );
    assert!(unit.contains("User=gate-agent"));
    // The example's paths are the unit's directories.
    let example = std::fs::read_to_string(Path::new(ROOT).join("../../config/lane.example.toml"))
        .expect("example");
    assert!(
        example.contains("/var/lib/gate-agent/lane.db")
            && unit.contains("StateDirectory=gate-agent")
    );
    assert!(
        example.contains("/run/gate-agent/control.sock")
            && unit.contains("RuntimeDirectory=gate-agent")
    );
    if let Ok(out) = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("gate-agent.service"))
        .output()
    {
        let err = String::from_utf8_lossy(&out.stderr);
        // The unit's binary is not installed on a build machine: only
        // complaints about the unit itself count.
        let problems: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("gate-agent.service:") && !l.contains("is not executable"))
            .collect();
        assert!(problems.is_empty(), "systemd-analyze verify: {problems:?}");
    }
}

/// Issue 18: `gatectl man DIR` (what the package build runs) writes a page
/// for gatectl, one for each command the field guide (docs/gatectl.md)
/// documents, and gate-agent(8) with its options.
#[test]
fn manual_pages_are_written_for_every_documented_command() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_gatectl"))
        .arg("man")
        .arg(dir.path())
        .output()
        .expect("gatectl man");
    assert!(out.status.success(), "{out:?}");
    let page = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let guide =
        std::fs::read_to_string(Path::new(ROOT).join("../../docs/gatectl.md")).expect("guide");
    let mut documented = 0;
    for cmd in [
        "status",
        "events",
        "lookup",
        "outbox",
        "barrier",
        "io",
        "devices",
        "restart",
        "sync",
        "alarms",
        "selftest",
        "weigh",
        "capture",
        "recognize",
    ] {
        if !guide.contains(&format!("gatectl {cmd}")) {
            continue;
        }
        documented += 1;
        let p = page(&format!("gatectl-{cmd}.1"));
        assert!(
            p.starts_with(".ie") || p.contains(".TH"),
            "gatectl-{cmd}.1: {p}"
        );
        assert!(
            p.contains(&format!("gatectl\\-{cmd}")),
            "gatectl-{cmd}.1 names itself"
        );
    }
    assert!(documented >= 10, "the guide documents the commands");
    for sub in [
        "modbus-read",
        "modbus-write",
        "modbus-scan",
        "serial-monitor",
    ] {
        page(&format!("gatectl-{sub}.1"));
    }
    assert!(page("gatectl.1").contains(".TH"));
    let agent = page("gate-agent.8");
    assert!(agent.contains(".TH gate-agent 8"), "{agent}");
    assert!(agent.contains("check\\-config"), "{agent}");
}

/// Issue 18: the models come without a network. `gate-agent models
/// install` takes a folder holding the two model files (here, the models
/// the tests fetched) or the pinned wheel, checks each sha256, and `models
/// status` then finds them verified; a folder whose file was altered is
/// refused (nothing installed) and `status` on an empty directory exits 1.
#[test]
fn models_install_offline_and_status() {
    const AGENT: &str = env!("CARGO_BIN_EXE_gate-agent");
    let cache = gate_ocr::models::default_dir();
    gate_ocr::models::ensure(&cache).expect("the models (fetched once per machine)");
    let tmp = tempfile::tempdir().expect("tmp");
    let dest = tmp.path().join("models");
    let run = |args: &[&str]| {
        let out = Command::new(AGENT).args(args).output().expect("gate-agent");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let d = dest.to_str().expect("utf-8");
    let (code, _, err) = run(&["models", "status", "--dir", d]);
    assert_eq!(code, 1, "nothing there yet: {err}");
    assert!(err.contains("models install"), "{err}");

    let (code, out, err) = run(&[
        "models",
        "install",
        cache.to_str().expect("utf-8"),
        "--dir",
        d,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("installed and verified"), "{out}");
    let (code, out, _) = run(&["models", "status", "--dir", d]);
    assert_eq!(code, 0);
    assert!(out.contains("verified (used)"), "{out}");

    // With no source: the models the agent itself would use (the cache).
    let copy = tmp.path().join("copy");
    let (code, out, err) = run(&["models", "install", "--dir", copy.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(gate_ocr::models::find(&copy).is_ok(), "{out}");

    // An altered copy is refused and installs nothing.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).expect("dir");
    for f in [gate_ocr::models::DET_FILE, gate_ocr::models::REC_FILE] {
        std::fs::copy(cache.join(f), bad.join(f)).expect("copy");
    }
    let mut bytes = std::fs::read(bad.join(gate_ocr::models::REC_FILE)).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(bad.join(gate_ocr::models::REC_FILE), bytes).expect("write");
    let other = tmp.path().join("other");
    let (code, _, err) = run(&[
        "models",
        "install",
        bad.to_str().expect("utf-8"),
        "--dir",
        other.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("sha256") || err.contains("checksum"), "{err}");
    assert!(
        gate_ocr::models::find(&other).is_err(),
        "nothing usable installed"
    );
}
