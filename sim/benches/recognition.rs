//! Recognition benchmark (issue #7), `cargo xtask bench recognition`:
//! gate-ocr beside RapidOCR (rapidocr_onnxruntime 1.4.4 on onnxruntime, the
//! same PP-OCRv4 models) on the same evaluation set in the same run.
//!
//! 1. Generates the set with `sim::eval` (or reads one: `--set DIR`) into
//!    target/recognition-bench/set-<seed>-<crops>-<frames>/ as PNG + labels.json.
//! 2. Ours: decodes each PNG, then times one gate-ocr call per sample on
//!    this thread (read_plate_crop / read_container_crop / read_plate /
//!    read_containers); the first reads of each category are a warm-up.
//! 3. The peer: sim/benches/ocr_peer.py in the venv target/ocr-peer-venv
//!    (created with `pip install rapidocr_onnxruntime==1.4.4` when missing),
//!    onnxruntime on one thread; it reports raw text and time per sample
//!    (recognition only on single-line crops, detection + recognition on
//!    two-row plates, vertical codes and frames: see the script).
//! 4. Prints per category: N, exact-match accuracy (ours, ours before repair,
//!    peer raw, peer through our grammar), latency p50/p99 ours and peer and
//!    the p50 ratio; accuracy per distortion; the goals with MET/MISSED;
//!    example failures. Full results: target/recognition-bench/results-<seed>.json.
//!
//! Scoring (the same normalisation for both: gate_proto's plate / ISO 6346
//! `normalise`, which drops spaces, dots, `·`, hyphens, brackets):
//! - ours: `text` (after gate-ocr's own repair) equals the truth; code reads
//!   also need `check_ok`. "before repair": the normalised `raw` equals it.
//! - peer raw: the normalised text equals the truth (frames: any one
//!   detected line does, which favours the peer: it is not asked to choose).
//! - peer + grammar: the peer's text put through gate_proto's `repair`
//!   (the unique candidate, as gate-ocr does); for frames, candidates are
//!   every detected line and every run of consecutive lines (up to 3 for
//!   plates, up to 12 for codes); plates take the valid-as-read candidate
//!   with the best mean score, else the best uniquely repaired one; codes
//!   count when any candidate is the truth (as ours count any read).
//!
//! 5. The splits (issue 17 item 1, recognition_parts/split.rs): the fixed
//!    split file sim/eval/split.toml makes the tune split of this set's
//!    frames and the tune part of the second renderer (sim/eval/gen2.py,
//!    Pillow/FreeType), the report split of gen2's report part (typefaces
//!    and setting values never in the tune split); ours and the peer on
//!    both, printed side by side: plates and codes exact %, confident wrong
//!    reads, p50 per frame, peak RSS.
//!
//! Options: --seed S (1), --count N crops of each kind (1000), --frames M of
//! each kind (100), --set DIR (read an existing set), --only CATS (score
//! only these categories, comma-separated; the peer still reads the whole
//! set), --no-peer, --split-frames N gen2 frames of each kind per split
//! (150), --no-split (skip the splits),
//! --failures K examples per category (8), --keep (keep the generated sets;
//! by default they are removed after the run: a few hundred MB of PNG; with
//! --keep, gen2 sets already there from the same seed and count are reused).
//! `cargo bench` adds `--bench`: ignored.
//!
//! Layer: benchmark tooling; knows the set format and the public API of
//! gate-ocr, nothing of its internals.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use gate_ocr::{Layout, Ocr};
use gate_proto::formats::{iso6346, plate as plate_fmt};
use serde::Serialize;
use sim::eval::{self, Category, CodeLayout, Counts, Distortion, Label};

#[path = "recognition_parts/peer.rs"]
mod peer;
#[path = "recognition_parts/split.rs"]
mod split;
use peer::*;

/// The peer, pinned.
const PEER_WHEEL: &str = "rapidocr_onnxruntime==1.4.4";
/// The second renderer's Pillow (sim/eval/gen2.py), pinned: another
/// Pillow/FreeType may draw other bytes from the same seed.
const PILLOW_WHEEL: &str = "Pillow==13.0.0";
const PILLOW_VERSION: &str = "13.0.0";
/// Untimed reads per category before the clock.
const WARMUP: usize = 3;

struct Opts {
    seed: u64,
    count: usize,
    frames: usize,
    set: Option<PathBuf>,
    peer: bool,
    failures: usize,
    keep: bool,
    /// Score only these categories (`--only plate_crop,code_frame`).
    only: Option<Vec<Category>>,
    /// gen2 frames of each kind per split (`--split-frames`); 0: no splits.
    split_frames: usize,
}

fn parse_args() -> Result<Opts> {
    let mut o = Opts {
        seed: 1,
        count: 1000,
        frames: 100,
        set: None,
        peer: true,
        failures: 8,
        keep: false,
        only: None,
        split_frames: 150,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| anyhow!("{name} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--seed" => o.seed = val("--seed")?.parse().context("--seed")?,
            "--count" => o.count = val("--count")?.parse().context("--count")?,
            "--frames" => o.frames = val("--frames")?.parse().context("--frames")?,
            "--set" => o.set = Some(PathBuf::from(val("--set")?)),
            "--failures" => o.failures = val("--failures")?.parse().context("--failures")?,
            "--no-peer" => o.peer = false,
            "--keep" => o.keep = true,
            "--split-frames" => {
                o.split_frames = val("--split-frames")?.parse().context("--split-frames")?
            }
            "--no-split" => o.split_frames = 0,
            "--only" => {
                let v = val("--only")?;
                let mut cats = Vec::new();
                for name in v.split(',') {
                    let c = Category::ALL
                        .into_iter()
                        .find(|c| c.name() == name.trim())
                        .ok_or_else(|| {
                            anyhow!("--only: unknown category `{name}` (plate_crop, code_crop, plate_frame, code_frame)")
                        })?;
                    cats.push(c);
                }
                o.only = Some(cats);
            }
            other => bail!(
                "unknown option `{other}` (have --seed --count --frames --set --only --no-peer --failures --keep --split-frames --no-split)"
            ),
        }
    }
    Ok(o)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// One sample's outcome on one side.
#[derive(Clone, Debug, Default, Serialize)]
struct Outcome {
    /// What was answered (after repair for ours / the grammar for the peer).
    text: String,
    /// Before repair: ours `raw`, the peer's normalised text.
    raw: String,
    exact: bool,
    exact_raw: bool,
    ms: f64,
    /// Ours: colour right (plates); the peer has no colour.
    colour_ok: Option<bool>,
    /// Code frames: reads that pass the check digit but are not the truth.
    false_codes: usize,
    /// Frames: confident wrong reads, valid by the grammar (plates: GA 36;
    /// codes: ISO 6346 with the check digit) but not the truth.
    wrong_valid: usize,
    error: Option<String>,
}

#[derive(Serialize)]
struct Row<'a> {
    label: &'a Label,
    ours: Outcome,
    peer: Option<Outcome>,
}

fn code_layout(l: &Label) -> Layout {
    match l.layout {
        Some(CodeLayout::Vertical) => Layout::Vertical,
        _ => Layout::Horizontal,
    }
}

/// Runs gate-ocr on one sample (image already decoded); times the call.
fn ours_one(ocr: &Ocr, l: &Label, img: &image::RgbImage) -> Outcome {
    if l.category.is_frame() {
        return ours_frame(ocr, l.category, l.truth(), l.colour.as_deref(), img);
    }
    let truth = l.truth();
    let t0 = Instant::now();
    let mut o = Outcome::default();
    match l.category {
        Category::PlateCrop => {
            let r = ocr.read_plate_crop(img);
            o.ms = t0.elapsed().as_secs_f64() * 1e3;
            match r {
                Ok(Some(p)) => {
                    o.exact = p.text == truth;
                    o.exact_raw = plate_fmt::normalise(&p.raw) == truth;
                    o.colour_ok = Some(Some(p.colour.as_str()) == l.colour.as_deref());
                    o.text = p.text;
                    o.raw = p.raw;
                }
                Ok(None) => {}
                Err(e) => o.error = Some(e.to_string()),
            }
        }
        Category::CodeCrop => {
            let r = ocr.read_container_crop(img, code_layout(l));
            o.ms = t0.elapsed().as_secs_f64() * 1e3;
            match r {
                Ok(Some(c)) => {
                    o.exact = c.text == truth && c.check_ok;
                    o.exact_raw = iso6346::normalise(&c.raw) == truth;
                    o.text = c.text;
                    o.raw = c.raw;
                }
                Ok(None) => {}
                Err(e) => o.error = Some(e.to_string()),
            }
        }
        Category::PlateFrame | Category::CodeFrame => unreachable!("frames: ours_frame"),
    }
    o
}

/// Runs gate-ocr on one frame (`read_plate` or `read_containers`, image
/// already decoded); times the call. Shared by both renderers' frames.
fn ours_frame(
    ocr: &Ocr,
    category: Category,
    truth: &str,
    colour: Option<&str>,
    img: &image::RgbImage,
) -> Outcome {
    let t0 = Instant::now();
    let mut o = Outcome::default();
    match category {
        Category::PlateFrame | Category::PlateCrop => {
            let r = ocr.read_plate(img);
            o.ms = t0.elapsed().as_secs_f64() * 1e3;
            match r {
                Ok(Some(p)) => {
                    o.exact = p.text == truth;
                    o.exact_raw = plate_fmt::normalise(&p.raw) == truth;
                    o.colour_ok = Some(Some(p.colour.as_str()) == colour);
                    o.wrong_valid = usize::from(p.valid && p.text != truth);
                    o.text = p.text;
                    o.raw = p.raw;
                }
                Ok(None) => {}
                Err(e) => o.error = Some(e.to_string()),
            }
        }
        Category::CodeFrame | Category::CodeCrop => {
            let r = ocr.read_containers(img);
            o.ms = t0.elapsed().as_secs_f64() * 1e3;
            match r {
                Ok(reads) => {
                    o.exact = reads.iter().any(|c| c.text == truth && c.check_ok);
                    o.exact_raw = reads.iter().any(|c| iso6346::normalise(&c.raw) == truth);
                    o.false_codes = reads
                        .iter()
                        .filter(|c| c.check_ok && c.text != truth)
                        .count();
                    o.wrong_valid = o.false_codes;
                    o.text = reads
                        .iter()
                        .map(|c| c.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                    o.raw = reads
                        .iter()
                        .map(|c| c.raw.as_str())
                        .collect::<Vec<_>>()
                        .join(" ");
                }
                Err(e) => o.error = Some(e.to_string()),
            }
        }
    }
    o
}

/// Process CPU seconds (all threads), from /proc/self/stat; None elsewhere.
fn process_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the command: state is [0], utime [11], stime [12] (ticks).
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Resets this process's peak resident set (VmHWM) to its current RSS
/// (Linux: `5` to /proc/self/clear_refs); false where it cannot.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// This process's peak resident set since the last reset, MiB (VmHWM).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// gate-ocr with its models loaded (fetched on first use).
fn load_ocr() -> Result<Ocr> {
    let paths = gate_ocr::models::ensure(&gate_ocr::models::default_dir())
        .map_err(|e| anyhow!("gate-ocr models: {e}"))?;
    Ocr::load(&paths).map_err(|e| anyhow!("gate-ocr load: {e}"))
}

/// Ours over the set: outcomes, CPU/wall over the timed loop, and the peak
/// RSS (MiB) over the loop, models loaded.
fn run_ours(dir: &Path, labels: &[Label]) -> Result<(Vec<Outcome>, f64, f64)> {
    let ocr = load_ocr()?;
    // Warm-up: the first reads of each category, untimed.
    let mut warmed: BTreeMap<Category, usize> = BTreeMap::new();
    for l in labels {
        let n = warmed.entry(l.category).or_default();
        if *n < WARMUP {
            *n += 1;
            let img = eval::load_image(dir, l)?;
            let _ = ours_one(&ocr, l, &img);
        }
    }
    reset_peak_rss();
    let cpu0 = process_cpu_s();
    let wall0 = Instant::now();
    let mut out = Vec::with_capacity(labels.len());
    for l in labels {
        let img = eval::load_image(dir, l)?;
        out.push(ours_one(&ocr, l, &img));
    }
    let rss = peak_rss_mib();
    // CPU seconds over wall seconds of the loop: about 1.0 means one core.
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = match (cpu0, process_cpu_s()) {
        (Some(a), Some(b)) => b - a,
        _ => f64::NAN,
    };
    Ok((out, cpu / wall.max(1e-9), rss))
}

fn percentile(v: &[f64], q: f64) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    // Nearest rank.
    let k = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[k - 1]
}

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.2}", 100.0 * n as f64 / d as f64)
    }
}

/// A row group of the table.
struct Group<'a> {
    name: &'static str,
    rows: Vec<&'a Row<'a>>,
}

fn groups<'a>(rows: &'a [Row<'a>]) -> Vec<Group<'a>> {
    let of = |f: &dyn Fn(&Label) -> bool| rows.iter().filter(|r| f(r.label)).collect::<Vec<_>>();
    vec![
        Group {
            name: "plate crops",
            rows: of(&|l| l.category == Category::PlateCrop),
        },
        Group {
            name: "code crops",
            rows: of(&|l| l.category == Category::CodeCrop),
        },
        Group {
            name: "  horizontal",
            rows: of(&|l| {
                l.category == Category::CodeCrop && l.layout == Some(CodeLayout::Horizontal)
            }),
        },
        Group {
            name: "  vertical",
            rows: of(&|l| {
                l.category == Category::CodeCrop && l.layout == Some(CodeLayout::Vertical)
            }),
        },
        Group {
            name: "plate frames",
            rows: of(&|l| l.category == Category::PlateFrame),
        },
        Group {
            name: "code frames",
            rows: of(&|l| l.category == Category::CodeFrame),
        },
    ]
}

struct Stats {
    n: usize,
    ours: usize,
    ours_raw: usize,
    peer: usize,
    peer_raw: usize,
    peer_n: usize,
    ours_p50: f64,
    ours_p99: f64,
    peer_p50: f64,
    peer_p99: f64,
}

fn stats(g: &Group<'_>) -> Stats {
    let peers: Vec<&Outcome> = g.rows.iter().filter_map(|r| r.peer.as_ref()).collect();
    let ours_ms: Vec<f64> = g.rows.iter().map(|r| r.ours.ms).collect();
    let peer_ms: Vec<f64> = peers.iter().map(|p| p.ms).collect();
    Stats {
        n: g.rows.len(),
        ours: g.rows.iter().filter(|r| r.ours.exact).count(),
        ours_raw: g.rows.iter().filter(|r| r.ours.exact_raw).count(),
        peer: peers.iter().filter(|p| p.exact).count(),
        peer_raw: peers.iter().filter(|p| p.exact_raw).count(),
        peer_n: peers.len(),
        ours_p50: percentile(&ours_ms, 0.5),
        ours_p99: percentile(&ours_ms, 0.99),
        peer_p50: percentile(&peer_ms, 0.5),
        peer_p99: percentile(&peer_ms, 0.99),
    }
}

fn ms(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "-".into()
    }
}

fn main() -> Result<()> {
    let o = parse_args()?;
    let bench_dir = target_dir().join("recognition-bench");
    let dir = match &o.set {
        Some(d) => d.clone(),
        None => {
            let d = bench_dir.join(format!("set-{}-{}-{}", o.seed, o.count, o.frames));
            let counts = Counts {
                plate_crops: o.count,
                code_crops: o.count,
                plate_frames: o.frames,
                code_frames: o.frames,
            };
            let t0 = Instant::now();
            eval::write_set(&d, o.seed, counts)?;
            eprintln!(
                "set: {} ({:.1} s to generate)",
                d.display(),
                t0.elapsed().as_secs_f64()
            );
            d
        }
    };
    let mut set = eval::read_labels(&dir)?;
    if let Some(only) = &o.only {
        set.samples.retain(|l| only.contains(&l.category));
    }
    let labels = &set.samples;

    eprintln!("ours: gate-ocr on {} samples, one thread", labels.len());
    let t0 = Instant::now();
    let (ours, ours_cpu, ours_rss) = run_ours(&dir, labels)?;
    let ours_wall = t0.elapsed().as_secs_f64();

    let (peer, peer_header, peer_cpu, peer_wall, peer_rss) = if o.peer {
        eprintln!("peer: RapidOCR on the same files");
        let t0 = Instant::now();
        let run = run_peer(&dir)?;
        (
            Some(run.reads),
            run.header,
            run.cpu_per_wall,
            t0.elapsed().as_secs_f64(),
            run.peak_rss_mib,
        )
    } else {
        (None, serde_json::Value::Null, f64::NAN, 0.0, f64::NAN)
    };

    let rows: Vec<Row<'_>> = labels
        .iter()
        .zip(ours)
        .map(|(l, ours)| Row {
            label: l,
            peer: peer.as_ref().map(|p| match p.get(&l.id) {
                Some(r) => score_peer(l.category, l.truth(), r),
                None => Outcome {
                    ms: f64::NAN,
                    error: Some("no answer from the peer".into()),
                    ..Outcome::default()
                },
            }),
            ours,
        })
        .collect();

    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    println!();
    println!(
        "recognition bench: seed {}, set {} ({} samples); {cpu_model}, {} cores",
        set.seed,
        dir.display(),
        labels.len(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "ours: gate-ocr (tract), one thread, CPU/wall {ours_cpu:.2}, {ours_wall:.0} s; peer: {} (CPU/wall {peer_cpu:.2}, {peer_wall:.0} s)",
        if peer_header.is_null() {
            "not run".to_string()
        } else {
            peer_header.to_string()
        }
    );
    println!("exact match % (ours after repair | ours raw | peer through our grammar | peer raw); latency ms; ratio = ours p50 / peer p50");
    println!(
        "{:<14} {:>5} | {:>7} {:>7} | {:>7} {:>7} | {:>8} {:>8} | {:>8} {:>8} | {:>6}",
        "category",
        "N",
        "ours",
        "raw",
        "peer+g",
        "peer",
        "ours p50",
        "ours p99",
        "peer p50",
        "peer p99",
        "ratio"
    );
    let gs = groups(&rows);
    let mut by_name = BTreeMap::new();
    for g in &gs {
        let s = stats(g);
        println!(
            "{:<14} {:>5} | {:>7} {:>7} | {:>7} {:>7} | {:>8} {:>8} | {:>8} {:>8} | {:>6}",
            g.name,
            s.n,
            pct(s.ours, s.n),
            pct(s.ours_raw, s.n),
            pct(s.peer, s.peer_n),
            pct(s.peer_raw, s.peer_n),
            ms(s.ours_p50),
            ms(s.ours_p99),
            ms(s.peer_p50),
            ms(s.peer_p99),
            if s.peer_p50.is_finite() && s.peer_p50 > 0.0 {
                format!("{:.2}", s.ours_p50 / s.peer_p50)
            } else {
                "-".into()
            }
        );
        by_name.insert(g.name, s);
    }
    let colour_n = rows.iter().filter(|r| r.ours.colour_ok.is_some()).count();
    let colour_ok = rows
        .iter()
        .filter(|r| r.ours.colour_ok == Some(true))
        .count();
    let false_ours: usize = rows.iter().map(|r| r.ours.false_codes).sum();
    let false_peer: usize = rows
        .iter()
        .filter_map(|r| r.peer.as_ref())
        .map(|p| p.false_codes)
        .sum();
    println!(
        "plate colour right (ours, of plates read): {colour_ok}/{colour_n}; code frames: wrong codes passing the check digit: ours {false_ours}, peer+g {false_peer}"
    );

    // Per distortion.
    println!();
    println!("exact match % by distortion: ours / peer+g");
    print!("{:<12}", "distortion");
    for c in Category::ALL {
        print!(" | {:>15}", c.name());
    }
    println!();
    for d in Distortion::ALL {
        print!("{:<12}", d.name());
        for c in Category::ALL {
            let sel: Vec<&Row<'_>> = rows
                .iter()
                .filter(|r| r.label.category == c && r.label.distortion == d)
                .collect();
            let ours = sel.iter().filter(|r| r.ours.exact).count();
            let peer = sel
                .iter()
                .filter(|r| r.peer.as_ref().is_some_and(|p| p.exact))
                .count();
            let cell = format!(
                "{} / {}",
                pct(ours, sel.len()),
                if o.peer {
                    pct(peer, sel.len())
                } else {
                    "-".into()
                }
            );
            print!(" | {cell:>15}");
        }
        println!();
    }

    // Goals.
    println!();
    println!("goals (issue #7):");
    let goal = |name: &str, met: bool, detail: String| {
        println!(
            "  {:<44} {:<7} {detail}",
            name,
            if met { "MET" } else { "MISSED" }
        );
    };
    for (g, what) in [("plate crops", "plates"), ("plate frames", "plates")] {
        if let Some(s) = by_name.get(g).filter(|s| s.n > 0) {
            let acc = 100.0 * s.ours as f64 / s.n.max(1) as f64;
            goal(
                &format!("{what} >= 99.5 % exact ({g})"),
                s.n > 0 && acc >= 99.5,
                format!("{acc:.2} % of {}", s.n),
            );
        }
    }
    for g in ["code crops", "code frames"] {
        if let Some(s) = by_name.get(g).filter(|s| s.n > 0) {
            let acc = 100.0 * s.ours as f64 / s.n.max(1) as f64;
            goal(
                &format!("containers >= 99.9 % with check digit ({g})"),
                s.n > 0 && acc >= 99.9,
                format!("{acc:.2} % of {}", s.n),
            );
        }
    }
    for g in ["plate crops", "code crops"] {
        if let Some(s) = by_name.get(g).filter(|s| s.n > 0) {
            goal(
                &format!("<= 25 ms per crop, one core ({g}, p50)"),
                s.ours_p50 <= 25.0,
                format!("p50 {} ms, p99 {} ms", ms(s.ours_p50), ms(s.ours_p99)),
            );
        }
    }

    // Failures.
    if o.failures > 0 {
        println!();
        println!("example failures of ours (id, distortion, truth -> text [raw]):");
        for c in Category::ALL {
            let bad: Vec<&Row<'_>> = rows
                .iter()
                .filter(|r| r.label.category == c && !r.ours.exact)
                .collect();
            if bad.is_empty() {
                continue;
            }
            println!("  {} ({} failed):", c.name(), bad.len());
            for r in bad.iter().take(o.failures) {
                println!(
                    "    {} {:<11} {} -> {:?} [{:?}]{}",
                    r.label.id,
                    r.label.distortion.name(),
                    r.label.truth(),
                    r.ours.text,
                    r.ours.raw,
                    r.ours
                        .error
                        .as_deref()
                        .map(|e| format!(" error: {e}"))
                        .unwrap_or_default()
                );
            }
        }
    }

    // The tune and report splits (sim/eval/split.toml), both renderers.
    std::fs::create_dir_all(&bench_dir).with_context(|| bench_dir.display().to_string())?;
    let gen2_rows = if o.split_frames > 0 {
        split::run(&o, &bench_dir, &rows, (ours_rss, peer_rss))?
    } else {
        serde_json::Value::Null
    };

    let out = bench_dir.join(format!("results-{}.json", set.seed));
    let json = serde_json::to_vec_pretty(&serde_json::json!({
        "set": dir,
        "peer": peer_header,
        "rows": rows,
        "gen2_rows": gen2_rows,
    }))?;
    std::fs::write(&out, json).with_context(|| out.display().to_string())?;
    println!();
    println!("per-sample results: {}", out.display());
    // A generated set is a few hundred MB of PNG: removed unless --keep
    // (`gate-sim eval` or --keep writes the same bytes again from the seed).
    if o.set.is_none() && !o.keep {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    } else {
        println!("set kept: {}", dir.display());
    }
    Ok(())
}
