//! `cargo xtask bench [NAME]`: runs the benchmark binaries in release mode.
//! Each prints its figures beside a baseline or peer measured in the same run.

use anyhow::{bail, Context, Result};

use crate::sh;

/// (group, cargo args of the benchmark binary).
const GROUPS: &[(&str, &[&str])] = &[
    // Decision latency at 1 M records beside bare SQLite lookups; snapshot
    // and delta apply times; lookups during an apply (gate-agent/store/benches).
    (
        "decision",
        &["bench", "-p", "gate-store", "--bench", "decision"],
    ),
    // Outbox drain rate to a local Mosquitto beside raw rumqttc publishes
    // (gate-agent/link/benches).
    ("link", &["bench", "-p", "gate-link", "--bench", "drain"]),
    // gate-ocr beside RapidOCR (onnxruntime) on the generated evaluation set:
    // accuracy and latency per crop and per frame, and the tune and report
    // splits of sim/eval/split.toml with the second renderer's frames
    // (sim/benches/recognition.rs). Before it: the split's font packages
    // (apt, below); the bench itself makes its Python venv (RapidOCR and
    // Pillow, pinned, with pip).
    (
        "recognition",
        &["bench", "-p", "sim", "--bench", "recognition"],
    ),
    // Agent overhead per lane cycle (devices answering at once) and resident
    // memory idle/busy beside a hand-written lane loop (gate-agent/agent/benches).
    (
        "agent",
        &["bench", "-p", "gate-agent", "--bench", "lane_cycle"],
    ),
    // A whole port (issue 21): N agents, each its own process and store,
    // with simulated devices, through a port Mosquitto bridged to a central
    // one (config/mosquitto/), the platform simulator at the centre
    // (sim/benches/port.rs). `cargo xtask bench port --lanes 10,30
    // [--outage-s LANE_S]`; the release gate-agent binary is built first.
    ("port", &["bench", "-p", "sim", "--bench", "port"]),
];

/// Runs the group `name` (or all); `extra` (after an optional `--`) goes to
/// the benchmark binary.
pub fn run(name: &str, extra: &[String]) -> Result<()> {
    let extra: Vec<&str> = extra
        .iter()
        .map(String::as_str)
        .skip_while(|a| *a == "--")
        .collect();
    let selected: Vec<_> = GROUPS
        .iter()
        .filter(|(group, _)| name == "all" || *group == name)
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = GROUPS.iter().map(|(g, _)| *g).collect();
        bail!("no benchmark group `{name}` (have: {})", names.join(", "));
    }
    let cargo = sh::cargo();
    for (group, args) in selected {
        eprintln!("== bench {group}");
        if *group == "recognition" {
            install_split_fonts()?;
        }
        let mut extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        if *group == "port" {
            sh::run(
                &cargo,
                &[
                    "build",
                    "--release",
                    "-p",
                    "gate-agent",
                    "--bin",
                    "gate-agent",
                ],
            )?;
            let bin = target_dir().join("release").join("gate-agent");
            extra = port_args(&extra, &bin)?;
        }
        let mut args = args.to_vec();
        if !extra.is_empty() {
            args.push("--");
            args.extend(extra.iter().map(String::as_str));
        }
        sh::run(&cargo, &args)?;
    }
    Ok(())
}

fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| sh::project_root().join("target"))
}

/// The port bench's arguments: `--lanes` checked (a comma list of lane
/// counts, e.g. `10,30,100`), the release agent binary added unless given;
/// the rest is passed as it is (the bench checks it).
fn port_args(extra: &[String], agent_bin: &std::path::Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut it = extra.iter();
    let mut have_bin = false;
    while let Some(a) = it.next() {
        out.push(a.clone());
        match a.as_str() {
            "--lanes" => {
                let v = it.next().context("--lanes needs a list, e.g. 10,30,100")?;
                let ok = !v.is_empty()
                    && v.split(',').all(|n| {
                        n.trim()
                            .parse::<usize>()
                            .is_ok_and(|n| (1..=999).contains(&n))
                    });
                if !ok {
                    bail!("--lanes `{v}`: a comma list of lane counts 1..=999, e.g. 10,30,100");
                }
                out.push(v.clone());
            }
            "--agent-bin" => {
                have_bin = true;
                out.extend(it.next().cloned());
            }
            _ => {}
        }
    }
    if !have_bin {
        out.push("--agent-bin".into());
        out.push(agent_bin.display().to_string());
    }
    Ok(out)
}

/// The Debian font packages of the recognition split file
/// (sim/eval/split.toml, `[[fonts]]`: `file` and `package`) whose files are
/// missing, installed with apt-get (as `cargo xtask install` installs the
/// test suites' packages). Nothing when they are all there.
fn install_split_fonts() -> Result<()> {
    let path = sh::project_root().join("sim/eval/split.toml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let missing = missing_font_packages(&text, |f| std::path::Path::new(f).exists());
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!(
        "installing the evaluation's font packages: {}",
        missing.join(" ")
    );
    sh::run("apt-get", &["update", "-qq"]).context("apt-get update (are you root?)")?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(missing.iter().map(String::as_str));
    sh::run_env("apt-get", &args, &[("DEBIAN_FRONTEND", "noninteractive")])
}

/// Packages of the `[[fonts]]` entries whose `file` is not there
/// (`exists`), each once, in the file's order. A line scan of the split
/// file's simple `key = "value"` lines: xtask has no TOML parser.
fn missing_font_packages(toml: &str, exists: impl Fn(&str) -> bool) -> Vec<String> {
    let value = |line: &str, key: &str| -> Option<String> {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    };
    let mut out: Vec<String> = Vec::new();
    let mut file: Option<String> = None;
    let mut package: Option<String> = None;
    let mut flush = |file: &mut Option<String>, package: &mut Option<String>| {
        if let (Some(f), Some(p)) = (file.take(), package.take()) {
            if !exists(&f) && !out.contains(&p) {
                out.push(p);
            }
        }
    };
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            flush(&mut file, &mut package);
        } else if let Some(f) = value(line, "file") {
            file = Some(f);
        } else if let Some(p) = value(line, "package") {
            package = Some(p);
        }
    }
    flush(&mut file, &mut package);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_bench_arguments() {
        let bin = std::path::Path::new("/t/release/gate-agent");
        let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            port_args(&s(&["--lanes", "10,30,100"]), bin).unwrap(),
            s(&[
                "--lanes",
                "10,30,100",
                "--agent-bin",
                "/t/release/gate-agent"
            ])
        );
        assert_eq!(
            port_args(
                &s(&["--lanes", "5", "--outage-s", "600", "--agent-bin", "/x"]),
                bin
            )
            .unwrap(),
            s(&["--lanes", "5", "--outage-s", "600", "--agent-bin", "/x"])
        );
        assert_eq!(
            port_args(&[], bin).unwrap(),
            s(&["--agent-bin", "/t/release/gate-agent"])
        );
        for bad in ["", "10,,30", "0", "ten", "10;30", "1000"] {
            assert!(port_args(&s(&["--lanes", bad]), bin).is_err(), "{bad:?}");
        }
        assert!(port_args(&s(&["--lanes"]), bin).is_err());
    }

    #[test]
    fn the_split_files_missing_font_packages() {
        let toml = "version = 1\n[[fonts]]\nfamily = \"A\"\nfile = \"/a.ttf\"\npackage = \"fonts-a\"\n\n[[fonts]]\nfile = \"/b.ttf\"\npackage = \"fonts-b\"\n[[fonts]]\nfile = \"/b2.ttf\"\npackage = \"fonts-b\"\n[settings.x]\ntune = [[1, 2]]\n";
        assert_eq!(missing_font_packages(toml, |_| true), Vec::<String>::new());
        assert_eq!(
            missing_font_packages(toml, |f| f == "/a.ttf"),
            vec!["fonts-b"]
        );
        assert_eq!(
            missing_font_packages(toml, |_| false),
            vec!["fonts-a", "fonts-b"]
        );
        // The repository's split file names a package for every font.
        let real = std::fs::read_to_string(sh::project_root().join("sim/eval/split.toml"))
            .expect("sim/eval/split.toml");
        let all = missing_font_packages(&real, |_| false);
        assert!(all.len() >= 10, "{all:?}");
        assert!(all.iter().all(|p| p.starts_with("fonts-")), "{all:?}");
    }
}
