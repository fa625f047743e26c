//! Installs what the test suites need on a fresh machine, and nothing when it
//! is already there (so a warm run costs a few milliseconds).
//!
//! - Debian packages: mosquitto (+ clients) for the link and platform tests,
//!   socat for pseudo-terminal serial links, mbpoll and python3-pymodbus
//!   (with python3-serial-asyncio, which apt would only recommend) as
//!   independent Modbus peers, qemu-system-arm for the firmware self-test,
//!   python3-pip (gate-ocr fetches its models with `pip download`),
//!   faketime (libfaketime for the chaos run's clock jumps),
//!   python3-prometheus-client (the reference parser of the metrics text),
//!   chromium, chromium-driver and python3-selenium (the officer console's
//!   browser test) with fonts-noto-cjk (the console's Chinese text).
//! - prometheus (promtool) for the metrics check; gcc-aarch64-linux-gnu,
//!   libc6-dev-arm64-cross and qemu-user for the arm64 build and its smoke
//!   run; libclang-dev for the `usb-camera` feature's check (bindgen).
//! - The rust targets thumbv7em-none-eabihf (the MCU binary) and
//!   aarch64-unknown-linux-gnu (arm64 lane computers).

use std::process::Command;

use anyhow::{Context, Result};

use crate::sh;

/// (command or python module probe, Debian package).
const APT: &[(&str, &str)] = &[
    ("mosquitto", "mosquitto"),
    ("mosquitto_sub", "mosquitto-clients"),
    ("socat", "socat"),
    ("mbpoll", "mbpoll"),
    ("qemu-system-arm", "qemu-system-arm"),
    // The probes import what the peers import: pymodbus installed without
    // its recommends lacks the serial modules its client and server need.
    ("py:pymodbus.client", "python3-pymodbus"),
    ("py:serial_asyncio", "python3-serial-asyncio"),
    // pip fetches the recognition models (gate-ocr, models.rs) on first use.
    ("py:pip", "python3-pip"),
    // libfaketime: the chaos run makes the agent's wall clock jump.
    ("faketime", "faketime"),
    // The reference parser of the Prometheus text format: the metrics
    // endpoint's output is checked with it (gatectl_agent.rs).
    ("py:prometheus_client.parser", "python3-prometheus-client"),
    // The officer console in a real browser: headless Chromium over
    // WebDriver (gatectl_agent.rs, tests/peers/console_browser.py), with a
    // CJK font so the screenshots show the console's Chinese.
    ("chromium", "chromium"),
    ("chromedriver", "chromium-driver"),
    ("py:selenium.webdriver", "python3-selenium"),
    (
        "file:/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "fonts-noto-cjk",
    ),
    // promtool checks the metrics endpoint's text (gatectl_agent.rs).
    ("promtool", "prometheus"),
    // The arm64 build: Debian's cross toolchain links it (and compiles
    // SQLite and ring), qemu-user runs its smoke test (arm.rs).
    ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
    (
        "file:/usr/aarch64-linux-gnu/include/stdio.h",
        "libc6-dev-arm64-cross",
    ),
    ("qemu-aarch64", "qemu-user"),
    // file(1) tells the arm64 smoke run what the build produced.
    ("file", "file"),
    // The package check installs and purges the packages (dist.rs).
    ("adduser", "adduser"),
    // Throwaway TLS files for the configuration checks (dist.rs, arm.rs).
    ("openssl", "openssl"),
    // The `usb-camera` feature's check: nokhwa's V4L2 bindings are made by
    // bindgen, which loads libclang.
    ("file:/usr/share/doc/libclang-dev/copyright", "libclang-dev"),
];

/// Rust targets: the MCU binary's and the arm64 lane computer's.
const TARGETS: &[&str] = &["thumbv7em-none-eabihf", "aarch64-unknown-linux-gnu"];

fn present(probe: &str) -> bool {
    if let Some(path) = probe.strip_prefix("file:") {
        return std::path::Path::new(path).exists();
    }
    match probe.strip_prefix("py:") {
        Some(module) => Command::new("/usr/bin/python3")
            .args(["-c", &format!("import {module}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false),
        None => sh::have(probe) || std::path::Path::new(&format!("/usr/sbin/{probe}")).exists(),
    }
}

pub fn run() -> Result<()> {
    let missing: Vec<&str> = APT
        .iter()
        .filter(|(probe, _)| !present(probe))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !missing.is_empty() {
        eprintln!("installing Debian packages: {}", missing.join(" "));
        sh::run("apt-get", &["update", "-qq"]).context("apt-get update (are you root?)")?;
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend(missing.iter().copied());
        sh::run_env("apt-get", &args, &[("DEBIAN_FRONTEND", "noninteractive")])?;
    }
    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to add the MCU target")?;
    let have = String::from_utf8_lossy(&targets.stdout).into_owned();
    for target in TARGETS {
        if !have.lines().any(|l| l.trim() == *target) {
            sh::run("rustup", &["target", "add", target])?;
        }
    }
    Ok(())
}
