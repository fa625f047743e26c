//! Checks of the faults, the commands and the timing of the timeline.

use crate::scenario::{Action, CommandVia, Device, FaultKind, Scenario};

use super::{check_at, check_name, check_range, err, KeyPath, Out};

// ---------------------------------------------------------------- faults, commands, timing

fn lane_has(s: &Scenario, d: Device) -> bool {
    match d {
        Device::Board | Device::Weighbridge => true,
        Device::EtagReader => s.lane.etag_reader,
        Device::EsealReader => s.lane.eseal_reader,
        cam => cam.camera().is_some_and(|c| s.lane.cameras.contains(&c)),
    }
}

pub(super) fn faults(s: &Scenario, out: &mut Out) {
    let mut last = -1.0;
    for (i, f) in s.faults.iter().enumerate() {
        let p = KeyPath::root("faults").i(i);
        check_at(out, p.k("at_s"), f.at_s);
        if f.at_s < last {
            err(
                out,
                p.k("at_s"),
                format!("faults must be in time order (previous at {last})"),
            );
        }
        last = f.at_s;
        check_range(
            out,
            p.k("duration_s"),
            "duration_s",
            f.duration_s,
            0.1,
            86_400.0,
        );
        match (f.kind, f.device) {
            (k, Some(_)) if k.is_broker() => err(
                out,
                p.k("device"),
                format!("{} takes no device", k.as_str()),
            ),
            (k, None) if k.is_broker() => {}
            (_, None) => err(
                out,
                p.clone(),
                format!("{} needs a device", f.kind.as_str()),
            ),
            (FaultKind::CameraDark, Some(d)) if d.camera().is_none() => err(
                out,
                p.k("device"),
                format!("camera_dark needs a camera, not {}", d.as_str()),
            ),
            (_, Some(d)) if !lane_has(s, d) => err(
                out,
                p.k("device"),
                format!("the lane has no {} (see [lane])", d.as_str()),
            ),
            _ => {}
        }
        for (j, g) in s.faults.iter().enumerate().take(i) {
            let same = match (f.kind, g.kind) {
                (a, b) if a.is_broker() && b.is_broker() => true,
                (a, b) if a.is_broker() || b.is_broker() => false,
                _ => f.device.is_some() && f.device == g.device,
            };
            if same && f.at_s < g.end_s() && g.at_s < f.end_s() {
                err(
                    out,
                    p.k("at_s"),
                    format!("overlaps faults[{j}] on the same target"),
                );
            }
        }
    }
}

pub(super) fn commands(s: &Scenario, out: &mut Out) {
    let mut last = -1.0;
    for (i, c) in s.commands.iter().enumerate() {
        let p = KeyPath::root("commands").i(i);
        check_at(out, p.k("at_s"), c.at_s);
        if c.at_s < last {
            err(
                out,
                p.k("at_s"),
                format!("commands must be in time order (previous at {last})"),
            );
        }
        last = c.at_s;
        let needs_officer = matches!(
            c.kind,
            Action::Raise | Action::Release | Action::Hold | Action::Inspect | Action::Entry
        ) || c.via != CommandVia::Platform;
        match &c.officer {
            Some(o) => check_name(out, p.k("officer"), "officer", o, 32),
            None if needs_officer => err(out, p.clone(), format!("{:?} needs an officer", c.kind)),
            None => {}
        }
        let needs_note =
            matches!(c.kind, Action::Release | Action::Inspect) || c.via == CommandVia::Console;
        if needs_note && c.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
            err(
                out,
                p.clone(),
                if c.via == CommandVia::Console {
                    "a console action needs a note (its reason)"
                } else {
                    "an exceptional release or an inspection needs a note"
                },
            );
        }
        match (c.kind, &c.entry) {
            (Action::Entry, None) => err(out, p.clone(), "entry needs `entry = { plate = ... }`"),
            (Action::Entry, Some(e)) if *e == gate_proto::messages::ManualEntry::default() => {
                err(out, p.k("entry"), "an entry needs at least one value")
            }
            (Action::Entry, Some(_)) | (_, None) => {}
            (_, Some(_)) => err(out, p.k("entry"), "only kind = \"entry\" takes an entry"),
        }
        match (c.kind, c.device) {
            (Action::RestartDevice, None) => err(out, p.clone(), "restart_device needs a device"),
            (Action::RestartDevice, Some(d)) if !lane_has(s, d) => err(
                out,
                p.k("device"),
                format!("the lane has no {}", d.as_str()),
            ),
            (Action::RestartDevice, Some(_)) => {}
            (_, Some(_)) => err(out, p.k("device"), "only restart_device takes a device"),
            (_, None) => {}
        }
        if matches!(
            c.kind,
            Action::Release | Action::Hold | Action::Inspect | Action::Entry
        ) && c.truck.is_none()
        {
            err(
                out,
                p.clone(),
                format!("{:?} refers to a truck in the lane: set truck", c.kind),
            );
        }
        if let Some(id) = &c.truck {
            match s.truck(id) {
                None => err(out, p.k("truck"), format!("no truck with id `{id}`")),
                Some(t) if t.at_s >= c.at_s => err(
                    out,
                    p.k("at_s"),
                    format!(
                        "the command comes before truck `{id}` arrives (at {})",
                        t.at_s
                    ),
                ),
                Some(_) => {}
            }
        }
        match c.via {
            CommandVia::Officer | CommandVia::Console
                if matches!(c.kind, Action::Resync | Action::RestartDevice) =>
            {
                err(
                    out,
                    p.k("via"),
                    format!(
                        "{:?} is a platform command (not an officer's action)",
                        c.kind
                    ),
                )
            }
            CommandVia::Platform if c.kind.platform().is_none() => err(
                out,
                p.k("via"),
                format!(
                    "{:?} is an officer's action: send it via \"officer\" or \"console\"",
                    c.kind
                ),
            ),
            _ => {}
        }
    }
}

pub(super) fn timing(s: &Scenario, out: &mut Out) {
    if let Some(end) = s.scenario.end_s {
        let last = s.timeline().last().map_or(0.0, |t| t.at_s);
        if !end.is_finite() || end <= last {
            err(
                out,
                KeyPath::root("scenario").k("end_s"),
                format!("end_s {end} must be after the last timed item ({last})"),
            );
        }
    }
}
