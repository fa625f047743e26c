//! Records: a whitelist lookup's answer, and lane events as a table or one
//! line at a time.

use crate::out::{or_dash, Out, Style};
use gate_control::db::serde_name;
use gate_control::protocol::{EventRow, EventsData, LookupData};

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
