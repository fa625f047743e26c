//! `cargo xtask firmware`: builds the MCU binary (release, its own workspace
//! in firmware/mcu, the shared target dir) and checks its flash and static
//! RAM against the budget, read from the ELF section headers.
//!
//! Flash = everything allocated and not writable (vector table, text,
//! rodata) plus the initial values of `.data`; static RAM = `.data` +
//! `.bss` (+ any other writable allocated section). The stack is not static
//! RAM and is not counted.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::sh;

pub const TARGET: &str = "thumbv7em-none-eabihf";
pub const MANIFEST: &str = "firmware/mcu/Cargo.toml";
pub const BIN: &str = "lane-io-mcu";

/// Flash budget in bytes.
pub const FLASH_BUDGET: u64 = 32 * 1024;
/// Static RAM budget in bytes.
pub const RAM_BUDGET: u64 = 8 * 1024;

pub fn firmware() -> Result<()> {
    let elf = build(&["--release"], "release")?;
    let bytes = std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?;
    let sizes = Sizes::of_elf(&bytes).with_context(|| format!("measuring {}", elf.display()))?;
    println!("firmware {}", elf.display());
    println!(
        "  flash {:>6} B of {:>6} B ({:>3}%)  text+rodata {} B, data {} B",
        sizes.flash(),
        FLASH_BUDGET,
        sizes.flash() * 100 / FLASH_BUDGET,
        sizes.text,
        sizes.data
    );
    println!(
        "  RAM   {:>6} B of {:>6} B ({:>3}%)  data {} B, bss {} B (static; stack not counted)",
        sizes.ram(),
        RAM_BUDGET,
        sizes.ram() * 100 / RAM_BUDGET,
        sizes.data,
        sizes.bss
    );
    let mut over = Vec::new();
    if sizes.flash() > FLASH_BUDGET {
        over.push(format!("flash {} B > {} B", sizes.flash(), FLASH_BUDGET));
    }
    if sizes.ram() > RAM_BUDGET {
        over.push(format!("static RAM {} B > {} B", sizes.ram(), RAM_BUDGET));
    }
    if !over.is_empty() {
        bail!("firmware over budget: {}", over.join(", "));
    }
    Ok(())
}

/// Build the MCU binary with `extra` cargo args; returns the ELF path under
/// the shared target dir (`profile_dir` is the profile's directory name).
pub fn build(extra: &[&str], profile_dir: &str) -> Result<PathBuf> {
    let root = sh::project_root();
    let target_dir = root.join("target");
    let target_dir_s = target_dir.to_string_lossy().into_owned();
    let manifest = root.join(MANIFEST);
    let manifest_s = manifest.to_string_lossy().into_owned();
    let mut args = vec!["build", "--target", TARGET, "--manifest-path", &manifest_s];
    args.extend_from_slice(extra);
    sh::run_env(&sh::cargo(), &args, &[("CARGO_TARGET_DIR", &target_dir_s)])
        .context("building the MCU firmware (is the thumbv7em-none-eabihf target installed? `cargo xtask install`)")?;
    let elf = target_dir.join(TARGET).join(profile_dir).join(BIN);
    if !Path::new(&elf).exists() {
        bail!("the build did not produce {}", elf.display());
    }
    Ok(elf)
}

/// Section sizes of an ELF image, as the Berkeley `size` groups them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Allocated, not writable: code, vector table, read-only data.
    pub text: u64,
    /// Allocated, writable, with file contents (initial values in flash).
    pub data: u64,
    /// Allocated, writable, no file contents.
    pub bss: u64,
}

const SHT_NOBITS: u32 = 8;
const SHF_WRITE: u64 = 0x1;
const SHF_ALLOC: u64 = 0x2;

impl Sizes {
    pub fn flash(&self) -> u64 {
        self.text + self.data
    }

    pub fn ram(&self) -> u64 {
        self.data + self.bss
    }

    /// Sum the allocated sections of a 32- or 64-bit little-endian ELF file.
    pub fn of_elf(b: &[u8]) -> Result<Self> {
        if b.get(..4) != Some(b"\x7fELF".as_slice()) {
            bail!("not an ELF file");
        }
        let class64 = match b.get(4) {
            Some(1) => false,
            Some(2) => true,
            _ => bail!("unknown ELF class"),
        };
        if b.get(5) != Some(&1) {
            bail!("not a little-endian ELF file");
        }
        let rd = |off: usize, len: usize| -> Result<u64> {
            let s = b
                .get(off..off + len)
                .with_context(|| format!("ELF truncated at {off}"))?;
            let mut v = 0u64;
            for (i, byte) in s.iter().enumerate() {
                v |= u64::from(*byte) << (8 * i);
            }
            Ok(v)
        };
        let (shoff, shentsize, shnum) = if class64 {
            (rd(0x28, 8)?, rd(0x3A, 2)?, rd(0x3C, 2)?)
        } else {
            (rd(0x20, 4)?, rd(0x2E, 2)?, rd(0x30, 2)?)
        };
        let mut sizes = Sizes::default();
        for i in 0..shnum {
            let h = usize::try_from(shoff + i * shentsize).context("section header offset")?;
            let sh_type = rd(h + 4, 4)? as u32;
            let (flags, size) = if class64 {
                (rd(h + 8, 8)?, rd(h + 0x20, 8)?)
            } else {
                (rd(h + 8, 4)?, rd(h + 0x14, 4)?)
            };
            if flags & SHF_ALLOC == 0 {
                continue;
            }
            if flags & SHF_WRITE == 0 {
                sizes.text += size;
            } else if sh_type == SHT_NOBITS {
                sizes.bss += size;
            } else {
                sizes.data += size;
            }
        }
        Ok(sizes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF32 with the given (type, flags, size) sections.
    fn elf32(sections: &[(u32, u32, u32)]) -> Vec<u8> {
        let shoff = 52u32;
        let mut b = vec![0u8; 52];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 1;
        b[5] = 1;
        b[0x20..0x24].copy_from_slice(&shoff.to_le_bytes());
        b[0x2E..0x30].copy_from_slice(&40u16.to_le_bytes());
        b[0x30..0x32].copy_from_slice(&(sections.len() as u16).to_le_bytes());
        for (t, f, s) in sections {
            let mut h = [0u8; 40];
            h[4..8].copy_from_slice(&t.to_le_bytes());
            h[8..12].copy_from_slice(&f.to_le_bytes());
            h[0x14..0x18].copy_from_slice(&s.to_le_bytes());
            b.extend_from_slice(&h);
        }
        b
    }

    #[test]
    fn groups_sections_like_size() {
        let progbits = 1;
        let alloc = SHF_ALLOC as u32;
        let write = SHF_WRITE as u32;
        let exec = 0x4;
        let b = elf32(&[
            (0, 0, 0),                          // null section
            (progbits, alloc, 0x400),           // .vector_table
            (progbits, alloc | exec, 0x3000),   // .text
            (progbits, alloc, 0x200),           // .rodata
            (progbits, alloc | write, 0x10),    // .data
            (SHT_NOBITS, alloc | write, 0x800), // .bss
            (progbits, 0, 0x9999),              // .debug_info: not loaded
        ]);
        let s = Sizes::of_elf(&b).unwrap();
        assert_eq!(
            s,
            Sizes {
                text: 0x3600,
                data: 0x10,
                bss: 0x800
            }
        );
        assert_eq!(s.flash(), 0x3610);
        assert_eq!(s.ram(), 0x810);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(Sizes::of_elf(b"hello").is_err());
        let mut b = elf32(&[(1, SHF_ALLOC as u32, 4)]);
        b.truncate(70);
        assert!(Sizes::of_elf(&b).is_err());
    }
}
