//! `cargo xtask fuzz [--seconds N] [--jobs J] [TARGET...]`: builds every
//! cargo-fuzz target of `fuzz/` once, then runs each for a bounded time
//! (docs/reliability.md, Fuzzing). `cargo xtask test` runs it with a short
//! time per target ([`ci`]).
//!
//! - cargo-fuzz is installed (`cargo install cargo-fuzz --locked`) when
//!   missing; the stable toolchain builds with `RUSTC_BOOTSTRAP=1` (the
//!   sanitizer flags are nightly-only).
//! - The fuzz build has its own target dir, `target/fuzz` (its RUSTFLAGS
//!   differ from every other build, so sharing `target/` would rebuild both
//!   ways). The fuzz crate depends only on the sans-IO crates, never on
//!   gate-agent, so the build stays small.
//! - Each target starts from the committed seeds and regression inputs in
//!   `fuzz/corpus/<target>/` (read only) plus what earlier runs found in
//!   `target/fuzz/corpus/<target>/` (where new inputs go); a crash, hang or
//!   out-of-memory input is written to `target/fuzz/artifacts/<target>/`
//!   and fails the command. Once fixed, copy it into `fuzz/corpus/<target>/`
//!   so every later run replays it.
//! - Up to `--jobs` targets run at once (default: the number of cores).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::sh;

/// Every target of `fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &[
    "rtu_decoder",
    "weighbridge_ascii",
    "platform_inbound",
    "control_protocol",
    "lane_config",
    "register_profile",
];

/// Seconds per target in `cargo xtask test`: with two targets at a time on
/// two cores, six targets take about a minute and a half after the build.
pub const CI_SECONDS: u64 = 30;

const TRIPLE: &str = "x86_64-unknown-linux-gnu";

pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = 60;
    let mut jobs = None;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--seconds needs a number")?;
            }
            "--jobs" => {
                jobs = Some(
                    it.next()
                        .and_then(|s| s.parse().ok())
                        .filter(|j| *j > 0)
                        .context("--jobs needs a positive number")?,
                );
            }
            t if TARGETS.contains(&t) => targets.push(t),
            other => bail!(
                "unknown fuzz target or option `{other}`; targets: {}",
                TARGETS.join(" ")
            ),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    fuzz(&targets, seconds, jobs.unwrap_or_else(cores))
}

/// The fuzz step of `cargo xtask test`.
pub fn ci() -> Result<()> {
    fuzz(TARGETS, CI_SECONDS, cores())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Install cargo-fuzz when `cargo fuzz` is not there.
pub fn ensure_cargo_fuzz() -> Result<()> {
    let cargo = sh::cargo();
    let present = Command::new(&cargo)
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        sh::run(&cargo, &["install", "cargo-fuzz", "--locked"])?;
    }
    Ok(())
}

fn fuzz(targets: &[&str], seconds: u64, jobs: usize) -> Result<()> {
    ensure_cargo_fuzz()?;
    let root = sh::project_root();
    let target_dir = root.join("target/fuzz");
    let started = Instant::now();
    sh::run_env(
        &sh::cargo(),
        &[
            "fuzz",
            "build",
            "--fuzz-dir",
            "fuzz",
            "--target-dir",
            "target/fuzz",
        ],
        &[("RUSTC_BOOTSTRAP", "1")],
    )?;
    let built = started.elapsed();
    eprintln!("fuzz: built in {built:.0?}");

    let bin_dir = target_dir.join(TRIPLE).join("release");
    let mut failed = Vec::new();
    let mut queue = targets.iter();
    let mut running: Vec<(&str, Child)> = Vec::new();
    loop {
        while running.len() < jobs {
            let Some(t) = queue.next() else { break };
            running.push((t, start(&root, &bin_dir, &target_dir, t, seconds)?));
        }
        let Some((t, mut child)) = (!running.is_empty()).then(|| running.remove(0)) else {
            break;
        };
        let status = child.wait()?;
        let log = target_dir.join(format!("logs/{t}.log"));
        let stats = summary(&log);
        if status.success() {
            eprintln!("fuzz: {t}: ok ({stats})");
        } else {
            eprintln!("fuzz: {t}: FAILED ({status}); log {}", log.display());
            if let Ok(text) = std::fs::read_to_string(&log) {
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                for line in tail.into_iter().rev() {
                    eprintln!("  {line}");
                }
            }
            failed.push(t);
        }
    }
    eprintln!(
        "fuzz: {} target(s) in {:.0?} (build {built:.0?})",
        targets.len(),
        started.elapsed()
    );
    if !failed.is_empty() {
        bail!(
            "fuzz target(s) failed: {}. The input is in target/fuzz/artifacts/<target>/; \
             reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --target-dir target/fuzz \
             <target> <input>`, fix, and keep the input in fuzz/corpus/<target>/",
            failed.join(", ")
        );
    }
    Ok(())
}

fn start(root: &Path, bin_dir: &Path, target_dir: &Path, t: &str, seconds: u64) -> Result<Child> {
    let work: PathBuf = target_dir.join("corpus").join(t);
    let artifacts = target_dir.join("artifacts").join(t);
    let logs = target_dir.join("logs");
    for d in [&work, &artifacts, &logs] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let seeds = root.join("fuzz/corpus").join(t);
    let log = std::fs::File::create(logs.join(format!("{t}.log")))?;
    eprintln!("fuzz: {t} for {seconds} s");
    Command::new(bin_dir.join(t))
        .arg(&work)
        .arg(&seeds)
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        // An input that takes this long is a hang: reported, fails the run.
        .arg("-timeout=20")
        .arg("-print_final_stats=1")
        .env("ASAN_OPTIONS", "detect_odr_violation=0")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start fuzz target {t}"))
}

/// "N runs, M exec/s, corpus K" from libFuzzer's final statistics.
fn summary(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let stat = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "{} runs, {} exec/s, {} new units",
        stat("stat::number_of_executed_units:"),
        stat("stat::average_exec_per_sec:"),
        stat("stat::new_units_added:")
    )
}
