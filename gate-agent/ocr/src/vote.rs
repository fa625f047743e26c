//! Combining several frames' reads of one vehicle (pure functions over the
//! reads; knows nothing about cameras or lanes).
//!
//! Majority by text weighted by confidence; reads that pass the format
//! (GA 36 grammar, ISO 6346 check digit) beat those that do not, whatever
//! their number. The winner's confidence is the winning weight over the
//! number of reads considered, so disagreement between frames lowers it.

use crate::{CodeRead, PlateRead};

/// Groups of reads by text: (text, total confidence, member indices).
fn groups<'a>(texts: impl Iterator<Item = (&'a str, f32)>) -> Vec<(String, f32, Vec<usize>)> {
    let mut out: Vec<(String, f32, Vec<usize>)> = Vec::new();
    for (i, (t, c)) in texts.enumerate() {
        match out.iter_mut().find(|g| g.0 == t) {
            Some(g) => {
                g.1 += c.max(0.0);
                g.2.push(i);
            }
            None => out.push((t.to_string(), c.max(0.0), vec![i])),
        }
    }
    out
}

/// Combine several frames' reads of one vehicle: majority by text, weighted
/// by confidence; valid reads beat invalid ones.
pub fn plates(reads: &[PlateRead]) -> Option<PlateRead> {
    let pool: Vec<&PlateRead> = if reads.iter().any(|r| r.valid) {
        reads.iter().filter(|r| r.valid).collect()
    } else {
        reads.iter().collect()
    };
    let gs = groups(pool.iter().map(|r| (r.text.as_str(), r.confidence)));
    let (_, weight, members) = gs.into_iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
    let best = members
        .iter()
        .filter_map(|&i| pool.get(i))
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence))?;
    let mut out = (*best).clone();
    // Colour: the heaviest among the winning reads.
    let mut colours: Vec<(gate_proto::messages::PlateColour, f32)> = Vec::new();
    for r in members.iter().filter_map(|&i| pool.get(i)) {
        match colours.iter_mut().find(|c| c.0 == r.colour) {
            Some(c) => c.1 += r.confidence,
            None => colours.push((r.colour, r.confidence)),
        }
    }
    if let Some((c, _)) = colours.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        out.colour = c;
    }
    out.confidence = (weight / pool.len() as f32).clamp(0.0, 1.0);
    Some(out)
}

/// Combine several frames' reads of the codes of one vehicle: one read per
/// distinct valid code (heaviest first); invalid reads only when no frame
/// gave a valid code, then the heaviest alone.
pub fn codes(reads: &[CodeRead]) -> Vec<CodeRead> {
    let any_valid = reads.iter().any(|r| r.check_ok);
    let pool: Vec<&CodeRead> = reads.iter().filter(|r| r.check_ok == any_valid).collect();
    if pool.is_empty() {
        return Vec::new();
    }
    let mut gs = groups(pool.iter().map(|r| (r.text.as_str(), r.confidence)));
    gs.sort_by(|a, b| b.1.total_cmp(&a.1));
    if !any_valid {
        gs.truncate(1);
    }
    // Reads of one code by one camera per frame: the denominator is the
    // number of frames that read anything, estimated as the largest group.
    let frames = gs.iter().map(|g| g.2.len()).max().unwrap_or(1).max(1) as f32;
    gs.into_iter()
        .filter_map(|(_, weight, members)| {
            let best = members
                .iter()
                .filter_map(|&i| pool.get(i))
                .max_by(|a, b| a.confidence.total_cmp(&b.confidence))?;
            let mut out = (*best).clone();
            out.confidence = (weight / frames).clamp(0.0, 1.0);
            Some(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layout;
    use gate_proto::messages::PlateColour;

    fn p(text: &str, conf: f32, valid: bool, colour: PlateColour) -> PlateRead {
        PlateRead {
            text: text.into(),
            raw: text.into(),
            colour,
            confidence: conf,
            valid,
            repaired: false,
            bbox: None,
            micros: 1,
        }
    }

    fn c(text: &str, conf: f32, ok: bool) -> CodeRead {
        CodeRead {
            text: text.into(),
            raw: text.into(),
            confidence: conf,
            layout: Layout::Horizontal,
            check_ok: ok,
            repaired: false,
            bbox: None,
            micros: 1,
        }
    }

    #[test]
    fn plates_majority_weighted_and_valid_first() {
        use PlateColour::*;
        let reads = [
            p("琼A12345", 0.9, true, Blue),
            p("琼A12346", 0.95, true, Blue),
            p("琼A12345", 0.8, true, Yellow),
            p("琼A1234", 0.99, false, Blue),
            p("琼A1234", 0.99, false, Blue),
            p("琼A1234", 0.99, false, Blue),
        ];
        let v = plates(&reads).unwrap();
        assert_eq!(v.text, "琼A12345");
        assert_eq!(v.colour, Blue);
        assert!((v.confidence - 1.7 / 3.0).abs() < 1e-4, "{}", v.confidence);
        assert!(plates(&[]).is_none());
        let only_invalid = [p("琼A1234", 0.5, false, Blue), p("X", 0.9, false, Blue)];
        assert_eq!(plates(&only_invalid).unwrap().text, "X");
    }

    #[test]
    fn codes_keep_each_valid_code_once() {
        let reads = [
            c("CSQU3054383", 0.9, true),
            c("CSQU3054383", 0.8, true),
            c("MSKU8015623", 0.7, true),
            c("CSQU305438", 0.99, false),
        ];
        let v = codes(&reads);
        let texts: Vec<&str> = v.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["CSQU3054383", "MSKU8015623"]);
        assert!((v[0].confidence - 0.85).abs() < 1e-4);
        let invalid = codes(&[c("CSQU305438", 0.5, false), c("CSQU305433", 0.6, false)]);
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].text, "CSQU305433");
    }
}
