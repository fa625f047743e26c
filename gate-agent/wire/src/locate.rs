//! Where a byte offset is in a text file, as people count it: 1-based line
//! and 1-based column in characters. One function for every located error
//! (the agent's configuration, register profiles, the simulator's
//! scenarios).
//!
//! Layer: text only; never panics (an offset past the end or inside a
//! multi-byte character is clamped down).

/// 1-based line and character column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let t = "a = 1\n琼 = \"x\"\nb";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (1, 5));
        // After the CJK character (3 bytes) and a space: column 3.
        assert_eq!(line_col(t, 6 + 4), (2, 3));
        assert_eq!(line_col(t, t.len()), (3, 2));
        // Inside a multi-byte character: rounded down, no panic.
        assert_eq!(line_col(t, 7), (2, 1));
        assert_eq!(line_col(t, 10_000), (3, 2));
        assert_eq!(line_col("ab\n琼x", 6), (2, 2));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
