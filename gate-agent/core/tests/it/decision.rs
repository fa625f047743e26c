//! Decision engine: one test (at least) per reason code, the tolerance
//! arithmetic, validity windows, pass status, controls, containers, e-seal,
//! offline policy. Issue 4.

use gate_core::decision::{decide, led_text, Decision, WeightBasis, LED_MAX_BYTES};
use gate_core::identified::{
    ContainerSeen, Device, Identified, ManualData, OfficerEntry, PlateSeen,
};
use gate_core::policy::{FocusAction, Policy};
use gate_core::view::{LookupKeys, WhitelistView};
use gate_proto::messages::{
    ContainerPosition, Control, ControlAction, Credit, DecidedBy, DecisionResult, Enterprise,
    EsealRead, GatePass, PassKind, PassStatus, PassUses, PlateColour, Reason, TargetKind, Vehicle,
    WeightRead,
};
use gate_proto::time::parse_unix_ms;

fn now() -> i64 {
    parse_unix_ms("2026-11-27T10:00:00.000Z").expect("time")
}

fn pass() -> GatePass {
    GatePass {
        pass_no: "P1".into(),
        status: PassStatus::Approved,
        kind: PassKind::Goods,
        plate: "琼A12345".into(),
        etag: Some("E2801160".into()),
        trailer_plate: None,
        containers: vec!["CSQU3054383".into()],
        declared_total_kg: Some(31_000.0),
        enterprise: Some("ENT1".into()),
        goods_category: None,
        va_code: None,
        valid_from: Some("2026-11-27T00:00:00.000Z".into()),
        valid_until: Some("2026-11-28T00:00:00.000Z".into()),
        uses: PassUses::Single,
        eseal: Some("SEAL1".into()),
    }
}

fn view() -> WhitelistView {
    WhitelistView {
        version: 42,
        passes: vec![pass()],
        vehicles: vec![Vehicle {
            plate: "琼A12345".into(),
            plate_colour: Some(PlateColour::Yellow),
            etag: Some("E2801160".into()),
            tare_kg: Some(15_000.0),
            enterprise: Some("ENT1".into()),
            credit: None,
        }],
        enterprises: vec![Enterprise {
            id: "ENT1".into(),
            name: "Haikou Trading".into(),
            credit: Credit::Aeo,
        }],
        controls: vec![],
    }
}

fn plate(text: &str, conf: f32, camera: Device) -> PlateSeen {
    PlateSeen {
        text: text.into(),
        confidence: conf,
        colour: Some(PlateColour::Yellow),
        camera,
    }
}

fn identified() -> Identified {
    Identified {
        plates: vec![
            plate("琼A12345", 0.95, Device::PlateFront),
            plate("琼A·12345", 0.90, Device::PlateRear),
        ],
        etags: vec!["E2801160".into()],
        containers: vec![ContainerSeen {
            number: "CSQU3054383".into(),
            position: ContainerPosition::Front,
            confidence: 0.9,
        }],
        eseal: Some(EsealRead {
            id: "SEAL1".into(),
            intact: true,
        }),
        weight: Some(WeightRead {
            gross_kg: 31_100.0,
            stable: true,
        }),
        ..Identified::default()
    }
}

fn run(id: &Identified, v: &WhitelistView) -> Decision {
    decide(id, v, &Policy::default(), now(), true)
}

fn check_invariants(d: &Decision) {
    assert!(!d.reasons.is_empty());
    assert!(d.led_text.len() <= LED_MAX_BYTES, "{}", d.led_text);
    let mut rest = d.reasons[1..].to_vec();
    rest.sort();
    assert_eq!(rest, d.reasons[1..].to_vec(), "non-primary reasons sorted");
    let mut dedup = d.reasons.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), d.reasons.len(), "no duplicates");
    let release_codes = d
        .reasons
        .iter()
        .any(|r| matches!(r, Reason::R00 | Reason::E00));
    assert_eq!(
        release_codes,
        d.result == DecisionResult::Release && d.by == DecidedBy::Local
    );
}

fn assert_holds(d: &Decision, r: Reason) {
    check_invariants(d);
    assert_eq!(d.result, DecisionResult::Hold, "{d:#?}");
    assert!(
        d.reasons.contains(&r),
        "{r:?} missing in {:?}: {:?}",
        d.reasons,
        d.details
    );
}

// ------------------------------------------------------------------ R00 / E00

#[test]
fn r00_all_checks_pass() {
    let d = run(&identified(), &view());
    check_invariants(&d);
    assert_eq!(d.result, DecisionResult::Release, "{:?}", d.details);
    assert_eq!(d.reasons, vec![Reason::R00]);
    assert_eq!(d.gate_pass.as_deref(), Some("P1"));
    assert_eq!(d.plate.as_deref(), Some("琼A12345"));
    assert_eq!(d.whitelist_version, 42);
    assert!(d.consumes_pass, "single-use pass is consumed");
    assert!(!d.offline);
    assert!(d.led_text.contains("放行") && d.led_text.contains("Go"));
    let w = d.weight.expect("weighed");
    assert_eq!(w.basis, WeightBasis::Declared);
    assert_eq!(w.diff_kg, 100.0);
    assert_eq!(w.tolerance_kg, 930.0);
    assert!(w.within);
}

#[test]
fn r00_multi_use_pass_not_consumed() {
    let mut v = view();
    v.passes[0].uses = PassUses::Multi;
    let d = run(&identified(), &v);
    assert_eq!(d.reasons, vec![Reason::R00]);
    assert!(!d.consumes_pass);
}

fn empty_case(measured: f64) -> Decision {
    let mut v = view();
    let p = &mut v.passes[0];
    p.kind = PassKind::Empty;
    p.containers.clear();
    p.declared_total_kg = None;
    p.eseal = None;
    let mut id = identified();
    id.containers.clear();
    id.eseal = None;
    id.weight = Some(WeightRead {
        gross_kg: measured,
        stable: true,
    });
    run(&id, &v)
}

#[test]
fn e00_empty_vehicle_within_tare() {
    let d = empty_case(15_300.0);
    check_invariants(&d);
    assert_eq!(d.result, DecisionResult::Release, "{:?}", d.details);
    assert_eq!(d.reasons, vec![Reason::E00]);
    let w = d.weight.expect("weighed");
    assert_eq!(w.basis, WeightBasis::Tare);
    assert_eq!(w.expected_kg, 15_000.0);
    assert_eq!(w.tolerance_kg, 450.0); // 3% of 15 t
    assert!(d.led_text.contains("空车"));
}

#[test]
fn e00_empty_vehicle_heavier_than_tare_is_h06() {
    let d = empty_case(15_451.0);
    assert_holds(&d, Reason::H06);
    assert_eq!(d.reasons, vec![Reason::H06]);
}

#[test]
fn e00_tare_unknown_is_h08() {
    let mut v = view();
    v.vehicles[0].tare_kg = None;
    let p = &mut v.passes[0];
    p.kind = PassKind::Empty;
    p.containers.clear();
    p.declared_total_kg = None;
    p.eseal = None;
    let mut id = identified();
    id.containers.clear();
    id.eseal = None;
    assert_holds(&run(&id, &v), Reason::H08);
}

// ------------------------------------------------------------------ H01 / H02

#[test]
fn h01_no_pass() {
    let mut v = view();
    v.passes.clear();
    let d = run(&identified(), &v);
    assert_holds(&d, Reason::H01);
    assert_eq!(d.reasons[0], Reason::H01);
    assert!(d.gate_pass.is_none());
    assert!(!d.consumes_pass);
}

#[test]
fn h02_pass_status_not_approved() {
    for st in [PassStatus::Used, PassStatus::Void, PassStatus::Deleted] {
        let mut v = view();
        v.passes[0].status = st;
        let d = run(&identified(), &v);
        assert_holds(&d, Reason::H02);
        assert_eq!(d.reasons[0], Reason::H02, "{st:?}");
    }
}

#[test]
fn h02_single_use_pass_used_twice() {
    // The store reports a single-use pass the lane already released on as used.
    let mut v = view();
    v.passes[0].status = PassStatus::Used;
    let d = run(&identified(), &v);
    assert_holds(&d, Reason::H02);
    assert!(
        d.details.iter().any(|s| s.contains("single-use")),
        "{:?}",
        d.details
    );
}

#[test]
fn h02_validity_windows() {
    let cases = [
        // (valid_from, valid_until, ok)
        (
            Some("2026-11-27T09:59:59.999Z"),
            Some("2026-11-27T10:00:00.001Z"),
            true,
        ),
        (Some("2026-11-27T10:00:00.000Z"), None, true),
        (Some("2026-11-27T10:00:00.001Z"), None, false), // not yet valid
        (None, Some("2026-11-27T10:00:00.000Z"), false), // expires now
        (None, Some("2026-11-27T09:00:00.000Z"), false),
        (None, Some("2026-11-27T18:30:00.000+08:00"), true), // 10:30Z
        (None, Some("2026-11-27T17:30:00.000+08:00"), false), // 09:30Z
        (None, Some("tomorrow"), false),                     // unparsable: fail safe
        (None, None, true),
    ];
    for (from, until, ok) in cases {
        let mut v = view();
        v.passes[0].valid_from = from.map(str::to_string);
        v.passes[0].valid_until = until.map(str::to_string);
        let d = run(&identified(), &v);
        if ok {
            assert_eq!(
                d.reasons,
                vec![Reason::R00],
                "{from:?} {until:?}: {:?}",
                d.details
            );
        } else {
            assert_holds(&d, Reason::H02);
        }
    }
}

#[test]
fn usable_pass_preferred_over_used_one() {
    let mut v = view();
    let mut old = pass();
    old.pass_no = "P0".into();
    old.status = PassStatus::Used;
    v.passes.insert(0, old);
    let d = run(&identified(), &v);
    assert_eq!(d.reasons, vec![Reason::R00]);
    assert_eq!(d.gate_pass.as_deref(), Some("P1"));
}

// ------------------------------------------------------------------ H03

#[test]
fn h03_plate_and_pass_disagree() {
    // The pass is found by its e-tag but the camera reads another plate.
    let mut id = identified();
    id.plates = vec![plate("琼B54321", 0.95, Device::PlateFront)];
    let d = run(&id, &view());
    assert_holds(&d, Reason::H03);
}

#[test]
fn h03_cameras_disagree() {
    let mut id = identified();
    id.plates.push(plate("琼C77777", 0.95, Device::PlateRear));
    assert_holds(&run(&id, &view()), Reason::H03);
}

#[test]
fn h03_etag_of_another_vehicle() {
    let mut v = view();
    v.passes[0].etag = None;
    v.vehicles.push(Vehicle {
        plate: "琼B00001".into(),
        plate_colour: None,
        etag: Some("E9999999".into()),
        tare_kg: None,
        enterprise: None,
        credit: None,
    });
    let mut id = identified();
    id.etags = vec!["e9 99 99 99".into()];
    assert_holds(&run(&id, &v), Reason::H03);
}

#[test]
fn h03_trailer_plate_disagrees_h08_when_unread() {
    let mut v = view();
    v.passes[0].trailer_plate = Some("琼A0001挂".into());
    let mut id = identified();
    id.trailer_plate = Some(plate("琼A0002挂", 0.9, Device::PlateRear));
    assert_holds(&run(&id, &v), Reason::H03);
    id.trailer_plate = None;
    assert_holds(&run(&id, &v), Reason::H08);
    id.trailer_plate = Some(plate("琼A0001挂", 0.9, Device::PlateRear));
    assert_eq!(run(&id, &v).reasons, vec![Reason::R00]);
}

#[test]
fn ambiguous_plate_repair_resolved_by_pass() {
    // `0` in the letter position: D or Q. The pass is for 琼D12345.
    let mut v = view();
    v.passes[0].plate = "琼D12345".into();
    v.vehicles[0].plate = "琼D12345".into();
    let mut id = identified();
    id.plates = vec![plate("琼012345", 0.95, Device::PlateFront)];
    let d = run(&id, &v);
    assert_eq!(d.reasons, vec![Reason::R00], "{:?}", d.details);
    assert_eq!(d.plate.as_deref(), Some("琼D12345"));
}

// ------------------------------------------------------------------ H04

#[test]
fn h04_check_digit_fails_unrepairable() {
    let mut id = identified();
    id.containers[0].number = "CSQU3054389".into();
    let d = run(&id, &view());
    assert_holds(&d, Reason::H04);
    assert!(!d.containers[0].check_digit_ok);
    assert!(d.containers[0].number.is_none());
}

#[test]
fn h04_container_not_on_pass() {
    let mut id = identified();
    id.containers[0].number = "MSKU9070323".into();
    let d = run(&id, &view());
    assert_holds(&d, Reason::H04);
    assert_eq!(d.containers[0].number.as_deref(), Some("MSKU9070323"));
    assert!(!d.containers[0].on_pass);
}

#[test]
fn h04_pass_container_not_seen() {
    let mut v = view();
    v.passes[0].containers.push("MSKU9070323".into());
    assert_holds(&run(&identified(), &v), Reason::H04);
}

#[test]
fn h08_no_container_read_at_all() {
    // The pass lists a container but no camera read any (camera dark): the
    // data is incomplete (H08), not a mismatch (H04).
    let mut id = identified();
    id.containers.clear();
    let d = run(&id, &view());
    assert_holds(&d, Reason::H08);
    assert!(!d.reasons.contains(&Reason::H04), "{:?}", d.reasons);
}

#[test]
fn unusable_pass_is_named_in_the_decision() {
    let mut v = view();
    v.passes[0].status = PassStatus::Used;
    let d = run(&identified(), &v);
    assert_holds(&d, Reason::H02);
    assert_eq!(d.gate_pass.as_deref(), Some(v.passes[0].pass_no.as_str()));
    assert!(d.pass.is_none(), "no usable pass record");
}

#[test]
fn container_repaired_by_check_digit_releases() {
    let mut id = identified();
    id.containers[0].number = "CSOU 3O5438 [3]".into();
    let d = run(&id, &view());
    assert_eq!(d.reasons, vec![Reason::R00], "{:?}", d.details);
    let c = &d.containers[0];
    assert!(c.repaired && c.on_pass && !c.check_digit_ok);
    assert_eq!(c.number.as_deref(), Some("CSQU3054383"));
}

#[test]
fn container_front_and_back_same_box() {
    let mut id = identified();
    id.containers.push(ContainerSeen {
        number: "CSQU3054383".into(),
        position: ContainerPosition::Back,
        confidence: 0.8,
    });
    assert_eq!(run(&id, &view()).reasons, vec![Reason::R00]);
}

#[test]
fn container_low_confidence_is_h08() {
    let mut id = identified();
    id.containers[0].confidence = 0.3;
    assert_holds(&run(&id, &view()), Reason::H08);
}

// ------------------------------------------------------------------ H05

#[test]
fn h05_eseal_missing_tampered_or_other() {
    let mut id = identified();
    id.eseal = None;
    assert_holds(&run(&id, &view()), Reason::H05);
    id.eseal = Some(EsealRead {
        id: "SEAL1".into(),
        intact: false,
    });
    assert_holds(&run(&id, &view()), Reason::H05);
    id.eseal = Some(EsealRead {
        id: "SEAL2".into(),
        intact: true,
    });
    assert_holds(&run(&id, &view()), Reason::H05);
}

#[test]
fn h05_required_by_policy() {
    let mut v = view();
    v.passes[0].eseal = None;
    let mut id = identified();
    id.eseal = None;
    assert_eq!(run(&id, &v).reasons, vec![Reason::R00]);
    let policy = Policy {
        require_eseal: true,
        ..Policy::default()
    };
    let d = decide(&id, &v, &policy, now(), true);
    assert_holds(&d, Reason::H05);
}

// ------------------------------------------------------------------ H06

#[test]
fn h06_tolerance_boundary() {
    // Declared 31 t: 3% = 930 kg (beats 2 x 60 kg in service).
    for (measured, within) in [
        (31_930.0, true),
        (31_930.5, false),
        (30_070.0, true),
        (30_069.0, false),
    ] {
        let mut id = identified();
        id.weight = Some(WeightRead {
            gross_kg: measured,
            stable: true,
        });
        let d = run(&id, &view());
        if within {
            assert_eq!(d.reasons, vec![Reason::R00], "{measured}");
        } else {
            assert_holds(&d, Reason::H06);
        }
        assert_eq!(d.weight.map(|w| w.within), Some(within));
    }
}

#[test]
fn h06_scale_error_dominates_light_loads() {
    // Declared 1 t with k = 1%: 10 kg; 2 x in-service MPE at 1 t (50 e,
    // class III 0.5 e = 10 kg, x2 = 20 kg) = 40 kg.
    let mut v = view();
    v.passes[0].declared_total_kg = Some(1_000.0);
    let policy = Policy {
        weight_tolerance_pct: 1.0,
        ..Policy::default()
    };
    let mut id = identified();
    for (measured, ok) in [(1_040.0, true), (1_041.0, false)] {
        id.weight = Some(WeightRead {
            gross_kg: measured,
            stable: true,
        });
        let d = decide(&id, &v, &policy, now(), true);
        let w = d.weight.expect("weighed");
        assert_eq!(w.tolerance_kg, 40.0);
        assert_eq!(w.scale_kg, 40.0);
        assert_eq!(w.pct_kg, 10.0);
        assert_eq!(d.result == DecisionResult::Release, ok, "{measured}");
    }
}

// ------------------------------------------------------------------ H07

fn focus_view() -> WhitelistView {
    let mut v = view();
    v.enterprises[0].credit = Credit::Focus;
    v
}

#[test]
fn h07_focus_enterprise_hold_or_inspect() {
    let d = run(&identified(), &focus_view());
    assert_holds(&d, Reason::H07);
    assert_eq!(d.reasons, vec![Reason::H07]);
    let policy = Policy {
        focus_action: FocusAction::Inspect,
        ..Policy::default()
    };
    let d = decide(&identified(), &focus_view(), &policy, now(), true);
    check_invariants(&d);
    assert_eq!(d.result, DecisionResult::Inspect);
    assert_eq!(d.reasons, vec![Reason::H07]);
    assert!(d.led_text.contains("查验"));
    assert!(d.consumes_pass);
}

#[test]
fn h07_focus_vehicle_and_blacklist() {
    let mut v = view();
    v.vehicles[0].credit = Some(Credit::Focus);
    assert_holds(&run(&identified(), &v), Reason::H07);
    let policy = Policy {
        blacklist_plates: vec!["琼A·12345".into()],
        ..Policy::default()
    };
    let d = decide(&identified(), &view(), &policy, now(), true);
    assert_holds(&d, Reason::H07);
}

// ------------------------------------------------------------------ H08

#[test]
fn h08_no_confident_plate() {
    let mut id = identified();
    for p in &mut id.plates {
        p.confidence = 0.5;
    }
    let d = run(&id, &view());
    assert_holds(&d, Reason::H08);
}

#[test]
fn h08_weight_missing_or_unstable() {
    let mut id = identified();
    id.weight = Some(WeightRead {
        gross_kg: 31_000.0,
        stable: false,
    });
    assert_holds(&run(&id, &view()), Reason::H08);
    id.weight = None;
    assert_holds(&run(&id, &view()), Reason::H08);
    let policy = Policy {
        require_weight: false,
        ..Policy::default()
    };
    assert_eq!(
        decide(&id, &view(), &policy, now(), true).reasons,
        vec![Reason::R00]
    );
}

#[test]
fn h08_over_capacity_and_device_fault() {
    let mut id = identified();
    id.weight = Some(WeightRead {
        gross_kg: 75_000.0,
        stable: true,
    });
    assert_holds(&run(&id, &view()), Reason::H08);
    let mut id = identified();
    id.faults = vec![Device::Eseal];
    let d = run(&id, &view());
    assert_holds(&d, Reason::H08);
    assert!(d.details.iter().any(|s| s.contains("eseal")));
}

#[test]
fn h08_etag_required_by_policy() {
    let mut id = identified();
    id.etags.clear();
    assert_eq!(run(&id, &view()).reasons, vec![Reason::R00]);
    let policy = Policy {
        require_etag: true,
        ..Policy::default()
    };
    assert_holds(&decide(&id, &view(), &policy, now(), true), Reason::H08);
}

// ------------------------------------------------------------------ H09

#[test]
fn h09_offline_policy() {
    // AEO enterprise: released offline.
    let d = decide(&identified(), &view(), &Policy::default(), now(), false);
    assert_eq!(d.reasons, vec![Reason::R00]);
    assert!(d.offline);
    // General credit: refused offline, released online.
    let mut v = view();
    v.enterprises[0].credit = Credit::General;
    assert_eq!(run(&identified(), &v).reasons, vec![Reason::R00]);
    let d = decide(&identified(), &v, &Policy::default(), now(), false);
    assert_holds(&d, Reason::H09);
    assert_eq!(d.reasons, vec![Reason::H09]);
    // Unknown enterprise: refused offline.
    let mut v = view();
    v.enterprises.clear();
    assert_holds(
        &decide(&identified(), &v, &Policy::default(), now(), false),
        Reason::H09,
    );
    // Offline release switched off.
    let mut policy = Policy::default();
    policy.offline.allow_release = false;
    assert_holds(
        &decide(&identified(), &view(), &policy, now(), false),
        Reason::H09,
    );
}

#[test]
fn h09_offline_still_needs_local_checks() {
    let mut id = identified();
    id.eseal = None;
    let d = decide(&id, &view(), &Policy::default(), now(), false);
    assert_holds(&d, Reason::H05);
}

// ------------------------------------------------------------------ H10 / I01

fn control(kind: TargetKind, target: &str, action: ControlAction, until: Option<&str>) -> Control {
    Control {
        id: "C1".into(),
        target_kind: kind,
        target: target.into(),
        action,
        note: Some("risk model 7".into()),
        valid_until: until.map(str::to_string),
    }
}

#[test]
fn h10_control_hold() {
    let mut v = view();
    v.controls
        .push(control(TargetKind::PassNo, "P1", ControlAction::Hold, None));
    let d = run(&identified(), &v);
    assert_holds(&d, Reason::H10);
    assert!(!d.consumes_pass);
}

#[test]
fn i01_control_inspect_on_each_target() {
    for (kind, target) in [
        (TargetKind::Plate, "琼A12345"),
        (TargetKind::PassNo, "P1"),
        (TargetKind::Enterprise, "ENT1"),
        (TargetKind::Container, "CSQU3054383"),
    ] {
        let mut v = view();
        v.controls
            .push(control(kind, target, ControlAction::Inspect, None));
        let d = run(&identified(), &v);
        check_invariants(&d);
        assert_eq!(d.result, DecisionResult::Inspect, "{kind:?}");
        assert_eq!(d.reasons, vec![Reason::I01]);
        assert!(d.led_text.contains("查验"));
    }
}

#[test]
fn i01_expired_control_ignored_unparsable_applied() {
    let mut v = view();
    v.controls.push(control(
        TargetKind::Plate,
        "琼A12345",
        ControlAction::Inspect,
        Some("2026-11-27T09:00:00.000Z"),
    ));
    assert_eq!(run(&identified(), &v).reasons, vec![Reason::R00]);
    v.controls[0].valid_until = Some("2026-11-27T11:00:00.000Z".into());
    assert_eq!(run(&identified(), &v).result, DecisionResult::Inspect);
    v.controls[0].valid_until = Some("soon".into());
    assert_eq!(run(&identified(), &v).result, DecisionResult::Inspect);
    // A control on another plate does not apply.
    v.controls[0].target = "琼B99999".into();
    assert_eq!(run(&identified(), &v).reasons, vec![Reason::R00]);
}

#[test]
fn hold_beats_inspect_and_reasons_are_ordered() {
    let mut v = view();
    v.controls.push(control(
        TargetKind::Plate,
        "琼A12345",
        ControlAction::Inspect,
        None,
    ));
    let mut id = identified();
    id.weight = Some(WeightRead {
        gross_kg: 40_000.0,
        stable: true,
    });
    id.containers[0].number = "MSKU9070323".into();
    let d = run(&id, &v);
    check_invariants(&d);
    assert_eq!(d.result, DecisionResult::Hold);
    assert_eq!(d.reasons, vec![Reason::H04, Reason::H06, Reason::I01]);
}

// ------------------------------------------------------------------ officer data, O01/O02

#[test]
fn officer_typed_data_replaces_reads() {
    let mut id = identified();
    id.plates = vec![plate("???", 0.2, Device::PlateFront)];
    id.containers[0].number = "garbage".into();
    id.officer = Some(OfficerEntry {
        officer: "O7".into(),
        note: None,
        data: ManualData {
            plate: Some("琼A12345".into()),
            containers: vec!["CSQU3054383".into()],
            ..ManualData::default()
        },
    });
    let d = run(&id, &view());
    assert_eq!(d.reasons, vec![Reason::R00], "{:?}", d.details);
    // A typed pass number finds the pass even without plate or e-tag.
    let mut id = identified();
    id.plates.clear();
    id.etags.clear();
    id.officer = Some(OfficerEntry {
        officer: "O7".into(),
        note: None,
        data: ManualData {
            pass_no: Some("p1".into()),
            ..ManualData::default()
        },
    });
    let d = run(&id, &view());
    assert_eq!(d.gate_pass.as_deref(), Some("P1"));
    assert_holds(&d, Reason::H08); // still no plate
}

#[test]
fn officer_decisions_o01_o02() {
    let held = run(&identified(), &focus_view());
    let rel = Decision::officer(Some(&held), DecisionResult::Release, "O7", Some("checked"));
    assert_eq!(rel.result, DecisionResult::Release);
    assert_eq!(rel.reasons, vec![Reason::O01, Reason::H07]);
    assert_eq!(rel.by, DecidedBy::Officer);
    assert_eq!(rel.officer.as_deref(), Some("O7"));
    assert!(rel.consumes_pass);
    assert!(rel.led_text.len() <= LED_MAX_BYTES);
    let hold = Decision::officer(
        Some(&run(&identified(), &view())),
        DecisionResult::Hold,
        "O7",
        None,
    );
    assert_eq!(hold.reasons, vec![Reason::O02]);
    assert!(!hold.consumes_pass);
    let bare = Decision::officer(None, DecisionResult::Release, "O7", None);
    assert_eq!(bare.reasons, vec![Reason::O01]);
}

#[test]
fn led_texts_fit_for_every_reason() {
    for r in Reason::ALL {
        for res in [
            DecisionResult::Release,
            DecisionResult::Hold,
            DecisionResult::Inspect,
        ] {
            for p in [
                None,
                Some("琼A12345"),
                Some("粤BD12345"),
                Some("琼A12345琼A12345琼A12345琼A12345"),
            ] {
                let t = led_text(r, res, p);
                assert!(!t.is_empty() && t.len() <= LED_MAX_BYTES, "{r:?} {t}");
                assert!(t.is_char_boundary(t.len()));
            }
        }
    }
}

#[test]
fn lookup_keys_feed_the_view() {
    let mut id = identified();
    id.containers[0].number = "CSQU3O54383".into();
    let k = LookupKeys::from(&id);
    assert_eq!(k.plates, vec!["琼A12345"]);
    assert_eq!(k.etags, vec!["E2801160"]);
    assert_eq!(k.containers, vec!["CSQU3054383"]);
    assert!(k.pass_nos.is_empty());
}

#[test]
fn garbage_never_panics() {
    let mut id = identified();
    id.plates = vec![plate("", f32::NAN, Device::PlateFront)];
    id.containers[0].number = "\u{0}".into();
    id.containers[0].confidence = f32::NAN;
    id.weight = Some(WeightRead {
        gross_kg: f64::NAN,
        stable: true,
    });
    let mut v = view();
    v.passes[0].declared_total_kg = Some(f64::INFINITY);
    v.passes[0].valid_from = Some("".into());
    let d = run(&id, &v);
    check_invariants(&d);
    assert_eq!(d.result, DecisionResult::Hold);
}
