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
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{arm, sh};

const HOST: &str = "x86_64-unknown-linux-gnu";
/// The Cargo profile of the packaged binaries.
const PROFILE: &str = "deb";
/// The linker script fragment of the packaged x86_64 binaries.
const CLUSTER_SCRIPT: &str = "gate-agent/agent/link/cluster-recognition.ld";

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
    if target != HOST && target != arm::TARGET {
        bail!(
            "dist --target {target}: the packages are built for {HOST} and {} (Debian's cross toolchain)",
            arm::TARGET
        );
    }
    let cargo = sh::cargo();
    if !has_cargo_deb(&cargo) {
        eprintln!("installing cargo-deb (once)");
        sh::run(&cargo, &["install", "cargo-deb", "--locked"])?;
    }
    // The binaries (the `deb` profile, Cargo.toml: fat LTO, size-optimised
    // but for the recognition crates), and how this machine runs them (the
    // arm64 ones under qemu-user): gatectl writes the completions and
    // manual pages, the agent checks the models it packages.
    let run: Box<dyn Fn(&str) -> Command> = if target == HOST {
        // Linked with the script that gathers the recognition stack's code
        // apart from the lane's (gate-agent/agent/link/): an idle lane then
        // maps less of it (docs/benchmarks.md, "Installed agent").
        let script = std::env::current_dir()?.join(CLUSTER_SCRIPT);
        let link_arg = format!("link-arg=-Wl,-T,{}", script.display());
        for bin in ["gate-agent", "gatectl"] {
            sh::run(
                &cargo,
                &[
                    "rustc",
                    "--profile",
                    PROFILE,
                    "-p",
                    "gate-agent",
                    "--bin",
                    bin,
                    "--",
                    "-C",
                    &link_arg,
                ],
            )?;
            let path = Path::new("target").join(PROFILE).join(bin);
            if !has_section(&path, ".text.recognition")? {
                bail!(
                    "{}: no .text.recognition section: {CLUSTER_SCRIPT} matched nothing (crate names changed?)",
                    path.display()
                );
            }
        }
        Box::new(|bin| Command::new(Path::new("target").join(PROFILE).join(bin)))
    } else {
        let bins = arm::build(PROFILE)?;
        Box::new(move |bin| arm::runner(&bins.join(bin)))
    };
    prepare(&|| run("gatectl"))?;
    // cargo-deb strips the binaries (for arm64 with aarch64-linux-gnu-strip).
    let mut deb = vec![
        "deb",
        "-p",
        "gate-agent",
        "--no-build",
        "--profile",
        PROFILE,
        "--strip",
    ];
    if target != HOST {
        deb.extend(["--target", target.as_str()]);
    }
    sh::run(&cargo, &deb)?;
    let out_dir = if target == HOST {
        std::path::PathBuf::from("target/debian")
    } else {
        Path::new("target").join(&target).join("debian")
    };
    let models = models_package(&|| run("gate-agent"), models.as_deref(), &out_dir)?;
    println!(
        "packages: {}/ (install: dpkg -i {}/gate-agent_*.deb {})",
        out_dir.display(),
        out_dir.display(),
        models.display()
    );
    Ok(())
}

/// What the package takes from `target/dist/`, made with the `gatectl`
/// binary `gatectl` runs: the packaged configuration, shell completions and
/// the manual pages (gzipped, as Debian installs them).
fn prepare(gatectl: &dyn Fn() -> Command) -> Result<()> {
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
        let out = gatectl()
            .args(["completions", shell])
            .output()
            .context("running gatectl completions")?;
        if !out.status.success() {
            bail!("gatectl completions {shell} failed");
        }
        std::fs::write(dist.join("completions").join(file), out.stdout)?;
    }
    let man = dist.join("man");
    if man.exists() {
        std::fs::remove_dir_all(&man)?;
    }
    let status = gatectl()
        .arg("man")
        .arg(&man)
        .status()
        .context("running gatectl man")?;
    if !status.success() {
        bail!("gatectl man {} failed: {status}", man.display());
    }
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
/// needs. The package itself is `cargo xtask dist` (profile `deb`).
pub fn ci() -> Result<()> {
    let started = std::time::Instant::now();
    let cargo = sh::cargo();
    if !has_cargo_deb(&cargo) {
        eprintln!("installing cargo-deb (once)");
        sh::run(&cargo, &["install", "cargo-deb", "--locked"])?;
    }
    prepare(&|| Command::new("target/debug/gatectl"))?;
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
    let listing = Command::new("dpkg-deb")
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
    let conffiles = Command::new("dpkg-deb")
        .args(["--info"])
        .arg(&deb)
        .arg("conffiles")
        .output()
        .context("dpkg-deb --info conffiles")?;
    if !String::from_utf8_lossy(&conffiles.stdout).contains("/etc/gate-agent/lane.toml") {
        bail!("/etc/gate-agent/lane.toml is not a conffile of the package");
    }
    // The models package, from the models the tests fetched.
    let models = models_package(&|| Command::new("target/debug/gate-agent"), None, out)?;
    let listing = Command::new("dpkg-deb")
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
    install_check(&deb, &models)?;
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

/// The packages installed for real with dpkg on this machine, as an
/// engineer installs them, then purged: the maintainer scripts make the
/// system user and the state directory; the installed agent accepts the
/// installed configuration and finds the installed models with no network;
/// an upgrade (here: the same version again) keeps an edited configuration
/// and the lane database; purge removes the configuration, the state and
/// the user. Refuses to touch a machine where gate-agent is already
/// installed by someone else.
fn install_check(deb: &Path, models: &Path) -> Result<()> {
    let installed = |pkg: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Status}", pkg])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ok installed"))
    };
    if installed("gate-agent") || installed("gate-agent-models") {
        bail!(
            "the package install check needs a machine without gate-agent installed (dpkg --purge gate-agent gate-agent-models first)"
        );
    }
    let dpkg = |args: &[&str]| sh::run_env("dpkg", args, &[("DEBIAN_FRONTEND", "noninteractive")]);
    let user_exists = || {
        Command::new("getent")
            .args(["passwd", "gate-agent"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let (deb_s, models_s) = (
        deb.to_str().context("utf-8 path")?,
        models.to_str().context("utf-8 path")?,
    );
    let result = (|| -> Result<()> {
        dpkg(&["-i", models_s, deb_s])?;
        if !user_exists() {
            bail!("installed, but no gate-agent system user");
        }
        let conf = Path::new("/etc/gate-agent/lane.toml");
        let check = || {
            Command::new("/usr/bin/gate-agent")
                .arg("--check-config")
                .arg(conf)
                .output()
                .context("running the installed gate-agent")
        };
        // As installed, the configuration lacks only the site's TLS files
        // (the broker's CA, the lane's certificate and key): the check
        // names exactly those, and the start would refuse.
        let out = check()?;
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        let problems: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
        let tls = ["platform.tls.ca", "platform.tls.cert", "platform.tls.key"];
        if out.status.code() != Some(2)
            || problems.len() != tls.len()
            || !tls.iter().all(|k| problems.iter().any(|p| p.contains(k)))
        {
            bail!(
                "installed gate-agent --check-config /etc/gate-agent/lane.toml before the TLS files: {} (want exit 2 naming {tls:?} only)\n{said}",
                out.status
            );
        }
        // The engineer puts them in place: the configuration checks.
        tls_files(Path::new("/etc/gate-agent"))?;
        let out = check()?;
        if !out.status.success() {
            bail!(
                "installed gate-agent --check-config /etc/gate-agent/lane.toml: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The models the package installed, found with no download allowed.
        let out = Command::new("/usr/bin/gate-agent")
            .args(["models", "status"])
            .env("HOME", "/nonexistent")
            .env_remove("XDG_CACHE_HOME")
            .output()
            .context("running the installed gate-agent models status")?;
        let status = String::from_utf8_lossy(&out.stdout);
        if !out.status.success()
            || !status.contains("/usr/share/gate-agent/models: verified (used)")
        {
            bail!(
                "installed gate-agent models status does not find the packaged models:\n{status}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // An upgrade keeps the engineer's configuration and the lane's state.
        let mut edited =
            std::fs::read_to_string(conf).context("reading the installed configuration")?;
        edited.push_str("\n# edited on site\n");
        std::fs::write(conf, &edited).context("editing the installed configuration")?;
        let db = Path::new("/var/lib/gate-agent/lane.db");
        std::fs::write(db, b"the lane's journal").context("writing into the state directory")?;
        dpkg(&["-i", "--force-confold", deb_s])?;
        if std::fs::read_to_string(conf).ok().as_deref() != Some(edited.as_str()) {
            bail!("the upgrade replaced the edited /etc/gate-agent/lane.toml");
        }
        if !db.exists() {
            bail!("the upgrade removed /var/lib/gate-agent/lane.db");
        }
        Ok(())
    })();
    // Purge whatever happened above, so the machine stays as it was (the
    // site's files first: dpkg keeps a directory holding files it did not
    // install).
    for f in TLS_FILES {
        let _ = std::fs::remove_file(Path::new("/etc/gate-agent").join(f));
    }
    let purged = dpkg(&["--purge", "gate-agent", "gate-agent-models"]);
    result?;
    purged?;
    for gone in [
        "/etc/gate-agent",
        "/var/lib/gate-agent",
        "/usr/bin/gate-agent",
    ] {
        if Path::new(gone).exists() {
            bail!("{gone} is still there after dpkg --purge");
        }
    }
    if user_exists() {
        bail!("the gate-agent user is still there after dpkg --purge");
    }
    eprintln!("xtask dist: installed with dpkg, checked, upgraded, purged");
    Ok(())
}

/// The TLS files config/lane.example.toml names (in /etc/gate-agent): the
/// broker's CA, the lane's certificate and its key.
pub const TLS_FILES: [&str; 3] = ["ca.pem", "lane.pem", "lane.key"];

/// Throwaway TLS files where a site puts its own, made with openssl: a
/// self-signed certificate (also the CA) and its key, valid two days.
pub fn tls_files(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let [ca, cert, key] = TLS_FILES.map(|f| dir.join(f));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=gate-agent test lane",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .context("running openssl")?;
    if !status.success() {
        bail!("openssl req failed: {status}");
    }
    std::fs::copy(&cert, &ca).with_context(|| format!("writing {}", ca.display()))?;
    Ok(())
}

fn has_cargo_deb(cargo: &str) -> bool {
    Command::new(cargo)
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
fn models_package(
    agent: &dyn Fn() -> Command,
    from: Option<&Path>,
    out_dir: &Path,
) -> Result<std::path::PathBuf> {
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
    let status = agent()
        .args(&args)
        .status()
        .context("running gate-agent models install")?;
    if !status.success() {
        bail!(
            "no verified models to package ({status}): pass --models FILE|DIR (the pinned wheel or a folder with the two files)"
        );
    }
    let sums = Command::new("sha256sum")
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

/// Whether the ELF file at `path` has a section named `name` (readelf, from
/// binutils, which the build's linker comes with).
fn has_section(path: &Path, name: &str) -> Result<bool> {
    let out = Command::new("readelf")
        .args(["-SW"])
        .arg(path)
        .output()
        .with_context(|| format!("running readelf on {}", path.display()))?;
    if !out.status.success() {
        bail!("readelf -SW {} failed", path.display());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .any(|w| w == name))
}
