//! Project automation (the xtask pattern): `cargo xtask <command>`.
//!
//! - `test`: what CI runs (`.ci/run` calls exactly this): installs what the
//!   suites need when missing, then fmt, clippy, every test suite, the
//!   firmware build against its budget, the QEMU self-test and every
//!   simulator scenario.
//! - `firmware`: builds the MCU binary, checks flash/RAM against the budget.
//! - `qemu`: runs the MCU self-test under qemu-system-arm.
//! - `bench [NAME] [-- ARGS]`: the benchmarks, each figure beside its
//!   baseline; ARGS go to the benchmark binary (e.g. `cargo xtask bench
//!   recognition -- --count 200 --split-frames 150`; `cargo xtask bench
//!   port --lanes 10,30`).
//! - `install`: only the install step of `test`.
//! - `fuzz [--seconds N] [--jobs J] [TARGET...]`: builds the cargo-fuzz
//!   targets of `fuzz/` and runs each for N seconds (fuzz.rs).
//! - `chaos [--faults N] [--seed S]`: trucks through a simulated lane under
//!   random faults (real Mosquitto and gate-agent processes; chaos.rs).
//! - `dist [--target TRIPLE]`: the Debian packages of the lane agent
//!   (cargo-deb; dist.rs), for x86_64 or, cross-built, aarch64 (arm.rs).
//! - `arm64-smoke`: the arm64 build run under qemu-user (part of `test`).
//! - `props`: long random runs of the barrier and lane-core property tests
//!   (not CI; see props.rs).

mod arm;
mod bench;
mod chaos;
mod dist;
mod firmware;
mod fuzz;
mod install;
mod props;
mod qemu;
mod sh;
mod test;

use anyhow::{bail, Result};

const USAGE: &str =
    "usage: cargo xtask <test|firmware|qemu|bench [decision|link|agent|recognition|port|all] [-- BENCH ARGS]|install|fuzz [--seconds N] [TARGET...]|props|chaos [--faults N] [--seed S]|dist [--target TRIPLE]|arm64-smoke>";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = sh::project_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("firmware") => firmware::firmware(),
        Some("qemu") => qemu::qemu(),
        Some("bench") => bench::run(
            args.get(1).map(String::as_str).unwrap_or("all"),
            args.get(2..).unwrap_or_default(),
        ),
        Some("install") => install::run(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("chaos") => chaos::run(&args[1..]),
        Some("dist") => dist::run(&args[1..]),
        Some("arm64-smoke") => arm::smoke(),
        Some("props") => props::run(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n{USAGE}"),
    }
}
