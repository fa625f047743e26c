//! `cargo xtask qemu`: builds the MCU self-test (feature `selftest`, profile
//! `selftest`) and runs it on QEMU's `mps2-an386` (Cortex-M4). The firmware
//! reports through semihosting and exits 0 on pass, 1 on fail; a hang is
//! killed after [`TIMEOUT`].

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{firmware, sh};

pub const TIMEOUT: Duration = Duration::from_secs(60);
pub const QEMU: &str = "qemu-system-arm";

pub fn qemu() -> Result<()> {
    if !sh::have(QEMU) {
        bail!(
            "{QEMU} not found: install the Debian package qemu-system-arm (`cargo xtask install`)"
        );
    }
    let elf = firmware::build(
        &["--profile", "selftest", "--features", "selftest"],
        "selftest",
    )?;
    let elf_s = elf.to_string_lossy().into_owned();
    let args = [
        "-M",
        "mps2-an386",
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        &elf_s,
    ];
    eprintln!("$ {QEMU} {}", args.join(" "));
    let mut child = Command::new(QEMU)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {QEMU}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for qemu")? {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("QEMU self-test timed out after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        bail!("QEMU self-test failed: {status}");
    }
    eprintln!("QEMU self-test passed in {:.1?}", started.elapsed());
    Ok(())
}
