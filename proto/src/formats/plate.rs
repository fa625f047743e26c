//! Chinese motor-vehicle plates (GA 36): normalise, validate, classify and
//! repair common OCR confusions.
//!
//! Grammar (after [`normalise`]):
//! - ordinary: province character + issuing-authority letter (A-Z without
//!   I/O) + 5 alphanumerics (without I/O), e.g. `琼A12345`;
//! - special suffix: the 5th alphanumeric replaced by `挂` (trailer), `学`
//!   (learner), `警` (police), `港`/`澳` (Hong Kong / Macau vehicles, usually
//!   `粤Z`), `领` (consulate), e.g. `琼A1234挂`;
//! - new energy: 6 characters after the letter; small cars `D`/`F` first, then
//!   one alphanumeric, then 4 digits (`粤BD12345`, `粤BDF1234`); large
//!   vehicles 5 digits then `D`/`F` (`粤B12345D`);
//! - embassy: 6 digits then `使` (`224001使`), or the older `使` + 6 digits.
//!
//! Military and armed-police plates are not recognised (they do not use
//! customs lanes as goods vehicles). Pure functions; no I/O; nothing panics.

use std::fmt;

/// The 31 province-level abbreviations that start a plate.
pub const PROVINCES: &str = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新";

/// Suffix characters that may replace the last alphanumeric.
pub const SUFFIXES: &str = "挂学警港澳领";

/// Which kind of plate the grammar recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlateKind {
    /// Province + letter + 5 alphanumerics.
    Ordinary,
    /// `挂`: a trailer (semi-trailer) plate.
    Trailer,
    /// `学`: learner vehicle.
    Learner,
    /// `警`: police.
    Police,
    /// `港`: Hong Kong vehicle.
    HongKong,
    /// `澳`: Macau vehicle.
    Macau,
    /// `领`: consulate.
    Consulate,
    /// `使`: embassy.
    Embassy,
    /// New energy, small car (`D`/`F` first).
    NewEnergySmall,
    /// New energy, large vehicle (`D`/`F` last).
    NewEnergyLarge,
}

impl PlateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordinary => "ordinary",
            Self::Trailer => "trailer",
            Self::Learner => "learner",
            Self::Police => "police",
            Self::HongKong => "hong_kong",
            Self::Macau => "macau",
            Self::Consulate => "consulate",
            Self::Embassy => "embassy",
            Self::NewEnergySmall => "new_energy_small",
            Self::NewEnergyLarge => "new_energy_large",
        }
    }
}

/// Why a string is not a plate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlateError {
    #[error("plate is empty")]
    Empty,
    #[error("plate has {0} characters, expected 7 or 8")]
    Length(usize),
    #[error("`{0}` is not a province abbreviation")]
    Province(char),
    #[error("position {pos} is `{found}`, expected a letter A-Z other than I and O")]
    Letter { pos: usize, found: char },
    #[error("position {pos} is `{found}`, expected a letter (not I/O) or a digit")]
    Alnum { pos: usize, found: char },
    #[error("position {pos} is `{found}`, expected a digit")]
    Digit { pos: usize, found: char },
    #[error("new-energy plate needs D or F first (small) or last (large)")]
    NewEnergy,
}

/// A valid, normalised plate.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Plate {
    text: String,
    kind: PlateKind,
}

impl Plate {
    /// The normalised text, e.g. `琼A12345`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub fn kind(&self) -> PlateKind {
        self.kind
    }
    /// The province character (none for embassy plates).
    pub fn province(&self) -> Option<char> {
        self.text.chars().next().filter(|c| PROVINCES.contains(*c))
    }
    /// A Hainan plate (`琼`).
    pub fn is_hainan(&self) -> bool {
        self.province() == Some('琼')
    }
}

impl fmt::Display for Plate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Plate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plate({}, {})", self.text, self.kind.as_str())
    }
}

/// Full-width ASCII forms (U+FF01..U+FF5E) and the ideographic space to
/// their half-width forms; every other character unchanged.
pub fn to_half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Normalise a read: full-width to half-width, upper case, and strip spaces,
/// dots, middle dots and hyphens (`琼A·12345`, `琼ａ 12345` -> `琼A12345`).
pub fn normalise(s: &str) -> String {
    s.chars()
        .map(to_half_width)
        .filter(|c| {
            !c.is_whitespace()
                && !matches!(
                    c,
                    '.' | '-' | '\u{00B7}' | '\u{30FB}' | '\u{2022}' | '\u{2027}' | '\u{FF65}'
                )
        })
        .flat_map(char::to_uppercase)
        .collect()
}

fn is_letter(c: char) -> bool {
    c.is_ascii_uppercase() && c != 'I' && c != 'O'
}

fn is_alnum(c: char) -> bool {
    is_letter(c) || c.is_ascii_digit()
}

/// Parse and classify a plate (normalising first).
pub fn parse(s: &str) -> Result<Plate, PlateError> {
    let text = normalise(s);
    let c: Vec<char> = text.chars().collect();
    let kind = classify(&c)?;
    Ok(Plate { text, kind })
}

fn classify(c: &[char]) -> Result<PlateKind, PlateError> {
    if c.is_empty() {
        return Err(PlateError::Empty);
    }
    let digits = |range: std::ops::Range<usize>| -> Result<(), PlateError> {
        for pos in range {
            if !c[pos].is_ascii_digit() {
                return Err(PlateError::Digit { pos, found: c[pos] });
            }
        }
        Ok(())
    };
    // Embassy: 6 digits + 使, or 使 + 6 digits.
    if c.len() == 7 && c[6] == '使' {
        digits(0..6)?;
        return Ok(PlateKind::Embassy);
    }
    if c.len() == 7 && c[0] == '使' {
        digits(1..7)?;
        return Ok(PlateKind::Embassy);
    }
    if c.len() != 7 && c.len() != 8 {
        return Err(PlateError::Length(c.len()));
    }
    if !PROVINCES.contains(c[0]) {
        return Err(PlateError::Province(c[0]));
    }
    if !is_letter(c[1]) {
        return Err(PlateError::Letter {
            pos: 1,
            found: c[1],
        });
    }
    let alnum = |pos: usize| -> Result<(), PlateError> {
        if is_alnum(c[pos]) {
            Ok(())
        } else {
            Err(PlateError::Alnum { pos, found: c[pos] })
        }
    };
    if c.len() == 7 {
        for pos in 2..6 {
            alnum(pos)?;
        }
        return Ok(match c[6] {
            '挂' => PlateKind::Trailer,
            '学' => PlateKind::Learner,
            '警' => PlateKind::Police,
            '港' => PlateKind::HongKong,
            '澳' => PlateKind::Macau,
            '领' => PlateKind::Consulate,
            _ => {
                alnum(6)?;
                PlateKind::Ordinary
            }
        });
    }
    // 8 characters: new energy.
    if matches!(c[2], 'D' | 'F') {
        alnum(3)?;
        digits(4..8)?;
        Ok(PlateKind::NewEnergySmall)
    } else if c[2].is_ascii_digit() {
        digits(2..7)?;
        if matches!(c[7], 'D' | 'F') {
            Ok(PlateKind::NewEnergyLarge)
        } else {
            Err(PlateError::NewEnergy)
        }
    } else {
        Err(PlateError::NewEnergy)
    }
}

/// One character changed by a repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fix {
    pub pos: usize,
    pub from: char,
    pub to: char,
}

/// One plate the read may stand for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub plate: Plate,
    /// Characters changed (empty: the read was valid as it stands).
    pub fixes: Vec<Fix>,
    /// Another candidate needs as few changes: the read alone cannot tell.
    pub ambiguous: bool,
}

impl Candidate {
    pub fn repaired(&self) -> bool {
        !self.fixes.is_empty()
    }
}

/// The result of [`repair`]: the candidates with the fewest changes (at most
/// [`MAX_FIXES`]), sorted by text; empty when nothing fits the grammar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repair {
    pub candidates: Vec<Candidate>,
    /// Why the read as it stands is not a plate (`None` when it is).
    pub error: Option<PlateError>,
}

impl Repair {
    /// The single best candidate, when there is exactly one.
    pub fn unique(&self) -> Option<&Candidate> {
        match self.candidates.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }
    pub fn is_ambiguous(&self) -> bool {
        self.candidates.len() > 1
    }
}

/// Most characters a repair may change.
pub const MAX_FIXES: usize = 2;

/// OCR lookalikes in the ASCII part: what a read character may really be.
/// `I` and `O` never occur on a plate, so they always map (to `1` and `0`);
/// a digit in a letter-only position maps to its letter lookalike (`0` may be
/// `D` or `Q`: ambiguous unless the grammar allows only one, as in the
/// new-energy `D`/`F` position) and a letter in a digit-only position to its
/// digit lookalike.
fn lookalikes(c: char) -> &'static [char] {
    match c {
        'O' => &['0'],
        'I' => &['1'],
        '0' => &['D', 'Q'],
        '8' => &['B'],
        '5' => &['S'],
        '2' => &['Z'],
        '6' => &['G'],
        'D' | 'Q' => &['0'],
        'B' => &['8'],
        'S' => &['5'],
        'Z' => &['2'],
        'G' => &['6'],
        _ => &[],
    }
}

/// Second-choice lookalikes, tried only when the first choices give nothing:
/// an `O` where no digit may stand (the authority letter, the new-energy
/// `D`/`F`) was a `D` or a `Q`.
fn lookalikes_second(c: char) -> &'static [char] {
    match c {
        'O' => &['D', 'Q'],
        _ => &[],
    }
}

/// Normalise, validate and, when the read is not a plate, try lookalike
/// substitutions (at most [`MAX_FIXES`] characters, fewest first) that make it
/// one. A valid read comes back alone with no fixes: a plate has no check
/// digit, so a valid read is never second-guessed.
pub fn repair(s: &str) -> Repair {
    let text = normalise(s);
    let read: Vec<char> = text.chars().collect();
    let error = match classify(&read) {
        Ok(kind) => {
            return Repair {
                candidates: vec![Candidate {
                    plate: Plate { text, kind },
                    fixes: Vec::new(),
                    ambiguous: false,
                }],
                error: None,
            }
        }
        Err(e) => e,
    };
    if read.len() > 8 {
        return Repair {
            candidates: Vec::new(),
            error: Some(error),
        };
    }
    for (second, budget) in [false, true]
        .into_iter()
        .flat_map(|second| (1..=MAX_FIXES).map(move |b| (second, b)))
    {
        let mut found = Vec::new();
        let mut cur = read.clone();
        search(&read, 0, budget, second, &mut cur, &mut found);
        if !found.is_empty() {
            found.sort_by(|a: &Candidate, b| a.plate.text.cmp(&b.plate.text));
            found.dedup_by(|a, b| a.plate == b.plate);
            let ambiguous = found.len() > 1;
            for f in &mut found {
                f.ambiguous = ambiguous;
            }
            return Repair {
                candidates: found,
                error: Some(error),
            };
        }
    }
    Repair {
        candidates: Vec::new(),
        error: Some(error),
    }
}

/// Exactly `budget` changes over positions `pos..`.
fn search(
    read: &[char],
    pos: usize,
    budget: usize,
    second: bool,
    cur: &mut Vec<char>,
    out: &mut Vec<Candidate>,
) {
    if out.len() >= 16 {
        return;
    }
    if budget == 0 {
        if let Ok(kind) = classify(cur) {
            let fixes = read
                .iter()
                .zip(cur.iter())
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(pos, (a, b))| Fix {
                    pos,
                    from: *a,
                    to: *b,
                })
                .collect();
            out.push(Candidate {
                plate: Plate {
                    text: cur.iter().collect(),
                    kind,
                },
                fixes,
                ambiguous: false,
            });
        }
        return;
    }
    if pos >= read.len() || read.len() - pos < budget {
        return;
    }
    // Leave this position as read.
    search(read, pos + 1, budget, second, cur, out);
    // Or change it (never the province character).
    if pos > 0 {
        let extra: &[char] = if second {
            lookalikes_second(read[pos])
        } else {
            &[]
        };
        for &alt in lookalikes(read[pos]).iter().chain(extra) {
            cur[pos] = alt;
            search(read, pos + 1, budget - 1, second, cur, out);
        }
        cur[pos] = read[pos];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Result<PlateKind, PlateError> {
        parse(s).map(|p| p.kind())
    }

    #[test]
    fn provinces_are_31() {
        assert_eq!(PROVINCES.chars().count(), 31);
    }

    #[test]
    fn normalise_forms() {
        assert_eq!(normalise("琼A·12345"), "琼A12345");
        assert_eq!(normalise("琼ａ １２３４５"), "琼A12345");
        assert_eq!(normalise(" 琼a.123-45 "), "琼A12345");
        assert_eq!(normalise("琼A・12345"), "琼A12345");
        assert_eq!(normalise("琼Ａ\u{3000}12345"), "琼A12345");
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("琼A12345"), Ok(PlateKind::Ordinary));
        assert_eq!(kind("琼AB123C"), Ok(PlateKind::Ordinary));
        assert_eq!(kind("琼A1234挂"), Ok(PlateKind::Trailer));
        assert_eq!(kind("粤A1234学"), Ok(PlateKind::Learner));
        assert_eq!(kind("琼A1234警"), Ok(PlateKind::Police));
        assert_eq!(kind("粤Z1234港"), Ok(PlateKind::HongKong));
        assert_eq!(kind("粤Z1234澳"), Ok(PlateKind::Macau));
        assert_eq!(kind("沪A1234领"), Ok(PlateKind::Consulate));
        assert_eq!(kind("224001使"), Ok(PlateKind::Embassy));
        assert_eq!(kind("使224001"), Ok(PlateKind::Embassy));
        assert_eq!(kind("粤BD12345"), Ok(PlateKind::NewEnergySmall));
        // Seven characters starting D/F after the letter: an ordinary plate.
        assert_eq!(kind("粤BF1234"), Ok(PlateKind::Ordinary));
        assert_eq!(kind("粤BDF1234"), Ok(PlateKind::NewEnergySmall));
        assert_eq!(kind("粤B12345D"), Ok(PlateKind::NewEnergyLarge));
        assert_eq!(kind("琼·A 12345"), Ok(PlateKind::Ordinary));
        let p = parse("琼a12345").expect("valid");
        assert_eq!(p.as_str(), "琼A12345");
        assert!(p.is_hainan());
        assert_eq!(p.province(), Some('琼'));
        assert_eq!(parse("224001使").expect("valid").province(), None);
    }

    #[test]
    fn errors() {
        assert_eq!(kind(""), Err(PlateError::Empty));
        assert_eq!(kind("琼A1234"), Err(PlateError::Length(6)));
        assert_eq!(kind("琼A123456789"), Err(PlateError::Length(11)));
        assert_eq!(kind("X A12345"), Err(PlateError::Province('X')));
        assert_eq!(kind("港A12345"), Err(PlateError::Province('港')));
        assert_eq!(
            kind("琼I12345"),
            Err(PlateError::Letter { pos: 1, found: 'I' })
        );
        assert_eq!(
            kind("琼112345"),
            Err(PlateError::Letter { pos: 1, found: '1' })
        );
        assert_eq!(
            kind("琼A1O345"),
            Err(PlateError::Alnum { pos: 3, found: 'O' })
        );
        assert_eq!(
            kind("琼A1234I"),
            Err(PlateError::Alnum { pos: 6, found: 'I' })
        );
        assert_eq!(
            kind("琼A12挂45"),
            Err(PlateError::Alnum {
                pos: 4,
                found: '挂'
            })
        );
        assert_eq!(
            kind("粤BD1234A"),
            Err(PlateError::Digit { pos: 7, found: 'A' })
        );
        assert_eq!(
            kind("粤B1234AD"),
            Err(PlateError::Digit { pos: 6, found: 'A' })
        );
        assert_eq!(kind("粤B123456"), Err(PlateError::NewEnergy));
        assert_eq!(kind("粤BA123456"), Err(PlateError::Length(9)));
        assert_eq!(kind("粤BA12345"), Err(PlateError::NewEnergy));
        assert_eq!(
            kind("12A001使"),
            Err(PlateError::Digit { pos: 2, found: 'A' })
        );
    }

    #[test]
    fn repair_valid_read_is_kept() {
        let r = repair("琼A·B8S25");
        let c = r.unique().expect("unique");
        assert_eq!(c.plate.as_str(), "琼AB8S25");
        assert!(!c.repaired());
        assert!(r.error.is_none());
    }

    #[test]
    fn repair_i_and_o_in_number_positions() {
        let r = repair("琼A1O3I5");
        let c = r.unique().expect("unique");
        assert_eq!(c.plate.as_str(), "琼A10315");
        assert_eq!(
            c.fixes,
            vec![
                Fix {
                    pos: 3,
                    from: 'O',
                    to: '0'
                },
                Fix {
                    pos: 5,
                    from: 'I',
                    to: '1'
                }
            ]
        );
        assert!(!c.ambiguous);
        assert!(r.error.is_some());
    }

    #[test]
    fn repair_new_energy_positions() {
        // 0 where only D/F may stand: D, unambiguous.
        let r = repair("粤B012345");
        // Also fits as large? 012345 then... pos 7 is '5', not D/F: no.
        let c = r.unique().expect("unique");
        assert_eq!(c.plate.as_str(), "粤BD12345");
        assert_eq!(c.plate.kind(), PlateKind::NewEnergySmall);
        // Letters in the 4 digit-only positions of a small new-energy plate.
        let r = repair("粤BD1S3B5");
        let c = r.unique().expect("unique");
        assert_eq!(c.plate.as_str(), "粤BD15385");
        // Large: D/F last; a 0 read there becomes D.
        let r = repair("粤B123450");
        let c = r.unique().expect("unique");
        assert_eq!(c.plate.as_str(), "粤B12345D");
        assert_eq!(c.plate.kind(), PlateKind::NewEnergyLarge);
    }

    #[test]
    fn repair_letter_position_zero_is_ambiguous() {
        // 0 where the authority letter stands: D or Q, the read cannot tell.
        let r = repair("琼012345");
        assert!(r.is_ambiguous());
        let texts: Vec<&str> = r.candidates.iter().map(|c| c.plate.as_str()).collect();
        assert_eq!(texts, vec!["琼D12345", "琼Q12345"]);
        assert!(r.candidates.iter().all(|c| c.ambiguous));
        // 8 there is only B.
        assert_eq!(
            repair("琼812345")
                .unique()
                .map(|c| c.plate.as_str().to_string()),
            Some("琼B12345".into())
        );
    }

    #[test]
    fn repair_o_where_no_digit_may_stand() {
        // O in the authority-letter position: D or Q, ambiguous.
        let r = repair("琼O12345");
        let texts: Vec<&str> = r.candidates.iter().map(|c| c.plate.as_str()).collect();
        assert_eq!(texts, vec!["琼D12345", "琼Q12345"]);
        // O in the new-energy D/F position: only D fits.
        let r = repair("粤BO12345");
        assert_eq!(
            r.unique().map(|c| c.plate.as_str().to_string()),
            Some("粤BD12345".into())
        );
    }

    #[test]
    fn repair_gives_up() {
        assert!(repair("").candidates.is_empty());
        assert!(repair("X A12345").candidates.is_empty());
        assert!(repair("琼A1").candidates.is_empty());
        // Three changes needed: beyond MAX_FIXES.
        assert!(repair("琼AOOO45").candidates.is_empty());
        assert!(repair("琼IIIII5").candidates.is_empty());
        for s in [
            "\u{0}",
            "使",
            "挂挂挂挂挂挂挂",
            "琼琼琼琼琼琼琼琼",
            "ＯＯＯＯＯＯＯＯ",
        ] {
            let _ = repair(s);
        }
    }

    #[test]
    fn every_candidate_parses() {
        for s in [
            "琼A1O3I5",
            "粤B012345",
            "琼012345",
            "粤BD1S3B5",
            "琼AOO345",
            "粤B1234O0",
        ] {
            for c in repair(s).candidates {
                assert_eq!(
                    parse(c.plate.as_str()).map(|p| p.kind()),
                    Ok(c.plate.kind()),
                    "{s}"
                );
                assert!(c.fixes.len() <= MAX_FIXES);
            }
        }
    }
}
