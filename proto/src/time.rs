//! RFC 3339 UTC timestamps with milliseconds, as the platform contract wants.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Format as `2026-11-27T15:31:17.123Z`.
pub fn format_ms(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Milliseconds since the Unix epoch formatted as RFC 3339.
pub fn format_unix_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format_ms(t)
}

/// Parse any RFC 3339 timestamp into Unix milliseconds.
pub fn parse_unix_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Current wall-clock time as Unix ms.
pub fn now_unix_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let s = format_unix_ms(1_764_028_800_123);
        assert_eq!(s, "2025-11-25T00:00:00.123Z");
        assert_eq!(parse_unix_ms(&s), Some(1_764_028_800_123));
        assert_eq!(
            parse_unix_ms("2025-11-25T08:00:00.123+08:00"),
            Some(1_764_028_800_123)
        );
        assert_eq!(parse_unix_ms("yesterday"), None);
    }
}
