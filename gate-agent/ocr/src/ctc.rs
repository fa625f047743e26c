//! Constrained CTC decoding: a prefix beam search over the recognition
//! model's per-step class probabilities that only grows strings a grammar
//! allows (GA 36 plates; ISO 6346 codes with the check digit as a hard
//! constraint), so the answer is the most probable *valid* string rather
//! than the greedy string repaired afterwards.
//!
//! How a line is modelled (CTC, blank 0, repeats collapsed):
//! - the model's classes are folded into the grammar's symbols (full-width
//!   and lower-case forms, enclosed digits `③` as their digit); classes a
//!   grammar never uses are `other`, separators (`·`, spaces, the check
//!   digit's box brackets) are `sep`;
//! - before and after the identifier any class may be read as junk (a
//!   border read as `1`, a screw as `.`); each junk character costs
//!   [`JUNK`], so an identifier is not cut short to leave its last digit as
//!   junk; inside it only separators are free, anything else costs [`JUNK`];
//! - the grammar may read a look-alike as what it must be at that position
//!   (`O` where a digit is due is `0`; GA 36 leaves I and O out of plates
//!   for that reason);
//! - a prior weight may multiply the first character (the site's province).
//!
//! Confidence (documented in the crate's README): the candidates' path
//! probabilities `P(s)` (summed over alignments, prior and junk costs
//! included) are normalised over every valid string left in the beam plus,
//! when the model's own greedy reading contains none of them, that free
//! reading's best-path probability times [`FREE_PRIOR`] (the hypothesis
//! "this line is not any valid identifier", for a read the grammar had to
//! force). The top candidate's share is the confidence; each candidate's
//! share is its probability.
//!
//! Layer: pure functions over numbers; no model, no image.

use std::collections::HashMap;

use gate_proto::formats::{iso6346, plate as ga36};

/// Cost of a character read outside the identifier (or inside it when it
/// is no separator).
pub const JUNK: f64 = 0.01;
/// Prior weight of "the line is no valid identifier" against the valid
/// strings: the free reading's best-path probability times this joins the
/// normaliser when the free reading contains no candidate.
pub const FREE_PRIOR: f64 = 1.0;
/// Prefixes kept per step.
const BEAM: usize = 24;
/// Emissions below this probability at a step are not followed.
const MIN_EMIT: f32 = 1e-5;
/// Candidates returned.
pub const TOP_K: usize = 5;

/// A recognition output: `steps` rows of `ncls` class probabilities
/// (softmax), class 0 the CTC blank.
#[derive(Clone, Debug, PartialEq)]
pub struct Probs {
    pub steps: usize,
    pub ncls: usize,
    pub data: Vec<f32>,
}

impl Probs {
    pub fn row(&self, t: usize) -> &[f32] {
        self.data
            .get(t * self.ncls..(t + 1) * self.ncls)
            .unwrap_or(&[])
    }

    /// `self` then `other` (same classes), with one certain blank between
    /// so that a character ending one and starting the other are two.
    pub fn then(&self, other: &Probs) -> Probs {
        let ncls = self.ncls.max(other.ncls);
        let mut data = Vec::with_capacity((self.steps + other.steps + 1) * ncls);
        let mut push = |row: &[f32]| {
            data.extend_from_slice(row);
            data.extend(std::iter::repeat_n(0.0, ncls - row.len()));
        };
        for t in 0..self.steps {
            push(self.row(t));
        }
        let mut blank = vec![0.0f32; ncls];
        if let Some(b) = blank.first_mut() {
            *b = 1.0;
        }
        push(&blank);
        for t in 0..other.steps {
            push(other.row(t));
        }
        Probs {
            steps: self.steps + other.steps + 1,
            ncls,
            data,
        }
    }

    /// Natural log of the best path's probability (the greedy reading's
    /// most probable alignment).
    pub fn best_path_ln(&self) -> f64 {
        (0..self.steps)
            .map(|t| {
                let m = self.row(t).iter().copied().fold(0.0f32, f32::max);
                f64::from(m.max(1e-30)).ln()
            })
            .sum()
    }
}

/// What a model class stands for in a grammar: one of its symbols, a
/// separator, or nothing it uses.
#[derive(Clone, Debug)]
pub struct Alphabet {
    /// Symbols and the classes folded into each.
    syms: Vec<(char, Vec<usize>)>,
    sep: Vec<usize>,
}

/// A class's one character folded: enclosed digits to their digit,
/// full-width to half-width, upper case.
pub fn fold(c: char) -> char {
    let c = enclosed_digit(c);
    let c = ga36::to_half_width(c);
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// The plain digit for an enclosed one (`①`, `⑴`, `⒈`, `❶`, `➀`, `➊`, `⓪`,
/// `⓿`); any other character unchanged.
pub fn enclosed_digit(c: char) -> char {
    let u = c as u32;
    let d = match u {
        0x2460..=0x2468 => u - 0x2460 + 1,        // ① .. ⑨
        0x2474..=0x247C => u - 0x2474 + 1,        // ⑴ .. ⑼
        0x2488..=0x2490 => u - 0x2488 + 1,        // ⒈ .. ⒐
        0x2776..=0x277E => u - 0x2776 + 1,        // ❶ .. ❾
        0x2780..=0x2788 => u - 0x2780 + 1,        // ➀ .. ➈
        0x278A..=0x2792 => u - 0x278A + 1,        // ➊ .. ➒
        0x24EA | 0x24FF | 0x1F10B | 0x1F10C => 0, // ⓪ ⓿ 🄋 🄌
        _ => return c,
    };
    char::from_digit(d, 10).unwrap_or(c)
}

impl Alphabet {
    /// The alphabet of `symbols` over the model's classes (index 0, the
    /// blank, is never a symbol), with `seps` as separators.
    pub fn new(classes: &[String], symbols: &str, seps: &str) -> Alphabet {
        let mut syms: Vec<(char, Vec<usize>)> = symbols.chars().map(|c| (c, Vec::new())).collect();
        let mut sep = Vec::new();
        for (i, s) in classes.iter().enumerate().skip(1) {
            let mut it = s.chars();
            let (Some(ch), None) = (it.next(), it.next()) else {
                continue;
            };
            if seps.contains(ch) {
                sep.push(i);
                continue;
            }
            let f = fold(ch);
            if let Some(e) = syms.iter_mut().find(|e| e.0 == f) {
                e.1.push(i);
            }
        }
        syms.retain(|e| !e.1.is_empty());
        Alphabet { syms, sep }
    }
}

/// A left-to-right grammar over characters, as a state machine.
pub trait Grammar {
    /// The state before the first character.
    fn start(&self) -> u32;
    /// Reading symbol `c` in state `s`: the next state and the character
    /// it stands for there (`O` where a digit is due is `0`); `None` when
    /// the grammar does not allow it.
    fn step(&self, s: u32, c: char) -> Option<(u32, char)>;
    /// When `s` completes an identifier: its weight (1, or the probability
    /// of an external reading that must agree with it).
    fn accept(&self, s: u32) -> Option<f64>;
    /// Prior weight of an identifier starting with `c`.
    fn first_weight(&self, _c: char) -> f64 {
        1.0
    }
    /// The characters a complete identifier in state `s` takes from
    /// elsewhere than the line (an external check digit).
    fn complete(&self, _s: u32, _text: &mut String) {}
}

/// The site's province as a prior on a plate's first character: its
/// probability is multiplied by `weight` (> 1 favours it). Only a weight:
/// a model sure of another province keeps it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProvincePrior {
    pub province: char,
    pub weight: f32,
}

/// GA 36 (`gate_proto::formats::plate`): province + letter + 5
/// alphanumerics or a suffix; new energy `D`/`F` first or last of 6;
/// embassy plates. State: position << 8 | templates still alive.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlateGrammar {
    pub prior: Option<ProvincePrior>,
}

/// Character classes of the plate templates.
#[derive(Clone, Copy)]
enum Cc {
    Prov,
    Letter,
    Alnum,
    Digit,
    DF,
    Suffix,
    Embassy,
}

const PLATE_TEMPLATES: [&[Cc]; 6] = {
    use Cc::*;
    [
        &[Prov, Letter, Alnum, Alnum, Alnum, Alnum, Alnum],
        &[Prov, Letter, Alnum, Alnum, Alnum, Alnum, Suffix],
        &[Prov, Letter, DF, Alnum, Digit, Digit, Digit, Digit],
        &[Prov, Letter, Digit, Digit, Digit, Digit, Digit, DF],
        &[Digit, Digit, Digit, Digit, Digit, Digit, Embassy],
        &[Embassy, Digit, Digit, Digit, Digit, Digit, Digit],
    ]
};

/// Symbols of the plate alphabet (the province characters, letters and
/// digits, `I` and `O` read as `1` and `0`, the suffixes, `使`).
pub fn plate_symbols() -> String {
    let mut s: String = ga36::PROVINCES.into();
    s.extend('A'..='Z');
    s.extend('0'..='9');
    s.push_str(ga36::SUFFIXES);
    s.push('使');
    s
}

/// Separators in a plate line (the dot after the letter, screws, spaces).
pub const PLATE_SEPS: &str = " ·.-:：•・‧･";

fn plate_char(cc: Cc, c: char) -> Option<char> {
    let letter = |c: char| c.is_ascii_uppercase() && c != 'I' && c != 'O';
    // I and O are not in plates: read as 1 and 0.
    let digit = |c: char| match c {
        'O' => Some('0'),
        'I' => Some('1'),
        d if d.is_ascii_digit() => Some(d),
        _ => None,
    };
    match cc {
        Cc::Prov => ga36::PROVINCES.contains(c).then_some(c),
        Cc::Letter => letter(c).then_some(c),
        Cc::Alnum => {
            if letter(c) {
                Some(c)
            } else {
                digit(c)
            }
        }
        Cc::Digit => digit(c),
        Cc::DF => matches!(c, 'D' | 'F').then_some(c),
        Cc::Suffix => ga36::SUFFIXES.contains(c).then_some(c),
        Cc::Embassy => (c == '使').then_some(c),
    }
}

impl Grammar for PlateGrammar {
    fn start(&self) -> u32 {
        (1 << PLATE_TEMPLATES.len()) - 1
    }

    fn step(&self, s: u32, c: char) -> Option<(u32, char)> {
        let pos = (s >> 8) as usize;
        let mut mask = 0u32;
        let mut out = None;
        for (i, t) in PLATE_TEMPLATES.iter().enumerate() {
            if s & (1 << i) == 0 {
                continue;
            }
            let Some(&cc) = t.get(pos) else { continue };
            if let Some(r) = plate_char(cc, c) {
                // Templates alive after one character agree on what it is.
                if out.is_none_or(|o| o == r) {
                    out = Some(r);
                    mask |= 1 << i;
                }
            }
        }
        out.map(|r| ((((pos + 1) as u32) << 8) | mask, r))
    }

    fn accept(&self, s: u32) -> Option<f64> {
        let pos = (s >> 8) as usize;
        PLATE_TEMPLATES
            .iter()
            .enumerate()
            .any(|(i, t)| s & (1 << i) != 0 && t.len() == pos)
            .then_some(1.0)
    }

    fn first_weight(&self, c: char) -> f64 {
        match self.prior {
            Some(p) if p.province == c && p.weight.is_finite() && p.weight > 0.0 => {
                f64::from(p.weight)
            }
            _ => 1.0,
        }
    }
}

/// ISO 6346: 3 owner letters, category `U`/`J`/`Z`, 6 serial digits and
/// the check digit, which must be the one the first 10 give. With
/// `check`, the check digit is not in the line but read elsewhere (alone
/// in its box): the grammar ends after the serial, and a code's weight is
/// the probability `check` gives its check digit. State: position << 4 |
/// check sum mod 11.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodeGrammar {
    pub check: Option<[f32; 10]>,
}

/// Symbols of the code alphabet.
pub fn code_symbols() -> String {
    let mut s: String = ('A'..='Z').collect();
    s.extend('0'..='9');
    s
}

/// Separators in a code line (spaces, the check digit's box).
pub const CODE_SEPS: &str = " []()|【】（）［］口";

impl Grammar for CodeGrammar {
    fn start(&self) -> u32 {
        0
    }

    fn step(&self, s: u32, c: char) -> Option<(u32, char)> {
        let (pos, sum) = (s >> 4, s & 15);
        let r = match pos {
            // The category is U, J or Z: what no code has there and a
            // narrow U (a vertical code's cell) is read as, is U.
            3 if matches!(c, '0' | 'O' | 'D' | 'V') => 'U',
            0..=3 => {
                let l = match c {
                    '0' => 'O',
                    '1' => 'I',
                    l => l,
                };
                let ok = if pos == 3 {
                    matches!(l, 'U' | 'J' | 'Z')
                } else {
                    l.is_ascii_uppercase()
                };
                ok.then_some(l)?
            }
            4..=10 => {
                let d = match c {
                    'O' => '0',
                    'I' => '1',
                    d => d,
                };
                if !d.is_ascii_digit() {
                    return None;
                }
                if pos == 10 {
                    if self.check.is_some() || char::from_digit(sum % 11 % 10, 10) != Some(d) {
                        return None;
                    }
                    return Some((11 << 4, d));
                }
                d
            }
            _ => return None,
        };
        let v = iso6346::char_value(r as u8)?;
        let sum = (sum + (v << pos)) % 11;
        Some((((pos + 1) << 4) | sum, r))
    }

    fn accept(&self, s: u32) -> Option<f64> {
        let (pos, sum) = (s >> 4, s & 15);
        match self.check {
            None => (pos == 11).then_some(1.0),
            Some(p) if pos == 10 => p.get((sum % 11 % 10) as usize).map(|&p| f64::from(p)),
            Some(_) => None,
        }
    }

    fn complete(&self, s: u32, text: &mut String) {
        let (pos, sum) = (s >> 4, s & 15);
        if self.check.is_some() && pos == 10 {
            text.extend(char::from_digit(sum % 11 % 10, 10));
        }
    }
}

/// A constrained decoding's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoding {
    /// Valid strings, most probable first (at most [`TOP_K`]), each with
    /// its share of the normaliser (see the module's doc).
    pub candidates: Vec<(String, f32)>,
}

impl Decoding {
    /// The most probable valid string and its confidence.
    pub fn best(&self) -> Option<(&str, f32)> {
        self.candidates.first().map(|(s, p)| (s.as_str(), *p))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Phase {
    Pre,
    In,
    Post,
}

/// Last emitted symbol: an alphabet index, or these.
const LAST_NONE: i32 = -1;
const LAST_SEP: i32 = -2;
const LAST_OTHER: i32 = -3;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    text: String,
    state: u32,
    phase: Phase,
    last: i32,
}

/// Blank-ending and symbol-ending probabilities of a prefix, scaled.
#[derive(Clone, Copy, Debug, Default)]
struct Pr {
    b: f64,
    nb: f64,
}

/// Decode `probs` under `grammar`. `free` is the model's greedy reading
/// of the same output (for the confidence). `None` when no valid string
/// survives the beam.
pub fn decode(
    probs: &Probs,
    alpha: &Alphabet,
    grammar: &dyn Grammar,
    free: &str,
) -> Option<Decoding> {
    let mut beam: Vec<(Key, Pr)> = vec![(
        Key {
            text: String::new(),
            state: grammar.start(),
            phase: Phase::Pre,
            last: LAST_NONE,
        },
        Pr { b: 1.0, nb: 0.0 },
    )];
    let mut ln_scale = 0.0f64;
    let nsym = alpha.syms.len();
    let mut sym_p = vec![0f64; nsym];
    let min_emit = f64::from(MIN_EMIT);
    for t in 0..probs.steps {
        let row = probs.row(t);
        let at = |i: usize| f64::from(row.get(i).copied().unwrap_or(0.0));
        let blank = at(0);
        let mut used = blank;
        for (k, (_, cls)) in alpha.syms.iter().enumerate() {
            sym_p[k] = cls.iter().map(|&i| at(i)).sum();
            used += sym_p[k];
        }
        let sep_p: f64 = alpha.sep.iter().map(|&i| at(i)).sum();
        used += sep_p;
        let other_p = (1.0 - used).max(0.0);
        let prob_of = |last: i32| -> f64 {
            match last {
                LAST_SEP => sep_p,
                LAST_OTHER => other_p,
                k if k >= 0 => sym_p.get(k as usize).copied().unwrap_or(0.0),
                _ => 0.0,
            }
        };
        let mut next: HashMap<Key, Pr> = HashMap::with_capacity(beam.len() * 8);
        let mut add = |key: Key, b: f64, nb: f64| {
            let e = next.entry(key).or_default();
            e.b += b;
            e.nb += nb;
        };
        for (key, pr) in &beam {
            let total = pr.b + pr.nb;
            // Blank: the prefix stays, now blank-ended.
            add(key.clone(), total * blank, 0.0);
            // The last symbol repeated: collapsed into it.
            if key.last != LAST_NONE {
                add(key.clone(), 0.0, pr.nb * prob_of(key.last));
            }
            // A new emission of symbol `to` with probability `p`: a repeat
            // of the last symbol needs a blank between.
            let emit = |to: i32, p: f64| -> f64 {
                if to == key.last {
                    pr.b * p
                } else {
                    total * p
                }
            };
            // Junk after a complete identifier ends it (its weight taken
            // then); before it, after it and inside it junk is costed.
            let done = match key.phase {
                Phase::In => grammar.accept(key.state),
                _ => None,
            };
            let junk = |last: i32, v: f64| -> Option<(Key, f64)> {
                let (phase, w) = match (key.phase, done) {
                    (Phase::In, Some(w)) => (Phase::Post, w),
                    (ph, _) => (ph, 1.0),
                };
                let v = v * JUNK * w;
                (v > 0.0).then(|| {
                    (
                        Key {
                            last,
                            phase,
                            ..key.clone()
                        },
                        v,
                    )
                })
            };
            if sep_p >= min_emit {
                let k = Key {
                    last: LAST_SEP,
                    ..key.clone()
                };
                add(k, 0.0, emit(LAST_SEP, sep_p));
            }
            if other_p >= min_emit {
                if let Some((k, v)) = junk(LAST_OTHER, emit(LAST_OTHER, other_p)) {
                    add(k, 0.0, v);
                }
            }
            for (k, &p) in sym_p.iter().enumerate() {
                if p < min_emit {
                    continue;
                }
                let c = alpha.syms[k].0;
                let li = k as i32;
                let e = emit(li, p);
                // As the identifier's next character.
                if key.phase != Phase::Post {
                    if let Some((s, r)) = grammar.step(key.state, c) {
                        let w = if key.phase == Phase::Pre {
                            grammar.first_weight(r)
                        } else {
                            1.0
                        };
                        let mut text = key.text.clone();
                        text.push(r);
                        let k = Key {
                            text,
                            state: s,
                            phase: Phase::In,
                            last: li,
                        };
                        add(k, 0.0, e * w);
                    }
                }
                // As junk outside it (a symbol inside it is never junk).
                if key.phase != Phase::In || done.is_some() {
                    if let Some((k, v)) = junk(li, e) {
                        add(k, 0.0, v);
                    }
                }
            }
        }
        // Keep the best prefixes, rescaled so the best is 1.
        let mut v: Vec<(Key, Pr)> = next.into_iter().collect();
        // Ties broken by the prefix itself: the same output always gives
        // the same answer.
        v.sort_by(|a, b| {
            (b.1.b + b.1.nb)
                .total_cmp(&(a.1.b + a.1.nb))
                .then_with(|| a.0.cmp(&b.0))
        });
        v.truncate(BEAM);
        let top = v.first().map_or(0.0, |e| e.1.b + e.1.nb);
        if top <= 0.0 || !top.is_finite() {
            return None;
        }
        for e in &mut v {
            e.1.b /= top;
            e.1.nb /= top;
        }
        ln_scale += top.ln();
        beam = v;
    }
    // Complete identifiers, one entry per string.
    let mut found: Vec<(String, f64)> = Vec::new();
    for (key, pr) in &beam {
        let p = match key.phase {
            Phase::In => grammar.accept(key.state).map(|w| (pr.b + pr.nb) * w),
            Phase::Post => Some(pr.b + pr.nb),
            Phase::Pre => None,
        };
        let Some(p) = p.filter(|p| *p > 0.0) else {
            continue;
        };
        let mut text = key.text.clone();
        grammar.complete(key.state, &mut text);
        match found.iter_mut().find(|f| f.0 == text) {
            Some(f) => f.1 += p,
            None => found.push((text, p)),
        }
    }
    if found.is_empty() {
        return None;
    }
    found.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let z: f64 = found.iter().map(|f| f.1).sum();
    // The free reading as one more hypothesis when it holds no candidate.
    let folded: String = free
        .chars()
        .map(|c| look_alike(fold(c)))
        .filter(|c| c.is_alphanumeric())
        .collect();
    let holds = found.iter().any(|(s, _)| {
        let f: String = s.chars().map(look_alike).collect();
        folded.contains(&f)
    });
    let free_p = if holds {
        0.0
    } else {
        // Scaled like the beam's values.
        FREE_PRIOR * (probs.best_path_ln() - ln_scale).exp()
    };
    let norm = z + free_p;
    Some(Decoding {
        candidates: found
            .into_iter()
            .take(TOP_K)
            .map(|(s, p)| (s, (p / norm) as f32))
            .collect(),
    })
}

/// `O` and `I` as `0` and `1` (compared alike).
fn look_alike(c: char) -> char {
    match c {
        'O' => '0',
        'I' => '1',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy model's classes: the blank, then these characters.
    fn classes() -> Vec<String> {
        let mut c = vec![String::new()];
        for ch in "琼皖京ABDLOQSU0123456789·[]③球CMYX挂 ".chars() {
            c.push(ch.to_string());
        }
        c
    }

    /// A hand-written output: each step lists (character, probability);
    /// what is left goes to the blank. Every character is followed by a
    /// sure blank step, as a model spaces them.
    fn matrix(steps: &[&[(char, f32)]]) -> Probs {
        let cls = classes();
        let ncls = cls.len();
        let mut data = Vec::new();
        for s in steps {
            let mut row = vec![0f32; ncls];
            for &(c, p) in *s {
                let i = cls
                    .iter()
                    .position(|x| x.chars().eq([c]))
                    .expect("class in the toy model");
                row[i] += p;
            }
            row[0] = (1.0 - row.iter().sum::<f32>()).max(0.0);
            data.extend(row);
            let mut blank = vec![0f32; ncls];
            blank[0] = 1.0;
            data.extend(blank);
        }
        Probs {
            steps: steps.len() * 2,
            ncls,
            data,
        }
    }

    /// Greedy reading of a matrix (the model's own answer).
    fn greedy(p: &Probs) -> String {
        let cls = classes();
        let mut out = String::new();
        let mut prev = 0;
        for t in 0..p.steps {
            let row = p.row(t);
            let best = (0..row.len())
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0);
            if best != 0 && best != prev {
                out.push_str(&cls[best]);
            }
            prev = best;
        }
        out
    }

    fn plate(p: &Probs, prior: Option<ProvincePrior>) -> Option<Decoding> {
        let a = Alphabet::new(&classes(), &plate_symbols(), PLATE_SEPS);
        decode(p, &a, &PlateGrammar { prior }, &greedy(p))
    }

    fn code(p: &Probs, check: Option<[f32; 10]>) -> Option<Decoding> {
        let a = Alphabet::new(&classes(), &code_symbols(), CODE_SEPS);
        decode(p, &a, &CodeGrammar { check }, &greedy(p))
    }

    fn sure(s: &str) -> Vec<Vec<(char, f32)>> {
        s.chars().map(|c| vec![(c, 0.97)]).collect()
    }

    fn rows(v: &[Vec<(char, f32)>]) -> Vec<&[(char, f32)]> {
        v.iter().map(Vec::as_slice).collect()
    }

    fn valid_plate(s: &str) -> bool {
        ga36::parse(s).is_ok_and(|p| p.as_str() == s)
    }

    #[test]
    fn a_clean_plate_is_read_as_is_and_confidently() {
        let p = matrix(&rows(&sure("琼AB8123")));
        let d = plate(&p, None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("琼AB8123"));
        assert!(d.best().is_some_and(|b| b.1 > 0.9), "{d:?}");
    }

    #[test]
    fn an_invalid_greedy_path_gives_way_to_the_second_best_character() {
        // Greedy: `琼8A1234` (a digit where the authority letter must be);
        // B, second at that step, gives a valid plate.
        let mut s = sure("琼8A1234");
        s[1] = vec![('8', 0.6), ('B', 0.35)];
        let p = matrix(&rows(&s));
        assert_eq!(greedy(&p), "琼8A1234");
        assert!(!valid_plate("琼8A1234") && valid_plate("琼BA1234"));
        let d = plate(&p, None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("琼BA1234"), "{d:?}");
    }

    #[test]
    fn the_check_digit_decides_between_two_readings() {
        // The serial's third digit is 6 (0.55) or 5 (0.45); the check
        // digit read, 3, is the one of `CSQU305438` only.
        assert_eq!(iso6346::check_digit("CSQU305438"), Some(3));
        assert_ne!(iso6346::check_digit("CSQU306438"), Some(3));
        let mut s = sure("CSQU3054383");
        s[6] = vec![('6', 0.55), ('5', 0.45)];
        let p = matrix(&rows(&s));
        assert_eq!(greedy(&p), "CSQU3064383");
        let d = code(&p, None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("CSQU3054383"), "{d:?}");
        // Every candidate passes the check digit.
        assert!(d
            .candidates
            .iter()
            .all(|(c, _)| iso6346::parse(c).is_ok_and(|x| x.as_str() == c)));
    }

    #[test]
    fn the_province_prior_decides_only_when_the_model_is_unsure() {
        let hainan = Some(ProvincePrior {
            province: '琼',
            weight: 4.0,
        });
        // Unsure: 皖 0.45, 琼 0.35.
        let mut s = sure("皖A12345");
        s[0] = vec![('皖', 0.45), ('琼', 0.35)];
        let p = matrix(&rows(&s));
        assert_eq!(
            plate(&p, None).and_then(|d| d.best().map(|b| b.0.to_string())),
            Some("皖A12345".into())
        );
        assert_eq!(
            plate(&p, hainan).and_then(|d| d.best().map(|b| b.0.to_string())),
            Some("琼A12345".into())
        );
        // Sure of another province: 皖 0.95, 琼 0.02; the prior leaves it.
        s[0] = vec![('皖', 0.95), ('琼', 0.02)];
        let p = matrix(&rows(&s));
        let d = plate(&p, hainan).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("皖A12345"), "{d:?}");
        // The prior never makes up a province the model did not see.
        let p = matrix(&rows(&sure("京A12345")));
        let d = plate(&p, hainan).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("京A12345"));
        assert!(d.candidates.iter().all(|c| !c.0.starts_with('琼')), "{d:?}");
    }

    #[test]
    fn junk_around_a_plate_is_dropped_and_a_long_plate_kept_whole() {
        // A border read as `1`, a screw as `·` after the letter.
        let p = matrix(&rows(&sure("1琼A·12345")));
        let d = plate(&p, None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("琼A12345"), "{d:?}");
        // A new-energy plate: 8 characters, not 7 and a junk `5`.
        let p = matrix(&rows(&sure("琼AD12345")));
        let d = plate(&p, None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("琼AD12345"), "{d:?}");
        // A dropped province (read as blank, 琼 second at its step).
        let mut s = sure("琼A12345");
        s[0] = vec![('琼', 0.2)];
        let p = matrix(&rows(&s));
        assert_eq!(greedy(&p), "A12345");
        let d = plate(&p, None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("琼A12345"), "{d:?}");
        // A look-alike (`球`) in the province's place, 琼 second.
        let mut s = sure("琼A12345");
        s[0] = vec![('球', 0.6), ('琼', 0.3)];
        let d = plate(&matrix(&rows(&s)), None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("琼A12345"), "{d:?}");
        // O where a digit is due is 0 (no O in a plate).
        let d = plate(&matrix(&rows(&sure("琼AO1234"))), None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("琼A01234"), "{d:?}");
    }

    #[test]
    fn a_painted_code_reads_through_its_spaces_and_box() {
        let p = matrix(&rows(&sure("CSQU 305438 [③]")));
        let d = code(&p, None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("CSQU3054383"), "{d:?}");
        assert!(d.best().is_some_and(|b| b.1 > 0.9), "{d:?}");
    }

    #[test]
    fn look_alikes_are_what_the_position_allows() {
        // Digits for the owner's O (twice) and for a narrow U.
        assert!(iso6346::parse("OOLU6180231").is_ok());
        let p = matrix(&rows(&sure("00L06180231")));
        let d = code(&p, None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("OOLU6180231"), "{d:?}");
        // An O in the serial is 0.
        let p = matrix(&rows(&sure("OOLU618O231")));
        let d = code(&p, None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("OOLU6180231"), "{d:?}");
    }

    #[test]
    fn a_code_without_its_check_digit_is_not_confident() {
        // The line stops after the serial: any check digit the decoder
        // puts there was never read.
        let p = matrix(&rows(&sure("CSQU305438")));
        match code(&p, None) {
            None => {}
            Some(d) => assert!(d.best().is_some_and(|b| b.1 < 0.05), "{d:?}"),
        }
        // With the digit read alone in its box (3, 0.9): confident.
        let mut check = [0.1 / 9.0; 10];
        check[3] = 0.9;
        let a = Alphabet::new(&classes(), &code_symbols(), CODE_SEPS);
        let g = CodeGrammar { check: Some(check) };
        let d = decode(&p, &a, &g, "CSQU305438 [3]").expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("CSQU3054383"), "{d:?}");
        assert!(d.best().is_some_and(|b| b.1 > 0.8), "{d:?}");
    }

    #[test]
    fn text_that_is_no_code_gives_no_confident_code() {
        // An on-screen date: digits and separators, no owner letters.
        let p = matrix(&rows(&sure("2025 0712 0226")));
        match code(&p, None) {
            None => {}
            Some(d) => assert!(d.best().is_some_and(|b| b.1 < 0.05), "{d:?}"),
        }
    }

    #[test]
    fn two_rows_joined_keep_a_letter_ending_one_and_starting_the_other() {
        // The upper row ends on its `A` (no blank after it), the lower
        // row starts on another `A`.
        let mut top = matrix(&rows(&sure("琼A")));
        top.steps -= 1;
        top.data.truncate(top.steps * top.ncls);
        let bottom = matrix(&rows(&sure("A1234")));
        let d = plate(&top.then(&bottom), None).expect("decoded");
        assert_eq!(d.best().map(|b| b.0), Some("琼AA1234"), "{d:?}");
    }

    #[test]
    fn candidates_are_ranked_with_their_probabilities() {
        let mut s = sure("琼A12345");
        s[6] = vec![('5', 0.6), ('6', 0.3)];
        let p = matrix(&rows(&s));
        let d = plate(&p, None).expect("decoded");
        let texts: Vec<&str> = d.candidates.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(texts.first(), Some(&"琼A12345"));
        assert!(texts.contains(&"琼A12346"), "{d:?}");
        let total: f32 = d.candidates.iter().map(|c| c.1).sum();
        assert!(total <= 1.0 + 1e-4, "{total}");
        assert!(d.candidates.windows(2).all(|w| w[0].1 >= w[1].1));
        // About 2:1, as the model's 0.6 and 0.3.
        let ratio = d.candidates[0].1 / d.candidates[1].1;
        assert!((1.7..2.3).contains(&ratio), "{ratio}");
    }
}
