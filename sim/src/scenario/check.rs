//! Semantic checks of a parsed scenario (docs/scenarios.md, "Checks"):
//! identifiers well formed (GA 36 plates, ISO 6346 codes with their check
//! digit, 24-hex e-tags), references that resolve, times that increase,
//! plausible weights, and expectations written in the format's vocabulary
//! (known alarm kinds, non-empty reasons). The checks never re-derive what
//! the lane should decide: the lane decides, the run compares
//! (sim/src/runner.rs).
//!
//! Layer: scenario data, pure. It returns `(key path, message)` pairs; the
//! loader turns paths into lines and columns.

mod timeline;
mod trucks;
mod whitelist;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use gate_proto::formats::{iso6346, plate};

use super::{
    resolve_time, ControlSpec, EnterpriseSpec, GatePassSpec, Scenario, UpsertsSpec, VehicleSpec,
};

use timeline::{commands, faults, timing};
use trucks::trucks;
use whitelist::{universe, whitelist};

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path into the scenario document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    fn root(k: &str) -> Self {
        Self(vec![Seg::Key(k.to_owned())])
    }
    fn k(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_owned()));
        p
    }
    fn i(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A tailgating truck must arrive within this many seconds of the one it follows.
pub const TAILGATE_WITHIN_S: f64 = 30.0;

type Out = Vec<(KeyPath, String)>;

/// Every problem found (empty: the scenario is usable).
pub(crate) fn check(s: &Scenario) -> Out {
    let mut out = Out::new();
    meta_and_lane(s, &mut out);
    whitelist(s, &mut out);
    trucks(s, &mut out);
    faults(s, &mut out);
    commands(s, &mut out);
    timing(s, &mut out);
    out
}

fn err(out: &mut Out, p: KeyPath, msg: impl Into<String>) {
    out.push((p, msg.into()));
}

// ---------------------------------------------------------------- formats

fn check_plate(out: &mut Out, p: KeyPath, s: &str, trailer: Option<bool>) {
    match plate::parse(s) {
        Err(e) => err(out, p, format!("plate `{s}`: {e}")),
        Ok(pl) if pl.as_str() != s => err(
            out,
            p,
            format!("plate `{s}`: write it normalised, `{}`", pl.as_str()),
        ),
        Ok(pl) => {
            let is_trailer = pl.kind() == plate::PlateKind::Trailer;
            match trailer {
                Some(true) if !is_trailer => {
                    err(out, p, format!("`{s}` is not a trailer plate (ends in 挂)"))
                }
                Some(false) if is_trailer => err(
                    out,
                    p,
                    format!("`{s}` is a trailer plate; a tractor has its own"),
                ),
                _ => {}
            }
        }
    }
}

fn check_container(out: &mut Out, p: KeyPath, s: &str) {
    match iso6346::parse(s) {
        Err(e) => err(out, p, format!("container `{s}`: {e}")),
        Ok(c) if c.as_str() != s => err(
            out,
            p,
            format!("container `{s}`: write it normalised, `{}`", c.as_str()),
        ),
        Ok(_) => {}
    }
}

pub(crate) fn etag_ok(s: &str) -> bool {
    s.len() == 24
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

fn check_etag(out: &mut Out, p: KeyPath, s: &str) {
    if !etag_ok(s) {
        err(
            out,
            p,
            format!("e-tag `{s}` is not an EPC of 24 upper-case hex digits"),
        );
    }
}

fn check_name(out: &mut Out, p: KeyPath, what: &str, s: &str, max: usize) {
    if s.trim().is_empty() {
        err(out, p, format!("{what} is empty"));
    } else if s.chars().count() > max {
        err(out, p, format!("{what} is over {max} characters"));
    }
}

fn check_time_spec(out: &mut Out, p: KeyPath, s: &str) {
    if resolve_time(s, 0).is_none() {
        err(
            out,
            p,
            format!("`{s}` is neither RFC 3339 nor a relative time (now, +90s, -30m, +2h, +7d)"),
        );
    }
}

fn check_range(out: &mut Out, p: KeyPath, what: &str, v: f64, lo: f64, hi: f64) {
    if !v.is_finite() || v < lo || v > hi {
        err(out, p, format!("{what} {v} is outside {lo}..={hi}"));
    }
}

fn check_at(out: &mut Out, p: KeyPath, v: f64) {
    if !v.is_finite() || v < 0.0 {
        err(
            out,
            p,
            format!("time {v} must be a finite number of seconds >= 0"),
        );
    }
}

// ---------------------------------------------------------------- sections

fn meta_and_lane(s: &Scenario, out: &mut Out) {
    let m = KeyPath::root("scenario");
    check_name(out, m.k("name"), "scenario name", &s.scenario.name, 64);
    let l = KeyPath::root("lane");
    if !gate_proto::valid_id(&s.lane.site) {
        err(
            out,
            l.k("site"),
            format!("site `{}` is not [A-Z0-9-]{{1,16}}", s.lane.site),
        );
    }
    if !gate_proto::valid_id(&s.lane.lane) {
        err(
            out,
            l.k("lane"),
            format!("lane `{}` is not [A-Z0-9-]{{1,16}}", s.lane.lane),
        );
    }
    check_range(
        out,
        l.k("time_scale"),
        "time_scale",
        s.lane.time_scale,
        0.01,
        1000.0,
    );
    let w = l.k("weighbridge");
    check_range(
        out,
        w.k("capacity_kg"),
        "capacity_kg",
        s.lane.weighbridge.capacity_kg,
        1000.0,
        200_000.0,
    );
    check_range(
        out,
        w.k("division_kg"),
        "division_kg",
        s.lane.weighbridge.division_kg,
        1.0,
        100.0,
    );
    if s.lane.board.unit == 0 || s.lane.board.unit > 247 {
        err(
            out,
            l.k("board").k("unit"),
            "Modbus unit id must be 1..=247",
        );
    }
    let mut seen = BTreeSet::new();
    for (i, c) in s.lane.cameras.iter().enumerate() {
        if !seen.insert(*c) {
            err(
                out,
                l.k("cameras").i(i),
                format!("camera {} listed twice", c.as_str()),
            );
        }
    }
    let a = KeyPath::root("agent");
    check_range(
        out,
        a.k("weight_tolerance_pct"),
        "weight_tolerance_pct",
        s.agent.weight_tolerance_pct,
        0.1,
        20.0,
    );
    let pl = KeyPath::root("platform");
    if s.platform.records_per_chunk == 0 || s.platform.records_per_chunk > 100_000 {
        err(
            out,
            pl.k("records_per_chunk"),
            "records_per_chunk must be 1..=100000",
        );
    }
    check_range(
        out,
        pl.k("command_ttl_s"),
        "command_ttl_s",
        s.platform.command_ttl_s,
        1.0,
        86_400.0,
    );
}

/// Every key ever defined, over the initial whitelist and all deltas.
struct Universe {
    enterprises: BTreeSet<String>,
    passes: BTreeSet<String>,
}

// ---------------------------------------------------------------- whitelist state

/// The whitelist as the lane should see it at a lane second.
#[derive(Clone, Default)]
struct State {
    enterprises: BTreeMap<String, EnterpriseSpec>,
    vehicles: BTreeMap<String, VehicleSpec>,
    passes: BTreeMap<String, GatePassSpec>,
    controls: BTreeMap<String, ControlSpec>,
}

impl State {
    fn initial(s: &Scenario) -> Self {
        let mut st = State::default();
        st.upsert(&UpsertsSpec {
            enterprises: s.whitelist.enterprises.clone(),
            vehicles: s.whitelist.vehicles.clone(),
            gate_passes: s.whitelist.gate_passes.clone(),
            controls: s.whitelist.controls.clone(),
        });
        st
    }
    fn upsert(&mut self, up: &UpsertsSpec) {
        for e in &up.enterprises {
            self.enterprises.insert(e.id.clone(), e.clone());
        }
        for v in &up.vehicles {
            self.vehicles.insert(v.plate.clone(), v.clone());
        }
        for g in &up.gate_passes {
            self.passes.insert(g.pass_no.clone(), g.clone());
        }
        for c in &up.controls {
            self.controls.insert(c.id.clone(), c.clone());
        }
    }
    fn apply(&mut self, d: &super::DeltaSpec) {
        for k in &d.deletes.enterprises {
            self.enterprises.remove(k);
        }
        for k in &d.deletes.vehicles {
            self.vehicles.remove(k);
        }
        for k in &d.deletes.gate_passes {
            self.passes.remove(k);
        }
        for k in &d.deletes.controls {
            self.controls.remove(k);
        }
        self.upsert(&d.upserts);
    }
}

#[cfg(test)]
mod tests;
