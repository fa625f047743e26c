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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use gate_proto::formats::{iso6346, plate};
use gate_proto::messages::{DecidedBy, GoodsCategory, Reason, TargetKind};

use super::{
    alarms, relative_ms, resolve_time, Action, Behaviour, CommandVia, ControlSpec, Device,
    EnterpriseSpec, FaultKind, GatePassSpec, Scenario, TruckEntry, UpsertsSpec, VehicleSpec,
};

/// A semantic problem, located in the file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    /// The key path, e.g. `trucks[2].containers[0].number`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} (at {})",
            self.line, self.column, self.message, self.path
        )
    }
}

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

fn universe(s: &Scenario) -> Universe {
    let w = &s.whitelist;
    let mut u = Universe {
        enterprises: w.enterprises.iter().map(|e| e.id.clone()).collect(),
        passes: w.gate_passes.iter().map(|p| p.pass_no.clone()).collect(),
    };
    for d in &w.deltas {
        u.enterprises
            .extend(d.upserts.enterprises.iter().map(|e| e.id.clone()));
        u.passes
            .extend(d.upserts.gate_passes.iter().map(|p| p.pass_no.clone()));
    }
    u
}

fn whitelist(s: &Scenario, out: &mut Out) {
    let w = KeyPath::root("whitelist");
    if s.whitelist.version == 0 {
        err(
            out,
            w.k("version"),
            "version must be >= 1 (0 means \"nothing\" to a lane)",
        );
    }
    let u = universe(s);
    let initial = UpsertsSpec {
        enterprises: s.whitelist.enterprises.clone(),
        vehicles: s.whitelist.vehicles.clone(),
        gate_passes: s.whitelist.gate_passes.clone(),
        controls: s.whitelist.controls.clone(),
    };
    records(&initial, &w, &u, out);
    let mut state = State::initial(s);
    let mut last = -1.0;
    for (i, d) in s.whitelist.deltas.iter().enumerate() {
        let p = w.k("deltas").i(i);
        check_at(out, p.k("at_s"), d.at_s);
        if d.at_s <= last {
            err(
                out,
                p.k("at_s"),
                format!("deltas must be in increasing time order (previous at {last})"),
            );
        }
        last = d.at_s;
        records(&d.upserts, &p.k("upserts"), &u, out);
        let dl = &d.deletes;
        let empty = d.upserts.enterprises.is_empty()
            && d.upserts.vehicles.is_empty()
            && d.upserts.gate_passes.is_empty()
            && d.upserts.controls.is_empty()
            && dl.enterprises.is_empty()
            && dl.vehicles.is_empty()
            && dl.gate_passes.is_empty()
            && dl.controls.is_empty();
        if empty {
            err(out, p.clone(), "a delta must change something");
        }
        let dp = p.k("deletes");
        for (kind, keys, have) in [
            (
                "enterprises",
                &dl.enterprises,
                state.enterprises.keys().cloned().collect::<BTreeSet<_>>(),
            ),
            (
                "vehicles",
                &dl.vehicles,
                state.vehicles.keys().cloned().collect(),
            ),
            (
                "gate_passes",
                &dl.gate_passes,
                state.passes.keys().cloned().collect(),
            ),
            (
                "controls",
                &dl.controls,
                state.controls.keys().cloned().collect(),
            ),
        ] {
            for (j, k) in keys.iter().enumerate() {
                if !have.contains(k) {
                    err(
                        out,
                        dp.k(kind).i(j),
                        format!("deletes `{k}`, which is not in the whitelist at that time"),
                    );
                }
            }
        }
        state.apply(d);
    }
}

fn records(up: &UpsertsSpec, base: &KeyPath, u: &Universe, out: &mut Out) {
    let mut ids = BTreeSet::new();
    for (i, e) in up.enterprises.iter().enumerate() {
        enterprise(e, &base.k("enterprises").i(i), &mut ids, out);
    }
    let mut plates = BTreeSet::new();
    for (i, v) in up.vehicles.iter().enumerate() {
        vehicle(v, &base.k("vehicles").i(i), &mut plates, u, out);
    }
    let mut nos = BTreeSet::new();
    for (i, g) in up.gate_passes.iter().enumerate() {
        gate_pass(g, &base.k("gate_passes").i(i), &mut nos, u, out);
    }
    let mut cids = BTreeSet::new();
    for (i, c) in up.controls.iter().enumerate() {
        control(c, &base.k("controls").i(i), &mut cids, u, out);
    }
}

fn enterprise(e: &EnterpriseSpec, p: &KeyPath, ids: &mut BTreeSet<String>, out: &mut Out) {
    check_name(out, p.k("id"), "enterprise id", &e.id, 32);
    check_name(out, p.k("name"), "enterprise name", &e.name, 100);
    if !ids.insert(e.id.clone()) {
        err(
            out,
            p.k("id"),
            format!("enterprise `{}` defined twice", e.id),
        );
    }
}

fn enterprise_ref(out: &mut Out, p: KeyPath, id: &Option<String>, u: &Universe) {
    if let Some(id) = id {
        if !u.enterprises.contains(id) {
            err(
                out,
                p,
                format!("enterprise `{id}` is not defined in the whitelist"),
            );
        }
    }
}

fn vehicle(
    v: &VehicleSpec,
    p: &KeyPath,
    plates: &mut BTreeSet<String>,
    u: &Universe,
    out: &mut Out,
) {
    check_plate(out, p.k("plate"), &v.plate, None);
    if !plates.insert(v.plate.clone()) {
        err(
            out,
            p.k("plate"),
            format!("vehicle `{}` defined twice", v.plate),
        );
    }
    if let Some(e) = &v.etag {
        check_etag(out, p.k("etag"), e);
    }
    if let Some(t) = v.tare_kg {
        check_range(out, p.k("tare_kg"), "tare_kg", t, 500.0, 40_000.0);
    }
    enterprise_ref(out, p.k("enterprise"), &v.enterprise, u);
}

fn gate_pass(
    g: &GatePassSpec,
    p: &KeyPath,
    nos: &mut BTreeSet<String>,
    u: &Universe,
    out: &mut Out,
) {
    check_name(out, p.k("pass_no"), "pass_no", &g.pass_no, 32);
    if !nos.insert(g.pass_no.clone()) {
        err(
            out,
            p.k("pass_no"),
            format!("gate pass `{}` defined twice", g.pass_no),
        );
    }
    check_plate(out, p.k("plate"), &g.plate, Some(false));
    if let Some(t) = &g.trailer_plate {
        check_plate(out, p.k("trailer_plate"), t, Some(true));
    }
    if let Some(e) = &g.etag {
        check_etag(out, p.k("etag"), e);
    }
    for (i, c) in g.containers.iter().enumerate() {
        check_container(out, p.k("containers").i(i), c);
    }
    if g.containers.len() > 2 {
        err(
            out,
            p.k("containers"),
            "a truck carries at most 2 containers",
        );
    }
    if let Some(kg) = g.declared_total_kg {
        check_range(
            out,
            p.k("declared_total_kg"),
            "declared_total_kg",
            kg,
            1000.0,
            100_000.0,
        );
    }
    enterprise_ref(out, p.k("enterprise"), &g.enterprise, u);
    if g.goods_category == Some(GoodsCategory::ValueAdded) && g.va_code.is_none() {
        err(
            out,
            p.k("va_code"),
            "a value_added pass needs its Single Window confirmation code (va_code)",
        );
    }
    for (k, v) in [
        ("valid_from", &g.valid_from),
        ("valid_until", &g.valid_until),
    ] {
        if let Some(v) = v {
            check_time_spec(out, p.k(k), v);
        }
    }
    if let (Some(f), Some(t)) = (&g.valid_from, &g.valid_until) {
        if let (Some(f), Some(t)) = (resolve_time(f, 0), resolve_time(t, 0)) {
            // Comparable only when both are relative or both absolute.
            if relative_ms(g.valid_from.as_deref().unwrap_or("")).is_some()
                == relative_ms(g.valid_until.as_deref().unwrap_or("")).is_some()
                && f >= t
            {
                err(
                    out,
                    p.k("valid_until"),
                    "valid_until must be after valid_from",
                );
            }
        }
    }
    if let Some(e) = &g.eseal {
        check_name(out, p.k("eseal"), "eseal", e, 32);
    }
}

fn control(c: &ControlSpec, p: &KeyPath, ids: &mut BTreeSet<String>, u: &Universe, out: &mut Out) {
    check_name(out, p.k("id"), "control id", &c.id, 32);
    if !ids.insert(c.id.clone()) {
        err(out, p.k("id"), format!("control `{}` defined twice", c.id));
    }
    let t = p.k("target");
    match c.target_kind {
        TargetKind::Plate => check_plate(out, t, &c.target, None),
        TargetKind::Container => check_container(out, t, &c.target),
        TargetKind::PassNo => {
            if !u.passes.contains(&c.target) {
                err(
                    out,
                    t,
                    format!("gate pass `{}` is not defined in the whitelist", c.target),
                );
            }
        }
        TargetKind::Enterprise => {
            if !u.enterprises.contains(&c.target) {
                err(
                    out,
                    t,
                    format!("enterprise `{}` is not defined in the whitelist", c.target),
                );
            }
        }
    }
    if let Some(v) = &c.valid_until {
        check_time_spec(out, p.k("valid_until"), v);
    }
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

// ---------------------------------------------------------------- trucks

fn trucks(s: &Scenario, out: &mut Out) {
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
    if t.containers.len() == 2 && t.containers.iter().any(super::ContainerSpec::is_long) {
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

// ---------------------------------------------------------------- faults, commands, timing

fn lane_has(s: &Scenario, d: Device) -> bool {
    match d {
        Device::Board | Device::Weighbridge => true,
        Device::EtagReader => s.lane.etag_reader,
        Device::EsealReader => s.lane.eseal_reader,
        cam => cam.camera().is_some_and(|c| s.lane.cameras.contains(&c)),
    }
}

fn faults(s: &Scenario, out: &mut Out) {
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

fn commands(s: &Scenario, out: &mut Out) {
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

fn timing(s: &Scenario, out: &mut Out) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_print() {
        let p = KeyPath::root("trucks")
            .i(3)
            .k("containers")
            .i(0)
            .k("number");
        assert_eq!(p.to_string(), "trucks[3].containers[0].number");
    }

    #[test]
    fn etags() {
        assert!(etag_ok("E28011606000020A1B2C3D4E"));
        assert!(!etag_ok("e28011606000020a1b2c3d4e"));
        assert!(!etag_ok("E28011606000020A1B2C3D4"));
        assert!(!etag_ok("E28011606000020A1B2C3D4G"));
    }
}
