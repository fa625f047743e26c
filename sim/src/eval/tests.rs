//! Unit tests of the evaluation set (sim::eval).

use super::*;
use ab_glyph::Font;
use gate_proto::messages::PlateColour as ProtoColour;

fn small() -> Counts {
    Counts {
        plate_crops: 16,
        code_crops: 16,
        plate_frames: 2,
        code_frames: 2,
    }
}

#[test]
fn same_seed_same_bytes_and_other_seed_other_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let la = write_set(a.path(), 7, small()).unwrap();
    let lb = write_set(b.path(), 7, small()).unwrap();
    let lc = write_set(c.path(), 8, small()).unwrap();
    assert_eq!(la, lb);
    assert_eq!(la.samples.len(), 36);
    let mut differ = 0;
    for l in &la.samples {
        let x = fs::read(a.path().join(&l.file)).unwrap();
        let y = fs::read(b.path().join(&l.file)).unwrap();
        assert_eq!(x, y, "{} differs between two runs", l.file);
        if fs::read(c.path().join(&l.file)).unwrap() != x {
            differ += 1;
        }
    }
    assert_eq!(differ, la.samples.len(), "another seed, other images");
    assert_eq!(
        fs::read(a.path().join("labels.json")).unwrap(),
        fs::read(b.path().join("labels.json")).unwrap()
    );
    assert_ne!(la.samples, lc.samples);
    assert_eq!(read_labels(a.path()).unwrap(), la);
}

#[test]
fn a_sample_does_not_depend_on_the_other_counts() {
    let f = render::font().unwrap();
    let x = sample(3, Category::CodeCrop, 5, &f);
    let all: Vec<Sample> = samples(3, small(), &f).collect();
    let y = all.iter().find(|s| s.label.id == "cc-00005").unwrap();
    assert_eq!(x.image, y.image);
    assert_eq!(x.label, y.label);
}

#[test]
fn labels_are_valid_plates_and_codes() {
    let f = render::font().unwrap();
    let mut kinds = std::collections::HashSet::new();
    let mut hainan = 0;
    for i in 0..400 {
        let s = sample(11, Category::PlateCrop, i, &f);
        let text = s.label.plate.clone().unwrap();
        let p = plate_fmt::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(p.as_str(), text, "labels are normalised");
        kinds.insert(p.kind());
        hainan += usize::from(p.is_hainan());
        let colour = s.label.colour.clone().unwrap();
        assert!(ProtoColour::parse(&colour).is_some(), "{colour}");
        for c in text.chars() {
            assert_ne!(f.glyph_id(c).0, 0, "{c} missing from the font");
        }
    }
    assert!(kinds.len() >= 7, "plate kinds: {kinds:?}");
    assert!((100..=220).contains(&hainan), "Hainan share: {hainan}/400");
    let mut vertical = 0;
    for i in 0..400 {
        let s = sample(11, Category::CodeCrop, i, &f);
        let code = s.label.code.clone().unwrap();
        let parsed = iso6346::parse(&code).unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(parsed.as_str(), code);
        vertical += usize::from(s.label.layout == Some(CodeLayout::Vertical));
    }
    assert!(
        (60..=180).contains(&vertical),
        "vertical share {vertical}/400"
    );
}

#[test]
fn every_distortion_occurs_and_changes_the_pixels() {
    let f = render::font().unwrap();
    let mut seen = std::collections::HashSet::new();
    for i in 0..8 {
        let s = sample(5, Category::PlateCrop, i, &f);
        seen.insert(s.label.distortion);
        let p = &s.label.params;
        match s.label.distortion {
            Distortion::Blur => assert!(p.blur >= 0.03 * p.char_h),
            Distortion::Noise => assert!(p.noise >= 14),
            Distortion::Perspective => assert!(p.angle_deg.abs() >= 12.0),
            Distortion::LowLight => assert!(p.brightness <= 0.4),
            Distortion::Dirt => assert!(p.dirt >= 3),
            Distortion::Occlusion => assert!(p.occlusion >= 0.08),
            _ => {}
        }
    }
    assert_eq!(seen.len(), 8);
    // Low light really is darker than clean.
    let mean =
        |img: &RgbImage| img.iter().map(|&v| u64::from(v)).sum::<u64>() / img.len().max(1) as u64;
    let clean = sample(5, Category::PlateFrame, 0, &f);
    let dark = sample(5, Category::PlateFrame, 4, &f);
    assert!(mean(&dark.image) * 2 < mean(&clean.image));
    assert_eq!(clean.image.dimensions(), (FRAME_W, FRAME_H));
}

#[test]
fn occlusion_is_one_thin_bar_and_dirt_stays_near_the_text() {
    let area = TextArea {
        x0: 20.0,
        y0: 10.0,
        x1: 180.0,
        y1: 50.0,
        cell: 30.0,
        char_h: 40.0,
        vertical: false,
    };
    let white = solid(200, 60, [255, 255, 255]);
    let mut r = Rng(1);
    let mut img = white.clone();
    add_bar(&mut img, &mut r, area, 0.14);
    let cols: std::collections::BTreeSet<u32> = img
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0 != [255, 255, 255])
        .map(|(x, _, _)| x)
        .collect();
    // 0.14 of a 30 px cell: 4 px wide, one run of columns.
    assert!((4..=5).contains(&cols.len()), "bar columns {cols:?}");
    let (a, b) = (*cols.first().unwrap(), *cols.last().unwrap());
    assert_eq!(b - a + 1, cols.len() as u32, "one bar");
    let mut img = white.clone();
    add_dirt(&mut img, &mut r, area, 5, false);
    let changed: Vec<(u32, u32)> = img
        .enumerate_pixels()
        .filter(|(_, _, p)| p.0 != [255, 255, 255])
        .map(|(x, y, _)| (x, y))
        .collect();
    assert!(!changed.is_empty());
    // Radius at most 0.3 char height = 12 px around the text area.
    for (x, y) in &changed {
        assert!((8..=192).contains(x) && *y <= 62, "blotch at {x},{y}");
    }
    assert!(
        changed.len() < 200 * 60 / 2,
        "dirt covers {}",
        changed.len()
    );
}

#[test]
fn crops_have_the_text_and_frames_the_marking() {
    let f = render::font().unwrap();
    for i in 0..8 {
        let s = sample(2, Category::CodeCrop, i, &f);
        let (w, h) = s.image.dimensions();
        // A sheared line has a taller box: only the others are checked.
        if !matches!(
            s.label.distortion,
            Distortion::Perspective | Distortion::Mixed
        ) {
            if s.label.layout == Some(CodeLayout::Vertical) {
                assert!(h > 3 * w, "vertical crop {w}x{h}");
            } else {
                assert!(w > 3 * h, "horizontal crop {w}x{h}");
            }
        }
        let p = sample(2, Category::PlateCrop, i, &f);
        let (w, h) = p.image.dimensions();
        assert!((120..=360).contains(&w) && h >= 40, "plate crop {w}x{h}");
    }
}
