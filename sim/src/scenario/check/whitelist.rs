//! Checks of the whitelist section: the initial records and the deltas, their
//! identifiers and the references between them.

use std::collections::BTreeSet;

use gate_proto::messages::{GoodsCategory, TargetKind};

use crate::scenario::{
    relative_ms, resolve_time, ControlSpec, EnterpriseSpec, GatePassSpec, Scenario, UpsertsSpec,
    VehicleSpec,
};

use super::{
    check_at, check_container, check_etag, check_name, check_plate, check_range, check_time_spec,
    err, KeyPath, Out, State, Universe,
};

pub(super) fn universe(s: &Scenario) -> Universe {
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

pub(super) fn whitelist(s: &Scenario, out: &mut Out) {
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

pub(super) fn gate_pass(
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
