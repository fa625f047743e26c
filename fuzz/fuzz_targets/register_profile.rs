//! Fuzz target: the register-profile loader and codec (gate-wire `profile`,
//! config/profiles/*.toml, docs/drivers.md).
//!
//! The input is profile text, then optionally a NUL byte and the bytes that
//! a device answers (register words, coil bits). Invariants: no panic; an
//! accepted profile's read plan stays within the Modbus limits and the
//! address space, and holds every point; decoding any answer yields finite
//! numbers (or a problem); a decoded numeric value encodes back to registers
//! that decode to the same value; a decode of short data reports problems
//! instead of values.
#![no_main]

use std::path::Path;

use gate_wire::profile::{
    BlockData, Function, Profile, Sample, Value, ValueType, MAX_READ_BITS, MAX_READ_REGISTERS,
};
use libfuzzer_sys::fuzz_target;

fn answer(p: &Profile, bytes: &[u8]) -> Vec<BlockData> {
    let mut it = bytes.iter().copied().chain(std::iter::repeat(0xA5)).cycle();
    let mut next = move || it.next().unwrap_or(0);
    p.blocks()
        .iter()
        .map(|b| {
            if b.function.is_bit() {
                BlockData::Bits((0..b.count).map(|_| next() & 1 == 1).collect())
            } else {
                BlockData::Words(
                    (0..b.count)
                        .map(|_| u16::from_be_bytes([next(), next()]))
                        .collect(),
                )
            }
        })
        .collect()
}

fn check_sample(s: &Sample) {
    for (name, v) in &s.values {
        if let Value::Number(x) = v {
            assert!(x.is_finite(), "point `{name}` decoded to {x}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (text, regs) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return; // the agent reads profiles with read_to_string
    };
    let origin = Path::new("fuzz.toml");
    let p = match Profile::parse(text, origin) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.file, origin);
            let _ = e.to_string();
            return;
        }
    };
    assert!(!p.points.is_empty());
    for b in p.blocks() {
        let limit = match b.function {
            Function::Coil | Function::Discrete => MAX_READ_BITS,
            Function::Holding | Function::Input => MAX_READ_REGISTERS,
        };
        assert!((1..=limit).contains(&b.count), "{b:?}");
        assert!(u32::from(b.start) + u32::from(b.count) <= 0x1_0000, "{b:?}");
    }
    for pt in &p.points {
        let (a, w) = (u32::from(pt.address), u32::from(pt.width()));
        assert!(
            p.blocks().iter().any(|b| b.function == pt.function
                && u32::from(b.start) <= a
                && a + w <= u32::from(b.start) + u32::from(b.count)),
            "point `{}` is in no block",
            pt.name
        );
    }

    let data = answer(&p, regs);
    let sample = p.decode(&data);
    check_sample(&sample);
    for pt in &p.points {
        assert!(
            sample.values.contains_key(&pt.name) || !sample.problems.is_empty(),
            "point `{}` neither decoded nor reported",
            pt.name
        );
    }
    // Short answers are reported, never read past.
    if let Some(BlockData::Words(w)) = data.first() {
        let mut short = data.clone();
        short[0] = BlockData::Words(w[..w.len() / 2].to_vec());
        let s = p.decode(&short);
        check_sample(&s);
    }
    assert!(!p.decode(&[]).problems.is_empty());

    // Numeric points: encode(decoded value) decodes to the same value.
    for pt in &p.points {
        let numeric = matches!(
            pt.ty,
            ValueType::U16 | ValueType::I16 | ValueType::U32 | ValueType::I32 | ValueType::F32
        );
        if pt.function.is_bit() || !numeric {
            continue;
        }
        let Some(x) = sample.number(&pt.name) else {
            continue;
        };
        let exact = pt.scale == 1.0 && pt.offset == 0.0;
        match pt.encode_number(x) {
            Ok(words) => {
                assert_eq!(words.len(), usize::from(pt.width()));
                let mut again = Sample::default();
                pt.decode_registers(&words, &mut again);
                let y = again.number(&pt.name).expect("re-encoded value decodes");
                let tol = if exact && pt.ty != ValueType::F32 {
                    0.0
                } else {
                    1e-6 * (x.abs() + pt.offset.abs()) + pt.scale.abs()
                };
                assert!(
                    (x - y).abs() <= tol,
                    "`{}`: {x} -> {words:?} -> {y}",
                    pt.name
                );
            }
            Err(e) => assert!(!exact, "`{}`: decoded {x} does not encode: {e}", pt.name),
        }
    }
});
