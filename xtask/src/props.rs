//! `cargo xtask props [--cases N] [--seed S|random] [--runs R | --minutes M]
//! [--suite barrier|lane|all]`: long runs of the property tests of the
//! barrier board (firmware/core/tests/it/barrier_props.rs) and of the lane core
//! (gate-agent/core/tests/it/lane_props.rs), in release mode. Not part of CI:
//! CI runs the same suites with their fixed seeds (`cargo xtask test`).
//!
//! Each run sets `PROPTEST_CASES` and `PROPTEST_RNG_SEED` (proptest applies
//! both on top of the suites' own config) and runs the test binaries through
//! `cargo test --release`. With `--seed random` (the default) every run draws
//! a new seed; a failing run stops the loop and prints the command that
//! replays it. A failure is also kept by proptest in the suite's
//! proptest-regressions/ file, to be committed: CI replays it first.
//!
//! Steps are estimated from the generators: a barrier case is 1..400 steps
//! (mean 200) for each of its two properties, a lane case 1..80 operations
//! (mean 40).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::sh;

const USAGE: &str = "usage: cargo xtask props [--cases N] [--seed S|random] \
                     [--runs R | --minutes M] [--suite barrier|lane|all]";

struct Suite {
    name: &'static str,
    package: &'static str,
    /// The suite's module in the package's `it` test binary.
    module: &'static str,
    /// Mean generated steps per case, summed over the suite's properties.
    steps_per_case: u64,
}

const SUITES: [Suite; 2] = [
    Suite {
        name: "barrier",
        package: "lane-io",
        module: "barrier_props",
        steps_per_case: 2 * 200,
    },
    Suite {
        name: "lane",
        package: "gate-core",
        module: "lane_props",
        steps_per_case: 40,
    },
];

struct Opts {
    cases: u32,
    seed: Option<u64>,
    runs: Option<u32>,
    minutes: Option<f64>,
    suites: Vec<&'static Suite>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        cases: 10_000,
        seed: None,
        runs: None,
        minutes: None,
        suites: SUITES.iter().collect(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--cases" => o.cases = value()?.parse().context("--cases")?,
            "--seed" => {
                let v = value()?;
                o.seed = match v.as_str() {
                    "random" => None,
                    v => Some(parse_u64(v).context("--seed")?),
                };
            }
            "--runs" => o.runs = Some(value()?.parse().context("--runs")?),
            "--minutes" => o.minutes = Some(value()?.parse().context("--minutes")?),
            "--suite" => {
                let v = value()?;
                o.suites = match v.as_str() {
                    "all" => SUITES.iter().collect(),
                    n => vec![SUITES
                        .iter()
                        .find(|s| s.name == n)
                        .with_context(|| format!("unknown suite `{n}`\n{USAGE}"))?],
                };
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    if o.runs.is_some() && o.minutes.is_some() {
        bail!("--runs and --minutes exclude each other\n{USAGE}");
    }
    Ok(o)
}

fn parse_u64(v: &str) -> Result<u64> {
    Ok(match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16)?,
        None => v.replace('_', "").parse()?,
    })
}

/// A fresh random seed (std's per-process random hash keys).
fn random_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    // Without --runs/--minutes: one run per suite (a fixed seed gives the
    // same cases every time, so more runs only make sense with random seeds).
    let runs = match (o.runs, o.minutes, o.seed) {
        (Some(r), _, _) => r,
        (None, None, _) | (None, Some(_), Some(_)) => 1,
        (None, Some(_), None) => u32::MAX,
    };
    let deadline = o
        .minutes
        .map(|m| Instant::now() + Duration::from_secs_f64(m * 60.0));
    let cargo = sh::cargo();
    // Build once, so the timings below are the tests only.
    for s in &o.suites {
        sh::run(
            &cargo,
            &[
                "test",
                "--release",
                "-p",
                s.package,
                "--test",
                "it",
                "--no-run",
            ],
        )?;
    }
    let started = Instant::now();
    let mut done = 0u32;
    let mut totals = vec![(0u64, Duration::ZERO); o.suites.len()];
    while done < runs && deadline.is_none_or(|d| Instant::now() < d) {
        let seed = o.seed.unwrap_or_else(random_seed);
        for (s, total) in o.suites.iter().zip(totals.iter_mut()) {
            let t = Instant::now();
            let filter = format!("{}::", s.module);
            let status = Command::new(&cargo)
                .args(["test", "-q", "--release", "-p", s.package, "--test", "it"])
                .arg(&filter)
                .env("PROPTEST_CASES", o.cases.to_string())
                .env("PROPTEST_RNG_SEED", seed.to_string())
                .status()
                .with_context(|| format!("cannot start `{cargo}`"))?;
            let took = t.elapsed();
            println!(
                "props {:<8} seed {seed:>20} cases {:>8} ~steps {:>11} {:>8.1} s {}",
                s.name,
                o.cases,
                u64::from(o.cases) * s.steps_per_case,
                took.as_secs_f64(),
                if status.success() { "ok" } else { "FAILED" }
            );
            if !status.success() {
                bail!(
                    "{} failed with seed {seed}; replay: cargo xtask props --suite {} \
                     --cases {} --seed {seed} (the shrunk case is kept in {}'s \
                     tests/it/{}.proptest-regressions: commit it)",
                    s.name,
                    s.name,
                    o.cases,
                    s.package,
                    s.module
                );
            }
            total.0 += u64::from(o.cases);
            total.1 += took;
        }
        done += 1;
    }
    println!(
        "props: {done} run(s), {:.1} min wall, no failure",
        started.elapsed().as_secs_f64() / 60.0
    );
    for (s, (cases, took)) in o.suites.iter().zip(&totals) {
        println!(
            "  {:<8} {cases:>10} cases  ~{:>12} steps  {:>8.1} s",
            s.name,
            cases * s.steps_per_case,
            took.as_secs_f64()
        );
    }
    Ok(())
}
