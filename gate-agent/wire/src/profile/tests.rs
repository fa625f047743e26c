//! Unit tests of `profile` (its model, codec and loader in `parse.rs`).

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Profile, ProfileError> {
    Profile::parse(text, Path::new("t.toml"))
}

const WB: &str = r#"
name = "wb-test"
description = "f32 DCBA gross at 300, status word at 302"

[[points]]
name = "gross"
function = "holding"
address = 300
type = "f32"
order = "DCBA"
unit = "kg"

[[points]]
name = "status"
function = "holding"
address = 302
type = "u16"
bits = [
  { name = "stable", mask = 0x0010 },
  { name = "motion", mask = 0x0010, active_low = true },
  { name = "overload", mask = 0x0100 },
]

[[points]]
name = "zero"
function = "discrete"
address = 5
type = "bool"
"#;

#[test]
fn orders_decode_the_same_value() {
    let v: f32 = -1234.5;
    let be = v.to_bits().to_be_bytes(); // A B C D
    let cases = [
        (Order::Abcd, [be[0], be[1], be[2], be[3]]),
        (Order::Cdab, [be[2], be[3], be[0], be[1]]),
        (Order::Badc, [be[1], be[0], be[3], be[2]]),
        (Order::Dcba, [be[3], be[2], be[1], be[0]]),
    ];
    for (order, wire) in cases {
        let p = Point {
            name: "x".into(),
            function: Function::Holding,
            address: 0,
            ty: ValueType::F32,
            order,
            scale: 1.0,
            offset: 0.0,
            length: 0,
            unit: None,
            description: None,
            bits: vec![],
        };
        let regs = [
            u16::from_be_bytes([wire[0], wire[1]]),
            u16::from_be_bytes([wire[2], wire[3]]),
        ];
        let mut s = Sample::default();
        p.decode_registers(&regs, &mut s);
        assert_eq!(s.number("x"), Some(-1234.5), "{order:?}");
        assert_eq!(
            p.encode_number(-1234.5).expect("encode"),
            regs.to_vec(),
            "{order:?}"
        );
    }
}

#[test]
fn integers_scale_offset_and_bytes() {
    let mut p = Point {
        name: "w".into(),
        function: Function::Input,
        address: 0,
        ty: ValueType::I32,
        order: Order::Abcd,
        scale: 10.0,
        offset: 0.0,
        length: 0,
        unit: None,
        description: None,
        bits: vec![],
    };
    // -12 (x10 kg) big-endian: 0xFFFF 0xFFF4
    let mut s = Sample::default();
    p.decode_registers(&[0xFFFF, 0xFFF4], &mut s);
    assert_eq!(s.number("w"), Some(-120.0));
    // 0x0001_0002 CDAB = regs [0x0002, 0x0001]
    p.ty = ValueType::U32;
    p.order = Order::Cdab;
    p.scale = 1.0;
    p.offset = -5.0;
    p.decode_registers(&[0x0002, 0x0001], &mut s);
    assert_eq!(s.number("w"), Some(65538.0 - 5.0));
    // i16 with swapped bytes: 0xFF85 on the wire as 0x85FF
    p.ty = ValueType::I16;
    p.order = Order::Badc;
    p.offset = 0.0;
    p.decode_registers(&[0x85FF], &mut s);
    assert_eq!(s.number("w"), Some(-123.0));
    assert_eq!(p.encode_number(-123.0).expect("enc"), vec![0x85FF]);
    p.ty = ValueType::U16;
    p.order = Order::Abcd;
    assert_eq!(
        p.encode_number(70000.0).expect_err("too big").to_string(),
        "w: raw value 70000 out of range"
    );
    assert!(p.encode_number(-1.0).is_err());
}

/// Found by the `register_profile` fuzz target: scale 1e300 on a u32
/// point turned 0xFFFFFFFF into an infinite gross weight.
#[test]
fn overflowing_scale_is_a_problem_not_infinity() {
    let text = "name = \"x\"\n[[points]]\nname = \"gross\"\nfunction = \"holding\"\n\
                    address = 0\ntype = \"u32\"\nscale = 1e300\n";
    let p = parse(text).expect("a finite scale is accepted");
    let s = p.decode(&[BlockData::Words(vec![0xFFFF, 0xFFFF])]);
    assert_eq!(s.number("gross"), None);
    assert!(s.problems[0].contains("not a finite number"), "{s:?}");
    let f = parse(&text.replace("u32", "f32")).expect("valid");
    let s = f.decode(&[BlockData::Words(vec![0x7F7F, 0xFFFF])]); // f32::MAX
    assert_eq!(s.number("gross"), None);
    let s = f.decode(&[BlockData::Words(vec![0x3F80, 0x0000])]); // 1.0
    assert_eq!(s.number("gross"), Some(1e300));
}

#[test]
fn text_and_hex() {
    let mut p = Point {
        name: "epc".into(),
        function: Function::Input,
        address: 0,
        ty: ValueType::Hex,
        order: Order::Abcd,
        scale: 1.0,
        offset: 0.0,
        length: 3,
        unit: None,
        description: None,
        bits: vec![],
    };
    let mut s = Sample::default();
    p.decode_registers(&[0xE200, 0x34FF], &mut s);
    assert_eq!(s.text("epc"), Some("E20034"));
    p.ty = ValueType::String;
    p.length = 6;
    p.decode_registers(
        &[u16::from_be_bytes(*b"AB"), u16::from_be_bytes(*b"C "), 0],
        &mut s,
    );
    assert_eq!(s.text("epc"), Some("ABC"));
    p.order = Order::Badc;
    p.decode_registers(
        &[
            u16::from_be_bytes(*b"BA"),
            u16::from_be_bytes(*b"DC"),
            0x00FF,
        ],
        &mut s,
    );
    // Invalid UTF-8 becomes U+FFFD, never a panic.
    assert_eq!(s.text("epc"), Some("ABCD\u{FFFD}"));
    p.decode_registers(&[1], &mut s);
    assert!(!s.problems.is_empty());
}

#[test]
fn parses_plans_and_decodes_a_profile() {
    let p = parse(WB).expect("valid");
    assert_eq!(p.name, "wb-test");
    assert_eq!(
        p.blocks(),
        &[
            ReadBlock {
                function: Function::Holding,
                start: 300,
                count: 3
            },
            ReadBlock {
                function: Function::Discrete,
                start: 5,
                count: 1
            },
        ]
    );
    assert!(p.has_flag("stable") && p.has_flag("zero") && !p.has_flag("gross"));
    let gross = p
        .point("gross")
        .expect("gross")
        .encode_number(25_340.0)
        .expect("enc");
    let data = vec![
        BlockData::Words(vec![gross[0], gross[1], 0x0110]),
        BlockData::Bits(vec![true]),
    ];
    let s = p.decode(&data);
    assert!(s.problems.is_empty(), "{:?}", s.problems);
    assert_eq!(s.number("gross"), Some(25_340.0));
    assert_eq!(s.flag("stable"), Some(true));
    assert_eq!(s.flag("motion"), Some(false));
    assert_eq!(s.flag("overload"), Some(true));
    assert_eq!(s.flag("zero"), Some(true));
    assert_eq!(s.number("status"), Some(272.0));
    // NaN is reported, not published.
    let nan = f32::NAN.to_bits().to_le_bytes();
    let s = p.decode(&[
        BlockData::Words(vec![
            u16::from_be_bytes([nan[0], nan[1]]),
            u16::from_be_bytes([nan[2], nan[3]]),
            0,
        ]),
        BlockData::Bits(vec![false]),
    ]);
    assert_eq!(s.number("gross"), None);
    assert_eq!(s.problems.len(), 1);
    // Wrong shapes never panic.
    assert!(!p.decode(&[]).problems.is_empty());
    assert!(!p
        .decode(&[BlockData::Bits(vec![]), BlockData::Words(vec![])])
        .problems
        .is_empty());
}

#[test]
fn plan_merges_within_gap_and_limit() {
    let text = |gap: u16, max: &str| {
        format!(
            "name = \"p\"\nmax_gap = {gap}\n{max}\n\
                 [[points]]\nname = \"a\"\nfunction = \"input\"\naddress = 0\ntype = \"u32\"\n\
                 [[points]]\nname = \"b\"\nfunction = \"input\"\naddress = 4\ntype = \"u16\"\n\
                 [[points]]\nname = \"c\"\nfunction = \"holding\"\naddress = 2\ntype = \"u16\"\n\
                 [[points]]\nname = \"d\"\nfunction = \"input\"\naddress = 2\ntype = \"u16\"\n"
        )
    };
    let p = parse(&text(0, "")).expect("valid");
    let inputs: Vec<_> = p
        .blocks()
        .iter()
        .filter(|b| b.function == Function::Input)
        .collect();
    assert_eq!(inputs.len(), 2, "{:?}", p.blocks()); // 0..3, 4..5
    let p = parse(&text(1, "")).expect("valid");
    let inputs: Vec<_> = p
        .blocks()
        .iter()
        .filter(|b| b.function == Function::Input)
        .collect();
    assert_eq!(
        inputs,
        vec![&ReadBlock {
            function: Function::Input,
            start: 0,
            count: 5
        }]
    );
    let p = parse(&text(1, "max_block = 3")).expect("valid");
    let inputs: Vec<_> = p
        .blocks()
        .iter()
        .filter(|b| b.function == Function::Input)
        .collect();
    assert_eq!(inputs.len(), 2);
    // Decoding through a merged block finds each point at its offset.
    let p = parse(&text(1, "")).expect("valid");
    let data: Vec<BlockData> = p
        .blocks()
        .iter()
        .map(|b| match b.function {
            Function::Input => BlockData::Words(vec![0, 7, 9, 0, 11]),
            _ => BlockData::Words(vec![13]),
        })
        .collect();
    let s = p.decode(&data);
    assert_eq!(
        (s.number("a"), s.number("b"), s.number("c"), s.number("d")),
        (Some(7.0), Some(11.0), Some(13.0), Some(9.0))
    );
}

#[test]
fn errors_name_file_line_and_column() {
    // Unknown key inside the second point.
    let bad = WB.replace("order = \"DCBA\"", "order = \"DCBA\"\nendian = \"little\"");
    let e = parse(&bad).expect_err("unknown key");
    assert_eq!(e.line, Some(11), "{e}");
    assert!(
        e.to_string()
            .starts_with("t.toml:11:1: unknown field `endian`"),
        "{e}"
    );
    // Bad enum value.
    let e = parse(&WB.replace("\"DCBA\"", "\"DBCA\"")).expect_err("bad order");
    assert_eq!(e.line, Some(10), "{e}");
    assert!(e.message.contains("DBCA"), "{e}");
    // Semantic error located at the point.
    let e = parse(&WB.replace("0x0100", "0x10000")).expect_err("mask too wide");
    assert!(
        e.message.contains("point `status`") && e.message.contains("mask"),
        "{e}"
    );
    // Located at the point's `[[points]]` header.
    assert_eq!(e.line, Some(13), "{e}");
    let e = parse(&WB.replace("type = \"bool\"", "type = \"u16\"")).expect_err("coil type");
    assert_eq!(
        e.message, "point `zero`: discrete points must have type \"bool\"",
        "{e}"
    );
    let e = parse("name = \"x\"\n[[points]]\nname = \"s\"\nfunction = \"input\"\naddress = 0\ntype = \"string\"\n")
            .expect_err("no length");
    assert!(e.message.contains("length"), "{e}");
    let e = parse("name = \"x\"\n[[points]]\nname = \"s\"\nfunction = \"input\"\naddress = 65535\ntype = \"u32\"\n")
            .expect_err("past the end");
    assert!(e.message.contains("65535"), "{e}");
    let dup = format!(
        "{WB}\n[[points]]\nname = \"gross\"\nfunction = \"input\"\naddress = 1\ntype = \"u16\"\n"
    );
    assert!(parse(&dup).expect_err("dup").message.contains("duplicate"));
    assert!(parse("name = \"x\"\n")
        .expect_err("empty")
        .message
        .contains("no points"));
    assert!(parse("name = \"x\"\nmax_block = 0\n[[points]]\nname=\"a\"\nfunction=\"coil\"\naddress=0\ntype=\"bool\"\n")
            .is_err());
}

#[test]
fn load_named_checks_the_name() {
    let dir = std::env::temp_dir().join(format!("profile-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("wb-test.toml"), WB).expect("write");
    std::fs::write(dir.join("other.toml"), WB).expect("write");
    assert!(Profile::load_named(&dir, "wb-test").is_ok());
    let e = Profile::load_named(&dir, "other").expect_err("name mismatch");
    assert!(e.message.contains("expected `other`"), "{e}");
    let e = Profile::load_named(&dir, "missing").expect_err("missing");
    assert!(e.to_string().contains("missing.toml"), "{e}");
    assert!(Profile::load_named(&dir, "../x").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
