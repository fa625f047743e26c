//! `cargo xtask test`: the README's test command and what `.ci/run` runs.

use anyhow::Result;

use crate::{arm, chaos, dist, firmware, fuzz, install, qemu, sh};

pub fn run(_args: &[String]) -> Result<()> {
    let started = std::time::Instant::now();
    install::run()?;
    let cargo = sh::cargo();
    sh::run(&cargo, &["fmt", "--all", "--check"])?;
    sh::run(
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    sh::run(&cargo, &["test", "--workspace", "--no-fail-fast"])?;
    // The Debian package from the binaries the test build produced.
    dist::ci()?;
    // The arm64 build, run under qemu-user.
    arm::smoke()?;
    // A short seeded chaos run on the binaries the test build produced.
    chaos::ci()?;
    // Every fuzz target for a short bounded time (own target dir).
    fuzz::ci()?;
    firmware::firmware()?;
    qemu::qemu()?;
    eprintln!("xtask test: all green in {:.0?}", started.elapsed());
    Ok(())
}
