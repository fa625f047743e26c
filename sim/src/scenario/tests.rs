//! Unit tests of `scenario` (kept beside it so the module stays readable).

use super::*;

#[test]
fn relative_times() {
    assert_eq!(relative_ms("now"), Some(0));
    assert_eq!(relative_ms("+90s"), Some(90_000));
    assert_eq!(relative_ms("-30m"), Some(-1_800_000));
    assert_eq!(relative_ms("+2h"), Some(7_200_000));
    assert_eq!(relative_ms("+7d"), Some(604_800_000));
    for bad in [
        "",
        "+",
        "+h",
        "2h",
        "+2w",
        "+-2h",
        "+99999999999999999d",
        "-",
    ] {
        assert_eq!(relative_ms(bad), None, "{bad}");
    }
    assert_eq!(resolve_time("+1s", 1000), Some(2000));
    assert_eq!(
        resolve_time("2025-11-25T00:00:00.123Z", 0),
        Some(1_764_028_800_123)
    );
    assert_eq!(resolve_time("tomorrow", 0), None);
}
