//! Property tests: no input panics the Modbus stack, every RTU response is
//! a well-formed frame for our unit, and the split of the byte stream into
//! bursts does not change what is answered.

use crate::modbus_common;

use lane_io::modbus::rtu::{Adu, RtuSlave, MAX_ADU_LEN};
use lane_io::modbus::{crc, mbap, pdu};
use modbus_common::{rtu, TestModel};
use proptest::prelude::*;

const UNIT: u8 = 1;

/// A valid request PDU of one of the implemented function codes.
fn request_pdu() -> impl Strategy<Value = Vec<u8>> {
    let addr = prop_oneof![0u16..300, any::<u16>()];
    prop_oneof![
        (1u8..=4, addr.clone(), 1u16..130).prop_map(|(fc, a, q)| {
            let mut v = vec![fc];
            v.extend(a.to_be_bytes());
            v.extend(q.to_be_bytes());
            v
        }),
        (addr.clone(), any::<bool>()).prop_map(|(a, on)| {
            let mut v = vec![0x05];
            v.extend(a.to_be_bytes());
            v.extend(if on { [0xFF, 0x00] } else { [0x00, 0x00] });
            v
        }),
        (addr.clone(), any::<u16>()).prop_map(|(a, x)| {
            let mut v = vec![0x06];
            v.extend(a.to_be_bytes());
            v.extend(x.to_be_bytes());
            v
        }),
        (addr.clone(), prop::collection::vec(any::<bool>(), 1..40)).prop_map(|(a, bits)| {
            let mut v = vec![0x0F];
            v.extend(a.to_be_bytes());
            v.extend((bits.len() as u16).to_be_bytes());
            let mut packed = vec![0u8; bits.len().div_ceil(8)];
            for (i, b) in bits.iter().enumerate() {
                packed[i / 8] |= u8::from(*b) << (i % 8);
            }
            v.push(packed.len() as u8);
            v.extend(packed);
            v
        }),
        (addr, prop::collection::vec(any::<u16>(), 1..20)).prop_map(|(a, regs)| {
            let mut v = vec![0x10];
            v.extend(a.to_be_bytes());
            v.extend((regs.len() as u16).to_be_bytes());
            v.push((regs.len() * 2) as u8);
            v.extend(regs.iter().flat_map(|r| r.to_be_bytes()));
            v
        }),
    ]
}

/// Frames for our unit, another unit and broadcast.
fn frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![4 => Just(UNIT), 1 => Just(0u8), 1 => Just(7u8)],
        request_pdu(),
    )
        .prop_map(|(u, p)| rtu(u, &p))
}

fn feed(
    slave: &mut RtuSlave,
    model: &mut TestModel,
    chunks: impl IntoIterator<Item = (u64, Vec<u8>)>,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (t, c) in chunks {
        slave.receive_all(t, &c, model, |r| out.push(r.to_vec()));
    }
    out
}

/// Cut `bytes` at the given (sorted, deduplicated) positions.
fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut parts = Vec::new();
    let mut last = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        parts.push(bytes[last..c].to_vec());
        last = c;
    }
    parts
}

/// CI runs the same cases every time: a fixed seed, after the failures
/// kept in proptest-regressions/modbus_proptest.txt. `PROPTEST_RNG_SEED` and
/// `PROPTEST_CASES` override both for long random runs.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d62_7274_7570_0015),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/proptest-regressions/modbus_proptest.txt"
            )),
        )),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_and_timing_never_panic_and_answers_are_well_formed(
        chunks in prop::collection::vec(
            (0u64..20_000, prop::collection::vec(any::<u8>(), 0..300)), 0..12),
    ) {
        let mut m = TestModel::new();
        let mut s = RtuSlave::new(UNIT, 19200);
        let mut t = 0u64;
        for (dt, bytes) in chunks {
            t += dt;
            let mut responses = Vec::new();
            s.receive_all(t, &bytes, &mut m, |r| responses.push(r.to_vec()));
            for r in responses {
                prop_assert!(r.len() <= MAX_ADU_LEN);
                prop_assert!(crc::check_frame(&r), "bad CRC {:02X?}", r);
                let adu = Adu::new_checked(&r[..]).expect("checked above");
                prop_assert_eq!(adu.unit_id(), UNIT);
            }
            prop_assert!(s.framer().buffered() <= MAX_ADU_LEN);
        }
    }

    #[test]
    fn valid_frames_any_split_same_answers(
        frames in prop::collection::vec(frame(), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        // Reference: each frame on its own, silence between frames.
        let mut m_ref = TestModel::new();
        let mut s_ref = RtuSlave::new(UNIT, 19200);
        let want = feed(&mut s_ref, &mut m_ref,
            frames.iter().enumerate().map(|(i, f)| (i as u64 * 100_000, f.clone())));
        prop_assert_eq!(want.len(), frames.iter().filter(|f| f[0] == UNIT).count());

        // The same stream cut anywhere, delivered with no silence at all.
        let stream = frames.concat();
        let mut m = TestModel::new();
        let mut s = RtuSlave::new(UNIT, 19200);
        let got = feed(&mut s, &mut m,
            split(&stream, &cuts).into_iter().enumerate().map(|(i, c)| (i as u64 * 50, c)));
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(&m, &m_ref);
    }

    #[test]
    fn pdu_process_never_panics(req in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut m = TestModel::new();
        let mut out = [0u8; pdu::MAX_PDU_LEN];
        match pdu::process(&req, &mut m, &mut out) {
            None => prop_assert!(req.is_empty()),
            Some(r) => {
                prop_assert!(r.len >= 2 && r.len <= pdu::MAX_PDU_LEN);
                prop_assert_eq!(out[0] & 0x7F, req[0] & 0x7F);
                prop_assert_eq!(r.exception.is_some(), r.len == 2 && out[0] & 0x80 != 0);
            }
        }
    }

    #[test]
    fn mbap_never_panics(adu in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut m = TestModel::new();
        let mut out = [0u8; mbap::MAX_ADU_LEN];
        let _ = mbap::adu_len(&adu);
        if let Ok(Some(n)) = mbap::process(&adu, &mut m, &mut out) {
            prop_assert!(n <= mbap::MAX_ADU_LEN);
            prop_assert_eq!(&out[..2], &adu[..2]);
            prop_assert_eq!(mbap::adu_len(&out[..n]), Ok(Some(n)));
        }
    }

    #[test]
    fn request_parse_emit_round_trip(p in request_pdu()) {
        if let Ok(req) = pdu::Request::parse(&p) {
            let mut buf = [0u8; pdu::MAX_PDU_LEN];
            let n = req.emit(&mut buf).expect("fits");
            prop_assert_eq!(&buf[..n], &p[..]);
        }
    }
}

proptest! {
    // Noise bytes make a frame candidate whose CRC check may, with
    // probability about 2^-16 per checked position, accept garbage: that is
    // inherent to Modbus RTU, and it would make this property flaky with a
    // random seed. The seed is fixed so the run is reproducible; the cases
    // are still generated.
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x4d6f_6462_7573),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn noise_before_frames_costs_nothing(
        frames in prop::collection::vec(frame(), 1..6),
        noise in prop::collection::vec(any::<u8>(), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut m_ref = TestModel::new();
        let mut s_ref = RtuSlave::new(UNIT, 19200);
        let want = feed(&mut s_ref, &mut m_ref,
            frames.iter().enumerate().map(|(i, f)| (i as u64 * 100_000, f.clone())));

        let mut stream = noise.clone();
        stream.extend(frames.concat());
        let mut m = TestModel::new();
        let mut s = RtuSlave::new(UNIT, 19200);
        let got = feed(&mut s, &mut m,
            split(&stream, &cuts).into_iter().enumerate().map(|(i, c)| (i as u64 * 50, c)));
        prop_assert_eq!(&got, &want, "noise {:02X?}", noise);
        prop_assert_eq!(&m, &m_ref);
    }
}
