//! Manual pages from the clap definitions (clap_mangen): `gatectl(1)`, one
//! `gatectl-COMMAND(1)` per command (and per sub-command, e.g.
//! `gatectl-modbus-read(1)`), and `gate-agent(8)`. The package build
//! (`cargo xtask dist`) writes them with `gatectl man DIR`, so the pages
//! always say what the binaries accept.
//!
//! Layer: documentation output; no I/O besides writing the files.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::cli::Cli;

/// Write every page into `dir` (created when missing); how many.
pub fn write_all(dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut n = 0;
    let gatectl = Cli::command().version(env!("CARGO_PKG_VERSION"));
    n += write_tree(dir, &gatectl, "gatectl")?;
    let agent = gate_config::cli::Args::command()
        .version(env!("CARGO_PKG_VERSION"))
        .name("gate-agent");
    // A daemon: section 8.
    write_page(
        dir,
        clap_mangen::Man::new(agent).section("8"),
        "gate-agent.8",
    )?;
    Ok(n + 1)
}

/// `cmd`'s page as `NAME.1`, then each visible sub-command's as
/// `NAME-SUB.1`, recursively.
fn write_tree(dir: &Path, cmd: &clap::Command, name: &str) -> Result<usize> {
    let page = cmd.clone().name(name.to_owned());
    write_page(dir, clap_mangen::Man::new(page), &format!("{name}.1"))?;
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_name = format!("{name}-{}", sub.get_name());
        n += write_tree(dir, sub, &sub_name)?;
    }
    Ok(n)
}

fn write_page(dir: &Path, man: clap_mangen::Man, file: &str) -> Result<()> {
    let mut buf = Vec::new();
    man.render(&mut buf)
        .with_context(|| format!("rendering {file}"))?;
    let path = dir.join(file);
    std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))
}
