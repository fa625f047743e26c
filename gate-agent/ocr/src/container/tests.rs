//! Unit tests of the container-code reader (gate-ocr `container`).

use super::*;

#[test]
fn the_check_digit_box_is_found_beside_a_door_bar() {
    // 120 x 40 line: a "digit" blob at x 20..30, a box 80..110 x 6..36
    // (stroke 2), a door bar at x 108..111 over the full height.
    let (w, h) = (120usize, 40usize);
    let mut ink = vec![false; w * h];
    let mut set = |x: usize, y: usize| ink[y * w + x] = true;
    for y in 10..32 {
        for x in 20..30 {
            set(x, y);
        }
    }
    for x in 80..110 {
        for y in [6, 7, 34, 35] {
            set(x, y);
        }
    }
    for y in 6..36 {
        for x in [80, 81, 108, 109] {
            set(x, y);
        }
    }
    for y in 0..h {
        for x in 108..111 {
            set(x, y);
        }
    }
    let b = find_box(&ink, w, h, w / 2).expect("box");
    assert_eq!((b.2, b.3), (6, 36), "{b:?}");
    assert!(b.0 >= 78 && b.0 <= 82 && b.1 >= 108 && b.1 <= 111, "{b:?}");
    // No box: only upright strokes.
    let mut bars = vec![false; w * h];
    for y in 0..h {
        for x in [70, 71, 100, 101] {
            bars[y * w + x] = true;
        }
    }
    assert_eq!(find_box(&bars, w, h, w / 2), None);
}

/// A `w x h` image of `bg` with rectangles `[x0, x1) x [y0, y1)` of `ink`.
fn painted(
    (w, h): (u32, u32),
    bg: image::Rgb<u8>,
    ink: image::Rgb<u8>,
    rects: &[(u32, u32, u32, u32)],
) -> RgbImage {
    let mut img = RgbImage::from_pixel(w, h, bg);
    for &(x0, x1, y0, y1) in rects {
        for y in y0..y1 {
            for x in x0..x1 {
                img.put_pixel(x, y, ink);
            }
        }
    }
    img
}

#[test]
fn the_box_is_erased_and_its_digit_kept() {
    // White line 160 x 48: a character at x 20..30, a box 100..140 x
    // 6..42 (stroke 2) around a "digit" at 115..125 x 14..34.
    let (w, h) = (160u32, 48u32);
    let ink = image::Rgb([20, 20, 20]);
    let line = painted(
        (w, h),
        image::Rgb([240, 240, 240]),
        ink,
        &[
            (20, 30, 12, 36),
            (100, 140, 6, 8),
            (100, 140, 40, 42),
            (100, 102, 6, 42),
            (138, 140, 6, 42),
            (115, 125, 14, 34),
        ],
    );
    let out = without_box(&line, w / 2).expect("box found");
    let dark = |x: u32, y: u32| out.get_pixel(x, y).0[0] < 128;
    // The strokes are gone...
    assert!((100..140).all(|x| !dark(x, 7) && !dark(x, 41)));
    assert!((6..42).all(|y| !dark(100, y) && !dark(139, y)));
    // ...the digit and the rest of the line are not.
    assert!(dark(120, 24) && dark(115, 14) && dark(124, 33));
    assert!(dark(25, 20));
    // No box, no change offered.
    let mut plain = RgbImage::from_pixel(w, h, image::Rgb([240, 240, 240]));
    plain.put_pixel(5, 5, ink);
    assert!(without_box(&plain, w / 2).is_none());
}

#[test]
fn a_digit_filling_its_box_is_cut_out_as_the_digit() {
    // Dark door 80 x 60: a light box 18..60 x 16..44 (stroke 3) drawn
    // tight around a light "digit" 24..54 x 20..40, one pixel from
    // the strokes. The digit fills most of the box: it is still the
    // ink, not the background.
    let img = painted(
        (80, 60),
        image::Rgb([110, 20, 20]),
        image::Rgb([235, 235, 235]),
        &[
            (18, 60, 16, 19),
            (18, 60, 41, 44),
            (18, 21, 16, 44),
            (57, 60, 16, 44),
            (24, 54, 20, 40),
        ],
    );
    let cell = box_digit_cell(&img, 0).expect("box and digit");
    // The digit with its 2-pixel margin (a stroke's trace or two at
    // most): 34 x 24, not the whole inside of the box.
    let (cw, ch) = cell.dimensions();
    assert!(
        (32..=36).contains(&cw) && (22..=26).contains(&ch),
        "{cw}x{ch}"
    );
    let light = |x: u32, y: u32| cell.get_pixel(x, y).0[0] > 128;
    assert!(light(cw / 2, ch / 2));
}

#[test]
fn touching_cells_of_a_column_are_split_at_their_thinnest_row() {
    // Ink counts of a column: cells of 10 rows, two pairs touching
    // (the second pair joined by a one-pixel bridge at row 55).
    let mut counts = vec![0usize; 100];
    for (a, b) in [(0, 10), (14, 24), (28, 38), (42, 52), (53, 63), (67, 77)] {
        for c in &mut counts[a..b] {
            *c = 8;
        }
    }
    counts[52] = 1;
    assert_eq!(split_tall((0, 10), &counts, 10.0), vec![(0, 10)]);
    assert_eq!(
        split_tall((42, 63), &counts, 10.0),
        vec![(42, 52), (53, 63)]
    );
    // A box a little taller than a character is left whole.
    assert_eq!(split_tall((0, 16), &counts, 10.0), vec![(0, 16)]);
    // Three touching cells come apart in three, at the bridges.
    let mut three = vec![8usize; 32];
    three[10] = 2;
    three[21] = 1;
    assert_eq!(
        split_tall((0, 32), &three, 10.0),
        vec![(0, 10), (11, 21), (22, 32)]
    );
    // No thinner row at all: halved, not cut into slivers.
    assert_eq!(split_tall((0, 33), &[5; 33], 10.0), vec![(0, 16), (17, 33)]);
}

#[test]
fn boxed_digit_never_asks_for_a_same_class_change() {
    // `IX1U517764` + a misread box `1`: `1`->`I` is forced by the
    // owner code's letters, `I`->`J` only by the check digit.
    assert!(same_class_fix("IX1U5177641", "JXJU5177641"));
    assert!(!same_class_fix("IX1U5177647", "IXIU5177647"));
    assert!(!same_class_fix("CSQU3054383", "CSQU3054383"));
    assert!(same_class_fix("CSQU305438", "CSQU3054383"));
}

#[test]
fn interpret_finds_and_repairs_the_code() {
    assert_eq!(
        interpret("CSQU 305438 [3]"),
        ("CSQU3054383".into(), true, 0)
    );
    assert_eq!(interpret("CSQU 3O5438 3"), ("CSQU3054383".into(), true, 1));
    assert_eq!(interpret("xCSQU3054383"), ("CSQU3054383".into(), true, 0));
    assert!(!interpret("CSQU 305438").1);
    assert_eq!(interpret("CSQU 305438 ③"), ("CSQU3054383".into(), true, 0));
    assert_eq!(interpret("CSQU305438⑶"), ("CSQU3054383".into(), true, 0));
    assert_eq!(interpret("MSKU801562⓪"), ("MSKU8015620".into(), true, 0));
    // A window of a longer text is not a code, nor are the digits of a
    // date and time, however they are joined.
    assert!(!interpret("PLATE_FRONT 2026-11-27 10:00:00 #1").1);
    assert!(!interpret("CONTAINER_FRONT2025-12-1808:05:57#659").1);
    assert!(!interpret("18 08 05 57 659").1);
    // Two fixes at most.
    assert_eq!(interpret("00LU6180231"), ("OOLU6180231".into(), true, 2));
}
