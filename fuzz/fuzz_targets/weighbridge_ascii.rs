//! Fuzz target: the ASCII weighbridge wire formats (gate-wire, used by the
//! agent's weighbridge driver on a serial line).
//!
//! The whole input goes through the Toledo parser (with and without
//! checksum) and the XK3190 parser; then, without its first byte (which
//! seeds the chunking), as a byte stream through `AsciiFramer::push` for
//! each protocol, once in one read and once split into random reads.
//! Invariants: no panic; parsed weights are finite; an XK3190 frame that
//! parses is re-emitted byte for byte (but for the case of its hex digits
//! and the sign of zero) and parses back equal; every streamed byte is
//! accounted for (garbage + frames + one per bad frame + buffered); the
//! framer buffers less than one frame; how the stream is split into reads
//! changes nothing the framer finds.
#![no_main]

use gate_fuzz::Lcg;
use gate_wire::weighbridge::{toledo, xk3190, AsciiEvent, AsciiFramer, AsciiProtocol};
use libfuzzer_sys::fuzz_target;

/// Frames and bad frames found (garbage events merged), and garbage bytes.
fn feed(framer: &mut AsciiFramer, reads: &[&[u8]]) -> (Vec<AsciiEvent>, usize) {
    let mut found = Vec::new();
    let mut garbage = 0;
    let mut total = 0;
    let mut accounted = 0;
    for read in reads {
        total += read.len();
        for ev in framer.push(read) {
            match ev {
                AsciiEvent::Garbage(n) => {
                    assert!(n > 0, "empty garbage event");
                    garbage += n;
                    accounted += n;
                }
                AsciiEvent::Weight(w) => {
                    assert!(w.gross_kg.is_finite(), "{w:?}");
                    assert!(w.tare_kg.is_none_or(f64::is_finite), "{w:?}");
                    accounted += framer.frame_len();
                    found.push(AsciiEvent::Weight(w));
                }
                AsciiEvent::Bad(m) => {
                    accounted += 1;
                    found.push(AsciiEvent::Bad(m));
                }
            }
        }
        assert!(framer.buffered() < framer.frame_len());
        assert_eq!(
            accounted + framer.buffered(),
            total,
            "bytes lost or counted twice"
        );
    }
    (found, garbage)
}

fuzz_target!(|data: &[u8]| {
    for checksum in [false, true] {
        if let Ok(r) = toledo::parse(data, checksum) {
            let len = if checksum {
                toledo::LEN_CKS
            } else {
                toledo::LEN
            };
            assert_eq!(data.len(), len);
            assert!(r.weight_kg().is_finite() && r.tare_kg().is_finite() && r.tare_kg() >= 0.0);
            assert!(r.gross_kg().is_finite());
            // What parses re-encodes to a frame that parses the same.
            assert_eq!(toledo::parse(&r.to_vec(checksum), checksum), Ok(r));
        }
    }
    if let Ok(r) = xk3190::parse(data) {
        assert!(r.decimals <= 4 && r.value.abs() <= 999_999, "{r:?}");
        let frame = r.emit();
        assert_eq!(xk3190::parse(&frame), Ok(r));
        if r.value != 0 {
            assert_eq!(frame[..], data.to_ascii_uppercase()[..]);
        }
    }

    let Some((seed, stream)) = data.split_first() else {
        return;
    };
    let mut rng = Lcg(u64::from(*seed));
    let mut reads = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = (1 + rng.next() as usize % 40).min(rest.len());
        let (read, tail) = rest.split_at(n);
        reads.push(read);
        rest = tail;
    }
    let kg_per_unit = if seed & 0x80 != 0 { 1000.0 } else { 1.0 };
    for (protocol, checksum) in [
        (AsciiProtocol::Toledo, false),
        (AsciiProtocol::Toledo, true),
        (AsciiProtocol::Xk3190, false),
    ] {
        let whole = feed(
            &mut AsciiFramer::new(protocol, checksum, kg_per_unit),
            &[stream],
        );
        let split = feed(
            &mut AsciiFramer::new(protocol, checksum, kg_per_unit),
            &reads,
        );
        assert_eq!(whole, split, "the split into reads changed the result");
    }
});
