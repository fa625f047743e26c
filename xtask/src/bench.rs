//! `cargo xtask bench [NAME]`: runs the benchmark binaries in release mode.
//! Each prints its figures beside a baseline or peer measured in the same run.

use anyhow::{bail, Result};

use crate::sh;

/// (group, cargo args of the benchmark binary).
const GROUPS: &[(&str, &[&str])] = &[
    // Decision latency at 1 M records beside bare SQLite lookups; snapshot
    // and delta apply times; lookups during an apply (gate-agent/store/benches).
    (
        "decision",
        &["bench", "-p", "gate-store", "--bench", "decision"],
    ),
    // Outbox drain rate to a local Mosquitto beside raw rumqttc publishes
    // (gate-agent/link/benches).
    ("link", &["bench", "-p", "gate-link", "--bench", "drain"]),
    // gate-ocr beside RapidOCR (onnxruntime) on the generated evaluation set:
    // accuracy and latency per crop and per frame (sim/benches/recognition.rs).
    (
        "recognition",
        &["bench", "-p", "sim", "--bench", "recognition"],
    ),
    // Agent overhead per lane cycle (devices answering at once) and resident
    // memory idle/busy beside a hand-written lane loop (gate-agent/agent/benches).
    (
        "agent",
        &["bench", "-p", "gate-agent", "--bench", "lane_cycle"],
    ),
];

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
