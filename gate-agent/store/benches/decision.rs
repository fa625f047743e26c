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

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use gate_core::view::LookupKeys;
use gate_store::{ApplyOutcome, Store, StoreConfig};
use rand::{Rng, SeedableRng};

pub struct Args {
    pub records: u64,
    pub lookups: usize,
    pub delta: u64,
    pub chunk: u64,
    pub deltas: u64,
    pub page_size: u32,
    pub writer_cache_kib: u64,
    pub reader_cache_kib: u64,
    pub mmap: u64,
    pub dir: Option<std::path::PathBuf>,
}

impl Args {
    /// The defaults (1 M records) without a command line.
    pub fn new(records: u64) -> Self {
        Self {
            records,
            lookups: 20_000,
            delta: 10_000,
            chunk: 50_000,
            deltas: 5,
            writer_cache_kib: StoreConfig::default().writer_cache_kib,
            reader_cache_kib: StoreConfig::default().reader_cache_kib,
            page_size: StoreConfig::default().page_size,
            mmap: StoreConfig::default().mmap_bytes,
            dir: None,
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args::new(1_000_000);
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
            "--deltas" => a.deltas = num("--deltas")?.max(1),
            "--writer-cache-kib" => a.writer_cache_kib = num("--writer-cache-kib")?,
            "--reader-cache-kib" => a.reader_cache_kib = num("--reader-cache-kib")?,
            "--mmap" => a.mmap = num("--mmap")?,
            "--page-size" => a.page_size = u32::try_from(num("--page-size")?).map_err(|e| e.to_string())?,
            "--dir" => a.dir = Some(it.next().ok_or("--dir needs a value")?.into()),
            // cargo bench passes --bench to harness=false targets.
            "--bench" => {}
            "-h" | "--help" => return Err(
                "usage: decision [--records N] [--lookups N] [--delta N] [--deltas N] [--chunk N] [--page-size B] [--mmap BYTES] [--writer-cache-kib K] [--reader-cache-kib K] [--dir PATH]"
                    .into(),
            ),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

/// CPU time of the calling thread (Linux `/proc/thread-self/schedstat`,
/// ns); zero elsewhere. Unlike wall time it barely moves with machine load.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// (CPU time, time spent runnable but waiting for a CPU) of the calling
/// thread (Linux schedstat); zeros elsewhere.
fn thread_sched() -> (Duration, Duration) {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut it = s
        .split_whitespace()
        .map(|v| Duration::from_nanos(v.parse().unwrap_or(0)));
    (it.next().unwrap_or_default(), it.next().unwrap_or_default())
}

/// (resident, peak resident) of this process in MB (Linux).
fn rss_mb() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// (in use, peak since the last reset) of SQLite's heap in MB: page
/// caches, sorter memory, statements of every connection in the process.
#[allow(unsafe_code)]
fn sqlite_heap_mb(reset_peak: bool) -> (f64, f64) {
    // SAFETY: both functions only read (and optionally reset) SQLite's
    // global memory counters; they take no pointers.
    let (used, peak) = unsafe {
        (
            rusqlite::ffi::sqlite3_memory_used(),
            rusqlite::ffi::sqlite3_memory_highwater(i32::from(reset_peak)),
        )
    };
    (
        used as f64 / (1 << 20) as f64,
        peak as f64 / (1 << 20) as f64,
    )
}

/// 1-minute load average (Linux).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
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

/// Wall and calling-thread CPU time of some work.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

impl Cost {
    fn of<T>(f: impl FnOnce() -> T) -> (T, Cost) {
        let (t, c) = (Instant::now(), thread_cpu());
        let out = f();
        (
            out,
            Cost {
                wall: t.elapsed(),
                cpu: thread_cpu().saturating_sub(c),
            },
        )
    }
    fn add(&mut self, o: Cost) {
        self.wall += o.wall;
        self.cpu += o.cpu;
    }
}

/// Apply a whole snapshot; returns (whole apply, final chunk, generation).
fn apply_snapshot(store: &Store, mix: &Mix, version: u64, chunk: u64) -> (Cost, Cost, Duration) {
    let count = u32::try_from(mix.total().div_ceil(chunk)).expect("chunks");
    let (mut total, mut last, mut gen) = (Cost::default(), Cost::default(), Duration::ZERO);
    for i in 0..count {
        let t = Instant::now();
        let b = snapshot_chunk(mix, version, version, i, count);
        gen += t.elapsed();
        let (out, el) = Cost::of(|| store.apply_batch(&b).expect("apply chunk"));
        total.add(el);
        if i + 1 == count {
            last = el;
            assert!(matches!(out, ApplyOutcome::Applied { .. }), "{out:?}");
        }
    }
    (total, last, gen)
}

/// What a delta of the bench contains (printed with the results).
const DELTA_MIX: &str = "50 % pass status changes, 10 % passes with a changed container, \
    20 % new passes, 10 % vehicles (1 in 4 with a new e-tag), 5 % controls, 5 % pass deletes";

/// A delta of `n` records from `from`, composed as [`DELTA_MIX`].
fn make_delta(
    rng: &mut impl Rng,
    mix: &Mix,
    from: u64,
    n: u64,
    new_base: u64,
) -> gate_proto::messages::WhitelistBatch {
    use gate_proto::messages::PassStatus;
    let mut d = delta(from, from + 1);
    let tag = from + 1;
    for _ in 0..n * 50 / 100 {
        let mut p = gate_pass(rng.gen_range(0..mix.passes), mix, tag);
        p.status = PassStatus::Used;
        d.upserts.gate_passes.push(p);
    }
    for _ in 0..n * 10 / 100 {
        let i = rng.gen_range(0..mix.passes);
        let mut p = gate_pass(i, mix, tag);
        p.containers[0] = container(mix.passes + i, 0);
        d.upserts.gate_passes.push(p);
    }
    for k in 0..n * 20 / 100 {
        d.upserts
            .gate_passes
            .push(gate_pass(new_base + k, mix, tag));
    }
    for k in 0..n * 10 / 100 {
        let mut v = vehicle(rng.gen_range(0..mix.vehicles), mix, tag);
        if k % 4 == 0 {
            v.etag = Some(etag(new_base + k));
        }
        d.upserts.vehicles.push(v);
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

/// What a test checks of a run (the bench prints everything).
pub struct Summary {
    /// SQLite heap high-water over the whole run, KiB.
    pub sqlite_peak_kib: u64,
    /// The configured cap of the page caches (store + the bench's bare
    /// connections), KiB.
    pub cache_bound_kib: u64,
    pub writer_cache_kib: u64,
    pub deltas_applied: usize,
    pub lookups_during_applies: usize,
}

#[allow(dead_code)]
fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    run(&args);
}

/// The whole bench; prints its report.
pub fn run(args: &Args) -> Summary {
    let mix = Mix::for_records(args.records);
    let dir = match &args.dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let cfg = StoreConfig {
        page_size: args.page_size,
        mmap_bytes: args.mmap,
        writer_cache_kib: args.writer_cache_kib,
        reader_cache_kib: args.reader_cache_kib,
        ..StoreConfig::default()
    };
    // The store's bound plus the bench's two bare connections.
    let cache_bound_kib = cfg.cache_bound_kib() + cfg.writer_cache_kib + cfg.reader_cache_kib;
    let cache_bound_mb = cache_bound_kib as f64 / 1024.0;
    let store = Store::open(dir.path().join("lane.db"), cfg).expect("open store");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6A7E);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let load_start = loadavg();

    println!(
        "gate-store decision bench: {} records ({} passes, {} vehicles, {} enterprises, {} controls); SQLite {}; {} CPUs; page size {}",
        thousands(mix.total()),
        thousands(mix.passes),
        thousands(mix.vehicles),
        thousands(mix.enterprises),
        thousands(mix.controls),
        rusqlite::version(),
        cpus,
        args.page_size
    );

    // ---- snapshot apply (empty store), then let the checkpoint finish ----
    sqlite_heap_mb(true);
    let (snap, snap_last, gen) = apply_snapshot(&store, &mix, 1, args.chunk);
    let (_, settle_snap) = Cost::of(|| store.maintenance().expect("checkpoint"));
    let mem_snap = (sqlite_heap_mb(true), rss_mb());
    let size_snap = file_mb(store.whitelist_path());
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
        args.reader_cache_kib, args.mmap
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
    for (_, k) in key_sets.iter().take(2000) {
        store.lookup(k).expect("lookup");
    }
    let (mut st_hit, mut st_miss, mut bare_all, mut st_all) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut found = 0usize;
    // Interleaved, so both paths see the same cache state and machine load.
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
    for k in 0..args.deltas {
        let d = make_delta(
            &mut rng,
            &mix,
            version,
            args.delta,
            1_000_000_000 + k * args.delta,
        );
        let (out, c) = Cost::of(|| store.apply_batch(&d).expect("delta"));
        assert!(matches!(out, ApplyOutcome::Applied { .. }), "{out:?}");
        deltas.push(c);
        version += 1;
    }
    let (_, settle_delta) = Cost::of(|| store.maintenance().expect("checkpoint"));
    deltas.sort_unstable_by_key(|c| c.wall);
    let mem_delta = (sqlite_heap_mb(true), rss_mb());

    // ---- the bare-SQLite floor of a delta: as many random passes rewritten
    // (same values) by pass number in one transaction, on the same file ----
    let mut floor = Vec::new();
    {
        let bare_w = rusqlite::Connection::open(&wl_path).expect("bare writer open");
        bare_w
            .execute_batch(&format!(
                "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{};",
                args.writer_cache_kib
            ))
            .expect("bare writer pragmas");
        for _ in 0..args.deltas {
            let keys: Vec<String> = (0..args.delta)
                .map(|_| format!("HP{:012}", rng.gen_range(0..mix.passes)))
                .collect();
            let (_, c) = Cost::of(|| {
                let tx = bare_w.unchecked_transaction().expect("bare begin");
                {
                    let mut up = tx
                        .prepare_cached("UPDATE passes SET uses = uses WHERE pass_no = ?1")
                        .expect("bare update");
                    for k in &keys {
                        up.execute([k]).expect("bare row");
                    }
                }
                tx.commit().expect("bare commit");
            });
            floor.push(c);
        }
        store.maintenance().expect("checkpoint");
    }
    floor.sort_unstable_by_key(|c| c.wall);

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
            let mut own: [Vec<Duration>; 3] = Default::default();
            let mut i = 0;
            // Like a lane (one lookup per vehicle), not a busy loop: a
            // thread that never sleeps is preempted by the scheduler for a
            // whole timeslice now and then, which is not the store's doing.
            while !stop.load(Ordering::Relaxed) {
                let ph = *phase.lock().expect("phase") as usize;
                let w0 = thread_sched().1;
                let t = Instant::now();
                store
                    .lookup(&keys[i % keys.len()])
                    .expect("lookup under load");
                let el = t.elapsed();
                lat[ph].push(el);
                own[ph].push(el.saturating_sub(thread_sched().1.saturating_sub(w0)));
                i += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            (lat, own)
        })
    };
    let count = u32::try_from(chunks).expect("chunks");
    version += 1;
    let snap_v = version;
    let mut snap_load = Cost::default();
    for i in 0..count {
        let b = snapshot_chunk(&mix, snap_v, snap_v, i, count);
        if i + 1 == count {
            *phase.lock().expect("phase") = 1;
        }
        let (_, c) = Cost::of(|| store.apply_batch(&b).expect("apply under load"));
        snap_load.add(c);
    }
    *phase.lock().expect("phase") = 2;
    let mut deltas_load = Vec::new();
    for k in 0..args.deltas {
        let d = make_delta(
            &mut rng,
            &mix,
            version,
            args.delta,
            2_000_000_000 + k * args.delta,
        );
        let (_, c) = Cost::of(|| store.apply_batch(&d).expect("delta under load"));
        deltas_load.push(c);
        version += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let (lat, own) = reader.join().expect("reader");
    let [l_stage, l_final, l_delta] = lat.map(Dist);
    let own_all = Dist(own.concat());
    deltas_load.sort_unstable_by_key(|c| c.wall);
    let mem_load = (sqlite_heap_mb(true), rss_mb());
    let size_end = file_mb(store.whitelist_path());

    // ---- report ----
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    let snap_goal = Duration::from_secs(3).mul_f64(mix.total() as f64 / 1e6);
    let delta_goal = Duration::from_millis(100).mul_f64(args.delta as f64 / 1e4);
    println!(
        "load average (1 min): {load_start} at start, {} at end, on {cpus} CPUs. Wall times suffer from that load; \
         thread CPU (the applying thread's own CPU time) much less.",
        loadavg()
    );
    println!();
    println!(
        "{:<58} {:>10} {:>12} {:>10} {:>7}",
        "apply", "wall", "thread CPU", "goal", ""
    );
    let line = |name: String, c: Cost, goal: Option<Duration>| {
        println!(
            "{:<58} {:>10} {:>12} {:>10} {:>7}",
            name,
            secs(c.wall),
            secs(c.cpu),
            goal.map(|g| format!("<= {}", secs(g))).unwrap_or_default(),
            goal.map(|g| verdict(c.wall <= g)).unwrap_or("")
        );
    };
    line(
        format!("snapshot into an empty store, {chunks} chunks"),
        snap,
        Some(snap_goal),
    );
    line(
        "  of which the last chunk (index build + swap)".into(),
        snap_last,
        None,
    );
    line(
        "  then its WAL checkpoint (background thread's work)".into(),
        settle_snap,
        None,
    );
    line(
        format!(
            "delta {} records, median of {} (max {})",
            thousands(args.delta),
            deltas.len(),
            secs(deltas[deltas.len() - 1].wall)
        ),
        deltas[deltas.len() / 2],
        Some(delta_goal),
    );
    line(
        format!("  then the WAL checkpoint of the {} deltas", deltas.len()),
        settle_delta,
        None,
    );
    line(
        "snapshot replacing the whitelist, lookups running".into(),
        snap_load,
        Some(snap_goal),
    );
    line(
        format!(
            "delta, lookups running, median of {} (max {})",
            deltas_load.len(),
            secs(deltas_load[deltas_load.len() - 1].wall)
        ),
        deltas_load[deltas_load.len() / 2],
        Some(delta_goal),
    );
    let floor_med = floor[floor.len() / 2];
    line(
        format!(
            "baseline: bare SQLite, {} random passes rewritten, 1 tx (max {})",
            thousands(args.delta),
            secs(floor[floor.len() - 1].wall)
        ),
        floor_med,
        None,
    );
    let delta_med = deltas[deltas.len() / 2];
    println!(
        "{:<58} {:>10} {:>12}",
        "ratio delta / bare floor (medians)",
        format!("{:.1}x", ratio(delta_med.wall, floor_med.wall)),
        format!("{:.1}x", ratio(delta_med.cpu, floor_med.cpu)),
    );
    println!("  delta composition: {DELTA_MIX}");
    println!();
    println!(
        "{:<58} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "lookup latency", "p50", "p99", "p99.9", "max", "n"
    );
    let row = |name: &str, d: &Dist| {
        println!(
            "{:<58} {:>9} {:>9} {:>9} {:>9} {:>8}",
            name,
            us(d.pct(0.50)),
            us(d.pct(0.99)),
            us(d.pct(0.999)),
            us(d.max()),
            d.0.len()
        );
    };
    row("Store::lookup, LookupKeys (idle)", &st_all);
    row("  existing keys", &st_hit);
    row("  missing keys", &st_miss);
    row(
        "baseline: bare SQLite SELECT pass by plate (same keys)",
        &bare_all,
    );
    println!(
        "{:<58} {:>9} {:>9}",
        "ratio Store::lookup / bare SELECT",
        format!("{:.1}x", ratio(st_all.pct(0.5), bare_all.pct(0.5))),
        format!("{:.1}x", ratio(st_all.pct(0.99), bare_all.pct(0.99)))
    );
    println!("during applies, a reader thread does one lookup every ~1 ms:");
    row("Store::lookup while a snapshot stages", &l_stage);
    row("Store::lookup while the last chunk swaps in", &l_final);
    row("Store::lookup while deltas apply", &l_delta);
    let under_load = Dist([l_stage.0.clone(), l_final.0.clone(), l_delta.0.clone()].concat());
    row(
        "  all of them, less the time spent waiting for a CPU",
        &own_all,
    );
    let p99_goal = Duration::from_millis(1);
    println!();
    println!(
        "lookup p99 goal <= 1 ms: idle {} ({}), during applies {} ({}); {:.1} passes per existing lookup",
        us(st_all.pct(0.99)),
        verdict(st_all.pct(0.99) <= p99_goal),
        us(under_load.pct(0.99)),
        verdict(under_load.pct(0.99) <= p99_goal),
        found as f64 / st_hit.0.len().max(1) as f64
    );
    println!();
    println!(
        "memory: SQLite page caches capped at {cache_bound_mb:.0} MB by the configuration (writer {} KiB x 2 files, reader {} KiB x {} + 2, checkpointer 2 MB x 2; \
         the bench's bare reader and writer 1 each); an index build's sorter adds about one writer cache per sort thread",
        args.writer_cache_kib,
        args.reader_cache_kib,
        StoreConfig::default().readers
    );
    println!(
        "{:<58} {:>10} {:>10} {:>10} {:>10}",
        "memory (MB)", "SQLite", "SQL peak", "RSS", "RSS peak"
    );
    for (name, ((used, peak), (rss, hwm))) in [
        ("after the first snapshot", mem_snap),
        ("after the deltas", mem_delta),
        ("after the snapshot + deltas with lookups running", mem_load),
    ] {
        println!("{name:<58} {used:>10.0} {peak:>10.0} {rss:>10.0} {hwm:>10.0}");
    }
    println!(
        "  (SQL peak: SQLite's heap high-water during that phase; RSS includes the bench's own generated records)"
    );
    println!(
        "disk: whitelist file + WAL {size_snap:.0} MB after the first snapshot ({:.0} bytes per record), {size_end:.0} MB at the end",
        size_snap * 1e6 / mix.total() as f64
    );
    let peak = [mem_snap, mem_delta, mem_load]
        .iter()
        .map(|((_, p), _)| *p)
        .fold(0.0, f64::max);
    Summary {
        sqlite_peak_kib: (peak * 1024.0) as u64,
        cache_bound_kib,
        writer_cache_kib: args.writer_cache_kib,
        deltas_applied: deltas.len() + deltas_load.len(),
        lookups_during_applies: own_all.0.len(),
    }
}
