//! Reliability of gate-ocr's confidence on an evaluation set written by
//! `gate-sim eval --out DIR` (or kept by the recognition bench, `--keep`):
//! the crops are read, and the valid reads binned by confidence, with
//! each bin's accuracy (exact reads).
//!
//! `cargo run --release -p gate-ocr --example calibrate -- DIR [--limit N]
//! [--prior 琼[:W]]`

use std::path::PathBuf;

use gate_ocr::{Layout, Ocr, ProvincePrior};

const BINS: [f32; 7] = [0.0, 0.05, 0.2, 0.5, 0.8, 0.95, 1.0001];

#[derive(Default, Clone, Copy)]
struct Bin {
    n: usize,
    right: usize,
    conf: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: calibrate DIR [--limit N] [--prior C[:W]]")?,
    );
    let (mut limit, mut prior) = (usize::MAX, None);
    while let Some(a) = args.next() {
        let v = args.next().ok_or("missing value")?;
        match a.as_str() {
            "--limit" => limit = v.parse()?,
            "--prior" => {
                let (c, w) = v.split_once(':').unwrap_or((v.as_str(), "3"));
                prior = Some(ProvincePrior {
                    province: c.chars().next().ok_or("empty prior")?,
                    weight: w.parse()?,
                });
            }
            _ => return Err(format!("unknown option {a}").into()),
        }
    }
    let labels: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("labels.json"))?)?;
    let paths = gate_ocr::models::ensure(&gate_ocr::models::default_dir())?;
    let ocr = Ocr::load(&paths)?.with_province_prior(prior);
    let samples = labels["samples"].as_array().ok_or("no samples")?;
    for kind in ["plate_crop", "code_crop", "plate_frame"] {
        let mut bins = [Bin::default(); BINS.len() - 1];
        let (mut n, mut exact, mut invalid, mut confident_wrong) = (0usize, 0usize, 0usize, 0usize);
        let mut ms = Vec::new();
        for s in samples.iter().filter(|s| s["category"] == kind).take(limit) {
            let file = dir.join(s["file"].as_str().ok_or("file")?);
            let img = image::open(&file)?.to_rgb8();
            let truth = s["plate"].as_str().or(s["code"].as_str()).unwrap_or("");
            let t0 = std::time::Instant::now();
            let read = if kind == "plate_crop" {
                ocr.read_plate_crop(&img)?
                    .map(|r| (r.text, r.valid, r.confidence))
            } else if kind == "plate_frame" {
                ocr.read_plate(&img)?
                    .map(|r| (r.text, r.valid, r.confidence))
            } else {
                let layout = if s["layout"] == "vertical" {
                    Layout::Vertical
                } else {
                    Layout::Horizontal
                };
                ocr.read_container_crop(&img, layout)?
                    .map(|r| (r.text, r.check_ok, r.confidence))
            };
            ms.push(t0.elapsed().as_secs_f64() * 1e3);
            n += 1;
            let Some((text, _, conf)) = read.filter(|r| r.1) else {
                invalid += 1;
                continue;
            };
            let right = text == truth;
            if !right {
                println!(
                    "  wrong valid read {}: {truth} -> {text} at {conf:.3}",
                    s["id"]
                );
            }
            exact += usize::from(right);
            confident_wrong += usize::from(!right && conf >= 0.8);
            if let Some(i) = BINS.windows(2).position(|w| conf >= w[0] && conf < w[1]) {
                bins[i].n += 1;
                bins[i].right += usize::from(right);
                bins[i].conf += f64::from(conf);
            }
        }
        ms.sort_by(f64::total_cmp);
        let p50 = ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN);
        println!(
            "{kind}: {n} read, exact {exact} ({:.2} %), no valid read {invalid}, wrong at confidence >= 0.8: {confident_wrong}, p50 {p50:.1} ms",
            100.0 * exact as f64 / n.max(1) as f64
        );
        println!("| confidence | reads | mean confidence | exact |");
        println!("|---|---:|---:|---:|");
        let mut ece = 0.0;
        let valid_n: usize = bins.iter().map(|b| b.n).sum();
        for (w, b) in BINS.windows(2).zip(&bins) {
            if b.n == 0 {
                continue;
            }
            let mc = b.conf / b.n as f64;
            let acc = b.right as f64 / b.n as f64;
            ece += (b.n as f64 / valid_n.max(1) as f64) * (mc - acc).abs();
            println!(
                "| {:.2}-{:.2} | {} | {:.3} | {:.3} |",
                w[0],
                w[1].min(1.0),
                b.n,
                mc,
                acc
            );
        }
        println!("expected calibration error {ece:.3}\n");
    }
    Ok(())
}
