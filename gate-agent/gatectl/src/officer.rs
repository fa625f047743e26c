//! `gatectl officer add`: a console account entry with an argon2 hash.
//!
//! Layer: CLI tool; no agent needed.

use std::io::{BufRead, IsTerminal};

use super::cli::RoleArg;
use super::out::Out;
use super::{exit, Failure};
use gate_config::password::hash_password;

/// Read one line from stdin; on a terminal with echo off (stty).
fn read_secret(prompt: &str) -> Result<String, Failure> {
    let tty = std::io::stdin().is_terminal();
    let stty = |arg: &str| {
        let _ = std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    if tty {
        eprint!("{prompt}");
        stty("-echo");
    }
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    if tty {
        stty("echo");
        eprintln!();
    }
    r.map_err(|e| Failure::Failed(format!("reading the password: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub fn add(out: &Out, id: &str, role: RoleArg, name: &str) -> Result<u8, Failure> {
    if id.is_empty() || id.chars().count() > 64 || id.chars().any(char::is_control) {
        return Err(Failure::Usage(
            "an officer id is 1..=64 printable characters".into(),
        ));
    }
    let password = read_secret("password: ")?;
    if std::io::stdin().is_terminal() && read_secret("again: ")? != password {
        return Err(Failure::Usage("the passwords differ".into()));
    }
    if password.chars().count() < 8 {
        return Err(Failure::Usage(
            "a password has at least 8 characters".into(),
        ));
    }
    let hash = hash_password(&password).map_err(|e| Failure::Failed(e.to_string()))?;
    let role = match role {
        RoleArg::Officer => "officer",
        RoleArg::Engineer => "engineer",
        RoleArg::Viewer => "viewer",
    };
    let q = |s: &str| toml_quote(s);
    if out.json {
        out.json(
            &serde_json::json!({"id": id, "name": name, "role": role, "password_hash": hash}),
            None,
        );
    } else {
        out.line("# add to the lane configuration, then restart the agent");
        out.line("[[console.accounts]]");
        out.line(&format!("id = {}", q(id)));
        out.line(&format!("name = {}", q(name)));
        out.line(&format!("role = \"{role}\""));
        out.line(&format!("password_hash = {}", q(&hash)));
    }
    Ok(exit::OK)
}

/// A TOML basic string.
fn toml_quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if c.is_control() => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}
