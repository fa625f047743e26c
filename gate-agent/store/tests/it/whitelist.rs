//! Whitelist batches on real SQLite files: snapshot staging (chunks out of
//! order, duplicates, missing), delta chains, gaps, deletes, lookups.

use crate::common;

use common::*;
use gate_core::view::LookupKeys;
use gate_proto::messages::{BatchKind, PassStatus, TargetKind};
use gate_store::{ApplyOutcome, IgnoreReason, LookupKey, Store, StoreConfig, StoreError};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("lane.db"), StoreConfig::default()).expect("open")
}

fn keys_for_pass(p: &gate_proto::messages::GatePass) -> LookupKeys {
    LookupKeys {
        plates: vec![p.plate.clone()],
        etags: p.etag.iter().cloned().collect(),
        containers: p.containers.clone(),
        pass_nos: vec![],
    }
}

const MIX: Mix = Mix {
    passes: 200,
    vehicles: 80,
    enterprises: 7,
    controls: 40,
};

#[test]
fn snapshot_chunks_out_of_order_with_duplicates_apply_once_complete() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    assert_eq!(store.whitelist_version().expect("v"), 0);
    let chunks = snapshot(&MIX, 5, 5, 4);
    for (i, idx) in [2usize, 0, 3].into_iter().enumerate() {
        let out = store.apply_batch(&chunks[idx]).expect("stage");
        assert_eq!(
            out,
            ApplyOutcome::Staged {
                version: 5,
                received: i as u32 + 1,
                count: 4
            }
        );
        // Nothing visible before the last chunk.
        assert_eq!(store.whitelist_version().expect("v"), 0);
        assert_eq!(store.whitelist_counts().expect("c").passes, 0);
    }
    // Duplicate chunk: ignored, nothing staged twice.
    assert_eq!(
        store.apply_batch(&chunks[0]).expect("dup"),
        ApplyOutcome::Ignored {
            have: 0,
            reason: IgnoreReason::DuplicateChunk
        }
    );
    let st = store.staging_status().expect("st").expect("staging");
    assert_eq!(
        (st.version, st.received, st.count, st.missing),
        (5, 3, 4, vec![1])
    );

    let out = store.apply_batch(&chunks[1]).expect("last");
    assert_eq!(
        out,
        ApplyOutcome::Applied {
            version: 5,
            records: MIX.total()
        }
    );
    assert_eq!(store.whitelist_version().expect("v"), 5);
    let c = store.whitelist_counts().expect("c");
    assert_eq!(
        (c.passes, c.vehicles, c.enterprises, c.controls),
        (MIX.passes, MIX.vehicles, MIX.enterprises, MIX.controls)
    );
    assert_eq!(
        c.containers,
        (0..MIX.passes).map(|i| 1 + i % 2).sum::<u64>()
    );
    assert!(store.staging_status().expect("st").is_none());
    // A chunk of the applied snapshot arriving late: stale.
    assert_eq!(
        store.apply_batch(&chunks[2]).expect("late"),
        ApplyOutcome::Ignored {
            have: 5,
            reason: IgnoreReason::Stale
        }
    );
}

#[test]
fn missing_chunk_never_applies_and_staging_survives_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let chunks = snapshot(&MIX, 3, 3, 3);
    {
        let store = open(&dir);
        store.apply_batch(&chunks[0]).expect("c0");
        store.apply_batch(&chunks[2]).expect("c2");
        assert_eq!(store.whitelist_version().expect("v"), 0);
        let miss = store
            .lookup(&keys_for_pass(&gate_pass(0, &MIX, 3)))
            .expect("l");
        assert!(miss.passes.is_empty() && miss.vehicles.is_empty());
    }
    let store = open(&dir);
    let st = store.staging_status().expect("st").expect("staged");
    assert_eq!(
        (st.version, st.received, st.missing.clone()),
        (3, 2, vec![1])
    );
    assert!(matches!(
        store.apply_batch(&chunks[1]).expect("c1"),
        ApplyOutcome::Applied { version: 3, .. }
    ));
    assert_eq!(store.whitelist_counts().expect("c").passes, MIX.passes);
}

#[test]
fn newer_snapshot_discards_staged_older_one_and_older_chunks_are_stale() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    let old = snapshot(&MIX, 4, 4, 2);
    let new = snapshot(&MIX, 6, 6, 2);
    store.apply_batch(&old[0]).expect("old0");
    assert!(matches!(
        store.apply_batch(&new[1]).expect("new1"),
        ApplyOutcome::Staged {
            version: 6,
            received: 1,
            count: 2
        }
    ));
    assert_eq!(
        store.apply_batch(&old[1]).expect("old1"),
        ApplyOutcome::Ignored {
            have: 0,
            reason: IgnoreReason::Stale
        }
    );
    assert!(matches!(
        store.apply_batch(&new[0]).expect("new0"),
        ApplyOutcome::Applied { version: 6, .. }
    ));
    let v = store
        .lookup(&keys_for_pass(&gate_pass(1, &MIX, 6)))
        .expect("l");
    assert_eq!(v.version, 6);
    assert!(v.passes.iter().all(|p| p.va_code.as_deref() == Some("v6")));
}

#[test]
fn snapshot_replaces_everything() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    for b in snapshot(&MIX, 1, 1, 1) {
        store.apply_batch(&b).expect("s1");
    }
    let small = Mix {
        passes: 10,
        vehicles: 5,
        enterprises: 2,
        controls: 3,
    };
    for b in snapshot(&small, 2, 2, 2) {
        store.apply_batch(&b).expect("s2");
    }
    let c = store.whitelist_counts().expect("c");
    assert_eq!(
        (c.version, c.passes, c.vehicles, c.enterprises, c.controls),
        (2, 10, 5, 2, 3)
    );
    // A pass only in snapshot 1 is gone, with its containers.
    let v = store
        .lookup_by(LookupKey::Container(container(150, 0)))
        .expect("l");
    assert!(v.passes.is_empty());
    assert_eq!(c.containers, (0..10).map(|i| 1 + i % 2).sum::<u64>());
    // A third snapshot after that still works (index names never clash).
    for b in snapshot(&MIX, 9, 9, 3) {
        store.apply_batch(&b).expect("s9");
    }
    assert_eq!(store.whitelist_counts().expect("c").passes, MIX.passes);
}

#[test]
fn duplicate_keys_across_chunks_keep_the_last() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    let mut a = batch(BatchKind::Snapshot, None, 2, (0, 2));
    let mut b = batch(BatchKind::Snapshot, None, 2, (1, 2));
    let mut p1 = gate_pass(1, &MIX, 1);
    p1.containers = vec![container(900, 0)];
    let mut p2 = gate_pass(1, &MIX, 2);
    p2.containers = vec![container(901, 0)];
    a.upserts.gate_passes.push(p1);
    b.upserts.gate_passes.push(p2);
    a.upserts.vehicles.push(vehicle(3, &MIX, 1));
    b.upserts.vehicles.push(vehicle(3, &MIX, 2));
    store.apply_batch(&a).expect("a");
    assert!(matches!(
        store.apply_batch(&b).expect("b"),
        ApplyOutcome::Applied { .. }
    ));
    let c = store.whitelist_counts().expect("c");
    assert_eq!((c.passes, c.containers, c.vehicles), (1, 1, 1));
    let v = store
        .lookup_by(LookupKey::PassNo("HP000000000001".into()))
        .expect("l");
    assert_eq!(v.passes.len(), 1);
    assert_eq!(v.passes[0].va_code.as_deref(), Some("v2"));
    assert!(store
        .lookup_by(LookupKey::Container(container(900, 0)))
        .expect("l")
        .passes
        .is_empty());
}

#[test]
fn delta_chain_gap_and_stale() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    for b in snapshot(&MIX, 10, 10, 2) {
        store.apply_batch(&b).expect("snap");
    }
    // 10 -> 11: update pass 3 (new status, one container swapped), add a
    // pass, delete pass 4, delete a vehicle and a control.
    let mut d = delta(10, 11);
    let mut p3 = gate_pass(3, &MIX, 11);
    p3.status = PassStatus::Used;
    p3.containers = vec![container(3, 0), container(777, 1)];
    d.upserts.gate_passes.push(p3);
    d.upserts.gate_passes.push(gate_pass(5000, &MIX, 11));
    d.deletes.gate_passes.push("HP000000000004".into());
    d.deletes.vehicles.push(plate(79));
    d.deletes.controls.push("C0000000000".into());
    assert_eq!(
        store.apply_batch(&d).expect("d11"),
        ApplyOutcome::Applied {
            version: 11,
            records: 5
        }
    );
    let v = store
        .lookup_by(LookupKey::PassNo("HP000000000003".into()))
        .expect("l");
    assert_eq!(v.version, 11);
    assert_eq!(v.passes[0].status, PassStatus::Used);
    assert_eq!(v.passes[0].containers.len(), 2);
    assert!(store
        .lookup_by(LookupKey::Container(container(3, 1)))
        .expect("l")
        .passes
        .is_empty());
    let by_new = store
        .lookup_by(LookupKey::Container(container(777, 1)))
        .expect("l");
    assert_eq!(by_new.passes.len(), 1);
    assert_eq!(by_new.passes[0].pass_no, "HP000000000003");
    assert!(store
        .lookup_by(LookupKey::PassNo("HP000000000004".into()))
        .expect("l")
        .passes
        .is_empty());
    assert!(store
        .lookup_by(LookupKey::Container(container(4, 0)))
        .expect("l")
        .passes
        .is_empty());
    assert_eq!(
        store
            .lookup_by(LookupKey::PassNo("HP000000005000".into()))
            .expect("l")
            .passes
            .len(),
        1
    );
    let c = store.whitelist_counts().expect("c");
    assert_eq!(
        (c.passes, c.vehicles, c.controls),
        (MIX.passes, MIX.vehicles - 1, MIX.controls - 1)
    );

    // A gap (12 -> 13 while at 11): nothing applied, resync.
    let mut gap = delta(12, 13);
    gap.upserts.gate_passes.push(gate_pass(6000, &MIX, 13));
    assert_eq!(
        store.apply_batch(&gap).expect("gap"),
        ApplyOutcome::NeedResync { have: 11 }
    );
    assert_eq!(store.whitelist_version().expect("v"), 11);
    assert!(store
        .lookup_by(LookupKey::PassNo("HP000000006000".into()))
        .expect("l")
        .passes
        .is_empty());
    // A redelivered old delta: ignored, no resync needed.
    assert_eq!(
        store.apply_batch(&d).expect("again"),
        ApplyOutcome::Ignored {
            have: 11,
            reason: IgnoreReason::Stale
        }
    );
    // An overlapping delta (10 -> 12): cannot apply on 11.
    assert_eq!(
        store.apply_batch(&delta(10, 12)).expect("overlap"),
        ApplyOutcome::NeedResync { have: 11 }
    );
    // The chain continues.
    let mut d12 = delta(11, 12);
    d12.upserts.enterprises.push(enterprise(0, 12));
    assert!(matches!(
        store.apply_batch(&d12).expect("d12"),
        ApplyOutcome::Applied { version: 12, .. }
    ));
    // Survives a reopen.
    drop(store);
    let store = open(&dir);
    assert_eq!(store.whitelist_version().expect("v"), 12);
}

#[test]
fn delta_before_any_snapshot_needs_resync() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    assert_eq!(
        store.apply_batch(&delta(3, 4)).expect("d"),
        ApplyOutcome::NeedResync { have: 0 }
    );
}

#[test]
fn delta_drops_a_staged_snapshot_it_overtakes() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    for b in snapshot(&MIX, 1, 1, 1) {
        store.apply_batch(&b).expect("s1");
    }
    let s2 = snapshot(&MIX, 2, 2, 2);
    store.apply_batch(&s2[0]).expect("stage");
    store.apply_batch(&delta(1, 2)).expect("d2");
    assert!(store.staging_status().expect("st").is_none());
    assert_eq!(
        store.apply_batch(&s2[1]).expect("late"),
        ApplyOutcome::Ignored {
            have: 2,
            reason: IgnoreReason::Stale
        }
    );
}

#[test]
fn invalid_batches_are_errors_without_change() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    let mut b = snapshot_chunk(&MIX, 2, 2, 0, 1);
    b.schema = "gate.whitelist/0".into();
    assert!(matches!(
        store.apply_batch(&b),
        Err(StoreError::InvalidBatch(_))
    ));
    let mut b = snapshot_chunk(&MIX, 2, 2, 0, 2);
    b.chunk.index = 2;
    assert!(matches!(
        store.apply_batch(&b),
        Err(StoreError::InvalidBatch(_))
    ));
    // Chunk count changing within one version.
    store
        .apply_batch(&snapshot_chunk(&MIX, 3, 3, 0, 2))
        .expect("c0");
    assert!(matches!(
        store.apply_batch(&snapshot_chunk(&MIX, 3, 3, 1, 3)),
        Err(StoreError::InvalidBatch(_))
    ));
    assert_eq!(store.whitelist_version().expect("v"), 0);
}

#[test]
fn lookup_finds_related_records_by_every_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    for b in snapshot(&MIX, 1, 1, 1) {
        store.apply_batch(&b).expect("snap");
    }
    // Pass 7 has a trailer (i % 10 >= 7), vehicle 7, one... two containers.
    let p = gate_pass(7, &MIX, 1);
    let trailer = p.trailer_plate.clone().expect("trailer");

    // By plate: every pass of that vehicle (7, 87, 167), the vehicle,
    // its enterprise and the controls on any of them.
    let v = store
        .lookup_by(LookupKey::Plate(p.plate.clone()))
        .expect("l");
    let mut nos: Vec<_> = v.passes.iter().map(|p| p.pass_no.as_str()).collect();
    nos.sort_unstable();
    assert_eq!(nos, ["HP000000000007", "HP000000000087", "HP000000000167"]);
    assert_eq!(v.vehicles.len(), 1);
    assert_eq!(v.vehicles[0].plate, p.plate);
    let ents: Vec<_> = v.enterprises.iter().map(|e| e.id.clone()).collect();
    for pass in &v.passes {
        assert!(ents.contains(pass.enterprise.as_ref().expect("ent")));
    }
    // Every control returned relates to something found.
    for c in &v.controls {
        let hit = match c.target_kind {
            TargetKind::Plate => c.target == p.plate || c.target == trailer,
            TargetKind::PassNo => nos.contains(&c.target.as_str()),
            TargetKind::Enterprise => ents.contains(&c.target),
            TargetKind::Container => v.passes.iter().any(|p| p.containers.contains(&c.target)),
        };
        assert!(hit, "unrelated control {c:?}");
    }
    // Controls on the enterprises are found: control k=2 targets enterprise 2.
    let by_ent: Vec<_> = v
        .controls
        .iter()
        .filter(|c| c.target_kind == TargetKind::Enterprise)
        .collect();
    let expected_ent_controls = (0..MIX.controls)
        .filter(|k| k % 4 == 2 && ents.contains(&enterprise_id(k % MIX.enterprises)))
        .count();
    assert_eq!(by_ent.len(), expected_ent_controls);

    // Control 8 targets plate(8); control 9 pass HP..09 (vehicle 9's);
    // control 11 the first container of pass 11.
    let v8 = store.lookup_by(LookupKey::Plate(plate(8))).expect("l");
    assert!(v8.controls.iter().any(|c| c.id == "C0000000008"));
    let v9 = store.lookup_by(LookupKey::Plate(plate(9))).expect("l");
    assert!(v9.controls.iter().any(|c| c.id == "C0000000009"));
    let v11 = store.lookup_by(LookupKey::Plate(plate(11))).expect("l");
    assert!(v11.controls.iter().any(|c| c.id == "C0000000011"));

    // By trailer plate, e-tag, container, pass number.
    let t = store
        .lookup_by(LookupKey::Plate(trailer.clone()))
        .expect("l");
    assert!(t.passes.iter().any(|x| x.pass_no == p.pass_no));
    // Vehicle 1's passes (1, 81, 161) carry its e-tag.
    let e = store.lookup_by(LookupKey::Etag(etag(1))).expect("l");
    assert_eq!(e.vehicles.len(), 1);
    assert_eq!(e.vehicles[0].plate, plate(1));
    let mut by_tag: Vec<_> = e.passes.iter().map(|x| x.pass_no.as_str()).collect();
    by_tag.sort_unstable();
    assert_eq!(
        by_tag,
        ["HP000000000001", "HP000000000081", "HP000000000161"]
    );
    let c = store
        .lookup_by(LookupKey::Container(p.containers[1].clone()))
        .expect("l");
    assert_eq!(c.passes.len(), 1);
    assert_eq!(c.passes[0], p);
    let n = store
        .lookup_by(LookupKey::PassNo(p.pass_no.clone()))
        .expect("l");
    assert_eq!(n.passes, vec![p.clone()]);
    // The pass's vehicle comes along even when looked up by pass number.
    assert_eq!(n.vehicles.len(), 1);

    // Normalisation: spaces and lower case in keys.
    let spaced = format!(" {} ", p.containers[0].to_lowercase());
    let s = store.lookup_by(LookupKey::Container(spaced)).expect("l");
    assert_eq!(s.passes.len(), 1);

    // A missing key: empty view at the current version.
    let m = store
        .lookup_by(LookupKey::Plate(plate(999_999)))
        .expect("l");
    assert_eq!(m.version, 1);
    assert!(m.passes.is_empty() && m.vehicles.is_empty() && m.controls.is_empty());
}

#[test]
fn platform_identifiers_are_stored_normalised() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    let mut b = batch(BatchKind::Snapshot, None, 1, (0, 1));
    let mut p = gate_pass(1, &MIX, 1);
    p.plate = "琼b 12345".into();
    p.containers = vec!["csqu 305438 3".into()];
    b.upserts.gate_passes.push(p);
    store.apply_batch(&b).expect("snap");
    let v = store
        .lookup_by(LookupKey::Plate("琼B12345".into()))
        .expect("l");
    assert_eq!(v.passes.len(), 1);
    assert_eq!(v.passes[0].plate, "琼B12345");
    assert_eq!(v.passes[0].containers, vec!["CSQU3054383".to_owned()]);
}

#[test]
fn passes_with_many_containers_are_found_by_each_and_updated() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    let mut b = batch(BatchKind::Snapshot, None, 1, (0, 1));
    let mut p = gate_pass(1, &MIX, 1);
    // Four containers, given unsorted and with a duplicate.
    p.containers = vec![
        container(40, 1),
        container(40, 0),
        container(41, 0),
        container(41, 1),
        container(40, 0),
    ];
    b.upserts.gate_passes.push(p.clone());
    b.upserts.gate_passes.push(gate_pass(2, &MIX, 1));
    store.apply_batch(&b).expect("snap");
    assert_eq!(store.whitelist_counts().expect("c").containers, 4 + 1);
    for c in &p.containers {
        let v = store.lookup_by(LookupKey::Container(c.clone())).expect("l");
        assert_eq!(v.passes.len(), 1, "{c}");
        let mut want = p.containers.clone();
        want.sort();
        want.dedup();
        assert_eq!(v.passes[0].containers, want);
    }
    // Delta: drop one of the extras and the first, add a new one.
    let mut d = delta(1, 2);
    let mut p2 = p.clone();
    p2.containers = vec![container(40, 1), container(41, 1), container(42, 0)];
    d.upserts.gate_passes.push(p2.clone());
    store.apply_batch(&d).expect("delta");
    for (c, found) in [
        (container(40, 0), false),
        (container(41, 0), false),
        (container(40, 1), true),
        (container(41, 1), true),
        (container(42, 0), true),
    ] {
        let v = store.lookup_by(LookupKey::Container(c.clone())).expect("l");
        assert_eq!(v.passes.len(), usize::from(found), "{c}");
    }
    assert_eq!(store.whitelist_counts().expect("c").containers, 3 + 1);
    // Deleting the pass removes every container.
    let mut d = delta(2, 3);
    d.deletes.gate_passes.push(p.pass_no.clone());
    store.apply_batch(&d).expect("delete");
    assert_eq!(store.whitelist_counts().expect("c").containers, 1);
    assert!(store
        .lookup_by(LookupKey::Container(container(42, 0)))
        .expect("l")
        .passes
        .is_empty());
}

#[test]
fn identical_upsert_and_key_changes_in_a_delta() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    for b in snapshot(&MIX, 1, 1, 1) {
        store.apply_batch(&b).expect("snap");
    }
    let mut d = delta(1, 2);
    // Pass 3 resent unchanged; pass 5 moves to another truck and e-tag.
    d.upserts.gate_passes.push(gate_pass(3, &MIX, 1));
    let mut p5 = gate_pass(5, &MIX, 2);
    p5.plate = plate(70);
    p5.etag = Some(etag(70));
    d.upserts.gate_passes.push(p5.clone());
    store.apply_batch(&d).expect("delta");
    let v = store
        .lookup_by(LookupKey::PassNo("HP000000000003".into()))
        .expect("l");
    assert_eq!(v.passes, vec![gate_pass(3, &MIX, 1)]);
    let old = store.lookup_by(LookupKey::Plate(plate(5))).expect("l");
    assert!(old.passes.iter().all(|p| p.pass_no != "HP000000000005"));
    let new = store.lookup_by(LookupKey::Etag(etag(70))).expect("l");
    assert!(new.passes.contains(&p5));
}

#[test]
fn status_only_and_vehicle_changes_apply_through_every_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = open(&dir);
    for b in snapshot(&MIX, 1, 1, 1) {
        store.apply_batch(&b).expect("snap");
    }
    let mut d = delta(1, 2);
    // Status only (in-place path).
    let mut p9 = gate_pass(9, &MIX, 1);
    p9.status = PassStatus::Void;
    p9.valid_until = Some("2026-12-01T00:00:00.000Z".into());
    d.upserts.gate_passes.push(p9.clone());
    // Vehicle: tare only (in-place), and another with a new e-tag (upsert).
    let mut v4 = vehicle(4, &MIX, 1);
    v4.tare_kg = Some(15_500.0);
    // Vehicle 7's passes (7, 87, 167) carry no e-tag, so a lookup by its
    // old e-tag can only find it through the e-tag index.
    let mut v6 = vehicle(7, &MIX, 1);
    v6.etag = Some("E2NEWTAG".into());
    d.upserts.vehicles.push(v4.clone());
    d.upserts.vehicles.push(v6.clone());
    // A new vehicle (upsert inserts).
    let v_new = vehicle(5000, &MIX, 2);
    d.upserts.vehicles.push(v_new.clone());
    store.apply_batch(&d).expect("delta");

    let v = store
        .lookup_by(LookupKey::PassNo(p9.pass_no.clone()))
        .expect("l");
    assert_eq!(v.passes, vec![p9]);
    let v = store.lookup_by(LookupKey::Plate(plate(4))).expect("l");
    assert_eq!(v.vehicles, vec![v4]);
    let v = store
        .lookup_by(LookupKey::Etag("E2NEWTAG".into()))
        .expect("l");
    assert_eq!(v.vehicles, vec![v6]);
    let v = store.lookup_by(LookupKey::Etag(etag(7))).expect("l");
    assert!(v.passes.is_empty());
    assert!(v.vehicles.is_empty(), "old e-tag still indexed");
    let v = store.lookup_by(LookupKey::Plate(plate(5000))).expect("l");
    assert_eq!(v.vehicles, vec![v_new]);
    assert_eq!(
        store.whitelist_counts().expect("c").vehicles,
        MIX.vehicles + 1
    );
}
