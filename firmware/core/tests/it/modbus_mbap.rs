//! MBAP (Modbus TCP) framing: golden ADUs, partial, oversized and garbage
//! input.

use crate::modbus_common;

use lane_io::modbus::mbap::{self, Error, MAX_ADU_LEN};
use modbus_common::TestModel;

fn answer(m: &mut TestModel, adu: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let mut out = [0u8; MAX_ADU_LEN];
    Ok(mbap::process(adu, m, &mut out)?.map(|n| out[..n].to_vec()))
}

#[test]
fn golden_read_holding_registers() {
    let mut m = TestModel::new();
    let req = [
        0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03,
    ];
    let rsp = [
        0x00, 0x01, 0x00, 0x00, 0x00, 0x09, 0x11, 0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64,
    ];
    assert_eq!(answer(&mut m, &req), Ok(Some(rsp.to_vec())));
}

#[test]
fn golden_write_multiple_registers_and_exception() {
    let mut m = TestModel::new();
    let req = [
        0xAB, 0xCD, 0x00, 0x00, 0x00, 0x0B, 0xFF, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A,
        0x01, 0x02,
    ];
    let rsp = [
        0xAB, 0xCD, 0x00, 0x00, 0x00, 0x06, 0xFF, 0x10, 0x00, 0x01, 0x00, 0x02,
    ];
    assert_eq!(answer(&mut m, &req), Ok(Some(rsp.to_vec())));
    assert_eq!(&m.holding[1..3], &[0x000A, 0x0102]);
    // unknown function: exception, transaction and unit echoed
    let req = [0x12, 0x34, 0x00, 0x00, 0x00, 0x02, 0x05, 0x41];
    let rsp = [0x12, 0x34, 0x00, 0x00, 0x00, 0x03, 0x05, 0xC1, 0x01];
    assert_eq!(answer(&mut m, &req), Ok(Some(rsp.to_vec())));
    // out of the map
    let req = [
        0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01, 0x04, 0x01, 0x00, 0x00, 0x01,
    ];
    let rsp = [0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x01, 0x84, 0x02];
    assert_eq!(answer(&mut m, &req), Ok(Some(rsp.to_vec())));
}

#[test]
fn foreign_protocol_is_not_answered() {
    let mut m = TestModel::new();
    let req = [
        0x00, 0x01, 0x00, 0x01, 0x00, 0x06, 0x01, 0x06, 0x00, 0x01, 0x00, 0x03,
    ];
    assert_eq!(answer(&mut m, &req), Ok(None));
    assert_eq!(m, TestModel::new(), "not executed");
}

#[test]
fn partial_oversized_and_garbage() {
    let mut m = TestModel::new();
    let req = [
        0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x6B, 0x00, 0x03,
    ];
    for n in 0..req.len() {
        assert_eq!(
            answer(&mut m, &req[..n]),
            Err(Error::Truncated),
            "{n} bytes"
        );
        let want = if n < 6 { None } else { Some(12) };
        assert_eq!(mbap::adu_len(&req[..n]), Ok(want));
    }
    let mut long = req.to_vec();
    long.push(0);
    assert_eq!(answer(&mut m, &long), Err(Error::Overlong));
    // length 255 and 0xFFFF: more than a PDU can be
    assert_eq!(
        mbap::adu_len(&[0, 0, 0, 0, 0x00, 0xFF]),
        Err(Error::BadLength(255))
    );
    assert_eq!(
        mbap::adu_len(&[0, 0, 0, 0, 0xFF, 0xFF]),
        Err(Error::BadLength(0xFFFF))
    );
    // length 1: a unit id without a PDU
    assert_eq!(
        answer(&mut m, &[0, 0, 0, 0, 0, 1, 1]),
        Err(Error::BadLength(1))
    );
    // ASCII garbage (an HTTP request) is refused on its length field
    assert!(mbap::adu_len(b"GET / HTTP/1.1\r\n").is_err());
    // the largest write: 123 registers, a 252-byte PDU
    let mut big = vec![
        0x00, 0x07, 0x00, 0x00, 0x00, 0xFD, 0x01, 0x10, 0x00, 0x00, 0x00, 0x7B, 246,
    ];
    big.extend(std::iter::repeat_n(0x11u8, 246));
    assert_eq!(big.len(), MAX_ADU_LEN - 1);
    let rsp = answer(&mut m, &big).expect("valid").expect("answered");
    assert_eq!(
        rsp,
        [0x00, 0x07, 0x00, 0x00, 0x00, 0x06, 0x01, 0x10, 0x00, 0x00, 0x00, 0x7B]
    );
    assert_eq!(m.holding[122], 0x1111);
}
