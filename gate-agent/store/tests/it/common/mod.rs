//! Synthetic whitelist data for the store's tests and benchmark: realistic
//! identifiers (GA 36-style plates, ISO 6346 containers with a correct check
//! digit, EPC-like e-tags), a configurable mix of record kinds, and batches.
//! Every record carries a `tag` (in `va_code`, vehicle `tare_kg`, enterprise
//! `name`, control `note`) so tests can see which batch wrote it.
#![allow(dead_code)]

use gate_proto::messages::{
    BatchKind, Chunk, Control, ControlAction, Credit, Deletes, Enterprise, GatePass, GoodsCategory,
    PassKind, PassStatus, PassUses, PlateColour, TargetKind, Upserts, Vehicle, WhitelistBatch,
    WHITELIST_SCHEMA,
};

const ALNUM: &[u8; 34] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"; // no I, O
const LETTERS: &[u8; 24] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";

fn base34(mut v: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = ALNUM[(v % 34) as usize];
        v /= 34;
    }
    String::from_utf8(out).expect("ascii")
}

/// Tractor plate number `i` (distinct for i < 24 * 34^5 ≈ 1.1e9).
pub fn plate(i: u64) -> String {
    format!(
        "琼{}{}",
        LETTERS[(i % 24) as usize] as char,
        base34(i / 24, 5)
    )
}

/// Trailer plate number `i`.
pub fn trailer_plate(i: u64) -> String {
    format!(
        "琼{}{}挂",
        LETTERS[(i % 24) as usize] as char,
        base34(i / 24, 4)
    )
}

#[test]
fn container_check_digits() {
    assert_eq!(check_digit("CSQU305438"), 3);
    assert!(container(5, 1).starts_with("CSQU000011"));
}

pub fn etag(i: u64) -> String {
    format!("E28011600000{i:012X}")
}

/// ISO 6346 check digit of the first 10 characters (letters valued from
/// A=10 upwards, skipping multiples of 11).
pub fn check_digit(code10: &str) -> u32 {
    let mut sum = 0u32;
    for (i, c) in code10.chars().enumerate() {
        let v = if let Some(d) = c.to_digit(10) {
            d
        } else {
            let mut val = 10u32;
            for _ in 'A'..c {
                val += 1;
                if val % 11 == 0 {
                    val += 1;
                }
            }
            val
        };
        sum += v << i;
    }
    sum % 11 % 10
}

const OWNERS: [&str; 8] = [
    "CSQU", "MSCU", "TGHU", "OOLU", "CMAU", "HLXU", "MAEU", "EGHU",
];

/// Container `k` (0 or 1) of pass `i`: unique for 2 * i + k < 8e6.
pub fn container(i: u64, k: u64) -> String {
    let n = 2 * i + k;
    let owner = OWNERS[((n / 1_000_000) % OWNERS.len() as u64) as usize];
    let code10 = format!("{owner}{:06}", n % 1_000_000);
    let d = check_digit(&code10);
    format!("{code10}{d}")
}

/// A container number that is in no whitelist built here.
pub fn missing_container(i: u64) -> String {
    let code10 = format!("ZZZU{:06}", i % 1_000_000);
    let d = check_digit(&code10);
    format!("{code10}{d}")
}

pub fn enterprise_id(j: u64) -> String {
    format!("91460000MA{j:08}")
}

/// How many records of each kind make up a whitelist of `n` records.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    pub passes: u64,
    pub vehicles: u64,
    pub enterprises: u64,
    pub controls: u64,
}

impl Mix {
    /// 60 % passes, 30 % vehicles, 1 % enterprises, 9 % controls.
    pub fn for_records(n: u64) -> Self {
        let enterprises = (n / 100).max(1);
        let vehicles = (n * 3 / 10).max(1);
        let controls = n * 9 / 100;
        let passes = n.saturating_sub(enterprises + vehicles + controls).max(1);
        Self {
            passes,
            vehicles,
            enterprises,
            controls,
        }
    }
    pub fn total(&self) -> u64 {
        self.passes + self.vehicles + self.enterprises + self.controls
    }
}

/// Pass `i` of a whitelist with `mix`: its vehicle is `i % vehicles`
/// (one vehicle, several passes), 70 % carry the e-tag, 30 % a trailer,
/// 1 or 2 containers.
pub fn gate_pass(i: u64, mix: &Mix, tag: u64) -> GatePass {
    let v = i % mix.vehicles;
    let n_cont = 1 + i % 2;
    GatePass {
        pass_no: format!("HP{i:012}"),
        status: if i % 17 == 0 {
            PassStatus::Used
        } else {
            PassStatus::Approved
        },
        kind: if i % 23 == 0 {
            PassKind::Empty
        } else {
            PassKind::Goods
        },
        plate: plate(v),
        etag: (i % 10 < 7).then(|| etag(v)),
        trailer_plate: (i % 10 >= 7).then(|| trailer_plate(v)),
        containers: (0..n_cont).map(|k| container(i, k)).collect(),
        declared_total_kg: Some(20_000.0 + (i % 20_000) as f64),
        enterprise: Some(enterprise_id(i % mix.enterprises)),
        goods_category: Some(match i % 3 {
            0 => GoodsCategory::ZeroTariff,
            1 => GoodsCategory::Relaxed,
            _ => GoodsCategory::ValueAdded,
        }),
        va_code: Some(format!("v{tag}")),
        valid_from: Some("2026-11-01T00:00:00.000Z".into()),
        valid_until: Some("2026-12-31T00:00:00.000Z".into()),
        uses: if i % 5 == 0 {
            PassUses::Multi
        } else {
            PassUses::Single
        },
        eseal: (i % 4 == 0).then(|| format!("ES{i:010}")),
    }
}

pub fn vehicle(v: u64, mix: &Mix, tag: u64) -> Vehicle {
    Vehicle {
        plate: plate(v),
        plate_colour: Some(PlateColour::Yellow),
        etag: Some(etag(v)),
        tare_kg: Some(tag as f64),
        enterprise: Some(enterprise_id(v % mix.enterprises)),
        credit: (v % 50 == 0).then_some(Credit::Focus),
    }
}

pub fn enterprise(j: u64, tag: u64) -> Enterprise {
    Enterprise {
        id: enterprise_id(j),
        name: format!("Enterprise {j} v{tag}"),
        credit: match j % 4 {
            0 => Credit::Aeo,
            1 => Credit::Whitelist,
            2 => Credit::General,
            _ => Credit::Focus,
        },
    }
}

/// Control `k`: targets cycle plate / pass_no / enterprise / container,
/// each an existing key of the whitelist.
pub fn control(k: u64, mix: &Mix, tag: u64) -> Control {
    let (target_kind, target) = match k % 4 {
        0 => (TargetKind::Plate, plate(k % mix.vehicles)),
        1 => (TargetKind::PassNo, format!("HP{:012}", k % mix.passes)),
        2 => (TargetKind::Enterprise, enterprise_id(k % mix.enterprises)),
        _ => (TargetKind::Container, container(k % mix.passes, 0)),
    };
    Control {
        id: format!("C{k:010}"),
        target_kind,
        target,
        action: if k % 3 == 0 {
            ControlAction::Hold
        } else {
            ControlAction::Inspect
        },
        note: Some(format!("v{tag}")),
        valid_until: None,
    }
}

/// Record `r` (0..mix.total()) of the whitelist, pushed into `u`.
pub fn push_record(u: &mut Upserts, r: u64, mix: &Mix, tag: u64) {
    let mut r = r;
    if r < mix.passes {
        return u.gate_passes.push(gate_pass(r, mix, tag));
    }
    r -= mix.passes;
    if r < mix.vehicles {
        return u.vehicles.push(vehicle(r, mix, tag));
    }
    r -= mix.vehicles;
    if r < mix.enterprises {
        return u.enterprises.push(enterprise(r, tag));
    }
    r -= mix.enterprises;
    u.controls.push(control(r, mix, tag));
}

pub fn batch(
    kind: BatchKind,
    from: Option<u64>,
    version: u64,
    chunk: (u32, u32),
) -> WhitelistBatch {
    WhitelistBatch {
        schema: WHITELIST_SCHEMA.into(),
        site: "HK-XINHAI".into(),
        kind,
        from_version: from,
        version,
        chunk: Chunk {
            index: chunk.0,
            count: chunk.1,
        },
        issued_at: "2026-11-27T10:00:00.000Z".into(),
        upserts: Upserts::default(),
        deletes: Deletes::default(),
    }
}

/// Chunk `index` of `count` of a snapshot of the whole `mix`, every record
/// tagged `tag`.
pub fn snapshot_chunk(mix: &Mix, version: u64, tag: u64, index: u32, count: u32) -> WhitelistBatch {
    let mut b = batch(BatchKind::Snapshot, None, version, (index, count));
    let n = mix.total();
    let per = n.div_ceil(u64::from(count));
    let start = per * u64::from(index);
    for r in start..(start + per).min(n) {
        push_record(&mut b.upserts, r, mix, tag);
    }
    b
}

/// A whole snapshot in `count` chunks.
pub fn snapshot(mix: &Mix, version: u64, tag: u64, count: u32) -> Vec<WhitelistBatch> {
    (0..count)
        .map(|i| snapshot_chunk(mix, version, tag, i, count))
        .collect()
}

pub fn delta(from: u64, to: u64) -> WhitelistBatch {
    batch(BatchKind::Delta, Some(from), to, (0, 1))
}
