//! Event ids: ULIDs (48-bit Unix ms timestamp + 80 random bits, Crockford
//! base32, 26 characters, the `ulid` crate), so ids sort by creation time.
//! Monotonic within the process: two ids in the same millisecond (or after
//! the clock stepped back) differ by an increment of the random part. The
//! id is stored with the event, so re-sends reuse it.

use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use ulid::{Generator, Ulid};

static GENERATOR: Mutex<Generator> = Mutex::new(Generator::new());

/// A new event id, from the system clock (the same one the lane's wall
/// times come from) and the OS-seeded RNG.
pub fn new_event_id() -> String {
    let ms = u64::try_from(gate_proto::time::now_unix_ms()).unwrap_or(0);
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    let mut generator = crate::conn::lock(&GENERATOR);
    // The random part overflows only after 2^80 ids in one millisecond; a
    // fresh id of the same millisecond is then the best there is.
    let id = generator
        .generate_from_datetime(at)
        .unwrap_or_else(|_| Ulid::from_datetime(at));
    drop(generator);
    id.to_string()
}

/// The timestamp (Unix ms) of a ULID, if it is one.
pub fn event_id_ms(id: &str) -> Option<u64> {
    Ulid::from_string(id).ok().map(|u| u.timestamp_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encoding() {
        // The ULID specification's example: 1469918176385 ms -> 01ARYZ6S41.
        assert_eq!(
            event_id_ms("01ARYZ6S41TSV4RRFFQ69G5FAV"),
            Some(1_469_918_176_385)
        );
        assert_eq!(event_id_ms("00000000000000000000000000"), Some(0));
        assert_eq!(
            event_id_ms("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"),
            Some((1 << 48) - 1)
        );
        assert_eq!(event_id_ms("not-a-ulid"), None);
        assert_eq!(event_id_ms("01ARYZ6S41TSV4RRFFQ69G5FA"), None, "25 chars");
    }

    #[test]
    fn ids_are_unique_and_ordered() {
        let ids: Vec<String> = (0..10_000).map(|_| new_event_id()).collect();
        for w in ids.windows(2) {
            assert!(w[0] < w[1], "{} !< {}", w[0], w[1]);
        }
        assert!(ids.iter().all(|i| i.len() == 26));
        let now = u64::try_from(gate_proto::time::now_unix_ms()).unwrap_or(0);
        let t = event_id_ms(&ids[0]).expect("ulid");
        assert!(now.abs_diff(t) < 60_000, "timestamp {t} far from now {now}");
    }
}
