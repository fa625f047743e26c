//! `cargo xtask dist [--target TRIPLE]`: the Debian package of the lane
//! agent (gate-agent and gatectl, the systemd unit, the configuration as a
//! conffile, the register profiles, shell completions, LICENSE and docs),
//! built with cargo-deb (installed when missing). README, "Installing a lane
//! computer".
//!
//! The packaged `/etc/gate-agent/lane.toml` is config/lane.example.toml with
//! its `profiles_dir` pointing at the packaged profiles.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::sh;

const HOST: &str = "x86_64-unknown-linux-gnu";

pub fn run(args: &[String]) -> Result<()> {
    let mut target = HOST.to_owned();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => target = it.next().context("--target needs a triple")?.clone(),
            other => bail!(
                "dist: unknown argument `{other}` (usage: cargo xtask dist [--target TRIPLE])"
            ),
        }
    }
    if target != HOST {
        // Not faked: the ARM package needs a cross linker and the target's
        // libraries (e.g. gcc-aarch64-linux-gnu), not set up here.
        bail!(
            "dist --target {target}: only {HOST} is built by this command today (an ARM build needs a cross toolchain; README lists it as missing)"
        );
    }
    let cargo = sh::cargo();
    if !has_cargo_deb(&cargo) {
        eprintln!("installing cargo-deb (once)");
        sh::run(&cargo, &["install", "cargo-deb", "--locked"])?;
    }
    sh::run(
        &cargo,
        &["build", "--release", "-p", "gate-agent", "--bins"],
    )?;
    let dist = Path::new("target/dist");
    std::fs::create_dir_all(dist.join("completions"))?;
    let example = std::fs::read_to_string("config/lane.example.toml")
        .context("reading config/lane.example.toml")?;
    let line = example
        .lines()
        .find(|l| l.trim_start().starts_with("profiles_dir"))
        .context("config/lane.example.toml has no profiles_dir")?;
    let packaged = example.replacen(
        line,
        "profiles_dir = \"/usr/share/gate-agent/profiles\"   # the packaged register profiles; add your own beside them or point here elsewhere",
        1,
    );
    std::fs::write(dist.join("lane.toml"), packaged)?;
    for (shell, file) in [
        ("bash", "gatectl.bash"),
        ("zsh", "_gatectl"),
        ("fish", "gatectl.fish"),
    ] {
        let out = std::process::Command::new("target/release/gatectl")
            .args(["completions", shell])
            .output()
            .context("running target/release/gatectl completions")?;
        if !out.status.success() {
            bail!("gatectl completions {shell} failed");
        }
        std::fs::write(dist.join("completions").join(file), out.stdout)?;
    }
    // cargo-deb strips the binaries (the release profile's debug info stays
    // out of the package).
    sh::run(
        &cargo,
        &["deb", "-p", "gate-agent", "--no-build", "--strip"],
    )?;
    println!("package: target/debian/ (install: dpkg -i target/debian/gate-agent_*.deb)");
    Ok(())
}

fn has_cargo_deb(cargo: &str) -> bool {
    std::process::Command::new(cargo)
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}
