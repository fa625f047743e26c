//! The tune and report splits of the recognition bench (issue 17 item 1).
//!
//! The fixed split file sim/eval/split.toml says which renderers make up
//! which split: "tune" is the crate's own renderer (`sim::eval`, the frames
//! of the main set) plus the tune part of the second renderer
//! (sim/eval/gen2.py, Pillow/FreeType, the tune typefaces and setting
//! ranges); "report" is gen2's report part (typefaces and setting values
//! never in the tune split, and rain). The bench generates gen2's frames
//! with the bench venv's Python (Pillow pinned), runs gate-ocr on them on
//! this thread, then the peer (RapidOCR) on the same files, one after the
//! other, and prints per split and part: plates exact %, codes exact %,
//! confident wrong reads (valid by GA 36 / the check digit, but not the
//! truth), p50 ms per plate frame and per code frame, peak RSS over the
//! part's timed loop (models loaded), ours beside the peer; then exact %
//! by condition and by typeface. Example failures are printed for the tune
//! split only: the report split is for reporting, not for looking at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use sim::eval::Category;

use super::{
    load_ocr, ours_frame, peak_rss_mib, peer_python, percentile, reset_peak_rss, run_peer,
    score_peer, Opts, Outcome, PeerRead, Row, WARMUP,
};

/// One gen2 sample's label (the fields the bench needs; the whole label is
/// kept in the results file).
#[derive(Clone, Debug, Serialize)]
pub(crate) struct G2Label {
    id: String,
    category: Category,
    file: String,
    truth: String,
    colour: Option<String>,
    condition: String,
    /// "cjk / latin" family names (codes: latin only).
    fonts: String,
    full: serde_json::Value,
}

fn read_g2_labels(dir: &Path) -> Result<Vec<G2Label>> {
    let path = dir.join("labels.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let v: serde_json::Value = serde_json::from_str(&text).context("gen2 labels.json")?;
    let samples = v["samples"]
        .as_array()
        .ok_or_else(|| anyhow!("{}: no samples", path.display()))?;
    let mut out = Vec::with_capacity(samples.len());
    for s in samples {
        let str_of = |k: &str| s[k].as_str().map(str::to_string);
        let category: Category = serde_json::from_value(s["category"].clone())?;
        let truth = str_of("plate")
            .or_else(|| str_of("code"))
            .ok_or_else(|| anyhow!("gen2 sample without truth: {s}"))?;
        let fonts = match (s["fonts"]["cjk"].as_str(), s["fonts"]["latin"].as_str()) {
            (Some(c), Some(l)) => format!("{c} / {l}"),
            (None, Some(l)) => l.to_string(),
            _ => "-".into(),
        };
        out.push(G2Label {
            id: str_of("id").unwrap_or_default(),
            category,
            file: str_of("file").unwrap_or_default(),
            truth,
            colour: str_of("colour"),
            condition: str_of("condition").unwrap_or_default(),
            fonts,
            full: s.clone(),
        });
    }
    Ok(out)
}

/// Which renderers make up each split, from sim/eval/split.toml.
fn split_file() -> Result<(PathBuf, BTreeMap<String, Vec<String>>, i64)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/split.toml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let v: toml::Value = toml::from_str(&text).with_context(|| path.display().to_string())?;
    let mut splits = BTreeMap::new();
    for name in ["tune", "report"] {
        let r = v
            .get("splits")
            .and_then(|s| s.get(name))
            .and_then(|s| s.get("renderers"))
            .and_then(|r| r.as_array())
            .ok_or_else(|| anyhow!("{}: no splits.{name}.renderers", path.display()))?;
        splits.insert(
            name.to_string(),
            r.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
        );
    }
    let version = v.get("version").and_then(|x| x.as_integer()).unwrap_or(0);
    Ok((path, splits, version))
}

/// Runs gen2 into `dir` (or keeps a set already there from the same seed
/// and counts when `reuse`).
fn generate(py: &Path, split: &str, dir: &Path, seed: u64, n: usize, reuse: bool) -> Result<()> {
    let labels = dir.join("labels.json");
    if reuse {
        if let Ok(text) = std::fs::read_to_string(&labels) {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            if v["seed"].as_u64() == Some(seed)
                && v["counts"]["plate_frames"].as_u64() == Some(n as u64)
                && v["counts"]["code_frames"].as_u64() == Some(n as u64)
            {
                eprintln!("gen2 {split}: reusing {}", dir.display());
                return Ok(());
            }
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/gen2.py");
    let t0 = Instant::now();
    let st = Command::new(py)
        .arg(&script)
        .args(["--split", split, "--seed", &seed.to_string()])
        .args(["--plates", &n.to_string(), "--codes", &n.to_string()])
        .arg("--out")
        .arg(dir)
        .status()
        .with_context(|| format!("{} {}", py.display(), script.display()))?;
    if !st.success() {
        bail!("gen2 --split {split} failed: {st}");
    }
    eprintln!(
        "gen2 {split}: {} ({:.1} s to generate)",
        dir.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One part of a split: its samples' outcomes and the peak RSS figures.
struct Part {
    split: &'static str,
    name: String,
    /// (category, condition, fonts, ours, peer)
    rows: Vec<(Category, String, String, Outcome, Option<Outcome>)>,
    ours_rss: f64,
    peer_rss: f64,
}

#[derive(Serialize)]
struct G2Row<'a> {
    label: &'a serde_json::Value,
    ours: &'a Outcome,
    peer: Option<&'a Outcome>,
}

/// gate-ocr over one gen2 set: outcomes and the peak RSS over the loop.
fn run_ours_g2(ocr: &gate_ocr::Ocr, dir: &Path, labels: &[G2Label]) -> Result<(Vec<Outcome>, f64)> {
    let load = |l: &G2Label| -> Result<image::RgbImage> {
        let p = dir.join(&l.file);
        Ok(image::open(&p)
            .with_context(|| p.display().to_string())?
            .into_rgb8())
    };
    let mut warmed: BTreeMap<Category, usize> = BTreeMap::new();
    for l in labels {
        let n = warmed.entry(l.category).or_default();
        if *n < WARMUP {
            *n += 1;
            let img = load(l)?;
            let _ = ours_frame(ocr, l.category, &l.truth, l.colour.as_deref(), &img);
        }
    }
    reset_peak_rss();
    let mut out = Vec::with_capacity(labels.len());
    for l in labels {
        let img = load(l)?;
        out.push(ours_frame(
            ocr,
            l.category,
            &l.truth,
            l.colour.as_deref(),
            &img,
        ));
    }
    Ok((out, peak_rss_mib()))
}

/// The figures of a set of frames.
struct Figures {
    plates: usize,
    plates_ours: usize,
    plates_peer: usize,
    codes: usize,
    codes_ours: usize,
    codes_peer: usize,
    wrong_ours: usize,
    wrong_peer: usize,
    plate_p50: (f64, f64),
    code_p50: (f64, f64),
}

fn figures<'a, I>(rows: I) -> Figures
where
    I: Iterator<Item = (Category, &'a Outcome, Option<&'a Outcome>)> + Clone,
{
    let is_plate = |c: Category| c.is_plate();
    let sel = |plate: bool| rows.clone().filter(move |r| is_plate(r.0) == plate);
    let exact_ours = |plate: bool| sel(plate).filter(|r| r.1.exact).count();
    let exact_peer = |plate: bool| sel(plate).filter(|r| r.2.is_some_and(|p| p.exact)).count();
    let p50 = |plate: bool| {
        let ours: Vec<f64> = sel(plate).map(|r| r.1.ms).collect();
        let peer: Vec<f64> = sel(plate).filter_map(|r| r.2.map(|p| p.ms)).collect();
        (percentile(&ours, 0.5), percentile(&peer, 0.5))
    };
    Figures {
        plates: sel(true).count(),
        plates_ours: exact_ours(true),
        plates_peer: exact_peer(true),
        codes: sel(false).count(),
        codes_ours: exact_ours(false),
        codes_peer: exact_peer(false),
        wrong_ours: rows.clone().map(|r| r.1.wrong_valid).sum(),
        wrong_peer: rows
            .clone()
            .filter_map(|r| r.2.map(|p| p.wrong_valid))
            .sum(),
        plate_p50: p50(true),
        code_p50: p50(false),
    }
}

fn pct1(n: usize, d: usize) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.1}", 100.0 * n as f64 / d as f64)
    }
}

fn num(v: f64, prec: usize) -> String {
    if v.is_finite() {
        format!("{v:.prec$}")
    } else {
        "-".into()
    }
}

/// The splits' section of the bench; returns the gen2 rows for the results
/// file. `sim_rows` are the main set's rows (its frames are the tune
/// split's "sim" part), with the main run's peak RSS figures.
pub(crate) fn run(
    o: &Opts,
    bench_dir: &Path,
    sim_rows: &[Row<'_>],
    sim_rss: (f64, f64),
) -> Result<serde_json::Value> {
    let (split_path, splits, version) = split_file()?;
    let py = peer_python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval/gen2.py");
    let st = Command::new(&py)
        .arg(&script)
        .arg("--check")
        .status()
        .context("gen2 --check")?;
    if !st.success() {
        bail!("gen2 --check failed (the fonts come from Debian packages: `cargo xtask bench recognition` installs them)");
    }
    let n = o.split_frames;
    let mut sets: Vec<(&'static str, PathBuf, Vec<G2Label>)> = Vec::new();
    for split in ["tune", "report"] {
        if !splits[split].iter().any(|r| r == "gen2") {
            continue;
        }
        let dir = bench_dir.join(format!("gen2-{split}-{}-{n}", o.seed));
        generate(&py, split, &dir, o.seed, n, o.keep)?;
        let labels = read_g2_labels(&dir)?;
        sets.push((split, dir, labels));
    }

    // Ours on every gen2 set, then the peer: never at once.
    let ocr = load_ocr()?;
    let mut ours_runs = Vec::new();
    for (split, dir, labels) in &sets {
        eprintln!("ours: gate-ocr on gen2 {split} ({} frames)", labels.len());
        ours_runs.push(run_ours_g2(&ocr, dir, labels)?);
    }
    drop(ocr);
    let mut peer_runs: Vec<Option<(BTreeMap<String, PeerRead>, f64)>> = Vec::new();
    for (split, dir, _) in &sets {
        if o.peer {
            eprintln!("peer: RapidOCR on gen2 {split}");
            let r = run_peer(dir)?;
            peer_runs.push(Some((r.reads, r.peak_rss_mib)));
        } else {
            peer_runs.push(None);
        }
    }

    let mut parts: Vec<Part> = Vec::new();
    if splits["tune"].iter().any(|r| r == "sim") {
        parts.push(Part {
            split: "tune",
            name: "sim".into(),
            rows: sim_rows
                .iter()
                .filter(|r| r.label.category.is_frame())
                .map(|r| {
                    (
                        r.label.category,
                        r.label.distortion.name().to_string(),
                        "Noto Sans CJK SC (sim)".to_string(),
                        r.ours.clone(),
                        r.peer.clone(),
                    )
                })
                .collect(),
            ours_rss: sim_rss.0,
            peer_rss: sim_rss.1,
        });
    }
    let mut json_rows = Vec::new();
    for (((split, _, labels), (ours, ours_rss)), peer) in sets.iter().zip(ours_runs).zip(peer_runs)
    {
        let (reads, peer_rss) = match peer {
            Some((r, rss)) => (Some(r), rss),
            None => (None, f64::NAN),
        };
        let rows: Vec<_> = labels
            .iter()
            .zip(ours)
            .map(|(l, ours)| {
                let peer = reads.as_ref().map(|m| match m.get(&l.id) {
                    Some(r) => score_peer(l.category, &l.truth, r),
                    None => Outcome {
                        ms: f64::NAN,
                        error: Some("no answer from the peer".into()),
                        ..Outcome::default()
                    },
                });
                (l.category, l.condition.clone(), l.fonts.clone(), ours, peer)
            })
            .collect();
        for (l, r) in labels.iter().zip(&rows) {
            json_rows.push(serde_json::to_value(G2Row {
                label: &l.full,
                ours: &r.3,
                peer: r.4.as_ref(),
            })?);
        }
        parts.push(Part {
            split,
            name: "gen2".into(),
            rows,
            ours_rss,
            peer_rss,
        });
    }

    // The table.
    println!();
    println!(
        "splits ({}, version {version}): frames; exact % ours / peer (peer through our grammar); wrong = confident wrong reads (valid by GA 36 or the check digit, not the truth); p50 ms per frame; peak RSS MiB over the part's timed loop, models loaded",
        split_path.display()
    );
    println!(
        "{:<7} {:<6} | {:>6} {:>13} | {:>6} {:>13} | {:>9} | {:>15} | {:>15} | {:>11}",
        "split",
        "part",
        "plates",
        "exact o / p",
        "codes",
        "exact o / p",
        "wrong o/p",
        "plate p50 o / p",
        "code p50 o / p",
        "RSS o / p"
    );
    let line = |split: &str, name: &str, f: &Figures, rss: (f64, f64)| {
        println!(
            "{:<7} {:<6} | {:>6} {:>13} | {:>6} {:>13} | {:>9} | {:>15} | {:>15} | {:>11}",
            split,
            name,
            f.plates,
            format!(
                "{} / {}",
                pct1(f.plates_ours, f.plates),
                pct1(f.plates_peer, f.plates)
            ),
            f.codes,
            format!(
                "{} / {}",
                pct1(f.codes_ours, f.codes),
                pct1(f.codes_peer, f.codes)
            ),
            format!("{} / {}", f.wrong_ours, f.wrong_peer),
            format!("{} / {}", num(f.plate_p50.0, 1), num(f.plate_p50.1, 1)),
            format!("{} / {}", num(f.code_p50.0, 1), num(f.code_p50.1, 1)),
            format!("{} / {}", num(rss.0, 0), num(rss.1, 0)),
        );
    };
    for split in ["tune", "report"] {
        let ps: Vec<&Part> = parts.iter().filter(|p| p.split == split).collect();
        for p in &ps {
            let f = figures(p.rows.iter().map(|r| (r.0, &r.3, r.4.as_ref())));
            line(split, &p.name, &f, (p.ours_rss, p.peer_rss));
        }
        if ps.len() > 1 {
            let f = figures(
                ps.iter()
                    .flat_map(|p| p.rows.iter().map(|r| (r.0, &r.3, r.4.as_ref()))),
            );
            let max = |g: fn(&Part) -> f64| ps.iter().map(|p| g(p)).fold(f64::NAN, f64::max);
            line(split, "all", &f, (max(|p| p.ours_rss), max(|p| p.peer_rss)));
        }
    }

    // Breakdowns of gen2: by condition and by typeface.
    let g2: Vec<&Part> = parts.iter().filter(|p| p.name == "gen2").collect();
    for (title, key) in [("condition", 1usize), ("typefaces", 2usize)] {
        println!();
        println!("gen2 exact % by {title}: ours / peer (N)");
        for p in &g2 {
            // By typeface: a plate counts under its CJK family and under its
            // Latin family.
            let mut keys: BTreeMap<(bool, &str), Vec<usize>> = BTreeMap::new();
            for (i, r) in p.rows.iter().enumerate() {
                let ks: Vec<&str> = if key == 1 {
                    vec![r.1.as_str()]
                } else {
                    r.2.split(" / ").collect()
                };
                for k in ks {
                    keys.entry((r.0.is_plate(), k)).or_default().push(i);
                }
            }
            for ((plate, k), idx) in keys {
                let ours = idx.iter().filter(|&&i| p.rows[i].3.exact).count();
                let peer = idx
                    .iter()
                    .filter(|&&i| p.rows[i].4.as_ref().is_some_and(|x| x.exact))
                    .count();
                println!(
                    "  {:<6} {:<6} {:<45} {:>6} / {:>6} ({})",
                    p.split,
                    if plate { "plates" } else { "codes" },
                    k,
                    pct1(ours, idx.len()),
                    if o.peer {
                        pct1(peer, idx.len())
                    } else {
                        "-".into()
                    },
                    idx.len()
                );
            }
        }
    }

    // Failures: the tune split only.
    if o.failures > 0 {
        if let Some(p) = g2.iter().find(|p| p.split == "tune") {
            println!();
            println!("example failures of ours, gen2 tune split only (truth -> text [raw]):");
            for plate in [true, false] {
                let bad: Vec<usize> = (0..p.rows.len())
                    .filter(|&i| p.rows[i].0.is_plate() == plate && !p.rows[i].3.exact)
                    .collect();
                for &i in bad.iter().take(o.failures) {
                    let (_, cond, fonts, ours, _) = &p.rows[i];
                    let Some((_, _, labels)) = sets.iter().find(|s| s.0 == "tune") else {
                        continue;
                    };
                    println!(
                        "    {} {:<11} {:<36} {} -> {:?} [{:?}]",
                        labels[i].id, cond, fonts, labels[i].truth, ours.text, ours.raw
                    );
                }
            }
        }
    }

    if !o.keep {
        for (_, dir, _) in &sets {
            std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    Ok(serde_json::Value::Array(json_rows))
}
