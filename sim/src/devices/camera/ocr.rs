//! On-camera recognition, as ANPR and container-OCR smart cameras do it:
//! given what is in view, what text does the camera report, with what
//! confidence. Misreads follow real OCR confusions (O/0, I/1, B/8, S/5, J/I,
//! Q/O, Z/2 in container codes; D/0, B/8, Z/2, S/5, G/6, A/4 in plates); the
//! simulator never recomputes a check digit to make a misread look valid.
//!
//! Layer: pure device model (seeded, no I/O, no clock).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Result of one plate recognition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateRead {
    pub plate: String,
    pub colour: String,
    pub confidence: f64,
}

/// Result of one container-code recognition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodeRead {
    pub text: String,
    pub confidence: f64,
    /// "horizontal" or "vertical".
    pub layout: &'static str,
}

/// Container-code confusions (both directions).
const CODE_CONFUSIONS: &[(char, char)] = &[
    ('O', '0'),
    ('0', 'O'),
    ('I', '1'),
    ('1', 'I'),
    ('B', '8'),
    ('8', 'B'),
    ('S', '5'),
    ('5', 'S'),
    ('J', 'I'),
    ('Q', 'O'),
    ('Z', '2'),
    ('2', 'Z'),
];

/// Plate confusions (both directions).
const PLATE_CONFUSIONS: &[(char, char)] = &[
    ('D', '0'),
    ('0', 'D'),
    ('B', '8'),
    ('8', 'B'),
    ('Z', '2'),
    ('2', 'Z'),
    ('S', '5'),
    ('5', 'S'),
    ('G', '6'),
    ('6', 'G'),
    ('A', '4'),
    ('4', 'A'),
];

/// Plate alphabet for random substitutions (no I, no O).
const PLATE_ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";

/// A seeded recognition engine for one camera.
pub struct Recogniser {
    rng: StdRng,
    misread_rate: f64,
}

impl Recogniser {
    pub fn new(seed: u64, misread_rate: f64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            misread_rate: misread_rate.clamp(0.0, 1.0),
        }
    }

    fn misread(&mut self) -> bool {
        self.rng.gen::<f64>() < self.misread_rate
    }

    fn confidence(&mut self, misread: bool) -> f64 {
        let c: f64 = if misread {
            self.rng.gen_range(0.55..0.85)
        } else {
            self.rng.gen_range(0.88..0.995)
        };
        (c * 1000.0).round() / 1000.0
    }

    /// Reads a plate (text as issued, colour name).
    pub fn read_plate(&mut self, text: &str, colour: &str) -> PlateRead {
        let misread = self.misread();
        let plate = if misread {
            confuse_plate(text, &mut self.rng)
        } else {
            text.to_string()
        };
        let confidence = self.confidence(misread);
        PlateRead {
            plate,
            colour: colour.to_string(),
            confidence,
        }
    }

    /// Reads a container code (11 characters as painted, without spaces).
    pub fn read_code(&mut self, code: &str, vertical: bool) -> CodeRead {
        let misread = self.misread();
        let text = if misread {
            confuse_code(code, &mut self.rng)
        } else {
            code.to_string()
        };
        let confidence = self.confidence(misread);
        CodeRead {
            text,
            confidence,
            layout: if vertical { "vertical" } else { "horizontal" },
        }
    }
}

/// One OCR confusion in a container code; if no confusable character exists,
/// the check digit (last character) is read as a different digit.
pub fn confuse_code(code: &str, rng: &mut impl Rng) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    let candidates: Vec<usize> = (0..chars.len())
        .filter(|&i| CODE_CONFUSIONS.iter().any(|&(a, _)| a == chars[i]))
        .collect();
    if let Some(&i) = candidates.choose(rng) {
        let options: Vec<char> = CODE_CONFUSIONS
            .iter()
            .filter(|&&(a, _)| a == chars[i])
            .map(|&(_, b)| b)
            .collect();
        if let Some(&b) = options.choose(rng) {
            chars[i] = b;
        }
    } else if let Some(last) = chars.last_mut() {
        let orig = *last;
        let digits: Vec<char> = ('0'..='9').filter(|&d| d != orig).collect();
        if let Some(&d) = digits.choose(rng) {
            *last = d;
        }
    }
    chars.into_iter().collect()
}

/// One OCR confusion in a plate, never in the province character.
pub fn confuse_plate(text: &str, rng: &mut impl Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    if chars.len() < 2 {
        return text.to_string();
    }
    let candidates: Vec<usize> = (1..chars.len())
        .filter(|&i| PLATE_CONFUSIONS.iter().any(|&(a, _)| a == chars[i]))
        .collect();
    if let Some(&i) = candidates.choose(rng) {
        if let Some(&(_, b)) = PLATE_CONFUSIONS.iter().find(|&&(a, _)| a == chars[i]) {
            chars[i] = b;
        }
    } else {
        let i = rng.gen_range(1..chars.len());
        let orig = chars[i];
        let pool: Vec<char> = PLATE_ALNUM
            .iter()
            .map(|&b| char::from(b))
            .filter(|&c| c != orig)
            .collect();
        if let Some(&c) = pool.choose(rng) {
            chars[i] = c;
        }
    }
    chars.into_iter().collect()
}

/// ISO 6346 check digit of the first 10 characters, if they are well formed.
pub fn iso6346_check_digit(code: &str) -> Option<u32> {
    let b = code.as_bytes();
    if b.len() < 10 {
        return None;
    }
    let mut sum = 0u32;
    for (i, &c) in b[..10].iter().enumerate() {
        let v = match (i, c) {
            (0..=3, b'A'..=b'Z') => {
                let mut v = u32::from(c - b'A') + 10;
                v += (v - 1) / 10; // skip 11, 22, 33
                v
            }
            (4..=9, b'0'..=b'9') => u32::from(c - b'0'),
            _ => return None,
        };
        sum += v << i;
    }
    Some(sum % 11 % 10)
}

/// Whether an 11-character code has a correct check digit.
pub fn iso6346_valid(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 11
        && b[10].is_ascii_digit()
        && iso6346_check_digit(code) == Some(u32::from(b[10] - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_examples() {
        assert_eq!(iso6346_check_digit("CSQU305438"), Some(3));
        assert!(iso6346_valid("CSQU3054383"));
        assert!(!iso6346_valid("CSQU3054384"));
        assert!(!iso6346_valid("CSQU305438"));
        assert!(!iso6346_valid("C5QU3054383"));
        // Letter values skip multiples of 11: U = 32, V = 34, L = 23, K = 21.
        assert_eq!(iso6346_check_digit("MSKU907032"), Some(3));
    }

    #[test]
    fn misread_codes_never_validate() {
        let mut rng = StdRng::seed_from_u64(1);
        // TGHU7777772 has no confusable character: the check digit is misread instead.
        for code in ["CSQU3054383", "MSKU9070323", "TGHU7777772", "HLXU3141745"] {
            assert!(iso6346_valid(code), "{code}");
            for _ in 0..200 {
                let m = confuse_code(code, &mut rng);
                assert_ne!(m, code);
                assert_eq!(m.chars().count(), 11);
                assert!(!iso6346_valid(&m), "{code} -> {m}");
            }
        }
    }

    #[test]
    fn misread_plates_keep_the_province() {
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..100 {
            let m = confuse_plate("琼A12345", &mut rng);
            assert!(m.starts_with('琼'));
            assert_ne!(m, "琼A12345");
            assert_eq!(m.chars().count(), 7);
        }
        let m = confuse_plate("琼EKMNPT", &mut rng);
        assert_ne!(m, "琼EKMNPT");
    }

    #[test]
    fn rates() {
        let mut r = Recogniser::new(3, 0.0);
        for _ in 0..50 {
            let p = r.read_plate("琼A12345", "yellow");
            assert_eq!(p.plate, "琼A12345");
            assert!(p.confidence >= 0.88);
        }
        let mut r = Recogniser::new(3, 1.0);
        let c = r.read_code("CSQU3054383", true);
        assert_ne!(c.text, "CSQU3054383");
        assert!(c.confidence < 0.85);
        assert_eq!(c.layout, "vertical");
    }
}
