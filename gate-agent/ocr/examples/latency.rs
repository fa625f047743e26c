//! Latency of the recogniser on this machine: model load, recognition per
//! crop (each plan width), and whole frames (plate, containers) on the test
//! fixtures. `cargo run --release -p gate-ocr --example latency [N]`.
//!
//! Layer: a developer tool over the public API.

use std::path::Path;
use std::time::Instant;

use gate_ocr::{models, Ocr};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let t0 = Instant::now();
    let paths = models::ensure(&models::default_dir())?;
    let ocr = Ocr::load(&paths)?;
    println!(
        "load (verify + plan): {:.0} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let plate = image::open(dir.join("plate_front_blue.jpg"))?.to_rgb8();
    let code = image::open(dir.join("container_h_1.jpg"))?.to_rgb8();
    for (name, crop) in [
        (
            "crop 48x160 (plate)",
            image::imageops::crop_imm(&plate, 485, 499, 310, 110).to_image(),
        ),
        (
            "crop 48x320 (code line)",
            image::imageops::crop_imm(&code, 780, 100, 420, 70).to_image(),
        ),
    ] {
        let ms: Vec<f64> = (0..n)
            .map(|_| {
                let t = Instant::now();
                let _ = ocr.read_line(&crop);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        println!("{name}: median {:.1} ms over {n}", median(ms));
    }
    for f in ["plate_front_blue.jpg", "plate_rear_yellow_two_row.jpg"] {
        let img = image::open(dir.join(f))?.to_rgb8();
        let ms: Vec<f64> = (0..n)
            .map(|_| {
                let t = Instant::now();
                let _ = ocr.read_plate(&img);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        println!("frame read_plate {f}: median {:.1} ms", median(ms));
    }
    for f in ["container_h_1.jpg", "container_v_1.jpg"] {
        let img = image::open(dir.join(f))?.to_rgb8();
        let ms: Vec<f64> = (0..n)
            .map(|_| {
                let t = Instant::now();
                let _ = ocr.read_containers(&img);
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        println!("frame read_containers {f}: median {:.1} ms", median(ms));
    }
    Ok(())
}
