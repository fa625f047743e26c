//! The clearance decision: a pure function of what the lane identified, the
//! whitelist view, the policy, the wall-clock time and whether the platform
//! is reachable. See docs/reasons.md for every reason code.
//!
//! This module knows nothing about the lane sequence, devices, the store or
//! the link: it reads [`Identified`] and [`WhitelistView`] and returns a
//! [`Decision`]. It never reads a clock (`now_unix_ms` is an argument) and
//! never panics on any input.

mod checks;
mod led;

use std::collections::BTreeSet;

use gate_proto::formats::iso6346::{self};
use gate_proto::messages::{
    ContainerPosition, ControlAction, Credit, DecidedBy, DecisionResult, GatePass, PassKind,
    PassStatus, PassUses, Reason, TargetKind,
};
use gate_proto::time::parse_unix_ms;
use serde::{Deserialize, Serialize};

use crate::identified::{normalise_etag, normalise_id, plate_keys, Identified};
use crate::policy::{FocusAction, Policy};
use crate::view::WhitelistView;

use checks::{check_containers, check_eseal, check_weight, container_inputs};
pub use led::{led_text, truncate_utf8};

/// Bytes available on the LED board.
pub const LED_MAX_BYTES: usize = 64;

/// What the weight was compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightBasis {
    /// The pass's declared total (goods, or an empty pass that declares one).
    Declared,
    /// The vehicle tare (plus the trailer's), for an empty vehicle.
    Tare,
}

/// The weight check as made.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightCheck {
    pub basis: WeightBasis,
    pub expected_kg: f64,
    pub measured_kg: f64,
    /// measured - expected.
    pub diff_kg: f64,
    /// The tolerance used: max(pct_kg, scale_kg).
    pub tolerance_kg: f64,
    /// k% of the expected weight.
    pub pct_kg: f64,
    /// Twice the in-service scale error at the measured load.
    pub scale_kg: f64,
    pub within: bool,
}

/// One container as checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerCheck {
    /// As read (or typed).
    pub read: String,
    /// The code decided on (valid, repaired, or resolved by the pass).
    pub number: Option<String>,
    pub position: Option<ContainerPosition>,
    /// The read as it stands passes the check digit.
    pub check_digit_ok: bool,
    pub repaired: bool,
    pub on_pass: bool,
    pub confidence: f32,
}

/// The outcome of [`decide`] (or of an officer / the lane itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub result: DecisionResult,
    /// Every reason that applies: the primary one first (it decided the
    /// result), then the others in code order. Never empty.
    pub reasons: Vec<Reason>,
    pub by: DecidedBy,
    pub officer: Option<String>,
    pub note: Option<String>,
    /// The pass number matched, if any.
    pub gate_pass: Option<String>,
    /// The matched pass record.
    pub pass: Option<GatePass>,
    /// The tractor plate decided on (normalised / repaired).
    pub plate: Option<String>,
    pub containers: Vec<ContainerCheck>,
    pub weight: Option<WeightCheck>,
    /// Short operator hint for the LED board (<= [`LED_MAX_BYTES`] UTF-8 bytes).
    pub led_text: String,
    /// Human-readable findings, one per check that did not pass (and notes).
    pub details: Vec<String>,
    pub offline: bool,
    pub whitelist_version: u64,
    /// A single-use pass is consumed by this decision (release or inspect):
    /// the store must treat it as used from now on.
    pub consumes_pass: bool,
    /// The policy's H07 action when decided (orders the reasons).
    #[serde(default = "default_focus")]
    pub focus: FocusAction,
}

fn default_focus() -> FocusAction {
    FocusAction::Hold
}

impl Decision {
    /// A decision the lane takes itself (timeouts, faults, stopping short),
    /// without the whitelist.
    pub fn lane(result: DecisionResult, reasons: &[Reason], detail: &str) -> Decision {
        let mut d = Decision {
            result,
            reasons: Vec::new(),
            by: DecidedBy::Local,
            officer: None,
            note: None,
            gate_pass: None,
            pass: None,
            plate: None,
            containers: Vec::new(),
            weight: None,
            led_text: String::new(),
            details: vec![detail.to_string()],
            offline: false,
            whitelist_version: 0,
            consumes_pass: false,
            focus: FocusAction::Hold,
        };
        d.set_reasons(reasons.iter().copied());
        d
    }

    /// An officer's decision on top of an earlier one (kept: pass, plate,
    /// checks and the automatic reasons), adding `O01` (release) or `O02`
    /// (hold). The LED shows the officer's decision.
    pub fn officer(
        base: Option<&Decision>,
        result: DecisionResult,
        officer: &str,
        note: Option<&str>,
    ) -> Decision {
        let kept: Vec<Reason> = base
            .map(|b| {
                b.reasons
                    .iter()
                    .copied()
                    .filter(|r| !matches!(r, Reason::R00 | Reason::E00 | Reason::O01 | Reason::O02))
                    .collect()
            })
            .unwrap_or_default();
        let mut d = base
            .cloned()
            .unwrap_or_else(|| Decision::lane(result, &[], "officer decision"));
        let code = if result == DecisionResult::Hold {
            Reason::O02
        } else {
            Reason::O01
        };
        d.result = result;
        d.by = DecidedBy::Officer;
        d.officer = Some(officer.to_string());
        d.note = note.map(str::to_string);
        d.consumes_pass = result != DecisionResult::Hold
            && d.pass.as_ref().is_some_and(|p| p.uses == PassUses::Single);
        d.reasons = vec![code];
        d.reasons.extend(kept);
        d.led_text = led_text(code, result, d.plate.as_deref());
        d
    }

    /// Turn this decision into a hold for `reason` (e.g. a barrier fault
    /// discovered after deciding), keeping every finding.
    pub fn into_hold(mut self, reason: Reason, detail: &str) -> Decision {
        self.result = DecisionResult::Hold;
        self.details.push(detail.to_string());
        self.consumes_pass = false;
        let rs: Vec<Reason> = self.reasons.iter().copied().chain([reason]).collect();
        self.set_reasons(rs);
        self
    }

    /// Order `reasons` (primary first) and set the LED text. Release codes are
    /// dropped when the result is not a release.
    fn set_reasons(&mut self, reasons: impl IntoIterator<Item = Reason>) {
        let mut set: BTreeSet<Reason> = reasons.into_iter().collect();
        if self.result != DecisionResult::Release {
            set.remove(&Reason::R00);
            set.remove(&Reason::E00);
        }
        let primary = primary_reason(self.result, &set, self.focus);
        set.remove(&primary);
        self.reasons = std::iter::once(primary).chain(set).collect();
        self.led_text = led_text(primary, self.result, self.plate.as_deref());
    }

    /// The primary reason.
    pub fn primary(&self) -> Reason {
        self.reasons.first().copied().unwrap_or(Reason::H08)
    }
}

/// Which reasons hold, which send to inspection. `H07` follows the policy.
fn is_hold(r: Reason, focus: FocusAction) -> bool {
    match r {
        Reason::R00 | Reason::E00 | Reason::I01 | Reason::O01 => false,
        Reason::H07 => focus == FocusAction::Hold,
        _ => true,
    }
}

/// The reason that decided `result`: for a hold the lowest hold code, for an
/// inspection I01 before H07, for a release the officer's or E00/R00.
fn primary_reason(result: DecisionResult, set: &BTreeSet<Reason>, focus: FocusAction) -> Reason {
    let first = |pred: &dyn Fn(Reason) -> bool| set.iter().copied().find(|r| pred(*r));
    match result {
        DecisionResult::Hold => first(&|r| is_hold(r, focus)).unwrap_or(Reason::H08),
        DecisionResult::Inspect => {
            first(&|r| matches!(r, Reason::O01 | Reason::I01 | Reason::H07)).unwrap_or(Reason::I01)
        }
        DecisionResult::Release => {
            first(&|r| matches!(r, Reason::O01 | Reason::E00 | Reason::R00)).unwrap_or(Reason::R00)
        }
    }
}

/// A confidence at or above the minimum (NaN is not).
fn confident(confidence: f32, min: f32) -> bool {
    confidence >= min
}

/// Findings collected while checking.
struct Findings {
    reasons: BTreeSet<Reason>,
    details: Vec<String>,
}

impl Findings {
    fn add(&mut self, r: Reason, detail: impl Into<String>) {
        self.reasons.insert(r);
        self.details
            .push(format!("{}: {}", r.as_str(), detail.into()));
    }
    fn note(&mut self, detail: impl Into<String>) {
        self.details.push(detail.into());
    }
}

/// Is `t` (RFC 3339, optional) before / after now? Unparsable counts as
/// failing the check (fail safe).
fn time_ok(t: Option<&str>, now: i64, want_before: bool) -> Result<(), String> {
    let Some(t) = t else { return Ok(()) };
    match parse_unix_ms(t) {
        None => Err(format!("time `{t}` is not RFC 3339")),
        Some(ms) if want_before && ms > now => Err(format!("not valid before {t}")),
        Some(ms) if !want_before && ms <= now => Err(format!("expired at {t}")),
        Some(_) => Ok(()),
    }
}

/// Why a pass cannot be used now, if it cannot.
fn pass_unusable(p: &GatePass, now: i64) -> Option<String> {
    match p.status {
        PassStatus::Approved => {}
        PassStatus::Used => {
            let uses = if p.uses == PassUses::Single {
                "single-use pass already used"
            } else {
                "pass used up"
            };
            return Some(format!("pass {} {uses}", p.pass_no));
        }
        PassStatus::Void => return Some(format!("pass {} is void", p.pass_no)),
        PassStatus::Deleted => return Some(format!("pass {} is deleted", p.pass_no)),
    }
    if let Err(e) = time_ok(p.valid_from.as_deref(), now, true) {
        return Some(format!("pass {} {e}", p.pass_no));
    }
    if let Err(e) = time_ok(p.valid_until.as_deref(), now, false) {
        return Some(format!("pass {} {e}", p.pass_no));
    }
    None
}

/// Decide on one vehicle. See docs/reasons.md for the checks and codes.
///
/// `now_unix_ms` is wall-clock time for validity windows; `online` is
/// whether the platform is reachable (offline, [`Policy::offline`] applies).
pub fn decide(
    identified: &Identified,
    view: &WhitelistView,
    policy: &Policy,
    now_unix_ms: i64,
    online: bool,
) -> Decision {
    let mut f = Findings {
        reasons: BTreeSet::new(),
        details: Vec::new(),
    };
    let manual = identified.officer.as_ref().map(|o| &o.data);

    // Device faults: data may be missing or wrong.
    for dev in &identified.faults {
        f.add(Reason::H08, format!("device {} at fault", dev.as_str()));
    }

    // --- Plates. Typed plate wins; else confident camera reads.
    let mut tractor: BTreeSet<String> = BTreeSet::new();
    let mut trailer_read: BTreeSet<String> = BTreeSet::new();
    if let Some(p) = manual.and_then(|m| m.plate.as_deref()) {
        tractor.extend(plate_keys(p));
    } else {
        let mut per_read: Vec<Vec<String>> = Vec::new();
        for r in &identified.plates {
            if !confident(r.confidence, policy.min_plate_confidence) {
                f.note(format!(
                    "plate read `{}` below confidence ({:.2})",
                    r.text, r.confidence
                ));
                continue;
            }
            let keys = plate_keys(&r.text);
            // A trailer plate seen by a tractor camera belongs to the trailer.
            if keys.len() == 1 && keys[0].ends_with('挂') {
                trailer_read.extend(keys);
                continue;
            }
            per_read.push(keys);
        }
        // Reads that share no candidate disagree.
        for w in per_read.windows(2) {
            if !w[0].iter().any(|k| w[1].contains(k)) {
                f.add(
                    Reason::H03,
                    format!("plate cameras disagree: {:?} vs {:?}", w[0], w[1]),
                );
            }
        }
        tractor.extend(per_read.into_iter().flatten());
    }
    let trailer_typed = manual.and_then(|m| m.trailer_plate.as_deref());
    if let Some(t) = trailer_typed {
        trailer_read = plate_keys(t).into_iter().collect();
    } else if let Some(t) = &identified.trailer_plate {
        if confident(t.confidence, policy.min_plate_confidence) {
            trailer_read.extend(plate_keys(&t.text));
        }
    }
    if tractor.is_empty() {
        f.add(Reason::H08, "no usable plate read");
    }
    let mut etags: BTreeSet<String> = identified
        .etags
        .iter()
        .map(|e| normalise_etag(e))
        .filter(|e| !e.is_empty())
        .collect();
    if let Some(e) = manual.and_then(|m| m.etag.as_deref()) {
        etags = [normalise_etag(e)]
            .into_iter()
            .filter(|e| !e.is_empty())
            .collect();
    }
    if etags.is_empty() && policy.require_etag {
        f.add(Reason::H08, "no e-tag read");
    }
    let typed_pass = manual.and_then(|m| m.pass_no.as_deref()).map(normalise_id);

    // --- Pass: which passes match what was read.
    let norm_plate = |s: &str| gate_proto::formats::plate::normalise(s);
    let matches: Vec<&GatePass> = view
        .passes
        .iter()
        .filter(|p| {
            typed_pass.as_deref() == Some(normalise_id(&p.pass_no).as_str())
                || tractor.contains(&norm_plate(&p.plate))
                || p.etag
                    .as_deref()
                    .is_some_and(|e| etags.contains(&normalise_etag(e)))
        })
        .collect();
    let usable: Vec<&GatePass> = matches
        .iter()
        .copied()
        .filter(|p| pass_unusable(p, now_unix_ms).is_none())
        .collect();
    let read_containers: Vec<String> = container_inputs(identified)
        .iter()
        .filter_map(|(s, _, _)| iso6346::repair(s).code().map(|c| c.to_string()))
        .collect();
    let pass: Option<&GatePass> = if matches.is_empty() {
        f.add(Reason::H01, "no gate pass for this plate / e-tag");
        None
    } else if usable.is_empty() {
        for p in &matches {
            if let Some(why) = pass_unusable(p, now_unix_ms) {
                f.add(Reason::H02, why);
            }
        }
        None
    } else {
        // Best match: typed pass number, plate, e-tag, containers on it.
        let score = |p: &GatePass| {
            let containers = p
                .containers
                .iter()
                .filter(|c| read_containers.contains(&iso6346::normalise(c)))
                .count();
            (
                typed_pass.as_deref() == Some(normalise_id(&p.pass_no).as_str()),
                tractor.contains(&norm_plate(&p.plate)),
                p.etag
                    .as_deref()
                    .is_some_and(|e| etags.contains(&normalise_etag(e))),
                containers,
            )
        };
        let mut ranked = usable.clone();
        ranked.sort_by(|a, b| score(b).cmp(&score(a)).then(a.pass_no.cmp(&b.pass_no)));
        if ranked.len() > 1 && score(ranked[0]) == score(ranked[1]) {
            f.note(format!(
                "{} approved passes match equally; chose {}",
                ranked.len(),
                ranked[0].pass_no
            ));
        }
        ranked.first().copied()
    };

    // --- The plate decided on: the pass's plate when it is among the
    // candidates (resolves an ambiguous repair), else the single candidate.
    let plate: Option<String> = match pass {
        Some(p) if tractor.contains(&norm_plate(&p.plate)) => Some(norm_plate(&p.plate)),
        _ if tractor.len() == 1 => tractor.iter().next().cloned(),
        _ => None,
    };

    // --- Consistency: plate, e-tag, pass (H03).
    if let Some(p) = pass {
        let pass_plate = norm_plate(&p.plate);
        if !tractor.is_empty() && !tractor.contains(&pass_plate) {
            f.add(
                Reason::H03,
                format!(
                    "pass {} is for {pass_plate}, plate read {:?}",
                    p.pass_no, tractor
                ),
            );
        }
        if let Some(pe) = p.etag.as_deref().map(normalise_etag) {
            if !etags.is_empty() && !etags.contains(&pe) {
                f.add(Reason::H03, format!("pass e-tag {pe} not read ({etags:?})"));
            }
        }
        match (
            p.trailer_plate.as_deref().map(norm_plate),
            trailer_read.is_empty(),
        ) {
            (Some(tp), true) => f.add(Reason::H08, format!("trailer plate {tp} not read")),
            (Some(tp), false) if !trailer_read.contains(&tp) => f.add(
                Reason::H03,
                format!("pass trailer {tp}, trailer read {trailer_read:?}"),
            ),
            _ => {}
        }
    }
    // E-tags registered to another vehicle.
    for v in &view.vehicles {
        if let Some(ve) = v.etag.as_deref().map(normalise_etag) {
            if etags.contains(&ve)
                && !tractor.is_empty()
                && !tractor.contains(&norm_plate(&v.plate))
            {
                f.add(
                    Reason::H03,
                    format!("e-tag {ve} belongs to {}, plate read {tractor:?}", v.plate),
                );
            }
        }
    }

    // --- Containers (H04).
    let containers = check_containers(identified, pass, policy, &mut f);

    // --- E-seal (H05).
    if let Some(p) = pass {
        check_eseal(identified, p, policy, &mut f);
    } else if let Some(s) = &identified.eseal {
        if !s.intact {
            f.add(Reason::H05, format!("e-seal {} not intact", s.id));
        }
    }

    // --- Weight (H06 / E00 basis).
    let weight = pass.and_then(|p| check_weight(identified, p, view, policy, &mut f));
    if pass.is_none() && policy.require_weight {
        if let Some(w) = &identified.weight {
            f.note(format!("weighed {:.0} kg, no pass to compare", w.gross_kg));
        }
    }

    // --- Focus list and local blacklist (H07).
    let mut enterprises: BTreeSet<String> = BTreeSet::new();
    if let Some(e) = pass.and_then(|p| p.enterprise.clone()) {
        enterprises.insert(e);
    }
    let mut plates_all: BTreeSet<String> = tractor.clone();
    plates_all.extend(trailer_read.iter().cloned());
    if let Some(p) = pass {
        plates_all.insert(norm_plate(&p.plate));
    }
    for v in &view.vehicles {
        if plates_all.contains(&norm_plate(&v.plate)) {
            if let Some(e) = &v.enterprise {
                enterprises.insert(e.clone());
            }
            if v.credit == Some(Credit::Focus) {
                f.add(
                    Reason::H07,
                    format!("vehicle {} on the focus list", v.plate),
                );
            }
        }
    }
    for e in &view.enterprises {
        if enterprises.contains(&e.id) && e.credit == Credit::Focus {
            f.add(
                Reason::H07,
                format!("enterprise {} on the focus list", e.id),
            );
        }
    }
    for b in &policy.blacklist_plates {
        if plates_all.contains(&norm_plate(b)) {
            f.add(Reason::H07, format!("plate {b} on the local blacklist"));
        }
    }

    // --- Platform controls (I01 inspect, H10 hold).
    let container_codes: BTreeSet<String> = containers
        .iter()
        .filter_map(|c| c.number.clone())
        .chain(read_containers.iter().cloned())
        .collect();
    for c in &view.controls {
        // An expired control no longer applies; an unparsable expiry is kept
        // (fail safe).
        match c.valid_until.as_deref().map(|t| (t, parse_unix_ms(t))) {
            Some((_, Some(until))) if until <= now_unix_ms => continue,
            Some((t, None)) => f.note(format!(
                "control {}: valid_until `{t}` unparsable; applied",
                c.id
            )),
            _ => {}
        }
        let hit = match c.target_kind {
            TargetKind::Plate => plates_all.contains(&norm_plate(&c.target)),
            TargetKind::PassNo => {
                pass.is_some_and(|p| normalise_id(&p.pass_no) == normalise_id(&c.target))
                    || typed_pass.as_deref() == Some(normalise_id(&c.target).as_str())
            }
            TargetKind::Enterprise => enterprises.contains(&c.target),
            TargetKind::Container => container_codes.contains(&iso6346::normalise(&c.target)),
        };
        if hit {
            let note = c.note.as_deref().unwrap_or("");
            match c.action {
                ControlAction::Inspect => f.add(
                    Reason::I01,
                    format!("control {} (inspect) on {}; {note}", c.id, c.target),
                ),
                ControlAction::Hold => f.add(
                    Reason::H10,
                    format!("control {} (hold) on {}; {note}", c.id, c.target),
                ),
            }
        }
    }

    // --- Offline policy (H09): only AEO / whitelist enterprises (as
    // configured) may be released without the platform.
    if !online {
        let credits: Vec<Credit> = view
            .enterprises
            .iter()
            .filter(|e| enterprises.contains(&e.id))
            .map(|e| e.credit)
            .collect();
        if !policy.offline.allow_release {
            f.add(Reason::H09, "offline: release not allowed");
        } else if credits.is_empty() {
            f.add(Reason::H09, "offline: enterprise credit unknown");
        } else if !credits.iter().all(|c| policy.offline.credits.contains(c)) {
            f.add(
                Reason::H09,
                format!("offline: enterprise credit {credits:?} not allowed offline"),
            );
        }
    }

    // --- Result.
    let focus = policy.focus_action;
    let result = if f.reasons.iter().any(|r| is_hold(*r, focus)) {
        DecisionResult::Hold
    } else if f.reasons.contains(&Reason::I01) || f.reasons.contains(&Reason::H07) {
        DecisionResult::Inspect
    } else {
        if pass.is_some_and(|p| p.kind == PassKind::Empty) {
            f.reasons.insert(Reason::E00);
        } else {
            f.reasons.insert(Reason::R00);
        }
        DecisionResult::Release
    };
    let mut d = Decision {
        result,
        reasons: Vec::new(),
        by: DecidedBy::Local,
        officer: None,
        note: None,
        // The pass the vehicle presented: the usable one, else the one that
        // matched but could not be used (so the event names the used/void pass).
        gate_pass: pass
            .or_else(|| matches.first().copied())
            .map(|p| p.pass_no.clone()),
        pass: pass.cloned(),
        plate,
        containers,
        weight,
        led_text: String::new(),
        details: f.details,
        offline: !online,
        whitelist_version: view.version,
        consumes_pass: result != DecisionResult::Hold
            && pass.is_some_and(|p| p.uses == PassUses::Single),
        focus,
    };
    d.set_reasons(f.reasons);
    d
}
