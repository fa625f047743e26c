//! Human output of each answer (the `--json` output is the answer itself).
//!
//! Layer: presentation. One function per answer type; tables through
//! [`Out`]. Colours only mark what needs attention (red: down, refused,
//! failed; yellow: degraded; green: fine).

use super::camera::Written;
use super::out::{ago, bytes, or_dash, Out, Style};
use crate::control::data::serde_name;
use crate::control::protocol::{
    AlarmsData, BarrierData, DevicesData, EventRow, EventsData, IoData, LookupData, OfficerData,
    OutboxData, ReloadData, RestartData, SelftestData, StatusData, SyncData, WeighData,
};

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
    if d.source == crate::control::protocol::Source::Database {
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

pub fn io(o: &Out, d: &IoData) {
    let Some(io) = &d.io else {
        o.line(&o.paint(
            &format!(
                "board `{}` not answering{}",
                d.board,
                d.last_error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
            Style::Bad,
        ));
        return;
    };
    let i = &io.inputs;
    let inputs = [
        ("arrival loop", i.arrival_loop),
        ("safety loop", i.safety_loop),
        ("exit loop", i.exit_loop),
        ("photocell", i.photocell),
        ("up limit", i.up_limit),
        ("down limit", i.down_limit),
        ("manual key", i.manual_key),
        ("motor fault", i.motor_fault),
    ];
    let q = &io.outputs;
    let outputs = [
        ("motor up", q.motor_up),
        ("motor down", q.motor_down),
        ("light green", q.light_green),
        ("buzzer", q.buzzer),
    ];
    let mut rows = Vec::new();
    for (k, &(iname, iv)) in inputs.iter().enumerate() {
        let bad_input = (iname == "motor fault" || iname == "manual key") && iv;
        let mut row = vec![
            (iname.to_owned(), Style::Plain),
            (
                on(iv).to_owned(),
                if bad_input {
                    Style::Bad
                } else if iv {
                    Style::Bold
                } else {
                    Style::Dim
                },
            ),
        ];
        match outputs.get(k) {
            Some((oname, ov)) => {
                row.push((oname.to_string(), Style::Plain));
                row.push((
                    on(*ov).to_owned(),
                    if *ov { Style::Bold } else { Style::Dim },
                ));
            }
            None => {
                row.push((String::new(), Style::Plain));
                row.push((String::new(), Style::Plain));
            }
        }
        rows.push(row);
    }
    o.table(&["INPUT", "", "OUTPUT", ""], &rows);
    o.line("");
    let c = &io.counters;
    let s = &io.status;
    let mut flags = Vec::new();
    for (n, v) in [
        ("heartbeat-lost", s.heartbeat_lost),
        ("tailgate", s.tailgate),
        ("held-by-occupancy", s.held_by_occupancy),
        ("admit-pending", s.admit_pending),
        ("manual", s.manual),
    ] {
        if v {
            flags.push(n);
        }
    }
    o.pairs(&[
        (
            "barrier",
            io.barrier.clone(),
            if io.barrier == "fault" {
                Style::Bad
            } else {
                Style::Bold
            },
        ),
        (
            "fault",
            io.fault.clone(),
            if io.fault == "none" {
                Style::Plain
            } else {
                Style::Bad
            },
        ),
        ("last command", io.last_command.clone(), Style::Plain),
        (
            "status",
            if flags.is_empty() {
                "-".to_owned()
            } else {
                flags.join(" ")
            },
            if s.heartbeat_lost {
                Style::Bad
            } else {
                Style::Plain
            },
        ),
        (
            "counters",
            format!(
                "vehicles {}  raises {}  tailgates {}  reversals {}  faults {}",
                c.vehicles, c.raises, c.tailgates, c.reversals, c.faults
            ),
            Style::Plain,
        ),
        ("LED", format!("\"{}\"", d.led), Style::Plain),
        (
            "board",
            format!(
                "{} firmware {}; inputs last changed {} ago (board uptime then {} s)",
                d.board,
                io.firmware,
                ago(io.age_ms),
                io.uptime_s
            ),
            Style::Dim,
        ),
    ]);
}

/// What `io --watch` compares to decide that something changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoKey(Option<(crate::control::protocol::BoardIo, String)>);

impl IoKey {
    pub fn of(d: &IoData) -> Self {
        Self(d.io.as_ref().map(|io| {
            let mut io = io.clone();
            io.age_ms = 0;
            io.uptime_s = 0;
            (io, d.led.clone())
        }))
    }
}

/// One line per change for `io --watch`.
pub fn io_line(o: &Out, d: &IoData) {
    let now = time_of_day();
    let Some(io) = &d.io else {
        o.line(&format!(
            "{now}  {}",
            o.paint("board not answering", Style::Bad)
        ));
        return;
    };
    let i = &io.inputs;
    let b = |name: &str, v: bool| {
        if v {
            o.paint(&name.to_uppercase(), Style::Bold)
        } else {
            o.paint(name, Style::Dim)
        }
    };
    o.line(&format!(
        "{now}  {} {} {} {} {} {}  barrier={} light={} fault={}",
        b("arrival", i.arrival_loop),
        b("safety", i.safety_loop),
        b("exit", i.exit_loop),
        b("photo", i.photocell),
        b("up", i.up_limit),
        b("down", i.down_limit),
        io.barrier,
        if io.outputs.light_green {
            "green"
        } else {
            "red"
        },
        io.fault
    ));
}

fn time_of_day() -> String {
    let s = gate_proto::time::format_unix_ms(gate_proto::time::now_unix_ms());
    // 2026-03-01T12:34:56.789Z -> 12:34:56.789
    s.get(11..23).unwrap_or(&s).to_owned()
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

pub fn lookup(o: &Out, d: &LookupData) {
    o.line(&format!(
        "{} {} in whitelist version {}",
        d.by, d.key, d.whitelist_version
    ));
    if d.passes.is_empty() && d.vehicles.is_empty() && d.enterprises.is_empty() {
        o.line(&o.paint("nothing found", Style::Warn));
    }
    if !d.passes.is_empty() {
        o.line("");
        let rows: Vec<Vec<(String, Style)>> = d
            .passes
            .iter()
            .map(|p| {
                let status = serde_name(&p.status);
                vec![
                    (p.pass_no.clone(), Style::Bold),
                    (
                        status.clone(),
                        if status == "approved" {
                            Style::Good
                        } else {
                            Style::Warn
                        },
                    ),
                    (serde_name(&p.kind), Style::Plain),
                    (p.plate.clone(), Style::Plain),
                    (or_dash(p.etag.as_deref()), Style::Plain),
                    (
                        if p.containers.is_empty() {
                            "-".into()
                        } else {
                            p.containers.join(",")
                        },
                        Style::Plain,
                    ),
                    (or_dash(p.declared_total_kg), Style::Plain),
                    (or_dash(p.enterprise.as_deref()), Style::Plain),
                    (or_dash(p.valid_until.as_deref()), Style::Dim),
                ]
            })
            .collect();
        o.table(
            &[
                "PASS",
                "STATUS",
                "KIND",
                "PLATE",
                "E-TAG",
                "CONTAINERS",
                "DECLARED KG",
                "ENTERPRISE",
                "VALID UNTIL",
            ],
            &rows,
        );
    }
    if !d.vehicles.is_empty() {
        o.line("");
        let rows: Vec<Vec<(String, Style)>> = d
            .vehicles
            .iter()
            .map(|v| {
                vec![
                    (v.plate.clone(), Style::Bold),
                    (
                        or_dash(v.plate_colour.map(|c| serde_name(&c))),
                        Style::Plain,
                    ),
                    (or_dash(v.etag.as_deref()), Style::Plain),
                    (or_dash(v.tare_kg), Style::Plain),
                    (or_dash(v.enterprise.as_deref()), Style::Plain),
                    (or_dash(v.credit.map(|c| serde_name(&c))), Style::Plain),
                ]
            })
            .collect();
        o.table(
            &[
                "VEHICLE",
                "COLOUR",
                "E-TAG",
                "TARE KG",
                "ENTERPRISE",
                "CREDIT",
            ],
            &rows,
        );
    }
    if !d.enterprises.is_empty() {
        o.line("");
        let rows: Vec<Vec<(String, Style)>> = d
            .enterprises
            .iter()
            .map(|e| {
                let credit = serde_name(&e.credit);
                vec![
                    (e.id.clone(), Style::Bold),
                    (e.name.clone(), Style::Plain),
                    (
                        credit.clone(),
                        if credit == "focus" {
                            Style::Bad
                        } else {
                            Style::Plain
                        },
                    ),
                ]
            })
            .collect();
        o.table(&["ENTERPRISE", "NAME", "CREDIT"], &rows);
    }
    if !d.controls.is_empty() {
        o.line("");
        let rows: Vec<Vec<(String, Style)>> = d
            .controls
            .iter()
            .map(|c| {
                vec![
                    (c.id.clone(), Style::Bold),
                    (serde_name(&c.target_kind), Style::Plain),
                    (c.target.clone(), Style::Plain),
                    (serde_name(&c.action), Style::Bad),
                    (or_dash(c.valid_until.as_deref()), Style::Dim),
                    (or_dash(c.note.as_deref()), Style::Plain),
                ]
            })
            .collect();
        o.table(
            &[
                "CONTROL",
                "TARGET KIND",
                "TARGET",
                "ACTION",
                "VALID UNTIL",
                "NOTE",
            ],
            &rows,
        );
    }
}

fn event_cells(e: &EventRow) -> Vec<(String, Style)> {
    let st = match e.result.as_str() {
        "release" => Style::Good,
        "hold" => Style::Warn,
        _ => Style::Bad,
    };
    vec![
        (e.seq.to_string(), Style::Bold),
        (e.finished_at.clone(), Style::Plain),
        (e.plate.clone().unwrap_or_else(|| "-".into()), Style::Plain),
        (e.result.clone(), st),
        (e.reasons.join(","), Style::Plain),
        (e.outcome.clone(), Style::Plain),
        (
            if e.offline { "offline" } else { "" }.to_owned(),
            Style::Warn,
        ),
        (e.event_id.clone(), Style::Dim),
    ]
}

const EVENT_HEADER: [&str; 8] = [
    "SEQ", "FINISHED", "PLATE", "RESULT", "REASONS", "OUTCOME", "", "EVENT ID",
];

pub fn events(o: &Out, d: &EventsData) {
    if d.events.is_empty() {
        o.line("no finished events");
        return;
    }
    let rows: Vec<_> = d.events.iter().map(event_cells).collect();
    o.table(&EVENT_HEADER, &rows);
}

/// `events --follow`: one line per event as it comes.
pub struct EventPrinter {
    out: Out,
    header: bool,
}

impl EventPrinter {
    pub fn new(out: Out) -> Self {
        Self { out, header: false }
    }
    pub fn print(&mut self, e: &EventRow, note: Option<&str>) {
        if self.out.json {
            self.out.json(e, note);
            return;
        }
        if !self.header {
            self.header = true;
            self.out.line(&self.out.paint(
                "SEQ  FINISHED                  PLATE  RESULT  REASONS  OUTCOME  EVENT ID",
                Style::Bold,
            ));
        }
        let cells: Vec<String> = event_cells(e)
            .into_iter()
            .filter(|(c, _)| !c.is_empty())
            .map(|(c, s)| self.out.paint(&c, s))
            .collect();
        self.out.line(&cells.join("  "));
    }
}

pub fn outbox(o: &Out, d: &OutboxData) {
    let pst = match d.pressure.as_str() {
        "normal" => Style::Good,
        "warn" => Style::Warn,
        _ => Style::Bad,
    };
    let mut rows = vec![
        (
            "depth",
            format!("{} item(s), {}", d.depth, bytes(d.bytes)),
            Style::Bold,
        ),
        (
            "events",
            format!("{} ({})", d.events, bytes(d.event_bytes)),
            Style::Plain,
        ),
        (
            "photos",
            format!(
                "{} ({}), {} evicted since start",
                d.photos,
                bytes(d.photo_bytes),
                d.evicted_photos
            ),
            Style::Plain,
        ),
        (
            "other",
            format!("{} (alarms, replies, status, sync)", d.other),
            Style::Plain,
        ),
        (
            "oldest",
            match (&d.oldest_at, d.oldest_age_s) {
                (Some(a), Some(s)) => format!("{a} ({} ago)", ago(s * 1000)),
                _ => "-".into(),
            },
            Style::Plain,
        ),
        (
            "quota",
            format!(
                "{} used of {}",
                format_pct(d.used_percent),
                bytes(d.quota_bytes)
            ),
            Style::Plain,
        ),
        ("pressure", d.pressure.clone(), pst),
    ];
    if let Some(l) = &d.link {
        rows.push((
            "link",
            format!(
                "{}, {} in flight, {} acked, {} dropped, {} connects{}",
                if l.connected { "connected" } else { "offline" },
                l.in_flight,
                l.acked,
                l.dropped,
                l.connects,
                l.last_error
                    .as_ref()
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            ),
            if l.connected {
                Style::Good
            } else {
                Style::Warn
            },
        ));
    }
    o.pairs(&rows);
}

fn format_pct(p: f64) -> String {
    format!("{p:.1} %")
}

pub fn sync(o: &Out, d: &SyncData) {
    let mut rows = vec![
        (
            "whitelist",
            format!("version {}", d.whitelist_version),
            if d.whitelist_version == 0 {
                Style::Warn
            } else {
                Style::Bold
            },
        ),
        (
            "state",
            if d.out_of_date {
                "out of date: resync in progress".to_owned()
            } else {
                "up to date as far as the lane knows".to_owned()
            },
            if d.out_of_date {
                Style::Warn
            } else {
                Style::Good
            },
        ),
        (
            "link",
            if d.link_connected {
                "connected"
            } else {
                "offline"
            }
            .to_owned(),
            if d.link_connected {
                Style::Good
            } else {
                Style::Warn
            },
        ),
    ];
    if let Some(c) = &d.counts {
        rows.push((
            "records",
            format!(
                "{} passes ({} containers), {} vehicles, {} enterprises, {} controls",
                c.passes, c.containers, c.vehicles, c.enterprises, c.controls
            ),
            Style::Plain,
        ));
    }
    rows.push((
        "staging",
        match &d.staging {
            Some(s) => format!(
                "snapshot version {}: {}/{} chunks{}",
                s.version,
                s.received,
                s.count,
                if s.missing.is_empty() {
                    String::new()
                } else {
                    format!(", missing {:?}", s.missing)
                }
            ),
            None => "none".into(),
        },
        Style::Plain,
    ));
    if d.resync_requested {
        rows.push(("resync", "requested from the platform".into(), Style::Good));
    }
    o.pairs(&rows);
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
