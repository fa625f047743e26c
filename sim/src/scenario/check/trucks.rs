//! Checks of the trucks: their data against the whitelist the lane should see
//! at their arrival, and their expectations.

use std::collections::BTreeSet;

use gate_proto::messages::{DecidedBy, Reason};

use crate::scenario::{alarms, Behaviour, Scenario, TruckEntry};

use super::{
    check_at, check_container, check_etag, check_name, check_plate, check_range, err, universe,
    KeyPath, Out, TAILGATE_WITHIN_S,
};

// ---------------------------------------------------------------- trucks

pub(super) fn trucks(s: &Scenario, out: &mut Out) {
    let mut ids = BTreeSet::new();
    let mut last = -1.0;
    for (i, t) in s.trucks.iter().enumerate() {
        let p = KeyPath::root("trucks").i(i);
        if t.id.is_empty()
            || t.id.len() > 32
            || !t
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            err(
                out,
                p.k("id"),
                format!("truck id `{}` must be 1-32 of A-Z a-z 0-9 - _", t.id),
            );
        }
        if !ids.insert(t.id.clone()) {
            err(out, p.k("id"), format!("truck id `{}` used twice", t.id));
        }
        check_at(out, p.k("at_s"), t.at_s);
        if t.at_s <= last {
            err(
                out,
                p.k("at_s"),
                format!("trucks must be in increasing time order (previous at {last})"),
            );
        }
        if t.behaviour == Behaviour::Tailgate {
            match i.checked_sub(1).map(|j| &s.trucks[j]) {
                None => err(out, p.k("behaviour"), "a tailgating truck needs a truck in front of it"),
                Some(prev) if t.at_s - prev.at_s > TAILGATE_WITHIN_S => err(
                    out,
                    p.k("at_s"),
                    format!("a tailgating truck must arrive within {TAILGATE_WITHIN_S} s of the truck in front"),
                ),
                Some(_) => {}
            }
        }
        last = t.at_s;
        truck_data(s, t, &p, out);
        expectation(s, t, &p, out);
    }
}

fn truck_data(s: &Scenario, t: &TruckEntry, p: &KeyPath, out: &mut Out) {
    check_plate(out, p.k("plate"), &t.plate, Some(false));
    if let Some(e) = &t.etag {
        check_etag(out, p.k("etag"), e);
    }
    check_range(out, p.k("tare_kg"), "tare_kg", t.tare_kg, 1500.0, 25_000.0);
    check_range(out, p.k("cargo_kg"), "cargo_kg", t.cargo_kg, 0.0, 45_000.0);
    if let Some(tr) = &t.trailer {
        let tp = p.k("trailer");
        check_plate(out, tp.k("plate"), &tr.plate, Some(true));
        if let Some(e) = &tr.etag {
            check_etag(out, tp.k("etag"), e);
        }
        check_range(
            out,
            tp.k("tare_kg"),
            "trailer tare_kg",
            tr.tare_kg,
            2000.0,
            15_000.0,
        );
    }
    let cp = p.k("containers");
    if !t.containers.is_empty() && t.trailer.is_none() {
        err(
            out,
            cp.clone(),
            "containers ride on a trailer: add [trucks.trailer]",
        );
    }
    if t.containers.len() > 2 {
        err(out, cp.clone(), "a truck carries at most 2 containers");
    }
    if t.containers.len() == 2
        && t.containers
            .iter()
            .any(crate::scenario::ContainerSpec::is_long)
    {
        err(
            out,
            cp.clone(),
            "a 40' container fills the trailer: no second container",
        );
    }
    let mut positions = BTreeSet::new();
    for (j, c) in t.containers.iter().enumerate() {
        let q = cp.i(j);
        check_container(out, q.k("number"), &c.number);
        let st = c.size_type.as_bytes();
        if st.len() != 4
            || !st
                .iter()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            err(
                out,
                q.k("size_type"),
                format!(
                    "size/type `{}` is not an ISO 6346 code such as 22G1 or 45G1",
                    c.size_type
                ),
            );
        }
        if let Some(kg) = c.tare_kg {
            check_range(out, q.k("tare_kg"), "container tare_kg", kg, 1500.0, 6000.0);
        }
        if let Some(r) = &c.read_as {
            check_name(out, q.k("read_as"), "read_as", r, 16);
        }
        if !positions.insert(format!("{:?}", c.position)) {
            err(out, q.k("position"), "two containers in the same position");
        }
    }
    if let Some(e) = &t.eseal {
        if crate::devices::rfid::epc_from_id(&e.id).is_err() {
            err(
                out,
                p.k("eseal").k("id"),
                format!(
                    "e-seal id `{}` is neither 24 hex digits nor 1-12 printable ASCII characters",
                    e.id
                ),
            );
        }
    }
    if let Some(v) = t.speed {
        check_range(out, p.k("speed"), "speed (km/h)", v, 1.0, 80.0);
    }
    if let Some(v) = t.tractor_length_m {
        check_range(
            out,
            p.k("tractor_length_m"),
            "tractor_length_m",
            v,
            2.0,
            14.0,
        );
    }
    if let Some(tr) = &t.trailer {
        check_range(
            out,
            p.k("trailer").k("length_m"),
            "trailer length_m",
            tr.length_m,
            3.0,
            18.0,
        );
    }
    let gross = t.to_spec().gross_kg();
    if gross > s.lane.weighbridge.capacity_kg {
        err(
            out,
            p.k("cargo_kg"),
            format!(
                "gross {gross} kg is over the weighbridge capacity {} kg",
                s.lane.weighbridge.capacity_kg
            ),
        );
    }
}

/// The expectation in the format's vocabulary; what the lane decides is
/// compared by the run, never re-derived here.
fn expectation(s: &Scenario, t: &TruckEntry, p: &KeyPath, out: &mut Out) {
    let e = &t.expect;
    let ep = p.k("expect");
    let rp = ep.k("reasons");
    if e.reasons.is_empty() {
        err(out, rp.clone(), "at least one reason code is expected");
    }
    let codes: BTreeSet<Reason> = e.reasons.iter().copied().collect();
    if codes.len() != e.reasons.len() {
        err(out, rp.clone(), "a reason code is listed twice");
    }
    if let Some(list) = &e.alarms {
        let ap = ep.k("alarms");
        for (j, a) in list.iter().enumerate() {
            let q = ap.i(j);
            if !alarms::KNOWN_KINDS.contains(&a.kind.as_str()) {
                err(
                    out,
                    q.clone(),
                    format!(
                        "unknown alarm kind `{}` (one of: {})",
                        a.kind,
                        alarms::KNOWN_KINDS.join(", ")
                    ),
                );
            }
            if a.detail.as_deref().is_some_and(|d| d.trim().is_empty()) {
                err(
                    out,
                    q.clone(),
                    "an empty detail matches every alarm: leave it out",
                );
            }
            if a.count == Some(0) {
                err(
                    out,
                    q.clone(),
                    "count = 0 expects nothing: leave the alarm out (the list is exact)",
                );
            }
            if list[..j].iter().any(|b| b == a) {
                err(out, q, "this alarm is listed twice (use count)");
            }
        }
    }
    let referenced = s
        .commands
        .iter()
        .any(|c| c.truck.as_deref() == Some(t.id.as_str()));
    let officer = e.by == Some(DecidedBy::Officer)
        || codes.contains(&Reason::O01)
        || codes.contains(&Reason::O02);
    if officer && !referenced {
        err(
            out,
            ep.clone(),
            "an officer decision needs a command naming this truck (commands[].truck)",
        );
    }
    if let Some(n) = &e.gate_pass {
        if !universe(s).passes.contains(n) {
            err(
                out,
                ep.k("gate_pass"),
                format!("gate pass `{n}` is not defined in the whitelist"),
            );
        }
    }
}
