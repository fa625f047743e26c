//! A lookup sees one whitelist version, never a mix: a reader thread looks
//! up "watched" records in a loop while snapshots and deltas apply; every
//! batch rewrites all watched records tagged with its version, so any mix
//! shows as a record whose tag differs from the view's version, or as a
//! missing record.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use gate_core::view::LookupKeys;
use gate_proto::messages::{
    Control, ControlAction, Credit, Enterprise, GatePass, PassKind, PassStatus, PassUses,
    TargetKind, Upserts, Vehicle,
};
use gate_store::{ApplyOutcome, Store, StoreConfig};

const WATCHED: u64 = 40;
const NOISE: Mix = Mix {
    passes: 60_000,
    vehicles: 30_000,
    enterprises: 1_000,
    controls: 9_000,
};

fn w_plate(i: u64) -> String {
    plate(5_000_000 + i)
}

/// Watched group `i`: a pass, its vehicle, its enterprise, a control on the
/// plate, all tagged `tag`.
fn watched(u: &mut Upserts, i: u64, tag: u64) {
    let ent = format!("WENT{i:04}");
    u.gate_passes.push(GatePass {
        pass_no: format!("WP{i:06}"),
        status: PassStatus::Approved,
        kind: PassKind::Goods,
        plate: w_plate(i),
        etag: None,
        trailer_plate: None,
        containers: vec![],
        declared_total_kg: Some(30_000.0),
        enterprise: Some(ent.clone()),
        goods_category: None,
        va_code: Some(format!("v{tag}")),
        valid_from: None,
        valid_until: None,
        uses: PassUses::Single,
        eseal: None,
    });
    u.vehicles.push(Vehicle {
        plate: w_plate(i),
        plate_colour: None,
        etag: None,
        tare_kg: Some(tag as f64),
        enterprise: Some(ent.clone()),
        credit: None,
    });
    u.enterprises.push(Enterprise {
        id: ent,
        name: format!("W{i} v{tag}"),
        credit: Credit::Aeo,
    });
    u.controls.push(Control {
        id: format!("WC{i:04}"),
        target_kind: TargetKind::Plate,
        target: w_plate(i),
        action: ControlAction::Inspect,
        note: Some(format!("v{tag}")),
        valid_until: None,
    });
}

fn snapshot_with_watched(version: u64, chunks: u32) -> Vec<gate_proto::messages::WhitelistBatch> {
    let mut out = snapshot(&NOISE, version, version, chunks);
    for i in 0..WATCHED {
        let c = (i % u64::from(chunks)) as usize;
        watched(&mut out[c].upserts, i, version);
    }
    out
}

#[test]
fn readers_never_see_a_mix_of_versions() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path().join("lane.db"), StoreConfig::default()).expect("open");
    for b in snapshot_with_watched(1, 2) {
        store.apply_batch(&b).expect("v1");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = store.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            let (mut last, mut n, mut i) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let plates: Vec<String> = (0..3)
                    .map(|k| w_plate((i * 7 + k * 13) % WATCHED))
                    .collect();
                i += 1;
                let keys = LookupKeys {
                    plates: plates.clone(),
                    ..LookupKeys::default()
                };
                let v = store.lookup(&keys).expect("lookup");
                let tag = format!("v{}", v.version);
                assert!(
                    v.version >= last,
                    "version went back: {} after {last}",
                    v.version
                );
                last = v.version;
                seen.insert(v.version);
                // Exactly one of each per plate: nothing missing, nothing doubled.
                assert_eq!(v.passes.len(), 3, "{v:?}");
                assert_eq!(v.vehicles.len(), 3, "{v:?}");
                assert_eq!(v.enterprises.len(), 3, "{v:?}");
                assert_eq!(v.controls.len(), 3, "{v:?}");
                for p in &v.passes {
                    assert_eq!(
                        p.va_code.as_deref(),
                        Some(tag.as_str()),
                        "mixed pass at {}",
                        v.version
                    );
                }
                for x in &v.vehicles {
                    assert_eq!(
                        x.tare_kg,
                        Some(v.version as f64),
                        "mixed vehicle at {}",
                        v.version
                    );
                }
                for e in &v.enterprises {
                    assert!(
                        e.name.ends_with(&format!(" {tag}")),
                        "mixed enterprise at {}: {}",
                        v.version,
                        e.name
                    );
                }
                for c in &v.controls {
                    assert_eq!(
                        c.note.as_deref(),
                        Some(tag.as_str()),
                        "mixed control at {}",
                        v.version
                    );
                }
                n += 1;
            }
            (seen, n)
        })
    };

    let mut version = 1;
    for round in 0..3 {
        // A snapshot (the swap) ...
        version += 1;
        for b in snapshot_with_watched(version, 3) {
            store.apply_batch(&b).expect("snapshot");
        }
        // ... then deltas, each rewriting every watched record.
        for _ in 0..5 {
            let mut d = delta(version, version + 1);
            version += 1;
            for i in 0..WATCHED {
                watched(&mut d.upserts, i, version);
            }
            // Some noise in the delta too.
            for k in 0..2_000 {
                d.upserts.gate_passes.push(gate_pass(
                    (k * 31 + round) % NOISE.passes,
                    &NOISE,
                    version,
                ));
            }
            assert!(matches!(
                store.apply_batch(&d).expect("delta"),
                ApplyOutcome::Applied { .. }
            ));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (seen, n) = reader
        .join()
        .expect("reader thread panicked: a lookup saw a mix");
    assert_eq!(store.whitelist_version().expect("v"), version);
    // The test means something only if the reader overlapped the applies.
    assert!(
        seen.len() >= 4,
        "reader saw only versions {seen:?} in {n} lookups"
    );
    eprintln!("{n} lookups, versions seen: {seen:?}");
}
