//! RTU slave: golden frames (CRC from an independent implementation,
//! pymodbus' computeCRC), addressing, framing under splits, gaps and
//! garbage.

use crate::modbus_common;

use heapless::Vec as HVec;
use lane_io::modbus::rtu::{RtuConfig, RtuSlave, SilenceMode, MAX_ADU_LEN};
use modbus_common::{rtu, TestModel};

const UNIT: u8 = 1;
const BAUD: u32 = 19200;
/// Comfortably longer than the 2006 us gap at 19200 baud.
const SILENCE_US: u64 = 10_000;

/// Feed `chunks` (time, bytes) and collect every response frame.
fn run(slave: &mut RtuSlave, model: &mut TestModel, chunks: &[(u64, &[u8])]) -> Vec<Vec<u8>> {
    let mut responses = Vec::new();
    for &(t, bytes) in chunks {
        slave.receive_all(t, bytes, model, |r| responses.push(r.to_vec()));
    }
    responses
}

fn one_shot(model: &mut TestModel, frame: &[u8]) -> Vec<Vec<u8>> {
    let mut s = RtuSlave::new(UNIT, BAUD);
    run(&mut s, model, &[(0, frame)])
}

/// (request, response), unit 1.
static GOLDEN: [(&[u8], &[u8]); 15] = [
    (
        &[0x01, 0x01, 0x00, 0x13, 0x00, 0x13, 0x8C, 0x02],
        &[0x01, 0x01, 0x03, 0xCD, 0x6B, 0x05, 0x42, 0x82],
    ),
    (
        &[0x01, 0x02, 0x00, 0xC4, 0x00, 0x16, 0xB8, 0x39],
        &[0x01, 0x02, 0x03, 0xAC, 0xDB, 0x35, 0x22, 0x88],
    ),
    (
        &[0x01, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x74, 0x17],
        &[
            0x01, 0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64, 0x05, 0x7A,
        ],
    ),
    (
        &[0x01, 0x04, 0x00, 0x08, 0x00, 0x01, 0xB0, 0x08],
        &[0x01, 0x04, 0x02, 0x00, 0x0A, 0x39, 0x37],
    ),
    (
        &[0x01, 0x05, 0x00, 0xAC, 0xFF, 0x00, 0x4C, 0x1B],
        &[0x01, 0x05, 0x00, 0xAC, 0xFF, 0x00, 0x4C, 0x1B],
    ),
    (
        &[0x01, 0x06, 0x00, 0x01, 0x00, 0x03, 0x98, 0x0B],
        &[0x01, 0x06, 0x00, 0x01, 0x00, 0x03, 0x98, 0x0B],
    ),
    (
        &[
            0x01, 0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01, 0x72, 0xCB,
        ],
        &[0x01, 0x0F, 0x00, 0x13, 0x00, 0x0A, 0x24, 0x09],
    ),
    (
        &[
            0x01, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02, 0x92, 0x30,
        ],
        &[0x01, 0x10, 0x00, 0x01, 0x00, 0x02, 0x10, 0x08],
    ),
    // IllegalFunction: MEI read device id (no implied length: framed by CRC)
    (
        &[0x01, 0x2B, 0x0E, 0x01, 0x00, 0x70, 0x77],
        &[0x01, 0xAB, 0x01, 0x9E, 0xF0],
    ),
    // IllegalFunction: Read Exception Status (fixed length, not implemented)
    (&[0x01, 0x07, 0x41, 0xE2], &[0x01, 0x87, 0x01, 0x82, 0x30]),
    // IllegalDataAddress: the spec's example, coil 1186
    (
        &[0x01, 0x01, 0x04, 0xA1, 0x00, 0x01, 0xAD, 0x18],
        &[0x01, 0x81, 0x02, 0xC1, 0x91],
    ),
    // IllegalDataValue: 126 registers
    (
        &[0x01, 0x03, 0x00, 0x00, 0x00, 0x7E, 0xC5, 0xEA],
        &[0x01, 0x83, 0x03, 0x01, 0x31],
    ),
    // IllegalDataValue: FC05 value 0x0001
    (
        &[0x01, 0x05, 0x00, 0xAC, 0x00, 0x01, 0xCC, 0x2B],
        &[0x01, 0x85, 0x03, 0x02, 0x91],
    ),
    // ServerDeviceFailure: input register 250
    (
        &[0x01, 0x04, 0x00, 0xFA, 0x00, 0x01, 0x11, 0xFB],
        &[0x01, 0x84, 0x04, 0x42, 0xC3],
    ),
    // Read Exception Status again, to check the framer is back in sync
    (&[0x01, 0x07, 0x41, 0xE2], &[0x01, 0x87, 0x01, 0x82, 0x30]),
];

#[test]
fn golden_frames_whole() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    for (i, (req, rsp)) in GOLDEN.iter().enumerate() {
        let t = i as u64 * SILENCE_US;
        assert_eq!(
            run(&mut s, &mut m, &[(t, req)]),
            vec![rsp.to_vec()],
            "{req:02X?}"
        );
    }
    let st = s.stats();
    assert_eq!((st.requests, st.responses, st.exceptions), (15, 15, 7));
    assert_eq!(s.framer().stats().crc_errors, 0);
}

#[test]
fn golden_frames_byte_by_byte_without_gaps() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    // Every byte in its own call, 100 us apart (no silence anywhere,
    // including between frames).
    let mut t = 0;
    for (req, rsp) in GOLDEN {
        let mut got = Vec::new();
        for b in req {
            t += 100;
            got.extend(run(&mut s, &mut m, &[(t, std::slice::from_ref(b))]));
        }
        assert_eq!(got, vec![rsp.to_vec()], "{req:02X?}");
    }
}

#[test]
fn all_golden_requests_in_one_burst() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    let burst: Vec<u8> = GOLDEN.iter().flat_map(|(q, _)| q.iter().copied()).collect();
    let want: Vec<Vec<u8>> = GOLDEN.iter().map(|(_, r)| r.to_vec()).collect();
    assert_eq!(run(&mut s, &mut m, &[(0, &burst)]), want);
}

#[test]
fn receive_stops_after_each_response() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    let (a, ra) = GOLDEN[2];
    let (b, rb) = GOLDEN[3];
    let burst = [a, b].concat();
    let mut out: HVec<u8, MAX_ADU_LEN> = HVec::new();
    let n = s.receive(0, &burst, &mut m, &mut out);
    assert_eq!((n, &out[..]), (a.len(), ra));
    let n2 = s.receive(0, &burst[n..], &mut m, &mut out);
    assert_eq!((n2, &out[..]), (b.len(), rb));
    assert_eq!(s.receive(0, &[], &mut m, &mut out), 0);
    assert!(out.is_empty());
}

#[test]
fn usb_latency_split_with_gaps_still_answers() {
    // An adapter delivering 3 + 2 + 3 bytes with 16 ms between chunks.
    let mut m = TestModel::new();
    let (req, rsp) = GOLDEN[2];
    let mut s = RtuSlave::new(UNIT, BAUD);
    let got = run(
        &mut s,
        &mut m,
        &[(0, &req[..3]), (16_000, &req[3..5]), (32_000, &req[5..])],
    );
    assert_eq!(got, vec![rsp.to_vec()]);
}

#[test]
fn strict_mode_drops_a_frame_split_by_silence() {
    let mut m = TestModel::new();
    let (req, rsp) = GOLDEN[2];
    let mut cfg = RtuConfig::new(UNIT, BAUD);
    cfg.silence = SilenceMode::Strict;
    let mut s = RtuSlave::with_config(cfg);
    let got = run(&mut s, &mut m, &[(0, &req[..3]), (SILENCE_US, &req[3..])]);
    assert!(got.is_empty(), "{got:02X?}");
    // the next whole frame is answered
    let got = run(&mut s, &mut m, &[(3 * SILENCE_US, req)]);
    assert_eq!(got, vec![rsp.to_vec()]);
}

#[test]
fn broadcast_executes_writes_and_never_answers() {
    let mut m = TestModel::new();
    // FC05 coil 173 ON to unit 0
    let bcast = [0x00, 0x05, 0x00, 0xAC, 0xFF, 0x00, 0x4D, 0xCA];
    assert!(one_shot(&mut m, &bcast).is_empty());
    assert!(m.coils[172]);
    // FC16 broadcast
    let f = rtu(
        0,
        &[0x10, 0x00, 0x05, 0x00, 0x02, 0x04, 0x12, 0x34, 0x56, 0x78],
    );
    assert!(one_shot(&mut m, &f).is_empty());
    assert_eq!(&m.holding[5..7], &[0x1234, 0x5678]);
    // broadcast reads and broadcast exceptions: nothing executed, nothing sent
    let before = m.clone();
    for pdu in [
        &[0x03, 0x00, 0x00, 0x00, 0x01][..],
        &[0x06, 0x10, 0x00, 0x00, 0x01],
        &[0x05, 0x00, 0x00, 0x12, 0x34],
        &[0x41],
    ] {
        assert!(one_shot(&mut m, &rtu(0, pdu)).is_empty(), "{pdu:02X?}");
    }
    assert_eq!(m, before);
}

#[test]
fn other_unit_ids_are_ignored() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    let unit2 = [0x02, 0x03, 0x00, 0x6B, 0x00, 0x03, 0x74, 0x24];
    let write7 = rtu(7, &[0x06, 0x00, 0x00, 0x00, 0x09]);
    assert!(run(&mut s, &mut m, &[(0, &unit2), (1, &write7)]).is_empty());
    assert_eq!(m, TestModel::new());
    assert_eq!(s.stats().other_units, 2);
    // A slave configured as unit 2 answers the first frame.
    let mut s2 = RtuSlave::new(2, BAUD);
    let got = run(&mut s2, &mut m, &[(0, &unit2)]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0][0], 2);
}

#[test]
fn crc_error_is_not_answered_and_counted() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    let (req, rsp) = GOLDEN[5]; // write register
    let mut bad = req.to_vec();
    bad[5] ^= 0x01;
    assert!(run(&mut s, &mut m, &[(0, &bad)]).is_empty());
    assert_eq!(m.holding[1], 0, "corrupted write not executed");
    assert_eq!(s.framer().stats().crc_errors, 1);
    // after a silence, the good frame goes through
    assert_eq!(
        run(&mut s, &mut m, &[(SILENCE_US, req)]),
        vec![rsp.to_vec()]
    );
    assert_eq!(m.holding[1], 3);
}

#[test]
fn corrupted_frame_then_good_frame_without_silence() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    let (req, rsp) = GOLDEN[2];
    let mut bad = req.to_vec();
    bad[3] ^= 0x40;
    let burst = [&bad[..], req].concat();
    assert_eq!(run(&mut s, &mut m, &[(0, &burst)]), vec![rsp.to_vec()]);
}

#[test]
fn noise_bytes_before_a_frame() {
    for noise in [
        &[0x00u8][..],
        &[0xFF],
        &[0xFF, 0x00, 0xFF],
        &[0x01],
        &[0x01, 0x01],
    ] {
        let mut m = TestModel::new();
        let (req, rsp) = GOLDEN[3];
        let f = [noise, req].concat();
        assert_eq!(
            one_shot(&mut m, &f),
            vec![rsp.to_vec()],
            "noise {noise:02X?}"
        );
    }
}

#[test]
fn truncated_frame_then_silence_then_good_frame() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    let (req, rsp) = GOLDEN[7]; // FC16, 13 bytes
                                // master gave up after 6 bytes
    let got = run(&mut s, &mut m, &[(0, &req[..6]), (SILENCE_US, GOLDEN[0].0)]);
    assert_eq!(got, vec![GOLDEN[0].1.to_vec()]);
    assert_eq!(
        run(&mut s, &mut m, &[(3 * SILENCE_US, req)]),
        vec![rsp.to_vec()]
    );
}

#[test]
fn truncated_long_write_then_silence_then_short_frame() {
    // The stale partial claims 200 data bytes; the short frame after the
    // silence must not wait for them.
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    let stale = [0x01, 0x10, 0x00, 0x00, 0x00, 0x64, 0xC8, 0x00, 0x01];
    let (req, rsp) = GOLDEN[3];
    let got = run(&mut s, &mut m, &[(0, &stale), (SILENCE_US, req)]);
    assert_eq!(got, vec![rsp.to_vec()]);
    assert_eq!(m.holding[0], 0);
}

#[test]
fn overlong_frame_claims_are_garbage() {
    // FC16 whose byte count makes the frame longer than 256 bytes.
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    let mut junk = vec![0x01, 0x10, 0x00, 0x00, 0x00, 0x7C, 0xF8];
    junk.extend(std::iter::repeat_n(0x55u8, 300));
    let (req, rsp) = GOLDEN[2];
    assert!(run(&mut s, &mut m, &[(0, &junk)]).is_empty());
    assert_eq!(m, TestModel::new());
    assert_eq!(
        run(&mut s, &mut m, &[(SILENCE_US, req)]),
        vec![rsp.to_vec()]
    );
    assert!(s.framer().buffered() <= MAX_ADU_LEN);
}

#[test]
fn garbage_flood_then_frame() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    // deterministic pseudo-random garbage
    let mut x: u32 = 0x1234_5678;
    let junk: Vec<u8> = (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    let mut t = 0;
    for chunk in junk.chunks(37) {
        t += 500;
        for r in run(&mut s, &mut m, &[(t, chunk)]) {
            // Whatever garbage happens to decode must still be a valid frame.
            assert!(lane_io::modbus::crc::check_frame(&r), "{r:02X?}");
        }
    }
    assert!(s.framer().buffered() <= MAX_ADU_LEN);
    let (req, rsp) = GOLDEN[2];
    assert_eq!(
        run(&mut s, &mut m, &[(t + SILENCE_US, req)]),
        vec![rsp.to_vec()]
    );
}

#[test]
fn largest_frames_pass() {
    let mut m = TestModel::with_coils(4000);
    // FC16 with 123 registers: a 255-byte frame
    let mut pdu = vec![0x10, 0x00, 0x00, 0x00, 0x7B, 246];
    pdu.extend((0..123u16).flat_map(|v| (v * 3).to_be_bytes()));
    let f = rtu(UNIT, &pdu);
    assert_eq!(f.len(), 255);
    let got = one_shot(&mut m, &f);
    assert_eq!(got, vec![rtu(UNIT, &[0x10, 0x00, 0x00, 0x00, 0x7B])]);
    assert_eq!(m.holding[122], 366);
    // FC03 reading 125 registers: a 255-byte response
    let got = one_shot(&mut m, &rtu(UNIT, &[0x03, 0x00, 0x00, 0x00, 0x7D]));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].len(), 255);
    assert_eq!(&got[0][3..5], &[0x00, 0x00]);
    assert_eq!(&got[0][3 + 2 * 122..3 + 2 * 123], &366u16.to_be_bytes());
}

#[test]
fn clock_going_backwards_is_harmless() {
    let mut m = TestModel::new();
    let mut s = RtuSlave::new(UNIT, BAUD);
    let (req, rsp) = GOLDEN[2];
    let got = run(&mut s, &mut m, &[(1_000_000, &req[..4]), (5, &req[4..])]);
    assert_eq!(got, vec![rsp.to_vec()]);
}
