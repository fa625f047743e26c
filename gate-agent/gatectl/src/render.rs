//! Human output of each answer (the `--json` output is the answer itself).
//!
//! Layer: presentation. One function per answer type; tables through
//! [`Out`]. Colours only mark what needs attention (red: down, refused,
//! failed; yellow: degraded; green: fine).

mod board;
mod events;
mod link;

use super::camera::Written;
use super::out::{ago, bytes, or_dash, Out, Style};
use gate_control::protocol::{
    AlarmsData, BarrierData, DevicesData, OfficerData, ReloadData, RestartData, SelftestData,
    StatusData, WeighData,
};

pub use board::{io, io_line, IoKey};
pub use events::{events, lookup, EventPrinter};
pub use link::{outbox, sync};

fn on(v: bool) -> &'static str {
    if v {
        "ON"
    } else {
        "-"
    }
}

pub fn status(o: &Out, d: &StatusData) {
    let mut rows: Vec<(&str, String, Style)> = Vec::new();
    let lane = match (&d.site, &d.lane) {
        (Some(s), Some(l)) => format!("{s}/{l}"),
        (None, Some(l)) => l.clone(),
        _ => "-".into(),
    };
    rows.push((
        "lane",
        match &d.agent_version {
            Some(v) => format!("{lane} (agent {v})"),
            None => lane,
        },
        Style::Bold,
    ));
    if let Some(s) = &d.state {
        let st = match s.as_str() {
            "hold" => Style::Warn,
            "idle" | "passing" | "release" => Style::Good,
            _ => Style::Plain,
        };
        rows.push(("state", s.clone(), st));
        rows.push((
            "sequence",
            format!(
                "seq {}  event {}",
                or_dash(d.seq),
                or_dash(d.event_id.as_deref())
            ),
            Style::Plain,
        ));
    }
    if let Some(b) = &d.board {
        rows.push((
            "barrier",
            format!(
                "{}  arrival {}  safety {}  exit {}  photocell {}  tailgates {}",
                b.barrier,
                on(b.arrival),
                on(b.safety),
                on(b.exit),
                on(b.photocell),
                b.tailgates
            ),
            if b.barrier == "fault" || b.barrier == "unknown" {
                Style::Bad
            } else {
                Style::Plain
            },
        ));
    } else if d.state.is_some() {
        rows.push(("barrier", "board not answering".into(), Style::Bad));
    }
    if let Some(led) = &d.led {
        rows.push(("LED", format!("\"{led}\""), Style::Plain));
    }
    if let Some(c) = d.link_connected {
        rows.push((
            "link",
            if c {
                "connected".to_owned()
            } else {
                format!(
                    "offline{}",
                    d.link_last_error
                        .as_ref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                )
            },
            if c { Style::Good } else { Style::Warn },
        ));
    }
    rows.push((
        "whitelist",
        format!(
            "version {}{}",
            d.whitelist_version,
            match d.whitelist_out_of_date {
                Some(true) => ", out of date (resync asked)",
                Some(false) => ", up to date",
                None => "",
            }
        ),
        if d.whitelist_version == 0 || d.whitelist_out_of_date == Some(true) {
            Style::Warn
        } else {
            Style::Plain
        },
    ));
    if let Some(depth) = d.outbox_depth {
        let p = d.outbox_pressure.clone().unwrap_or_default();
        rows.push((
            "outbox",
            format!("{depth} item(s), pressure {p}"),
            match p.as_str() {
                "normal" => Style::Plain,
                "warn" => Style::Warn,
                _ => Style::Bad,
            },
        ));
    }
    if let Some(why) = &d.admission_stopped {
        rows.push(("admission", format!("STOPPED: {why}"), Style::Bad));
    }
    if let Some(h) = &d.hold {
        rows.push((
            "hold",
            format!("seq {} held: {}", h.seq, h.reasons.join(", ")),
            Style::Warn,
        ));
    }
    if let Some(c) = d.clock_synced {
        rows.push((
            "clock",
            if c {
                "synchronised"
            } else {
                "NOT synchronised"
            }
            .into(),
            if c { Style::Plain } else { Style::Warn },
        ));
    }
    if let Some(n) = d.decisions {
        rows.push((
            "decisions",
            format!(
                "{n}, last {}",
                d.last_decision_us
                    .map(|us| format!("{:.1} ms", us as f64 / 1000.0))
                    .unwrap_or_else(|| "-".into())
            ),
            Style::Plain,
        ));
    }
    if let Some(f) = d.finished {
        rows.push(("finished", format!("{f} since start"), Style::Plain));
    }
    if d.source == gate_control::protocol::Source::Database {
        rows.push(("last seq", or_dash(d.last_seq), Style::Plain));
    }
    if let Some(e) = &d.last_event {
        rows.push((
            "last event",
            format!(
                "#{} {} {} {} {} ({})",
                e.seq,
                e.plate.as_deref().unwrap_or("-"),
                e.result,
                e.reasons.join(","),
                e.outcome,
                e.finished_at
            ),
            Style::Plain,
        ));
    }
    o.pairs(&rows);
    for n in &d.notes {
        o.line(&o.paint(&format!("note: {n}"), Style::Dim));
    }
}

pub fn devices(o: &Out, d: &DevicesData) {
    let rows: Vec<Vec<(String, Style)>> = d
        .devices
        .iter()
        .map(|r| {
            let (up, st) = if r.up {
                ("up", Style::Good)
            } else if r.consecutive_errors > 0 {
                ("DOWN", Style::Bad)
            } else if r.total_ok > 0 {
                ("idle", Style::Dim)
            } else {
                ("not used", Style::Dim)
            };
            vec![
                (r.name.clone(), Style::Plain),
                (r.kind.clone(), Style::Dim),
                (up.to_owned(), st),
                (
                    r.last_success_ago_ms
                        .map(|m| format!("{} ago", ago(m)))
                        .unwrap_or_else(|| "never".into()),
                    Style::Plain,
                ),
                (
                    format!("{}/{}", r.consecutive_errors, r.total_errors),
                    if r.consecutive_errors > 0 {
                        Style::Bad
                    } else {
                        Style::Plain
                    },
                ),
                (r.total_ok.to_string(), Style::Plain),
                (
                    r.latency_ms
                        .map(|l| format!("{l:.2} ms"))
                        .unwrap_or_else(|| "-".into()),
                    Style::Plain,
                ),
                (
                    match (&r.last_error, r.last_error_ago_ms) {
                        (Some(e), Some(a)) => format!("{e} ({} ago)", ago(a)),
                        (Some(e), None) => e.clone(),
                        _ => "-".into(),
                    },
                    if r.consecutive_errors > 0 {
                        Style::Bad
                    } else {
                        Style::Dim
                    },
                ),
            ]
        })
        .collect();
    o.table(
        &[
            "DEVICE",
            "KIND",
            "STATE",
            "LAST OK",
            "ERR(now/total)",
            "OK",
            "LATENCY",
            "LAST ERROR",
        ],
        &rows,
    );
}

pub fn officer(o: &Out, d: &OfficerData) {
    o.line(&format!(
        "{}: {} (officer {})",
        d.action.as_str(),
        o.paint(&d.detail, Style::Good),
        d.officer
    ));
}

pub fn barrier(o: &Out, d: &BarrierData) {
    o.line(&format!(
        "{}: {} (officer {})",
        d.action.as_str(),
        o.paint(&d.detail, Style::Good),
        d.officer
    ));
}

pub fn restart(o: &Out, d: &RestartData) {
    o.line(&format!(
        "{}: {} ({} ms, officer {})",
        d.device,
        o.paint(&d.detail, Style::Good),
        d.ms,
        d.officer
    ));
}

pub fn reload(o: &Out, d: &ReloadData) {
    let applied = if d.applied.is_empty() {
        "nothing that applies live changed".to_owned()
    } else {
        format!(
            "applied {}{}",
            d.applied.join(", "),
            if d.deferred {
                " (after the passage in progress)"
            } else {
                ""
            }
        )
    };
    o.line(&format!("{}: {}", d.file, o.paint(&applied, Style::Good)));
    if !d.restart_needed.is_empty() {
        o.line(&o.paint(
            &format!(
                "changed, needs a restart (not applied): {}",
                d.restart_needed.join(", ")
            ),
            Style::Warn,
        ));
    }
}

pub fn weigh(o: &Out, d: &WeighData) {
    match &d.reading {
        Some(r) => {
            let (s, st) = if r.overload {
                ("OVERLOAD", Style::Bad)
            } else if r.underload {
                ("UNDERLOAD", Style::Bad)
            } else if r.stable {
                ("stable", Style::Good)
            } else {
                ("moving", Style::Warn)
            };
            o.pairs(&[
                ("weighbridge", d.name.clone(), Style::Plain),
                ("gross", format!("{} kg", r.gross_kg), Style::Bold),
                ("state", s.to_owned(), st),
                (
                    "tare",
                    r.tare_kg
                        .map(|t| format!("{t} kg"))
                        .unwrap_or_else(|| "-".into()),
                    Style::Plain,
                ),
                (
                    "stability",
                    format!(
                        "device says {}, detector says {}",
                        match r.device_stable {
                            Some(true) => "stable",
                            Some(false) => "moving",
                            None => "nothing",
                        },
                        if r.detected_stable {
                            "stable"
                        } else {
                            "moving"
                        }
                    ),
                    Style::Dim,
                ),
                (
                    "reading",
                    format!("#{}, {} old", r.seq, ago(r.age_ms)),
                    Style::Dim,
                ),
            ]);
        }
        None => o.line(&o.paint(
            &format!(
                "{}: no trustworthy reading{}",
                d.name,
                d.last_error
                    .as_ref()
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default()
            ),
            Style::Bad,
        )),
    }
}

pub fn written(o: &Out, w: &Written) {
    o.line(&format!(
        "{}: {} written to {}{}{}",
        w.camera,
        bytes(w.bytes as u64),
        w.file,
        match (w.width, w.height) {
            (Some(x), Some(y)) => format!(" ({x}x{y})"),
            _ => String::new(),
        },
        w.at.as_ref()
            .map(|a| format!(", taken {a}"))
            .unwrap_or_default()
    ));
}

pub fn alarms(o: &Out, d: &AlarmsData) {
    if d.alarms.is_empty() {
        o.line("no alarms");
    } else {
        let rows: Vec<Vec<(String, Style)>> = d
            .alarms
            .iter()
            .map(|a| {
                let st = match a.severity.as_str() {
                    "critical" => Style::Bad,
                    "warning" => Style::Warn,
                    _ => Style::Plain,
                };
                vec![
                    (a.at.clone(), Style::Plain),
                    (a.severity.clone(), st),
                    (a.kind.clone(), Style::Bold),
                    (a.source.clone(), Style::Dim),
                    (a.detail.clone(), Style::Plain),
                ]
            })
            .collect();
        o.table(&["AT", "SEVERITY", "KIND", "SOURCE", "DETAIL"], &rows);
    }
    o.line("");
    o.line(&o.paint(
        &format!(
            "{} undelivered in the outbox ({} item(s) scanned{}).",
            d.undelivered,
            d.outbox_scanned,
            if d.outbox_complete {
                ", all"
            } else {
                ", scan stopped early"
            }
        ),
        Style::Dim,
    ));
    o.line(&o.paint(&format!("Note: {}", d.note), Style::Dim));
}

pub fn selftest(o: &Out, d: &SelftestData) {
    let rows: Vec<Vec<(String, Style)>> = d
        .checks
        .iter()
        .map(|c| {
            let (r, st) = match (c.ok, c.optional) {
                (true, _) => ("PASS", Style::Good),
                (false, true) => ("WARN", Style::Warn),
                (false, false) => ("FAIL", Style::Bad),
            };
            vec![
                (r.to_owned(), st),
                (c.device.clone(), Style::Bold),
                (c.kind.clone(), Style::Dim),
                (format!("{} ms", c.ms), Style::Dim),
                (c.detail.clone(), Style::Plain),
            ]
        })
        .collect();
    o.table(&["RESULT", "DEVICE", "KIND", "TIME", "DETAIL"], &rows);
    let failed = d.checks.iter().filter(|c| !c.ok && !c.optional).count();
    o.line("");
    if d.passed {
        o.line(&o.paint("selftest passed", Style::Good));
    } else {
        o.line(&o.paint(&format!("selftest FAILED: {failed} check(s)"), Style::Bad));
    }
}
