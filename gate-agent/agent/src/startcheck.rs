//! What a start would refuse beyond the configuration's own checks: the
//! register profiles it names (loaded as the drivers load them), the TLS
//! files, the console's accounts and certificate. Used by `--check-config`
//! and by a reload (SIGHUP, `gatectl reload`), so a file that would not
//! start is never taken.
//!
//! Layer: agent edge (files).

/// Flags a weighbridge profile may define (docs/drivers.md): any other
/// name is a typo the driver would silently ignore (a misspelt `overload`
/// would let an overloaded scale read as stable), unless it starts with
/// `x_` (a vendor's extra bit, kept for gatectl only).
const WEIGHBRIDGE_FLAGS: &[&str] = &[
    "stable",
    "motion",
    "overload",
    "underload",
    "error",
    "negative",
    "zero",
    "net",
    "tare",
];

/// Every problem of the register profiles a configuration names: each one
/// loaded as the drivers would load it, and a weighbridge profile's points
/// and flags checked against what the driver reads.
fn profile_problems(cfg: &crate::config::Config) -> Vec<String> {
    use crate::drivers::config::ScaleSource;
    use crate::drivers::profile;
    let dir = &cfg.devices.profiles_dir;
    let mut out = Vec::new();
    if let Some(ScaleSource::Modbus(m)) = cfg.devices.weighbridge.as_ref().map(|w| &w.source) {
        match profile::resolve(dir, &m.profile) {
            Err(e) => out.push(format!("devices.weighbridge.modbus.profile: {e}")),
            Ok(p) => {
                if !p.points.iter().any(|pt| pt.name == "gross") {
                    out.push(format!(
                        "devices.weighbridge.modbus.profile: {} has no point `gross`",
                        p.origin.display()
                    ));
                }
                for pt in &p.points {
                    for b in &pt.bits {
                        if !WEIGHBRIDGE_FLAGS.contains(&b.name.as_str())
                            && !b.name.starts_with("x_")
                        {
                            out.push(format!(
                                "devices.weighbridge.modbus.profile: {}: point `{}` flag `{}` is not one the weighbridge driver knows ({}; a vendor's extra bit: name it x_...)",
                                p.origin.display(),
                                pt.name,
                                b.name,
                                WEIGHBRIDGE_FLAGS.join(", ")
                            ));
                        }
                    }
                }
            }
        }
    }
    for (i, r) in cfg.devices.rfid.iter().enumerate() {
        if let Err(e) = profile::resolve(dir, &r.profile) {
            out.push(format!("devices.rfid[{i}].profile: {e}"));
        }
    }
    out
}

/// Files the start reads besides the configuration (the TLS material):
/// each must be readable, as the link would read it.
fn file_problems(cfg: &crate::config::Config, config_path: &std::path::Path) -> Vec<String> {
    let mut out = console_problems(cfg);
    let Some(tls) = &cfg.platform.tls else {
        return out;
    };
    let files = [
        ("ca", Some(&tls.ca)),
        ("cert", tls.cert.as_ref()),
        ("key", tls.key.as_ref()),
    ];
    for (key, file) in files {
        let Some(file) = file else { continue };
        let file = crate::config::resolve(config_path, file);
        if let Err(e) = std::fs::File::open(&file) {
            out.push(format!(
                "platform.tls.{key}: cannot read {}: {e}",
                file.display()
            ));
        }
    }
    out
}

/// The console's accounts and certificate, as its start would read them.
fn console_problems(cfg: &crate::config::Config) -> Vec<String> {
    let Some(c) = &cfg.console else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, a) in c.accounts.iter().enumerate() {
        if let Err(e) = crate::config::password::check_hash(&a.password_hash) {
            out.push(format!(
                "console.accounts.{i}.password_hash (`{}`): {e}",
                a.id
            ));
        }
    }
    if c.accounts.is_empty() {
        out.push("console: no accounts: nobody can log in (gatectl officer add)".into());
    }
    if let Some(t) = &c.tls {
        for (key, file) in [("cert", &t.cert), ("key", &t.key)] {
            if let Err(e) = std::fs::File::open(file) {
                out.push(format!(
                    "console.tls.{key}: cannot read {}: {e}",
                    file.display()
                ));
            }
        }
    }
    out
}

/// Every problem the start would meet with `cfg`, read from `path`
/// (`dotted.key: message`); empty when it would start.
pub fn problems(cfg: &crate::config::Config, path: &std::path::Path) -> Vec<String> {
    let mut out = profile_problems(cfg);
    out.extend(file_problems(cfg, path));
    out
}

/// Load the configuration at `path` and check it as the start would:
/// the configuration, or every problem, one line each (`FILE:LINE:COLUMN:
/// message`, or `FILE: dotted.key: message` for what lies beyond the
/// file). `--check-config` and a reload take this one answer.
pub fn check_file(path: &std::path::Path) -> Result<crate::config::Config, Vec<String>> {
    let cfg = crate::config::Config::load(path)
        .map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let problems = problems(&cfg, path);
    if problems.is_empty() {
        Ok(cfg)
    } else {
        Err(problems
            .into_iter()
            .map(|p| format!("{}: {p}", path.display()))
            .collect())
    }
}
