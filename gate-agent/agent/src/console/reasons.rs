//! The reason texts the console shows, from docs/reasons.md (the document
//! is compiled in: one source for the field guide and the screen): per
//! code the LED text in Chinese and English and the condition as checked.
//!
//! Layer: data.

use std::collections::BTreeMap;

use serde::Serialize;

const DOC: &str = include_str!("../../../../docs/reasons.md");

/// One reason code's texts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReasonText {
    /// The LED text, Chinese then English (the plate of R00 left out).
    pub led: String,
    /// What the lane checked (English).
    pub condition: String,
}

/// Every code of the reasons table.
pub fn table() -> BTreeMap<String, ReasonText> {
    let mut out = BTreeMap::new();
    for line in DOC.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | code | condition | result | LED |
        if cells.len() < 6 {
            continue;
        }
        let code = cells[1];
        let valid = code.len() == 3
            && code.as_bytes()[0].is_ascii_uppercase()
            && code[1..].bytes().all(|b| b.is_ascii_digit());
        if !valid {
            continue;
        }
        // The first `...` of the cell is the LED text (H08's cell adds a
        // variant after it).
        let led = cells[4].split('`').nth(1).unwrap_or(cells[4]);
        // Leave out a plate in front (R00's example `琼A12345 放行 Go`).
        let led = match led.split_once(' ') {
            Some((first, rest)) if first.chars().any(|c| c.is_ascii_digit()) => rest,
            _ => led,
        };
        out.insert(
            code.to_owned(),
            ReasonText {
                led: led.to_owned(),
                condition: cells[2].replace('`', ""),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_code_has_its_texts() {
        let t = table();
        for code in [
            "R00", "E00", "H01", "H02", "H03", "H04", "H05", "H06", "H07", "H08", "H09", "H10",
            "I01", "O01", "O02",
        ] {
            let r = t
                .get(code)
                .unwrap_or_else(|| panic!("{code} missing from docs/reasons.md"));
            assert!(
                !r.led.is_empty() && !r.condition.is_empty(),
                "{code}: {r:?}"
            );
        }
        assert_eq!(t["H01"].led, "无通行单 No gate pass");
        assert_eq!(t["R00"].led, "放行 Go");
        assert_eq!(t["H08"].led, "信息不全请稍候 Data incomplete");
    }
}
