//! Unit tests of `render` (kept beside it so the module stays readable).

use super::*;
use crate::devices::camera::ContainerPosition;

fn fx() -> Effects {
    Effects {
        blur: 0.8,
        noise: 6,
        brightness: 1.0,
        angle_deg: 8.0,
        seed: 1,
    }
}

#[test]
fn the_font_parses_and_has_the_plate_characters() {
    let f = font().expect("embedded font");
    for c in "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼挂学警港澳使领ABCDEFGHJKLMNPQRSTUVWXYZ0123456789".chars() {
        assert_ne!(f.glyph_id(c).0, 0, "missing glyph for {c}");
    }
}

#[test]
fn plates_draw_ink_on_their_background() {
    let f = font().unwrap();
    let p = Plate {
        text: "琼A12345".into(),
        colour: PlateColour::Blue,
    };
    let img = plate_patch(&p, 440, false, Some(&f));
    assert_eq!(img.dimensions(), (440, 140));
    let white = img
        .pixels()
        .filter(|p| p.0[0] > 200 && p.0[2] > 200 && p.0[1] > 200)
        .count();
    let blue = img.pixels().filter(|p| p.0[2] > 150 && p.0[0] < 60).count();
    assert!(white > 440 * 140 / 10, "characters drawn: {white}");
    assert!(blue > 440 * 140 / 3, "background: {blue}");
    let img2 = plate_patch(
        &Plate {
            text: "琼B12345".into(),
            colour: PlateColour::Blue,
        },
        440,
        false,
        Some(&f),
    );
    assert_ne!(img, img2, "the text shows");
}

#[test]
fn frames_render_and_encode() {
    let f = font().unwrap();
    let plate = Plate {
        text: "琼E12345".into(),
        colour: PlateColour::Yellow,
    };
    let img = render(
        1280,
        720,
        &Content::TruckRear {
            plate: Some(&plate),
            body_seed: 3,
        },
        "PLATE_REAR #1",
        &fx(),
        Some(&f),
    );
    assert_eq!(img.dimensions(), (1280, 720));
    let jpg = encode_jpeg(&img, 80).unwrap();
    assert_eq!(&jpg[..2], &[0xFF, 0xD8]);
    let back = image::load_from_memory(&jpg).unwrap();
    assert_eq!((back.width(), back.height()), (1280, 720));
    let mark = ContainerMark {
        code: "CSQU3054383".into(),
        slot: ContainerPosition::Front,
        vertical: true,
        size_type: "45G1".into(),
    };
    let img = render(
        640,
        360,
        &Content::Container {
            mark: &mark,
            body_seed: 1,
        },
        "",
        &fx(),
        Some(&f),
    );
    assert_eq!(img.dimensions(), (640, 360));
    let b = black(1280, 720);
    assert!(b.pixels().all(|p| p.0 == [0, 0, 0]));
}
