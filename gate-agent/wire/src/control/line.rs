//! The protocol's framing: one line each way, bounded in length.
//!
//! Layer: sans-IO. [`LineReader`] is fed whatever the transport has
//! buffered and says how much of it it took and whether a whole line is in
//! (the newline included), or that the line is longer than its bound. The
//! agent's server (tokio, requests bounded by [`super::MAX_REQUEST_BYTES`])
//! and the client library (std, answers bounded by
//! [`super::MAX_RESPONSE_BYTES`]) both read through it.

/// What one [`LineReader::feed`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feed {
    /// No newline yet: feed more.
    More,
    /// A whole line, its newline included.
    Line(Vec<u8>),
    /// The line is longer than the bound (nothing of the chunk taken).
    TooLong,
}

/// Gathers one line of at most `max` bytes (newline included).
#[derive(Clone, Debug)]
pub struct LineReader {
    line: Vec<u8>,
    max: usize,
}

impl LineReader {
    pub fn new(max: usize) -> Self {
        Self {
            line: Vec::new(),
            max,
        }
    }

    /// Take bytes of `buf` up to and including the first newline: how many
    /// were taken (to consume from the transport's buffer) and what that
    /// made. After a [`Feed::Line`] the reader is empty again.
    pub fn feed(&mut self, buf: &[u8]) -> (usize, Feed) {
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(p) => (p + 1, true),
            None => (buf.len(), false),
        };
        if self.line.len() + take > self.max {
            return (0, Feed::TooLong);
        }
        self.line.extend_from_slice(&buf[..take]);
        if done {
            (take, Feed::Line(std::mem::take(&mut self.line)))
        } else {
            (take, Feed::More)
        }
    }

    /// The input ended: what came after the last newline, if anything did.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.line.is_empty()).then(|| std::mem::take(&mut self.line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines found, then what the end left.
    type Split = (Vec<Vec<u8>>, Option<Vec<u8>>);

    /// Feed `input` in chunks of `chunk` bytes (`Err` when a line was too
    /// long).
    fn split(input: &[u8], chunk: usize, max: usize) -> Result<Split, ()> {
        let mut r = LineReader::new(max);
        let mut lines = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let n = chunk.min(rest.len());
            let (took, f) = r.feed(&rest[..n]);
            match f {
                Feed::More => {}
                Feed::Line(l) => lines.push(l),
                Feed::TooLong => return Err(()),
            }
            rest = &rest[took..];
        }
        Ok((lines, r.finish()))
    }

    #[test]
    fn lines_are_found_whatever_the_chunks() {
        let input = b"abc\n{\"v\":1}\n\ntail";
        for chunk in 1..=input.len() {
            let (lines, tail) = split(input, chunk, 64).expect("short lines");
            assert_eq!(
                lines,
                vec![b"abc\n".to_vec(), b"{\"v\":1}\n".to_vec(), b"\n".to_vec()]
            );
            assert_eq!(tail.as_deref(), Some(&b"tail"[..]));
        }
        assert_eq!(split(b"x\n", 1, 64), Ok((vec![b"x\n".to_vec()], None)));
    }

    #[test]
    fn the_bound_counts_the_newline() {
        assert_eq!(split(b"abcd\n", 2, 5), Ok((vec![b"abcd\n".to_vec()], None)));
        assert_eq!(split(b"abcde\n", 2, 5), Err(()));
        assert_eq!(split(b"abcdef", 3, 5), Err(()));
        let mut r = LineReader::new(4);
        assert_eq!(r.feed(b"abcdef\n"), (0, Feed::TooLong));
    }
}
