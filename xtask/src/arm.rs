//! The arm64 build (issue 18): many lane computers are ARM boxes.
//!
//! Cross-built with Debian's cross toolchain (gcc-aarch64-linux-gnu links,
//! and compiles the C parts: SQLite, ring); `.cargo/config.toml` names the
//! linker and runs the target's binaries under qemu-user (`qemu-aarch64 -L
//! /usr/aarch64-linux-gnu`), so nothing here needs binfmt registration.
//!
//! CI (`cargo xtask test`) runs [`smoke`]: the agent and gatectl built for
//! aarch64 (dev profile: one build, dependencies optimised as in the host
//! build), then, under qemu-user, `gate-agent --check-config` on the
//! example configuration (with throwaway TLS files where it names the
//! site's) and `gatectl recognize` on a fixture frame whose
//! plate is known, so a broken ARM build or an ARM-only misbehaviour of the
//! recognition stack fails CI. The arm64 Debian package is `cargo xtask
//! dist --target aarch64-unknown-linux-gnu`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::sh;

pub const TARGET: &str = "aarch64-unknown-linux-gnu";
/// The target's system root Debian's cross packages install.
pub const SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// The command line that runs an arm64 binary on this machine.
pub fn runner(bin: &Path) -> Command {
    let mut c = Command::new("qemu-aarch64");
    c.arg("-L").arg(SYSROOT).arg(bin);
    c
}

/// Build gate-agent and gatectl for aarch64 with `profile` ("dev", or
/// "deb" for the package); returns the directory holding the binaries.
pub fn build(profile: &str) -> Result<PathBuf> {
    let cargo = sh::cargo();
    sh::run(
        &cargo,
        &[
            "build",
            "--target",
            TARGET,
            "--profile",
            profile,
            "-p",
            "gate-agent",
            "--bins",
        ],
    )?;
    let dir = if profile == "dev" { "debug" } else { profile };
    Ok(Path::new("target").join(TARGET).join(dir))
}

/// CI's arm64 smoke run (see the module doc).
pub fn smoke() -> Result<()> {
    let started = std::time::Instant::now();
    let bins = build("dev")?;
    let file = Command::new("file")
        .arg(bins.join("gate-agent"))
        .output()
        .context("file(1)")?;
    let kind = String::from_utf8_lossy(&file.stdout);
    if !kind.contains("ARM aarch64") {
        bail!("the arm64 build is not an aarch64 executable: {kind}");
    }

    // The example configuration with the site's files (TLS) where it
    // names them, here in a scratch directory, and its profiles.
    let site = std::env::current_dir()?.join("target/arm64-smoke");
    crate::dist::tls_files(&site)?;
    let profiles = std::env::current_dir()?.join("config/profiles");
    let example = std::fs::read_to_string("config/lane.example.toml")
        .context("reading config/lane.example.toml")?
        .replace("/etc/gate-agent/", &format!("{}/", site.display()))
        .replace(
            "profiles_dir = \"profiles\"",
            &format!("profiles_dir = \"{}\"", profiles.display()),
        );
    let config = site.join("lane.toml");
    std::fs::write(&config, example).context("writing the smoke configuration")?;
    let out = runner(&bins.join("gate-agent"))
        .arg("--check-config")
        .arg(&config)
        .output()
        .context("qemu-aarch64 gate-agent --check-config")?;
    if !out.status.success() {
        bail!(
            "arm64 gate-agent --check-config (config/lane.example.toml with its TLS files): {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The fixture's plate is 琼A7K352 (blue): what the frame shows, as the
    // host test (gatectl_recognize.rs) expects too.
    let frame = "gate-agent/ocr/tests/fixtures/plate_front_blue.jpg";
    let out = runner(&bins.join("gatectl"))
        .args(["recognize", "--json", "plate", frame])
        .env("NO_COLOR", "1")
        .output()
        .context("qemu-aarch64 gatectl recognize")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let read: serde_json::Value = stdout
        .trim()
        .parse()
        .with_context(|| format!("arm64 gatectl recognize: not one JSON line: {stdout}"))?;
    if !out.status.success()
        || read["plate"]["text"] != "琼A7K352"
        || read["plate"]["valid"] != true
    {
        bail!(
            "arm64 gatectl recognize plate {frame}: {} (want 琼A7K352)\n{stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!(
        "xtask arm64 smoke (qemu-user): check-config ok, {frame} read {} in {} ms under emulation: {:.0?}",
        read["plate"]["text"],
        read["ms"],
        started.elapsed()
    );
    Ok(())
}
