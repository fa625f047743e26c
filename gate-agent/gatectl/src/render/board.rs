//! Board I/O: the inputs, outputs and counters of every board, as a table or
//! one line per change (`gatectl io --watch`).

use crate::out::{ago, Out, Style};
use gate_control::protocol::IoData;

use super::on;

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
pub struct IoKey(Option<(gate_control::protocol::BoardIo, String)>);

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
