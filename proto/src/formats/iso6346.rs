//! ISO 6346 container codes: parse, validate, compute the check digit and
//! repair common OCR confusions with the help of the check digit.
//!
//! A code is 11 characters: a 3-letter owner code, a category identifier
//! (`U` freight container, `J` detachable equipment, `Z` trailer/chassis), a
//! 6-digit serial number and a check digit. Letters are worth
//! `c - 'A' + 10` skipping multiples of 11 (A=10, B=12, ..., K=21, L=23, ...),
//! digits their value; the check digit is `sum(v_i * 2^i) mod 11 mod 10`.
//!
//! Pure functions on strings; no I/O, nothing here knows where a read came
//! from. Nothing in this module panics on any input.

use std::fmt;

/// Length of a full code (with the check digit).
pub const LEN: usize = 11;

/// Why a string is not a valid container code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("container code has {0} characters after normalising, expected 11")]
    Length(usize),
    #[error("position {pos} is `{found}`, expected a letter A-Z")]
    NotLetter { pos: usize, found: char },
    #[error("category `{0}` is not U, J or Z")]
    Category(char),
    #[error("position {pos} is `{found}`, expected a digit")]
    NotDigit { pos: usize, found: char },
    #[error("check digit is {found}, computed {computed}")]
    CheckDigit { found: u8, computed: u8 },
}

/// A valid container code (check digit verified), stored as 11 ASCII bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerCode([u8; LEN]);

impl ContainerCode {
    /// The code as text, e.g. `CSQU3054383`.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
    /// The 3-letter owner code.
    pub fn owner(&self) -> &str {
        &self.as_str()[0..3]
    }
    /// The category identifier: `U`, `J` or `Z`.
    pub fn category(&self) -> char {
        char::from(self.0[3])
    }
    /// The 6-digit serial number.
    pub fn serial(&self) -> &str {
        &self.as_str()[4..10]
    }
    /// The check digit.
    pub fn check_digit(&self) -> u8 {
        self.0[10] - b'0'
    }
}

impl fmt::Display for ContainerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ContainerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContainerCode({})", self.as_str())
    }
}

/// Value of one character in the check-digit sum: digits their value,
/// letters `c - 'A' + 10` skipping 11, 22 and 33. `None` for anything else.
pub fn char_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => {
            // Count up from A=10, skipping 11, 22 and 33.
            let mut v = 10u32;
            for _ in b'A'..c {
                v += 1;
                if matches!(v, 11 | 22 | 33) {
                    v += 1;
                }
            }
            Some(v)
        }
        _ => None,
    }
}

/// The check digit of the first 10 characters of `code` (owner, category,
/// serial). Characters must be ASCII letters or digits; extra characters
/// beyond 10 are ignored. `None` if shorter than 10 or another character.
pub fn check_digit(code: &str) -> Option<u8> {
    let b = code.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let mut sum = 0u32;
    for (i, &c) in b[..10].iter().enumerate() {
        sum += char_value(c)? << i;
    }
    // sum < 34 * 1023, no overflow; mod 11 then mod 10 (10 becomes 0).
    u8::try_from(sum % 11 % 10).ok()
}

/// Normalise a read: full-width to half-width, upper case, and drop spaces,
/// hyphens, dots, slashes and the brackets drawn around the check digit
/// (`CSQU 305438 [3]` -> `CSQU3054383`).
pub fn normalise(s: &str) -> String {
    s.chars()
        .map(crate::formats::plate::to_half_width)
        .filter(|c| {
            !matches!(
                c,
                ' ' | '\t' | '-' | '.' | '/' | '[' | ']' | '(' | ')' | '|'
            )
        })
        .flat_map(char::to_uppercase)
        .collect()
}

/// Parse a normalised or raw code and verify it, check digit included.
pub fn parse(s: &str) -> Result<ContainerCode, CodeError> {
    let n = normalise(s);
    let chars: Vec<char> = n.chars().collect();
    if chars.len() != LEN {
        return Err(CodeError::Length(chars.len()));
    }
    let mut out = [0u8; LEN];
    for (pos, &c) in chars.iter().enumerate() {
        let ok = if pos < 4 {
            c.is_ascii_uppercase()
        } else {
            c.is_ascii_digit()
        };
        if !ok {
            return Err(if pos < 4 {
                CodeError::NotLetter { pos, found: c }
            } else {
                CodeError::NotDigit { pos, found: c }
            });
        }
        // ASCII checked above.
        out[pos] = c as u8;
    }
    if !matches!(out[3], b'U' | b'J' | b'Z') {
        return Err(CodeError::Category(char::from(out[3])));
    }
    let computed = check_digit(std::str::from_utf8(&out).unwrap_or("")).unwrap_or(u8::MAX);
    let found = out[10] - b'0';
    if computed != found {
        return Err(CodeError::CheckDigit { found, computed });
    }
    Ok(ContainerCode(out))
}

/// One character changed by a repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fix {
    pub pos: usize,
    pub from: char,
    pub to: char,
}

/// The result of [`repair`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repair {
    /// The read was valid as it stands.
    Valid(ContainerCode),
    /// Exactly one repair with the fewest changes makes the code valid.
    Repaired {
        code: ContainerCode,
        fixes: Vec<Fix>,
    },
    /// Several repairs with the same (fewest) number of changes are valid;
    /// the read cannot be resolved alone (a gate pass may disambiguate).
    Ambiguous(Vec<ContainerCode>),
    /// No repair within the rules makes it valid.
    Invalid(CodeError),
}

impl Repair {
    /// The code when the read is valid or uniquely repaired.
    pub fn code(&self) -> Option<ContainerCode> {
        match self {
            Repair::Valid(c) | Repair::Repaired { code: c, .. } => Some(*c),
            _ => None,
        }
    }
    /// Every code this read may stand for (empty when invalid).
    pub fn candidates(&self) -> Vec<ContainerCode> {
        match self {
            Repair::Valid(c) | Repair::Repaired { code: c, .. } => vec![*c],
            Repair::Ambiguous(v) => v.clone(),
            Repair::Invalid(_) => Vec::new(),
        }
    }
}

/// Letters an OCR may read for the digit `d` (digit positions read as a letter
/// are mapped back with [`as_digit`]).
fn as_letter(c: char) -> &'static [char] {
    match c {
        '0' => &['O', 'Q'],
        '1' => &['I', 'J'],
        '8' => &['B'],
        '5' => &['S'],
        '2' => &['Z'],
        _ => &[],
    }
}

/// Digits an OCR may read for the letter `c`.
fn as_digit(c: char) -> &'static [char] {
    match c {
        'O' | 'Q' => &['0'],
        'I' | 'J' => &['1'],
        'B' => &['8'],
        'S' => &['5'],
        'Z' => &['2'],
        _ => &[],
    }
}

/// Same-class confusions (a valid character that may stand for another one).
fn same_class(c: char) -> &'static [char] {
    match c {
        'O' => &['Q', 'C'],
        'Q' => &['O'],
        'C' => &['O'],
        'I' => &['J'],
        'J' => &['I'],
        _ => &[],
    }
}

/// Digit-for-digit confusions via a letter lookalike are not in the rules;
/// only these cross-class and same-class pairs are: O/0, I/1, B/8, S/5, J/I,
/// Q/O, C/O, Z/2, and for the category U read as 0, O, D or V.
fn options(pos: usize, c: char) -> (Vec<char>, Vec<char>) {
    // (choices that keep the read char when it fits, alternatives costing a change)
    let letter_pos = pos < 4;
    let fits = if letter_pos {
        c.is_ascii_uppercase()
    } else {
        c.is_ascii_digit()
    };
    let mut alts: Vec<char> = Vec::new();
    if letter_pos {
        if c.is_ascii_digit() {
            alts.extend_from_slice(as_letter(c));
        } else {
            alts.extend_from_slice(same_class(c));
        }
    } else if c.is_ascii_uppercase() {
        alts.extend_from_slice(as_digit(c));
    } else if c.is_ascii_digit() {
        alts.extend(as_letter(c).iter().flat_map(|l| as_digit(*l)).copied());
        alts.retain(|d| *d != c);
    }
    if pos == 3 {
        alts.retain(|a| matches!(a, 'U' | 'J' | 'Z'));
        // The category is nearly always U, and a narrow U (a vertical
        // code's cell) is read as a round or pointed letter or as 0.
        if matches!(c, '0' | 'O' | 'D' | 'V') {
            alts.push('U');
        }
    }
    alts.dedup();
    let keep = if fits && (pos != 3 || matches!(c, 'U' | 'J' | 'Z')) {
        vec![c]
    } else {
        Vec::new()
    };
    (keep, alts)
}

/// Most positions that may be changed beyond those that must be (a wrong
/// class). Two blind changes would match the check digit by chance too often.
const MAX_OPTIONAL_FIXES: usize = 1;

/// Repair a read: letters in the first 4 positions, digits in the last 7,
/// category U/J/Z, then the check digit decides between the lookalikes
/// (O/0, I/1, B/8, S/5, J/I, Q/O, C/O, Z/2; the category U for 0/O/D/V). Returns the valid read, the unique
/// repair with the fewest changes, the ambiguity, or why it is invalid.
pub fn repair(s: &str) -> Repair {
    let n = normalise(s);
    let chars: Vec<char> = n.chars().collect();
    let first_err = match parse(&n) {
        Ok(c) => return Repair::Valid(c),
        Err(e) => e,
    };
    if chars.len() != LEN {
        return Repair::Invalid(first_err);
    }
    // Per position: (keep, alternatives).
    let opts: Vec<(Vec<char>, Vec<char>)> = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| options(i, c))
        .collect();
    if opts.iter().any(|(k, a)| k.is_empty() && a.is_empty()) {
        return Repair::Invalid(first_err);
    }
    // Search by the number of optional changes (a change where the read
    // character already fits), fewest first.
    for optional in 0..=MAX_OPTIONAL_FIXES {
        let mut found: Vec<(ContainerCode, Vec<Fix>)> = Vec::new();
        let mut cur = chars.clone();
        search(&chars, &opts, 0, optional, &mut cur, &mut found);
        found.sort_by_key(|f| f.0);
        found.dedup_by(|a, b| a.0 == b.0);
        match found.len() {
            0 => continue,
            1 => {
                if let Some((code, fixes)) = found.pop() {
                    return Repair::Repaired { code, fixes };
                }
            }
            _ => return Repair::Ambiguous(found.into_iter().map(|f| f.0).collect()),
        }
    }
    Repair::Invalid(first_err)
}

/// Depth-first over positions: forced positions (read char does not fit) try
/// each alternative; fitting positions keep the char or, while `optional`
/// changes remain, try an alternative.
fn search(
    read: &[char],
    opts: &[(Vec<char>, Vec<char>)],
    pos: usize,
    optional: usize,
    cur: &mut Vec<char>,
    found: &mut Vec<(ContainerCode, Vec<Fix>)>,
) {
    if found.len() > 64 {
        return;
    }
    if pos == read.len() {
        if optional == 0 {
            let s: String = cur.iter().collect();
            if let Ok(code) = parse(&s) {
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
                found.push((code, fixes));
            }
        }
        return;
    }
    let (keep, alts) = &opts[pos];
    if keep.is_empty() {
        for &a in alts {
            cur[pos] = a;
            search(read, opts, pos + 1, optional, cur, found);
        }
    } else {
        cur[pos] = read[pos];
        search(read, opts, pos + 1, optional, cur, found);
        if optional > 0 {
            for &a in alts {
                cur[pos] = a;
                search(read, opts, pos + 1, optional - 1, cur, found);
            }
        }
    }
    cur[pos] = read[pos];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letter_values() {
        let expect = [
            ('A', 10),
            ('B', 12),
            ('C', 13),
            ('K', 21),
            ('L', 23),
            ('U', 32),
            ('V', 34),
            ('Z', 38),
        ];
        for (c, v) in expect {
            assert_eq!(char_value(c as u8), Some(v), "{c}");
        }
        assert_eq!(char_value(b'7'), Some(7));
        assert_eq!(char_value(b'a'), None);
        // No letter is worth a multiple of 11.
        for c in b'A'..=b'Z' {
            assert_ne!(char_value(c).map(|v| v % 11), Some(0), "{}", c as char);
        }
    }

    #[test]
    fn check_digit_examples() {
        assert_eq!(check_digit("CSQU305438"), Some(3));
        // Other published examples.
        assert_eq!(check_digit("MSKU907032"), Some(3));
        assert_eq!(check_digit("TGHU759163"), Some(8));
        assert_eq!(check_digit("CSQU30543"), None);
        assert_eq!(check_digit("CSQU30543!"), None);
    }

    #[test]
    fn parse_valid_and_parts() {
        let c = parse("CSQU 305438 [3]").expect("valid");
        assert_eq!(c.as_str(), "CSQU3054383");
        assert_eq!(c.owner(), "CSQ");
        assert_eq!(c.category(), 'U');
        assert_eq!(c.serial(), "305438");
        assert_eq!(c.check_digit(), 3);
        assert_eq!(parse("ｃｓｑｕ３０５４３８３").expect("full width"), c);
    }

    #[test]
    fn parse_errors() {
        assert_eq!(parse("CSQU305438"), Err(CodeError::Length(10)));
        assert_eq!(
            parse("CSQU3054384"),
            Err(CodeError::CheckDigit {
                found: 4,
                computed: 3
            })
        );
        assert_eq!(
            parse("CS0U3054383"),
            Err(CodeError::NotLetter { pos: 2, found: '0' })
        );
        assert_eq!(
            parse("CSQU3O54383"),
            Err(CodeError::NotDigit { pos: 5, found: 'O' })
        );
        assert_eq!(parse("CSQX3054383"), Err(CodeError::Category('X')));
        assert!(parse("").is_err());
        assert!(parse("集装箱集装箱集装箱集装").is_err());
    }

    #[test]
    fn repair_valid_is_untouched() {
        assert_eq!(
            repair("CSQU3054383").code().map(|c| c.to_string()),
            Some("CSQU3054383".into())
        );
        assert!(matches!(repair("CSQU3054383"), Repair::Valid(_)));
    }

    #[test]
    fn repair_forced_class_fixes() {
        // Digit 0 in a digit position read as O; S read as 5 in the owner.
        let r = repair("C5QU3O54383");
        let Repair::Repaired { code, fixes } = r else {
            panic!("expected a repair, got {r:?}")
        };
        assert_eq!(code.as_str(), "CSQU3054383");
        assert_eq!(fixes.len(), 2);
        assert!(fixes.contains(&Fix {
            pos: 1,
            from: '5',
            to: 'S'
        }));
        // B/8 in the serial.
        assert_eq!(
            repair("CSQU3O543B3").code().map(|c| c.to_string()),
            Some("CSQU3054383".into())
        );
    }

    #[test]
    fn repair_same_class_by_check_digit() {
        // O read instead of Q in the owner code: only the check digit tells.
        let r = repair("CSOU3054383");
        assert_eq!(r.code().map(|c| c.to_string()), Some("CSQU3054383".into()));
        // Category read as I: J is the only lookalike that is a category.
        let good = format!("ABCJ123456{}", check_digit("ABCJ123456").unwrap_or(0));
        let bad = good.replacen('J', "I", 1);
        assert_eq!(repair(&bad).code().map(|c| c.to_string()), Some(good));
    }

    #[test]
    fn repair_ambiguous_and_invalid() {
        // Owner codes made of lookalike letters, every check digit: compare
        // the repair with a brute force over single same-class changes.
        let swap = |c: char| -> &'static [char] {
            match c {
                'O' => &['Q', 'C'],
                'Q' | 'C' => &['O'],
                'I' => &['J'],
                'J' => &['I'],
                _ => &[],
            }
        };
        let mut ambiguous = 0;
        let mut repaired = 0;
        for owner in ["OQI", "QQO", "IJO", "JOQ", "OOO", "IIJ", "COQ", "OCI"] {
            for cd in 0..10 {
                let read = format!("{owner}U123450{cd}");
                if parse(&read).is_ok() {
                    assert!(matches!(repair(&read), Repair::Valid(_)));
                    continue;
                }
                let mut brute: Vec<String> = Vec::new();
                for pos in 0..3 {
                    let orig: Vec<char> = read.chars().collect();
                    for &alt in swap(orig[pos]) {
                        let mut v = orig.clone();
                        v[pos] = alt;
                        let s: String = v.into_iter().collect();
                        if parse(&s).is_ok() {
                            brute.push(s);
                        }
                    }
                }
                brute.sort();
                let got: Vec<String> = repair(&read)
                    .candidates()
                    .iter()
                    .map(|c| c.to_string())
                    .collect();
                match brute.len() {
                    0 => assert!(matches!(repair(&read), Repair::Invalid(_)), "{read}"),
                    1 => {
                        repaired += 1;
                        assert!(matches!(repair(&read), Repair::Repaired { .. }));
                        assert_eq!(got, brute, "{read}");
                    }
                    _ => {
                        ambiguous += 1;
                        assert!(matches!(repair(&read), Repair::Ambiguous(_)));
                        assert_eq!(got, brute, "{read}");
                    }
                }
            }
        }
        assert!(ambiguous > 0 && repaired > 0, "{ambiguous} {repaired}");
        // A wrong digit with no lookalike cannot be repaired.
        assert!(matches!(repair("CSQU3054389"), Repair::Invalid(_)));
        assert!(matches!(repair("CSQX3054383"), Repair::Invalid(_)));
        assert!(matches!(repair("CSQU30543"), Repair::Invalid(_)));
        assert!(matches!(repair("????"), Repair::Invalid(_)));
    }

    /// Every lookalike pair of the rules, applied to one position of several
    /// valid codes: the repair must give back the original code, alone or
    /// among the candidates, and every candidate must be valid.
    #[test]
    fn repair_recovers_every_single_confusion() {
        let pairs = [
            ('O', '0'),
            ('0', 'O'),
            ('I', '1'),
            ('1', 'I'),
            ('B', '8'),
            ('8', 'B'),
            ('S', '5'),
            ('5', 'S'),
            ('J', 'I'),
            ('I', 'J'),
            ('Q', 'O'),
            ('O', 'Q'),
            ('Z', '2'),
            ('2', 'Z'),
        ];
        // The category U read as a lookalike (checked apart: the pairs
        // above are symmetric, these are not).
        for read in ['0', 'O', 'D', 'V'] {
            for base in ["CSQU3054383", "MSKU9070323", "TGHU7591638"] {
                let bad = format!("{}{read}{}", &base[..3], &base[4..]);
                let r = repair(&bad);
                assert_eq!(
                    r.code().map(|c| c.to_string()),
                    Some(base.to_string()),
                    "{bad} -> {r:?}"
                );
            }
        }
        let bases = ["CSQU3054383", "MSKU9070323", "TGHU7591638", "ABCJ1234563"];
        let mut more = Vec::new();
        // Codes rich in lookalikes, with their computed check digit.
        for body in ["BOSU8051205", "QIZJ1025800", "SZBZ2518011"] {
            let ten = &body[..10];
            let cd = check_digit(ten).expect("ascii");
            more.push(format!("{ten}{cd}"));
        }
        let mut tried = 0;
        for base in bases.iter().map(|s| s.to_string()).chain(more) {
            assert!(parse(&base).is_ok(), "{base}");
            for pos in 0..LEN {
                for (from, to) in pairs {
                    if base.as_bytes()[pos] != from as u8 {
                        continue;
                    }
                    let mut bad: Vec<char> = base.chars().collect();
                    bad[pos] = to;
                    let bad: String = bad.into_iter().collect();
                    if parse(&bad).is_ok() {
                        continue; // the confusion happens to give another valid code
                    }
                    tried += 1;
                    let r = repair(&bad);
                    let cands = r.candidates();
                    assert!(
                        cands.iter().any(|c| c.as_str() == base),
                        "{bad} (from {base}) -> {r:?}"
                    );
                    for c in cands {
                        assert!(parse(c.as_str()).is_ok());
                    }
                }
            }
        }
        assert!(tried > 20, "only {tried} cases");
    }

    #[test]
    fn repair_never_panics_on_garbage() {
        for s in [
            "",
            "\u{0}",
            "ＣＳ",
            "ÄÖÜ12345678",
            "CSQU305438３",
            "12345678901",
        ] {
            let _ = repair(s);
            let _ = parse(s);
        }
    }
}
