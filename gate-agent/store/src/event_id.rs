//! Event ids: ULIDs (48-bit Unix ms timestamp + 80 random bits, Crockford
//! base32, 26 characters), so ids sort by creation time. Monotonic within
//! the process: two ids in the same millisecond differ by an increment of
//! the random part. The id is stored with the event, so re-sends reuse it.

use std::sync::Mutex;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RANDOM_BITS: u32 = 80;
const RANDOM_MASK: u128 = (1u128 << RANDOM_BITS) - 1;

static LAST: Mutex<(u64, u128)> = Mutex::new((0, 0));

/// A new event id, from the system clock and the OS-seeded thread RNG.
pub fn new_event_id() -> String {
    let ms = u64::try_from(gate_proto::time::now_unix_ms()).unwrap_or(0);
    let random: u128 = rand::random::<u128>() & RANDOM_MASK;
    let mut last = crate::conn::lock(&LAST);
    let (ms, random) = if ms <= last.0 {
        // Same millisecond (or the clock stepped back): keep order.
        let r = last.1 + 1;
        if r > RANDOM_MASK {
            (last.0 + 1, random)
        } else {
            (last.0, r)
        }
    } else {
        (ms, random)
    };
    *last = (ms, random);
    drop(last);
    encode(ms, random)
}

/// Crockford base32 of (timestamp ms, 80 random bits).
pub fn encode(ms: u64, random: u128) -> String {
    let v: u128 = (u128::from(ms & ((1 << 48) - 1)) << RANDOM_BITS) | (random & RANDOM_MASK);
    (0..26)
        .rev()
        .map(|i| CROCKFORD[((v >> (5 * i)) & 31) as usize] as char)
        .collect()
}

/// The timestamp (Unix ms) of a ULID, if it is one.
pub fn event_id_ms(id: &str) -> Option<u64> {
    if id.len() != 26 {
        return None;
    }
    let mut v: u128 = 0;
    for b in id.bytes() {
        let d = CROCKFORD
            .iter()
            .position(|&c| c == b.to_ascii_uppercase())?;
        v = (v << 5) | d as u128;
    }
    u64::try_from(v >> RANDOM_BITS).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encoding() {
        // From the ULID spec's example layout: all zero, all ones.
        assert_eq!(encode(0, 0), "00000000000000000000000000");
        assert_eq!(
            encode((1 << 48) - 1, RANDOM_MASK),
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
        );
        assert_eq!(
            event_id_ms(&encode(1_469_918_176_385, 0)),
            Some(1_469_918_176_385)
        );
        assert_eq!(&encode(1_469_918_176_385, 0)[..10], "01ARYZ6S41");
    }

    #[test]
    fn ids_are_unique_and_ordered() {
        let ids: Vec<String> = (0..10_000).map(|_| new_event_id()).collect();
        for w in ids.windows(2) {
            assert!(w[0] < w[1], "{} !< {}", w[0], w[1]);
        }
        let now = u64::try_from(gate_proto::time::now_unix_ms()).unwrap_or(0);
        let t = event_id_ms(&ids[0]).expect("ulid");
        assert!(now.abs_diff(t) < 60_000, "timestamp {t} far from now {now}");
        assert_eq!(event_id_ms("not-a-ulid"), None);
    }
}
