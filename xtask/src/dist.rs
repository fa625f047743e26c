//! `cargo xtask dist [--target TRIPLE]`: the Debian package of the lane
//! agent (gate-agent and gatectl, the systemd unit, the configuration as a
//! conffile, the register profiles, shell completions, LICENSE and docs),
//! built with cargo-deb (installed when missing). README, "Installing a lane
//! computer".
//!
//! The packaged `/etc/gate-agent/lane.toml` is config/lane.example.toml with
//! its `profiles_dir` pointing at the packaged profiles.
//!
//! Beside it, `gate-agent-models` (data only, `Architecture: all`): the
//! pinned recognition models in /usr/share/gate-agent/models, where the
//! agent finds them with no network; every file sha256-checked by the
//! agent's own installer when the package is built (`--models FILE|DIR`,
//! default: the models the agent itself would use on the build machine).

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::sh;

const HOST: &str = "x86_64-unknown-linux-gnu";

pub fn run(args: &[String]) -> Result<()> {
    let mut target = HOST.to_owned();
    let mut models: Option<std::path::PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target" => target = it.next().context("--target needs a triple")?.clone(),
            "--models" => models = Some(it.next().context("--models needs FILE|DIR")?.into()),
            // CI's package check on the debug binaries (see `ci`).
            "--ci" => return ci(),
            other => bail!(
                "dist: unknown argument `{other}` (usage: cargo xtask dist [--target TRIPLE] [--models FILE|DIR] [--ci])"
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
    prepare(Path::new("target/release/gatectl"))?;
    // cargo-deb strips the binaries (the release profile's debug info stays
    // out of the package).
    sh::run(
        &cargo,
        &["deb", "-p", "gate-agent", "--no-build", "--strip"],
    )?;
    let models = models_package(
        Path::new("target/release/gate-agent"),
        models.as_deref(),
        Path::new("target/debian"),
    )?;
    println!(
        "packages: target/debian/ (install: dpkg -i target/debian/gate-agent_*.deb {})",
        models.display()
    );
    Ok(())
}

/// What the package takes from `target/dist/`, made with the `gatectl`
/// binary given: the packaged configuration, shell completions and the
/// manual pages (gzipped, as Debian installs them).
fn prepare(gatectl: &Path) -> Result<()> {
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
        let out = std::process::Command::new(gatectl)
            .args(["completions", shell])
            .output()
            .with_context(|| format!("running {} completions", gatectl.display()))?;
        if !out.status.success() {
            bail!("gatectl completions {shell} failed");
        }
        std::fs::write(dist.join("completions").join(file), out.stdout)?;
    }
    let man = dist.join("man");
    if man.exists() {
        std::fs::remove_dir_all(&man)?;
    }
    let man_s = man.to_str().context("utf-8 path")?;
    sh::run(gatectl.to_str().context("utf-8 path")?, &["man", man_s])?;
    let mut pages: Vec<String> = std::fs::read_dir(&man)?
        .filter_map(|e| e.ok())
        .map(|e| e.path().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut args = vec!["-9", "-n", "-f"];
    args.extend(pages.iter().map(String::as_str));
    sh::run("gzip", &args)?;
    Ok(())
}

/// CI's package check, on the binaries the test build produced (nothing
/// built again): the package is assembled from the debug binaries
/// (stripped) and its contents checked against what an installed lane
/// needs. The release package itself is `cargo xtask dist`.
pub fn ci() -> Result<()> {
    let started = std::time::Instant::now();
    let cargo = sh::cargo();
    if !has_cargo_deb(&cargo) {
        eprintln!("installing cargo-deb (once)");
        sh::run(&cargo, &["install", "cargo-deb", "--locked"])?;
    }
    prepare(Path::new("target/debug/gatectl"))?;
    let out = Path::new("target/debian-ci");
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    sh::run(
        &cargo,
        &[
            "deb",
            "-p",
            "gate-agent",
            "--no-build",
            "--profile",
            "dev",
            "--strip",
            "-o",
            "target/debian-ci/",
        ],
    )?;
    let deb = std::fs::read_dir(out)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .context("cargo deb wrote no .deb")?;
    let listing = std::process::Command::new("dpkg-deb")
        .arg("--contents")
        .arg(&deb)
        .output()
        .context("dpkg-deb --contents")?;
    if !listing.status.success() {
        bail!("dpkg-deb cannot read {}", deb.display());
    }
    let listing = String::from_utf8_lossy(&listing.stdout);
    let want = [
        "./usr/bin/gate-agent",
        "./usr/bin/gatectl",
        "./etc/gate-agent/lane.toml",
        "systemd/system/gate-agent.service",
        "./usr/share/gate-agent/profiles/",
        "./usr/share/man/man1/gatectl.1.gz",
        "./usr/share/man/man1/gatectl-status.1.gz",
        "./usr/share/man/man8/gate-agent.8.gz",
        "./usr/share/bash-completion/completions/gatectl",
        "./usr/share/doc/gate-agent/copyright",
    ];
    let missing: Vec<&str> = want
        .iter()
        .copied()
        .filter(|w| !listing.lines().any(|l| l.contains(w)))
        .collect();
    if !missing.is_empty() {
        bail!("the package lacks {missing:?}; it holds:\n{listing}");
    }
    let conffiles = std::process::Command::new("dpkg-deb")
        .args(["--info"])
        .arg(&deb)
        .arg("conffiles")
        .output()
        .context("dpkg-deb --info conffiles")?;
    if !String::from_utf8_lossy(&conffiles.stdout).contains("/etc/gate-agent/lane.toml") {
        bail!("/etc/gate-agent/lane.toml is not a conffile of the package");
    }
    // The models package, from the models the tests fetched.
    let models = models_package(Path::new("target/debug/gate-agent"), None, out)?;
    let listing = std::process::Command::new("dpkg-deb")
        .arg("--contents")
        .arg(&models)
        .output()
        .context("dpkg-deb --contents")?;
    let listing = String::from_utf8_lossy(&listing.stdout);
    for want in [
        "./usr/share/gate-agent/models/ch_PP-OCRv4_det_infer.onnx",
        "./usr/share/gate-agent/models/ch_PP-OCRv4_rec_infer.onnx",
        "./usr/share/doc/gate-agent-models/copyright",
    ] {
        if !listing.lines().any(|l| l.ends_with(want)) {
            bail!("the models package lacks {want}; it holds:\n{listing}");
        }
    }
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "xtask dist (CI package check, {} {} kB, {} {} kB): {:.0?}",
        deb.display(),
        size(&deb) / 1000,
        models.display(),
        size(&models) / 1000,
        started.elapsed()
    );
    Ok(())
}

fn has_cargo_deb(cargo: &str) -> bool {
    std::process::Command::new(cargo)
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The `gate-agent-models` package: the pinned recognition models in
/// /usr/share/gate-agent/models (where the agent looks for them after its
/// own models directory), sha256-checked when the package is built, from
/// `from` (the wheel or a folder with the two files) or, when absent, from
/// the first directory the agent would use. Built with dpkg-deb from a
/// staged tree (Debian's own tool; the package holds data only). Returns
/// the .deb.
fn models_package(agent: &Path, from: Option<&Path>, out_dir: &Path) -> Result<std::path::PathBuf> {
    let stage = Path::new("target/dist/models-pkg");
    if stage.exists() {
        std::fs::remove_dir_all(stage)?;
    }
    let dest = stage.join("usr/share/gate-agent/models");
    // The agent's own installer checks every file's sha256; with no
    // source it takes the models the agent itself would use.
    let dest_s = dest.to_str().context("utf-8 path")?;
    let mut args = vec!["models", "install", "--dir", dest_s];
    if let Some(src) = from {
        args.push(src.to_str().context("utf-8 path")?);
    }
    sh::run(agent.to_str().context("utf-8 path")?, &args).context(
        "no verified models to package: pass --models FILE|DIR (the pinned wheel or a folder with the two files)",
    )?;
    let sums = std::process::Command::new("sha256sum")
        .current_dir(&dest)
        .args(["ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"])
        .output()
        .context("sha256sum")?;
    let doc = stage.join("usr/share/doc/gate-agent-models");
    std::fs::create_dir_all(&doc)?;
    std::fs::write(
        doc.join("copyright"),
        format!(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: PaddleOCR PP-OCRv4 (ONNX, as shipped by RapidOCR {wheel})\n\
             Source: https://pypi.org/project/rapidocr-onnxruntime/1.4.4/\n\n\
             Files: usr/share/gate-agent/models/*\n\
             Copyright: PaddlePaddle Authors; RapidAI\n\
             License: Apache-2.0\n\n\
             sha256 (checked by `gate-agent models install` when packaged):\n{sums}",
            wheel = "rapidocr_onnxruntime 1.4.4",
            sums = String::from_utf8_lossy(&sums.stdout)
                .lines()
                .map(|l| format!(" {l}\n"))
                .collect::<String>(),
        ),
    )?;
    let debian = stage.join("DEBIAN");
    std::fs::create_dir_all(&debian)?;
    let kib = dir_kib(stage)?;
    std::fs::write(
        debian.join("control"),
        format!(
            "Package: gate-agent-models\n\
             Version: 1.4.4-1\n\
             Architecture: all\n\
             Maintainer: Hainan second-line lanes team <lanes@example.invalid>\n\
             Installed-Size: {kib}\n\
             Section: science\n\
             Priority: optional\n\
             Enhances: gate-agent\n\
             Description: recognition models for the customs lane agent\n \
             The PP-OCRv4 detection and recognition models (ONNX) the lane agent's\n \
             on-board plate and container-code recognition runs on, installed in\n \
             /usr/share/gate-agent/models where the agent finds them with no network.\n"
        ),
    )?;
    std::fs::create_dir_all(out_dir)?;
    let deb = out_dir.join("gate-agent-models_1.4.4-1_all.deb");
    sh::run(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "--build",
            stage.to_str().context("utf-8 path")?,
            deb.to_str().context("utf-8 path")?,
        ],
    )?;
    Ok(deb)
}

/// Size of a tree in KiB (for Installed-Size).
fn dir_kib(dir: &Path) -> Result<u64> {
    let mut total = 0u64;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_kib(&e.path())? * 1024
        } else {
            m.len()
        };
    }
    Ok(total.div_ceil(1024))
}
