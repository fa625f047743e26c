//! `cargo bench -p gate-store --bench decision -- [--records N] [--lookups N]
//! [--delta N] [--chunk N] [--dir PATH]`
//!
//! The decision path's store figures, each beside a baseline measured in the
//! same run:
//! - whitelist lookup latency (`Store::lookup` with realistic keys: tractor
//!   and trailer plates, e-tag, containers; half existing, half missing)
//!   beside a bare prepared SQLite `SELECT` of a pass by plate on the same
//!   file and keys;
//! - snapshot apply time of the whole whitelist (N records, chunks), delta
//!   apply time (10 k records);
//! - lookup latency while a snapshot and deltas apply in another thread.
//!
//! Goals (docs/store.md): snapshot 1 M <= 3 s, delta 10 k <= 100 ms,
//! lookup p99 <= 1 ms at 1 M and 10 M records.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gate_core::view::LookupKeys;
use gate_store::{ApplyOutcome, Store, StoreConfig};
use rand::{Rng, SeedableRng};

struct Args {
    records: u64,
    lookups: usize,
    delta: u64,
    chunk: u64,
    dir: Option<std::path::PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        records: 1_000_000,
        lookups: 20_000,
        delta: 10_000,
        chunk: 50_000,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.replace('_', "")
                .parse()
                .map_err(|e| format!("{name} {v}: {e}"))
        };
        match flag.as_str() {
            "--records" => a.records = num("--records")?.max(1000),
            "--lookups" => a.lookups = num("--lookups")?.max(100) as usize,
            "--delta" => a.delta = num("--delta")?.max(10),
            "--chunk" => a.chunk = num("--chunk")?.max(1000),
            "--dir" => a.dir = Some(it.next().ok_or("--dir needs a value")?.into()),
            // cargo bench passes --bench to harness=false targets.
            "--bench" => {}
            "-h" | "--help" => return Err(
                "usage: decision [--records N] [--lookups N] [--delta N] [--chunk N] [--dir PATH]"
                    .into(),
            ),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

/// Latency distribution.
struct Dist(Vec<Duration>);

impl Dist {
    fn pct(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let mut v = self.0.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i]
    }
    fn max(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }
}

fn us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn secs(d: Duration) -> String {
    if d.as_secs_f64() >= 1.0 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "OK"
    } else {
        "MISSED"
    }
}

/// Lookup keys as the lane would gather them; `existing` picks a real pass.
fn keys(rng: &mut impl Rng, mix: &Mix, existing: bool) -> LookupKeys {
    if existing {
        let p = gate_pass(rng.gen_range(0..mix.passes), mix, 0);
        let mut plates = vec![p.plate.clone()];
        plates.extend(p.trailer_plate.clone());
        LookupKeys {
            plates,
            etags: p.etag.into_iter().collect(),
            containers: p.containers,
            pass_nos: vec![],
        }
    } else {
        let r = rng.gen_range(0..1_000_000u64);
        LookupKeys {
            plates: vec![plate(500_000_000 + r)],
            etags: vec![etag(900_000_000 + r)],
            containers: vec![missing_container(r)],
            pass_nos: vec![],
        }
    }
}

/// Apply a whole snapshot; returns (total apply time, final chunk time).
fn apply_snapshot(
    store: &Store,
    mix: &Mix,
    version: u64,
    chunk: u64,
) -> (Duration, Duration, Duration) {
    let count = u32::try_from(mix.total().div_ceil(chunk)).expect("chunks");
    let (mut total, mut last, mut gen) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for i in 0..count {
        let t = Instant::now();
        let b = snapshot_chunk(mix, version, version, i, count);
        gen += t.elapsed();
        let t = Instant::now();
        let out = store.apply_batch(&b).expect("apply chunk");
        let el = t.elapsed();
        total += el;
        if i + 1 == count {
            last = el;
            assert!(matches!(out, ApplyOutcome::Applied { .. }), "{out:?}");
        }
    }
    (total, last, gen)
}

/// A delta of `n` records from `from`: 60 % updated passes (status and a
/// container changed), 10 % new passes, 20 % vehicles, 5 % controls, 5 %
/// deletes of passes.
fn make_delta(
    rng: &mut impl Rng,
    mix: &Mix,
    from: u64,
    n: u64,
    new_base: u64,
) -> gate_proto::messages::WhitelistBatch {
    let mut d = delta(from, from + 1);
    let tag = from + 1;
    for _ in 0..n * 60 / 100 {
        let i = rng.gen_range(0..mix.passes);
        let mut p = gate_pass(i, mix, tag);
        p.status = gate_proto::messages::PassStatus::Used;
        p.containers[0] = container(mix.passes + i, 0);
        d.upserts.gate_passes.push(p);
    }
    for k in 0..n * 10 / 100 {
        d.upserts
            .gate_passes
            .push(gate_pass(new_base + k, mix, tag));
    }
    for _ in 0..n * 20 / 100 {
        d.upserts
            .vehicles
            .push(vehicle(rng.gen_range(0..mix.vehicles), mix, tag));
    }
    for _ in 0..n * 5 / 100 {
        d.upserts
            .controls
            .push(control(rng.gen_range(0..mix.controls.max(1)), mix, tag));
    }
    for _ in 0..n * 5 / 100 {
        d.deletes
            .gate_passes
            .push(format!("HP{:012}", rng.gen_range(0..mix.passes)));
    }
    d
}

fn file_mb(p: &std::path::Path) -> f64 {
    let wal = std::path::PathBuf::from(format!("{}-wal", p.display()));
    let len = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    (len(p) + len(&wal)) as f64 / 1e6
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mix = Mix::for_records(args.records);
    let dir = match &args.dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let store =
        Store::open(dir.path().join("lane.db"), StoreConfig::default()).expect("open store");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6A7E);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    println!(
        "gate-store decision bench: {} records ({} passes, {} vehicles, {} enterprises, {} controls); SQLite {}; {} CPUs",
        thousands(mix.total()),
        thousands(mix.passes),
        thousands(mix.vehicles),
        thousands(mix.enterprises),
        thousands(mix.controls),
        rusqlite::version(),
        cpus
    );

    // ---- snapshot apply (empty store) ----
    let (snap, snap_last, gen) = apply_snapshot(&store, &mix, 1, args.chunk);
    let wl_path = store.whitelist_path().to_owned();
    let chunks = mix.total().div_ceil(args.chunk);
    println!(
        "whitelist file {:.0} MB; record generation (not timed) {}",
        file_mb(&wl_path),
        secs(gen)
    );

    // ---- lookups, idle, beside bare SQLite ----
    let bare =
        rusqlite::Connection::open_with_flags(&wl_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("bare open");
    bare.execute_batch(&format!(
        "PRAGMA cache_size = -{}; PRAGMA mmap_size = {};",
        StoreConfig::default().reader_cache_kib,
        StoreConfig::default().mmap_bytes
    ))
    .expect("bare pragmas");
    let mut bare_stmt = bare
        .prepare(
            "SELECT id, pass_no, status, kind, plate, etag, trailer_plate, containers, declared_total_kg, \
             enterprise, goods_category, va_code, valid_from, valid_until, uses, eseal FROM passes WHERE plate = ?1",
        )
        .expect("bare prepare");
    let key_sets: Vec<(bool, LookupKeys)> = (0..args.lookups)
        .map(|i| {
            let existing = i % 2 == 0;
            (existing, keys(&mut rng, &mix, existing))
        })
        .collect();
    // Warm-up: both paths over a slice of keys.
    for (_, k) in key_sets.iter().take(2000) {
        store.lookup(k).expect("lookup");
    }
    let (mut st_hit, mut st_miss, mut bare_all, mut st_all) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut found = 0usize;
    for (existing, k) in &key_sets {
        let t = Instant::now();
        let v = store.lookup(k).expect("lookup");
        let el = t.elapsed();
        if *existing {
            assert!(!v.passes.is_empty(), "existing key not found: {k:?}");
            found += v.passes.len();
            st_hit.push(el);
        } else {
            assert!(v.passes.is_empty() && v.vehicles.is_empty());
            st_miss.push(el);
        }
        st_all.push(el);
        let t = Instant::now();
        let mut rows = bare_stmt.query([&k.plates[0]]).expect("bare query");
        let mut n = 0usize;
        while let Some(r) = rows.next().expect("bare row") {
            for c in 0..16 {
                let _: rusqlite::types::Value = r.get(c).expect("col");
            }
            n += 1;
        }
        bare_all.push(t.elapsed());
        assert_eq!(n > 0, *existing);
    }
    let (st_all, st_hit, st_miss, bare_all) =
        (Dist(st_all), Dist(st_hit), Dist(st_miss), Dist(bare_all));

    // ---- deltas ----
    let mut version = 1;
    let mut deltas = Vec::new();
    for k in 0..5 {
        let d = make_delta(
            &mut rng,
            &mix,
            version,
            args.delta,
            1_000_000_000 + k * args.delta,
        );
        let t = Instant::now();
        let out = store.apply_batch(&d).expect("delta");
        deltas.push(t.elapsed());
        assert!(matches!(out, ApplyOutcome::Applied { .. }), "{out:?}");
        version += 1;
    }
    deltas.sort_unstable();

    // ---- lookups while a snapshot and deltas apply ----
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(Mutex::new(0u8)); // 0 staging, 1 final chunk, 2 deltas
    let reader = {
        let store = store.clone();
        let stop = stop.clone();
        let phase = phase.clone();
        let keys: Vec<LookupKeys> = key_sets.iter().map(|(_, k)| k.clone()).collect();
        std::thread::spawn(move || {
            let mut lat: [Vec<Duration>; 3] = Default::default();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let ph = *phase.lock().expect("phase") as usize;
                let t = Instant::now();
                store
                    .lookup(&keys[i % keys.len()])
                    .expect("lookup under load");
                lat[ph].push(t.elapsed());
                i += 1;
            }
            lat
        })
    };
    let count = u32::try_from(mix.total().div_ceil(args.chunk)).expect("chunks");
    version += 1;
    let snap_v = version;
    let mut snap_load = Duration::ZERO;
    for i in 0..count {
        let b = snapshot_chunk(&mix, snap_v, snap_v, i, count);
        if i + 1 == count {
            *phase.lock().expect("phase") = 1;
        }
        let t = Instant::now();
        store.apply_batch(&b).expect("apply under load");
        snap_load += t.elapsed();
    }
    *phase.lock().expect("phase") = 2;
    let mut deltas_load = Vec::new();
    for k in 0..5 {
        let d = make_delta(
            &mut rng,
            &mix,
            version,
            args.delta,
            2_000_000_000 + k * args.delta,
        );
        let t = Instant::now();
        store.apply_batch(&d).expect("delta under load");
        deltas_load.push(t.elapsed());
        version += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let [l_stage, l_final, l_delta] = reader.join().expect("reader").map(Dist);
    deltas_load.sort_unstable();

    // ---- report ----
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let snap_goal = Duration::from_secs(3).mul_f64(mix.total() as f64 / 1e6);
    let delta_goal = Duration::from_millis(100).mul_f64(args.delta as f64 / 1e4);
    println!();
    println!(
        "{:<52} {:>10} {:>10} {:>10} {:>10}",
        "apply", "time", "goal", "", ""
    );
    println!(
        "{:<52} {:>10} {:>10} {:>10}",
        format!("snapshot, {} chunks, empty store", chunks),
        secs(snap),
        format!("<= {}", secs(snap_goal)),
        verdict(snap <= snap_goal)
    );
    println!(
        "{:<52} {:>10}",
        "  of which the last chunk (index build + swap)",
        secs(snap_last)
    );
    println!(
        "{:<52} {:>10} {:>10} {:>10}",
        "snapshot, replacing, lookups running",
        secs(snap_load),
        format!("<= {}", secs(snap_goal)),
        verdict(snap_load <= snap_goal)
    );
    println!(
        "{:<52} {:>10} {:>10} {:>10}",
        format!(
            "delta {} records, median of 5 (max {})",
            thousands(args.delta),
            secs(deltas[4])
        ),
        secs(deltas[2]),
        format!("<= {}", secs(delta_goal)),
        verdict(deltas[2] <= delta_goal)
    );
    println!(
        "{:<52} {:>10} {:>10} {:>10}",
        format!(
            "delta, lookups running, median of 5 (max {})",
            secs(deltas_load[4])
        ),
        secs(deltas_load[2]),
        format!("<= {}", secs(delta_goal)),
        verdict(deltas_load[2] <= delta_goal)
    );
    println!();
    println!(
        "{:<52} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "lookup latency", "p50", "p99", "p99.9", "max", "n"
    );
    let row = |name: &str, d: &Dist| {
        println!(
            "{:<52} {:>9} {:>9} {:>9} {:>9} {:>8}",
            name,
            us(d.pct(0.50)),
            us(d.pct(0.99)),
            us(d.pct(0.999)),
            us(d.max()),
            d.0.len()
        );
    };
    row("Store::lookup, all keys (idle)", &st_all);
    row("  existing keys", &st_hit);
    row("  missing keys", &st_miss);
    row("baseline: bare SQLite SELECT pass by plate", &bare_all);
    println!(
        "{:<52} {:>9} {:>9}",
        "ratio Store::lookup / bare SELECT",
        format!("{:.1}x", ratio(st_all.pct(0.5), bare_all.pct(0.5))),
        format!("{:.1}x", ratio(st_all.pct(0.99), bare_all.pct(0.99)))
    );
    row("Store::lookup while a snapshot stages", &l_stage);
    row("Store::lookup while the last chunk swaps in", &l_final);
    row("Store::lookup while deltas apply", &l_delta);
    let under_load = Dist([l_stage.0.clone(), l_final.0.clone(), l_delta.0.clone()].concat());
    let p99_goal = Duration::from_millis(1);
    println!();
    println!(
        "lookup p99 goal <= 1 ms: idle {} ({}), under apply {} ({}); {:.1} passes per existing lookup",
        us(st_all.pct(0.99)),
        verdict(st_all.pct(0.99) <= p99_goal),
        us(under_load.pct(0.99)),
        verdict(under_load.pct(0.99) <= p99_goal),
        found as f64 / st_hit.0.len().max(1) as f64
    );
}
