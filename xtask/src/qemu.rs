//! `cargo xtask qemu`: the firmware on QEMU's `mps2-an386` (Cortex-M4).
//!
//! 1. The self-test (feature `selftest`, profile `selftest`): the real
//!    control loop against a scripted lane; it reports through semihosting
//!    and exits 0 on pass, 1 on fail; a hang is killed after [`TIMEOUT`].
//! 2. The release binary with UART0 on QEMU's stdio: a Modbus RTU master
//!    here reads the input registers and writes a bad value, so the real
//!    UART driver, SysTick clock and RTU path are exercised as well.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
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
    uart_check()
}

/// Kills QEMU when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The release firmware answers Modbus RTU on UART0.
fn uart_check() -> Result<()> {
    let elf = firmware::build(&["--release"], "release")?;
    let elf_s = elf.to_string_lossy().into_owned();
    let args = [
        "-M",
        "mps2-an386",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-kernel",
        &elf_s,
    ];
    eprintln!("$ {QEMU} {} (Modbus RTU over UART0)", args.join(" "));
    let mut child = Command::new(QEMU)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {QEMU}"))?;
    let mut stdin = child.stdin.take().context("qemu stdin")?;
    let mut stdout = child.stdout.take().context("qemu stdout")?;
    let _guard = Guard(child);
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut ask = |pdu: &[u8], want_fc: u8, want_len: usize| -> Result<Vec<u8>> {
        seen.clear();
        let frame = rtu_frame(1, pdu);
        while Instant::now() < deadline {
            // Repeat the request until answered: the firmware may still be booting.
            stdin.write_all(&frame).context("writing to qemu")?;
            stdin.flush().context("writing to qemu")?;
            let resend = Instant::now() + Duration::from_millis(300);
            while Instant::now() < resend {
                if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(20)) {
                    seen.extend_from_slice(&chunk);
                }
                if let Some(pdu) = find_response(&seen, 1, want_fc, want_len) {
                    return Ok(pdu);
                }
            }
        }
        bail!("no Modbus response with function {want_fc:#04x} on UART0 (got {seen:02x?})")
    };
    // FC 04: the 13 input registers.
    let r = ask(&[0x04, 0x00, 0x00, 0x00, 13], 0x04, 2 + 26)?;
    let reg = |i: usize| u16::from_be_bytes([r[2 + 2 * i], r[3 + 2 * i]]);
    let state = reg(0);
    let version = reg(7);
    if !(1..=6).contains(&state) {
        bail!("UART0: BARRIER_STATE {state} is not a defined state");
    }
    let want_version = fw_version()?;
    if version != want_version {
        bail!("UART0: FW_VERSION {version:#06x}, regmap says {want_version:#06x}");
    }
    // FC 06 LED_LEN = 65: refused with exception 03.
    let r = ask(&[0x06, 0x00, 0x06, 0x00, 65], 0x86, 2)?;
    if r != [0x86, 0x03] {
        bail!("UART0: LED_LEN 65 answered {r:02x?}, want exception 03");
    }
    eprintln!("QEMU UART0 Modbus RTU check passed (state {state}, firmware {version:#06x})");
    Ok(())
}

/// FW_VERSION as written in the register map source.
fn fw_version() -> Result<u16> {
    let path = sh::project_root().join("firmware/core/src/regmap.rs");
    let src =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let line = src
        .lines()
        .find(|l| l.starts_with("pub const FW_VERSION: u16 ="))
        .context("FW_VERSION not found in regmap.rs")?;
    let v = line
        .trim_start_matches("pub const FW_VERSION: u16 =")
        .trim()
        .trim_end_matches(';')
        .trim_start_matches("0x");
    u16::from_str_radix(v, 16).with_context(|| format!("parsing FW_VERSION from `{line}`"))
}

/// CRC-16/MODBUS.
fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for b in data {
        crc ^= u16::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn rtu_frame(unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut f = vec![unit];
    f.extend_from_slice(pdu);
    let crc = crc16(&f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

/// The PDU of the first CRC-valid frame `unit, fc, ...` whose PDU is
/// `pdu_len` bytes long.
fn find_response(bytes: &[u8], unit: u8, fc: u8, pdu_len: usize) -> Option<Vec<u8>> {
    let total = 1 + pdu_len + 2;
    bytes.windows(total).find_map(|w| {
        let ok =
            w[0] == unit && w[1] == fc && crc16(&w[..total - 2]).to_le_bytes() == w[total - 2..];
        ok.then(|| w[1..1 + pdu_len].to_vec())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_framing_match_the_spec_example() {
        // Modbus spec example: 01 03 00 00 00 0A -> CRC C5 CD.
        assert_eq!(
            rtu_frame(1, &[0x03, 0x00, 0x00, 0x00, 0x0A]),
            [1, 3, 0, 0, 0, 0x0A, 0xC5, 0xCD]
        );
    }

    #[test]
    fn finds_a_response_after_noise() {
        let mut bytes = vec![0x00, 0xFF, 0x01];
        bytes.extend(rtu_frame(1, &[0x86, 0x03]));
        assert_eq!(find_response(&bytes, 1, 0x86, 2), Some(vec![0x86, 0x03]));
        assert_eq!(find_response(&bytes, 1, 0x04, 2), None);
        let mut bad = rtu_frame(1, &[0x86, 0x03]);
        bad[2] ^= 1;
        assert_eq!(find_response(&bad, 1, 0x86, 2), None);
    }
}
