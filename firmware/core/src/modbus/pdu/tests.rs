//! Unit tests of `pdu` (kept beside it so the module stays readable).

use super::*;

#[test]
fn request_len_by_function() {
    assert_eq!(request_len(&[]), RequestLen::NeedAtLeast(1));
    assert_eq!(request_len(&[0x03]), RequestLen::Exact(5));
    assert_eq!(request_len(&[0x10, 0, 1, 0, 2]), RequestLen::NeedAtLeast(6));
    assert_eq!(request_len(&[0x10, 0, 1, 0, 2, 4]), RequestLen::Exact(10));
    assert_eq!(
        request_len(&[0x0F, 0, 0x13, 0, 0x0A, 2]),
        RequestLen::Exact(8)
    );
    assert_eq!(request_len(&[0x17]), RequestLen::NeedAtLeast(10));
    assert_eq!(request_len(&[0x2B]), RequestLen::Unknown);
}

#[test]
fn packet_accessors_tolerate_short_buffers() {
    let p = Packet::new_unchecked(&[0x10u8, 0x12][..]);
    assert_eq!(p.function_code(), FunctionCode::WriteMultipleRegisters);
    assert_eq!(p.address(), 0);
    assert_eq!(p.quantity(), 0);
    assert_eq!(p.byte_count(), 0);
    assert!(p.write_data().is_empty());
    assert_eq!(p.check_len(), Err(LenError::BadLength));
    assert_eq!(
        Packet::new_checked(&[][..] as &[u8]).err(),
        Some(LenError::Empty)
    );
}

#[test]
fn deconstruct_write_multiple_registers() {
    // Spec example: write 000A, 0102 to registers 2..3 (address 1).
    let bytes = [0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02];
    let p = Packet::new_checked(&bytes[..]).expect("valid length");
    assert_eq!(p.address(), 1);
    assert_eq!(p.quantity(), 2);
    assert_eq!(p.byte_count(), 4);
    assert_eq!(p.write_data(), &bytes[6..]);
}

#[test]
fn parse_emit_round_trip() {
    let frames: [&[u8]; 8] = [
        &[0x01, 0x00, 0x13, 0x00, 0x13],
        &[0x02, 0x00, 0xC4, 0x00, 0x16],
        &[0x03, 0x00, 0x6B, 0x00, 0x03],
        &[0x04, 0x00, 0x08, 0x00, 0x01],
        &[0x05, 0x00, 0xAC, 0xFF, 0x00],
        &[0x06, 0x00, 0x01, 0x00, 0x03],
        &[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01],
        &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02],
    ];
    for f in frames {
        let req = Request::parse(f).expect("valid request");
        assert_eq!(req.buffer_len(), f.len());
        let mut buf = [0u8; MAX_PDU_LEN];
        let n = req.emit(&mut buf).expect("fits");
        assert_eq!(&buf[..n], f);
        assert_eq!(req.emit(&mut buf[..n - 1]), Err(BufferTooSmall));
    }
}

#[test]
fn parse_values() {
    let req = Request::parse(&[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01]).expect("ok");
    let Request::WriteMultipleCoils { start, coils } = req else {
        panic!("wrong variant {req:?}");
    };
    assert_eq!(start, 0x13);
    // CD 01: coils 20..29 = 1 0 1 1 0 0 1 1 1 0 (spec example, LSB first)
    let bits: [bool; 10] = core::array::from_fn(|i| coils.get(i as u16).expect("in range"));
    assert_eq!(
        bits,
        [true, false, true, true, false, false, true, true, true, false]
    );
    assert_eq!(coils.get(10), None);
    assert!(coils.iter().eq(bits.iter().copied()));
}

#[test]
fn parse_errors() {
    use Exception::*;
    let cases: [(&[u8], Exception); 17] = [
        (&[], IllegalFunction),
        (&[0x00], IllegalFunction),
        (&[0x2B, 0x0E, 0x01, 0x00], IllegalFunction),
        (&[0x03, 0x00, 0x00, 0x00], IllegalDataValue),
        (&[0x03, 0x00, 0x00, 0x00, 0x01, 0x00], IllegalDataValue),
        (&[0x03, 0x00, 0x00, 0x00, 0x00], IllegalDataValue),
        (&[0x03, 0x00, 0x00, 0x00, 0x7E], IllegalDataValue),
        (&[0x01, 0x00, 0x00, 0x07, 0xD1], IllegalDataValue),
        (&[0x01, 0xFF, 0xFF, 0x00, 0x02], IllegalDataAddress),
        (&[0x05, 0x00, 0x00, 0x00, 0x01], IllegalDataValue),
        (&[0x05, 0x00, 0x00, 0xFF, 0xFF], IllegalDataValue),
        (
            &[0x0F, 0x00, 0x00, 0x00, 0x0A, 0x01, 0xCD],
            IllegalDataValue,
        ),
        (&[0x0F, 0x00, 0x00, 0x07, 0xB1, 0x00], IllegalDataValue),
        (
            &[0x10, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00],
            IllegalDataValue,
        ),
        (
            &[0x10, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x01],
            IllegalDataValue,
        ),
        (&[0x10, 0x00, 0x00, 0x00, 0x7C, 0xF8], IllegalDataValue),
        (
            &[0x10, 0xFF, 0xFF, 0x00, 0x02, 0x04, 0, 1, 0, 2],
            IllegalDataAddress,
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(Request::parse(bytes), Err(want), "{bytes:02X?}");
    }
}

#[test]
fn range_ending_exactly_at_ffff_is_structurally_valid() {
    assert_eq!(
        Request::parse(&[0x03, 0xFF, 0xFF, 0x00, 0x01]),
        Ok(Request::ReadHoldingRegisters {
            start: 0xFFFF,
            count: 1
        })
    );
}
