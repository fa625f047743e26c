//! `cargo xtask chaos [--faults N] [--seed S] [--release]`: trucks through a
//! simulated lane while faults are injected at random, with a real
//! Mosquitto and the real gate-agent binary (sim/src/chaos,
//! docs/reliability.md, Chaos). Builds `gate-sim` and `gate-agent` (dev
//! profile unless `--release`) and runs `gate-sim chaos`.
//!
//! [`ci`] is what `cargo xtask test` runs after the test suites: a short
//! seeded run on the dev-profile binaries `cargo test --workspace` already
//! built (nothing is built twice).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::sh;

/// The CI run: seed and faults (goal: under 5 minutes on 2 cores).
pub const CI_FAULTS: usize = 50;
pub const CI_SEED: u64 = 1;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| sh::project_root().join("target"))
}

fn run_sim(profile_dir: &str, extra: &[String]) -> Result<()> {
    let dir = target_dir().join(profile_dir);
    let sim = dir.join("gate-sim");
    let agent = dir.join("gate-agent");
    for b in [&sim, &agent] {
        if !b.is_file() {
            bail!(
                "{} is missing (build: cargo build -p sim -p gate-agent --bins)",
                b.display()
            );
        }
    }
    let sim_s = sim.to_string_lossy().into_owned();
    let agent_s = agent.to_string_lossy().into_owned();
    let mut args: Vec<&str> = vec!["chaos", "--agent-bin", &agent_s];
    args.extend(extra.iter().map(String::as_str));
    sh::run(&sim_s, &args).context("the chaos run missed a goal (figures above)")
}

/// `cargo xtask chaos ...`.
pub fn run(args: &[String]) -> Result<()> {
    let mut release = false;
    let mut pass = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--release" => release = true,
            "--faults" | "--seed" | "--report" => {
                let v = it.next().with_context(|| format!("{a} needs a value"))?;
                pass.push(a.clone());
                pass.push(v.clone());
            }
            "--keep" => pass.push(a.clone()),
            other => bail!(
                "unknown argument `{other}`\nusage: cargo xtask chaos [--faults N] [--seed S] [--report OUT.json] [--keep] [--release]"
            ),
        }
    }
    let cargo = sh::cargo();
    // Workspace-wide: the same features as the test build (nothing rebuilt).
    let mut build = vec!["build", "--workspace", "--bins"];
    if release {
        build.push("--release");
    }
    sh::run(&cargo, &build)?;
    run_sim(if release { "release" } else { "debug" }, &pass)
}

/// The short seeded run of CI, on the binaries the test build produced.
pub fn ci() -> Result<()> {
    let started = std::time::Instant::now();
    let dir = target_dir().join("debug");
    if !dir.join("gate-sim").is_file() || !dir.join("gate-agent").is_file() {
        sh::run(
            &sh::cargo(),
            &["build", "-p", "sim", "-p", "gate-agent", "--bins"],
        )?;
    }
    let r = run_sim(
        "debug",
        &[
            "--faults".into(),
            CI_FAULTS.to_string(),
            "--seed".into(),
            CI_SEED.to_string(),
        ],
    );
    eprintln!(
        "xtask chaos (CI, {CI_FAULTS} faults): {:.0?}",
        started.elapsed()
    );
    r
}
