//! The checks of a gate pass's details against what the lane identified:
//! containers (with ISO 6346 repair), the e-seal and the weight.

use std::collections::BTreeSet;

use gate_proto::formats::iso6346::{self, Repair};
use gate_proto::messages::{ContainerPosition, GatePass, PassKind, Reason};

use crate::identified::{normalise_id, Identified};
use crate::policy::{tolerance_kg, Policy};
use crate::view::WhitelistView;

use super::{confident, ContainerCheck, Findings, WeightBasis, WeightCheck};

/// The container inputs: typed numbers replace the OCR reads when given.
pub(super) fn container_inputs(id: &Identified) -> Vec<(String, Option<ContainerPosition>, f32)> {
    match id.officer.as_ref().map(|o| &o.data.containers) {
        Some(typed) if !typed.is_empty() => typed.iter().map(|c| (c.clone(), None, 1.0)).collect(),
        _ => id
            .containers
            .iter()
            .map(|c| (c.number.clone(), Some(c.position), c.confidence))
            .collect(),
    }
}

pub(super) fn check_containers(
    id: &Identified,
    pass: Option<&GatePass>,
    policy: &Policy,
    f: &mut Findings,
) -> Vec<ContainerCheck> {
    let on_pass: BTreeSet<String> = pass
        .map(|p| p.containers.iter().map(|c| iso6346::normalise(c)).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (read, position, confidence) in container_inputs(id) {
        let r = iso6346::repair(&read);
        let mut check = ContainerCheck {
            read: read.clone(),
            number: None,
            position,
            check_digit_ok: matches!(r, Repair::Valid(_)),
            repaired: false,
            on_pass: false,
            confidence,
        };
        if !confident(confidence, policy.min_container_confidence) {
            f.add(
                Reason::H08,
                format!("container read `{read}` below confidence ({confidence:.2})"),
            );
            out.push(check);
            continue;
        }
        match &r {
            Repair::Valid(c) | Repair::Repaired { code: c, .. } => {
                check.number = Some(c.to_string());
                check.repaired = matches!(r, Repair::Repaired { .. });
                if check.repaired {
                    f.note(format!("container `{read}` repaired to {c}"));
                }
            }
            Repair::Ambiguous(cands) => {
                let hits: Vec<String> = cands
                    .iter()
                    .map(|c| c.to_string())
                    .filter(|c| on_pass.contains(c))
                    .collect();
                if let [one] = hits.as_slice() {
                    check.number = Some(one.clone());
                    check.repaired = true;
                    f.note(format!("container `{read}` resolved to {one} by the pass"));
                } else {
                    f.add(
                        Reason::H04,
                        format!("container `{read}` fails its check digit; candidates {cands:?}"),
                    );
                }
            }
            Repair::Invalid(e) => {
                f.add(
                    Reason::H04,
                    format!("container `{read}` invalid and not repairable: {e}"),
                );
            }
        }
        if let Some(n) = &check.number {
            check.on_pass = on_pass.contains(n);
            seen.insert(n.clone());
            if pass.is_some() && !check.on_pass {
                f.add(Reason::H04, format!("container {n} is not on the pass"));
            }
        }
        out.push(check);
    }
    for c in &on_pass {
        if !seen.contains(c) {
            if out.is_empty() {
                // Nothing read at all (camera dark, box not in view): the
                // data is incomplete, not a mismatch.
                f.add(Reason::H08, format!("pass container {c} not read"));
            } else {
                f.add(Reason::H04, format!("pass container {c} not seen"));
            }
        }
    }
    out
}

pub(super) fn check_eseal(id: &Identified, p: &GatePass, policy: &Policy, f: &mut Findings) {
    let typed = id.officer.as_ref().and_then(|o| o.data.eseal.as_deref());
    let read: Option<(String, bool)> = match typed {
        Some(t) => Some((normalise_id(t), true)),
        None => id.eseal.as_ref().map(|s| (normalise_id(&s.id), s.intact)),
    };
    let required = p.eseal.is_some() || (policy.require_eseal && p.kind == PassKind::Goods);
    match (read, p.eseal.as_deref().map(normalise_id)) {
        (None, _) if required => f.add(Reason::H05, "e-seal missing"),
        (None, _) => {}
        (Some((sid, intact)), want) => {
            if !intact {
                f.add(Reason::H05, format!("e-seal {sid} not intact"));
            }
            if let Some(w) = want {
                if w != sid {
                    f.add(Reason::H05, format!("e-seal {sid} is not the pass's {w}"));
                }
            }
        }
    }
}

pub(super) fn check_weight(
    id: &Identified,
    p: &GatePass,
    view: &WhitelistView,
    policy: &Policy,
    f: &mut Findings,
) -> Option<WeightCheck> {
    let typed = id.officer.as_ref().and_then(|o| o.data.gross_kg);
    let measured = match (typed, &id.weight) {
        (Some(kg), _) => kg,
        (None, Some(w)) if w.stable => w.gross_kg,
        (None, Some(w)) => {
            if policy.require_weight {
                f.add(
                    Reason::H08,
                    format!("weight {:.0} kg not stable", w.gross_kg),
                );
            }
            return None;
        }
        (None, None) => {
            if policy.require_weight {
                f.add(Reason::H08, "no weight reading");
            }
            return None;
        }
    };
    let (basis, expected) = match (p.kind, p.declared_total_kg) {
        (_, Some(d)) => (WeightBasis::Declared, d),
        (PassKind::Empty, None) => {
            let norm = |s: &str| gate_proto::formats::plate::normalise(s);
            let wanted: Vec<String> = [Some(p.plate.as_str()), p.trailer_plate.as_deref()]
                .into_iter()
                .flatten()
                .map(norm)
                .collect();
            let mut sum = 0.0;
            for w in &wanted {
                match view
                    .vehicles
                    .iter()
                    .find(|v| &norm(&v.plate) == w)
                    .and_then(|v| v.tare_kg)
                {
                    Some(t) => sum += t,
                    None => {
                        f.add(Reason::H08, format!("no tare known for {w}"));
                        return None;
                    }
                }
            }
            (WeightBasis::Tare, sum)
        }
        (PassKind::Goods, None) => {
            f.add(
                Reason::H08,
                format!("pass {} declares no total weight", p.pass_no),
            );
            return None;
        }
    };
    let Some(t) = tolerance_kg(policy, expected, measured) else {
        f.add(
            Reason::H08,
            format!("weight {measured:.0} kg outside the scale range"),
        );
        return None;
    };
    let diff = measured - expected;
    let within = diff.abs() <= t.tolerance_kg;
    if !within {
        f.add(
            Reason::H06,
            format!(
                "measured {measured:.0} kg, expected {expected:.0} kg ({basis:?}), diff {diff:+.0} > tolerance {:.0}",
                t.tolerance_kg
            ),
        );
    }
    Some(WeightCheck {
        basis,
        expected_kg: expected,
        measured_kg: measured,
        diff_kg: diff,
        tolerance_kg: t.tolerance_kg,
        pct_kg: t.pct_kg,
        scale_kg: t.scale_kg,
        within,
    })
}
