//! PDU layer against the Modbus Application Protocol v1.1b3 examples
//! (section 6) and its exception rules (section 7), run on an in-test
//! DataModel.

use crate::modbus_common;

use lane_io::modbus::pdu::{self, Request, MAX_PDU_LEN};
use lane_io::modbus::Exception;
use modbus_common::{TestModel, COIL_BROKEN, HR_LIMITED, IR_BROKEN};

fn answer(model: &mut TestModel, req: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_PDU_LEN];
    let r = pdu::process(req, model, &mut out).expect("non-empty request gets an answer");
    assert_eq!(r.exception.is_some(), out[0] & 0x80 != 0);
    out[..r.len].to_vec()
}

/// (request, response) pairs from the spec's examples.
static SPEC_EXAMPLES: [(&[u8], &[u8]); 8] = [
    // 6.1 Read Coils 20..38
    (
        &[0x01, 0x00, 0x13, 0x00, 0x13],
        &[0x01, 0x03, 0xCD, 0x6B, 0x05],
    ),
    // 6.2 Read Discrete Inputs 197..218
    (
        &[0x02, 0x00, 0xC4, 0x00, 0x16],
        &[0x02, 0x03, 0xAC, 0xDB, 0x35],
    ),
    // 6.3 Read Holding Registers 108..110
    (
        &[0x03, 0x00, 0x6B, 0x00, 0x03],
        &[0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64],
    ),
    // 6.4 Read Input Register 9
    (&[0x04, 0x00, 0x08, 0x00, 0x01], &[0x04, 0x02, 0x00, 0x0A]),
    // 6.5 Write Single Coil 173 ON
    (
        &[0x05, 0x00, 0xAC, 0xFF, 0x00],
        &[0x05, 0x00, 0xAC, 0xFF, 0x00],
    ),
    // 6.6 Write Single Register 2 = 3
    (
        &[0x06, 0x00, 0x01, 0x00, 0x03],
        &[0x06, 0x00, 0x01, 0x00, 0x03],
    ),
    // 6.11 Write Multiple Coils 20..29 = CD 01
    (
        &[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01],
        &[0x0F, 0x00, 0x13, 0x00, 0x0A],
    ),
    // 6.12 Write Multiple Registers 2..3 = 000A 0102
    (
        &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02],
        &[0x10, 0x00, 0x01, 0x00, 0x02],
    ),
];

#[test]
fn spec_examples_every_function_code() {
    let mut m = TestModel::new();
    for (req, rsp) in SPEC_EXAMPLES {
        assert_eq!(answer(&mut m, req), rsp, "request {req:02X?}");
    }
}

#[test]
fn writes_land_in_the_model() {
    let mut m = TestModel::new();
    for (req, _) in &SPEC_EXAMPLES[4..] {
        answer(&mut m, req);
    }
    assert!(m.coils[172]);
    assert_eq!(m.holding[1], 0x000A); // FC16 overwrote FC06's 3
    assert_eq!(m.holding[2], 0x0102);
    // CD 01 LSB first over coils 19..29
    let want = [
        true, false, true, true, false, false, true, true, true, false,
    ];
    assert_eq!(&m.coils[19..29], &want);
    // and reading back gives the same bits
    assert_eq!(
        answer(&mut m, &[0x01, 0x00, 0x13, 0x00, 0x0A]),
        [0x01, 0x02, 0xCD, 0x01]
    );
}

#[test]
fn write_single_coil_off_and_readback() {
    let mut m = TestModel::new();
    m.coils[5] = true;
    assert_eq!(
        answer(&mut m, &[0x05, 0x00, 0x05, 0x00, 0x00]),
        [0x05, 0x00, 0x05, 0x00, 0x00]
    );
    assert!(!m.coils[5]);
}

#[test]
fn exception_illegal_function() {
    let mut m = TestModel::new();
    for fc in [
        0x00u8, 0x07, 0x08, 0x11, 0x16, 0x17, 0x2B, 0x41, 0x7F, 0x80, 0xFF,
    ] {
        let got = answer(&mut m, &[fc, 0x00, 0x00, 0x00, 0x01]);
        assert_eq!(got, [fc | 0x80, 0x01], "fc {fc:#04x}");
    }
    assert_eq!(m, TestModel::new(), "nothing changed");
}

#[test]
fn exception_illegal_data_address() {
    let mut m = TestModel::new();
    let cases: [&[u8]; 9] = [
        // spec 7 example: read coil 1186 on a device without it
        &[0x01, 0x04, 0xA1, 0x00, 0x01],
        // range starts inside, ends outside (1024 coils)
        &[0x01, 0x03, 0xFF, 0x00, 0x02],
        &[0x02, 0x08, 0x00, 0x00, 0x01],
        &[0x03, 0x00, 0xFF, 0x00, 0x02],
        &[0x04, 0x01, 0x00, 0x00, 0x01],
        &[0x05, 0x04, 0x00, 0xFF, 0x00],
        &[0x06, 0x01, 0x00, 0x00, 0x01],
        &[0x0F, 0x03, 0xFF, 0x00, 0x02, 0x01, 0x03],
        &[0x10, 0x00, 0xFF, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02],
    ];
    for req in cases {
        assert_eq!(answer(&mut m, req), [req[0] | 0x80, 0x02], "{req:02X?}");
    }
    // start + count past 0xFFFF
    assert_eq!(
        answer(&mut m, &[0x03, 0xFF, 0xFF, 0x00, 0x02]),
        [0x83, 0x02]
    );
    assert_eq!(m, TestModel::new(), "failed multi-writes change nothing");
}

#[test]
fn exception_illegal_data_value() {
    let mut m = TestModel::new();
    let cases: [&[u8]; 14] = [
        // quantity 0
        &[0x01, 0x00, 0x00, 0x00, 0x00],
        &[0x03, 0x00, 0x00, 0x00, 0x00],
        // quantity over the limit
        &[0x02, 0x00, 0x00, 0x07, 0xD1],
        &[0x04, 0x00, 0x00, 0x00, 0x7E],
        // FC05 value neither FF00 nor 0000
        &[0x05, 0x00, 0x00, 0x00, 0x01],
        &[0x05, 0x00, 0x00, 0xFF, 0x01],
        &[0x05, 0x00, 0x00, 0x01, 0x00],
        // FC15: byte count does not match quantity
        &[0x0F, 0x00, 0x00, 0x00, 0x09, 0x01, 0xFF],
        // FC15: byte count does not match the data that follows
        &[0x0F, 0x00, 0x00, 0x00, 0x08, 0x02, 0xFF],
        // FC16: byte count odd / not 2 x quantity
        &[0x10, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00],
        &[0x10, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x01],
        // FC16 quantity 124
        &[0x10, 0x00, 0x00, 0x00, 0x7C, 0x00],
        // truncated and overlong fixed-size requests
        &[0x03, 0x00, 0x00, 0x00],
        &[0x03, 0x00, 0x00, 0x00, 0x01, 0x00],
    ];
    for req in cases {
        assert_eq!(answer(&mut m, req), [req[0] | 0x80, 0x03], "{req:02X?}");
    }
    // value refused by the data model itself, single and multiple
    assert_eq!(
        answer(&mut m, &[0x06, 0x00, HR_LIMITED as u8, 0x03, 0xE9]),
        [0x86, 0x03]
    );
    assert_eq!(
        answer(
            &mut m,
            &[
                0x10,
                0x00,
                (HR_LIMITED - 1) as u8,
                0x00,
                0x02,
                0x04,
                0x00,
                0x07,
                0x03,
                0xE9
            ]
        ),
        [0x90, 0x03]
    );
    assert_eq!(m, TestModel::new(), "nothing changed");
}

#[test]
fn exception_server_device_failure() {
    let mut m = TestModel::new();
    assert_eq!(
        answer(&mut m, &[0x04, 0x00, IR_BROKEN as u8, 0x00, 0x01]),
        [0x84, 0x04]
    );
    // a range that includes the broken register fails as a whole
    assert_eq!(
        answer(&mut m, &[0x04, 0x00, (IR_BROKEN - 2) as u8, 0x00, 0x05]),
        [0x84, 0x04]
    );
    let [hi, lo] = COIL_BROKEN.to_be_bytes();
    assert_eq!(answer(&mut m, &[0x05, hi, lo, 0xFF, 0x00]), [0x85, 0x04]);
    assert_eq!(
        answer(&mut m, &[0x0F, hi, lo - 1, 0x00, 0x03, 0x01, 0x07]),
        [0x8F, 0x04]
    );
    assert_eq!(m, TestModel::new());
}

#[test]
fn quantity_limits_at_the_edge() {
    let mut m = TestModel::with_coils(4000);
    // 2000 bits: 250 data bytes
    let r = answer(&mut m, &[0x02, 0x00, 0x00, 0x07, 0xD0]);
    assert_eq!((r[0], r[1], r.len()), (0x02, 250, 252));
    let r = answer(&mut m, &[0x01, 0x00, 0x00, 0x07, 0xD0]);
    assert_eq!((r[0], r[1], r.len()), (0x01, 250, 252));
    assert_eq!(
        answer(&mut m, &[0x01, 0x00, 0x00, 0x07, 0xD1]),
        [0x81, 0x03]
    );
    // 125 registers
    let r = answer(&mut m, &[0x03, 0x00, 0x00, 0x00, 0x7D]);
    assert_eq!((r[0], r[1], r.len()), (0x03, 250, 252));
    assert_eq!(
        answer(&mut m, &[0x03, 0x00, 0x00, 0x00, 0x7E]),
        [0x83, 0x03]
    );
    // 1968 coils written from 1000 (clear of the broken coil 900)
    let mut req = vec![0x0F, 0x03, 0xE8, 0x07, 0xB0, 246];
    req.extend(std::iter::repeat_n(0xA5u8, 246));
    assert_eq!(answer(&mut m, &req), [0x0F, 0x03, 0xE8, 0x07, 0xB0]);
    assert!(m.coils[1000] && !m.coils[1001] && m.coils[1000 + 1967] && !m.coils[1000 + 1968]);
    // 1969 coils: refused even though the byte count is consistent
    let mut req = vec![0x0F, 0x00, 0x00, 0x07, 0xB1, 247];
    req.extend(std::iter::repeat_n(0xFFu8, 247));
    assert_eq!(answer(&mut m, &req), [0x8F, 0x03]);
    // 123 registers written
    let mut req = vec![0x10, 0x00, 0x00, 0x00, 0x7B, 246];
    req.extend((0..123u16).flat_map(|v| v.to_be_bytes()));
    assert_eq!(answer(&mut m, &req), [0x10, 0x00, 0x00, 0x00, 0x7B]);
    assert_eq!(m.holding[122], 122);
    let mut req = vec![0x10, 0x00, 0x00, 0x00, 0x7C, 248];
    req.extend(std::iter::repeat_n(0u8, 248));
    assert_eq!(answer(&mut m, &req), [0x90, 0x03]);
}

#[test]
fn empty_request_gets_no_answer() {
    let mut m = TestModel::new();
    let mut out = [0u8; MAX_PDU_LEN];
    assert_eq!(pdu::process(&[], &mut m, &mut out), None);
}

#[test]
fn broadcast_style_execute_of_a_parsed_write() {
    let mut m = TestModel::new();
    let req = Request::parse(&[0x06, 0x00, 0x03, 0x12, 0x34]).expect("valid");
    assert!(req.is_write());
    let mut out = [0u8; MAX_PDU_LEN];
    assert_eq!(pdu::execute(&req, &mut m, &mut out), Ok(5));
    assert_eq!(m.holding[3], 0x1234);
    let read = Request::parse(&[0x03, 0x01, 0x00, 0x00, 0x01]).expect("valid");
    assert!(!read.is_write());
    assert_eq!(
        pdu::execute(&read, &mut m, &mut out),
        Err(Exception::IllegalDataAddress)
    );
}
