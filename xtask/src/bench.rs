//! `cargo xtask bench [NAME]`: runs the benchmark binaries in release mode.
//! Each prints its figures beside a baseline or peer measured in the same run.

use anyhow::{bail, Result};

use crate::sh;

/// (group, cargo args of the benchmark binary).
const GROUPS: &[(&str, &[&str])] = &[];

pub fn run(name: &str) -> Result<()> {
    let selected: Vec<_> = GROUPS
        .iter()
        .filter(|(group, _)| name == "all" || *group == name)
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = GROUPS.iter().map(|(g, _)| *g).collect();
        bail!("no benchmark group `{name}` (have: {})", names.join(", "));
    }
    let cargo = sh::cargo();
    for (group, args) in selected {
        eprintln!("== bench {group}");
        sh::run(&cargo, args)?;
    }
    Ok(())
}
