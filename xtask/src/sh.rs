//! A tiny shell layer: run a command, echo it, fail with context.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

pub fn project_root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.parent().map(PathBuf::from).unwrap_or(dir)
}

/// Run `prog args...`, inheriting stdio; fail when it exits non-zero.
pub fn run(prog: &str, args: &[&str]) -> Result<()> {
    eprintln!("$ {prog} {}", args.join(" "));
    let status = Command::new(prog)
        .args(args)
        .status()
        .with_context(|| format!("cannot start `{prog}`"))?;
    if !status.success() {
        bail!("`{prog} {}` failed: {status}", args.join(" "));
    }
    Ok(())
}

/// Run with extra environment variables.
pub fn run_env(prog: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    eprintln!(
        "$ {} {prog} {}",
        env.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        args.join(" ")
    );
    let status = Command::new(prog)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("cannot start `{prog}`"))?;
    if !status.success() {
        bail!("`{prog} {}` failed: {status}", args.join(" "));
    }
    Ok(())
}

/// Whether `prog` is on PATH.
pub fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The cargo that runs us.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}
