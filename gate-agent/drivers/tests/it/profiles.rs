//! Issue 4 (drivers): the register profiles shipped in config/profiles/
//! load, declare the name of their file, and decode the worked examples of
//! the simulator's device documents (docs/devices/weighbridge-modbus.md,
//! docs/devices/rfid.md) to the documented values.

use std::path::{Path, PathBuf};

use gate_drivers::profile::{BlockData, Profile};
use gate_drivers::rfid::{slot_prefixes, tags_from_sample, SealState};
use gate_drivers::weighbridge::weight_from_sample;

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/profiles")
}

fn load(name: &str) -> Profile {
    Profile::load_named(&profiles_dir(), name).unwrap_or_else(|e| panic!("{e}"))
}

/// Read a register image through the profile's plan.
fn decode(p: &Profile, regs: &[u16]) -> gate_drivers::profile::Sample {
    let data: Vec<BlockData> = p
        .blocks()
        .iter()
        .map(|b| {
            let (s, n) = (usize::from(b.start), usize::from(b.count));
            BlockData::Words(
                (s..s + n)
                    .map(|a| regs.get(a).copied().unwrap_or(0))
                    .collect(),
            )
        })
        .collect();
    let s = p.decode(&data);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    s
}

#[test]
fn every_shipped_profile_loads() {
    let mut n = 0;
    for entry in std::fs::read_dir(profiles_dir()).expect("config/profiles") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("stem");
            let p = Profile::load_named(&profiles_dir(), stem).unwrap_or_else(|e| panic!("{e}"));
            assert!(!p.blocks().is_empty());
            n += 1;
        }
    }
    assert!(
        n >= 4,
        "expected the weighbridge and RFID profiles, found {n}"
    );
}

#[test]
fn wb_f32_cdab_decodes_the_documented_example() {
    let p = load("wb-f32-cdab");
    assert_eq!(p.blocks().len(), 1, "one request per poll");
    // 32 460 kg stable; division 20; capacity 60 000 kg; SEQ 5.
    let s = decode(&p, &[0x9800, 0x46FD, 0x0001, 20, 0x6000, 0x476A, 5]);
    let w = weight_from_sample(&s).expect("weight");
    assert_eq!(w.gross_kg, 32_460.0);
    assert_eq!(w.device_stable, Some(true));
    assert!(!w.overload);
    assert_eq!(s.number("capacity"), Some(60_000.0));
    assert_eq!(s.flag("motion"), Some(false));
}

#[test]
fn wb_i32_scaled_decodes_the_documented_example() {
    let p = load("wb-i32-scaled");
    // -40 kg in motion: -4 units, status MOTION | NEGATIVE.
    let s = decode(&p, &[0xFFFF, 0xFFFC, 0x000A, 10, 20, 6000, 1]);
    let w = weight_from_sample(&s).expect("weight");
    assert_eq!(w.gross_kg, -40.0);
    assert_eq!(w.device_stable, Some(false));
    assert_eq!(s.flag("negative"), Some(true));
    assert_eq!(s.number("capacity"), Some(60_000.0));
    // 123 456 units = 0x0001E240 = 1 234 560 kg, overload.
    let s = decode(&p, &[0x0001, 0xE240, 0x0005, 10, 20, 6000, 2]);
    let w = weight_from_sample(&s).expect("weight");
    assert_eq!(w.gross_kg, 1_234_560.0);
    assert!(w.overload);
}

#[test]
fn rfid_profiles_decode_slots() {
    for name in ["rfid-etag", "rfid-eseal"] {
        let p = load(name);
        assert_eq!(p.blocks().len(), 1, "{name}: one request per poll");
        assert_eq!(
            slot_prefixes(&p),
            vec!["slot0.", "slot1.", "slot2.", "slot3."]
        );
        let mut regs = vec![0u16; 80];
        regs[0] = 0b11; // RF on, tag present
        regs[1] = 2;
        regs[4] = 2;
        // Slot 0: EPC E2801160600002054CC2A1B3, RSSI -55.3 dBm, 7 reads, tampered seal.
        let epc = [0xE280u16, 0x1160, 0x6000, 0x0205, 0x4CC2, 0xA1B3];
        regs[16] = 1;
        regs[17..23].copy_from_slice(&epc);
        regs[23..27].copy_from_slice(&[0xE280, 0x1160, 0x1234, 0x5678]);
        regs[27] = (-553i16) as u16;
        regs[28..30].copy_from_slice(&[0, 7]);
        regs[30] = 2;
        regs[31] = 40;
        // Slot 1: ASCII id "ES00012345", intact.
        regs[32] = 1;
        regs[33..39].copy_from_slice(&[0x4553, 0x3030, 0x3031, 0x3233, 0x3435, 0x0000]);
        regs[46] = 1;
        let s = decode(&p, &regs);
        assert_eq!(s.flag("rf_on"), Some(true));
        let tags = tags_from_sample(&s, &slot_prefixes(&p));
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].epc, "E2801160600002054CC2A1B3");
        assert_eq!(tags[0].tid.as_deref(), Some("E280116012345678"));
        assert!((tags[0].rssi.expect("rssi") + 55.3).abs() < 1e-9);
        assert_eq!(
            (tags[0].count, tags[0].seal, tags[0].age_ms),
            (Some(7), Some(SealState::Tampered), Some(40))
        );
        assert_eq!(tags[1].id(), "ES00012345");
        assert_eq!(tags[1].seal, Some(SealState::Intact));
    }
}
