//! MJPEG over HTTP (`multipart/x-mixed-replace`): the part parser.
//!
//! Layer: wire format, sans-IO. Feed it the response body in whatever
//! chunks the network gives; it yields one JPEG per part. Parts with a
//! `Content-Length` are cut by length; parts without one end at the next
//! boundary line. Memory is bounded by `max_frame` (+ a header allowance):
//! an oversized part is skipped and reported, never buffered. Anything that
//! is not a JPEG (SOI marker FF D8) is reported and dropped.

/// Largest part header block accepted, bytes.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// What the parser found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MjpegEvent {
    /// A complete JPEG.
    Frame(Vec<u8>),
    /// A part larger than the limit was skipped (its declared or seen size).
    Oversize(usize),
    /// A malformed part was dropped.
    Bad(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for the boundary line.
    Seek,
    /// Reading part headers.
    Headers,
    /// Reading a part body of known length.
    Body(usize),
    /// Reading a part body up to the next boundary.
    Open,
    /// Discarding this many bytes of an oversized part.
    Skip(usize),
    /// Discarding an oversized part of unknown length up to the next boundary.
    SkipOpen,
}

/// The boundary as given in `Content-Type` (`multipart/x-mixed-replace;
/// boundary=frame`): the parameter value without quotes. None if absent.
pub fn boundary_from_content_type(ct: &str) -> Option<String> {
    let mut parts = ct.split(';');
    let mime = parts.next()?.trim().to_ascii_lowercase();
    if !mime.starts_with("multipart/") {
        return None;
    }
    for p in parts {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim().trim_matches('"');
            if !v.is_empty() && v.len() <= 70 {
                return Some(v.to_owned());
            }
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The part parser.
#[derive(Debug)]
pub struct MjpegParser {
    /// The delimiter line's text: `--` + boundary (or the boundary itself if
    /// the camera already put dashes in it).
    marker: Vec<u8>,
    /// CRLF + marker: the end of an open-length body.
    end_marker: Vec<u8>,
    max_frame: usize,
    buf: Vec<u8>,
    state: State,
    /// In [`State::Open`]: the end marker does not start before this
    /// offset of `buf` (already searched), so a long part is scanned once.
    searched: usize,
}

impl MjpegParser {
    pub fn new(boundary: &str, max_frame: usize) -> Self {
        let marker: Vec<u8> = if boundary.starts_with("--") {
            boundary.as_bytes().to_vec()
        } else {
            [b"--".as_slice(), boundary.as_bytes()].concat()
        };
        let end_marker = [b"\r\n".as_slice(), &marker].concat();
        Self {
            marker,
            end_marker,
            max_frame,
            buf: Vec::new(),
            state: State::Seek,
            searched: 0,
        }
    }

    /// Bytes currently buffered (bounded by about `max_frame` + headers).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feed body bytes; returns the events they completed.
    pub fn push(&mut self, data: &[u8]) -> Vec<MjpegEvent> {
        let mut out = Vec::new();
        for chunk in data.chunks(64 * 1024) {
            self.buf.extend_from_slice(chunk);
            while self.step(&mut out) {}
        }
        out
    }

    fn emit(&self, body: Vec<u8>, out: &mut Vec<MjpegEvent>) {
        if body.len() >= 2 && body[0] == 0xFF && body[1] == 0xD8 {
            out.push(MjpegEvent::Frame(body));
        } else {
            out.push(MjpegEvent::Bad(format!(
                "part of {} bytes is not a JPEG",
                body.len()
            )));
        }
    }

    /// One state transition; false when more input is needed.
    fn step(&mut self, out: &mut Vec<MjpegEvent>) -> bool {
        match self.state {
            State::Seek => match find(&self.buf, &self.marker) {
                Some(p) => {
                    let after = p + self.marker.len();
                    // The rest of the boundary line (CRLF, or "--" at the end).
                    let Some(nl) = self.buf[after..].iter().position(|b| *b == b'\n') else {
                        if self.buf.len() - after > 128 {
                            self.buf.drain(..after);
                        }
                        return false;
                    };
                    self.buf.drain(..after + nl + 1);
                    self.state = State::Headers;
                    true
                }
                None => {
                    // Keep only what could be the start of a marker.
                    let keep = self.marker.len().saturating_sub(1);
                    if self.buf.len() > keep {
                        let cut = self.buf.len() - keep;
                        self.buf.drain(..cut);
                    }
                    false
                }
            },
            State::Headers => {
                let end = find(&self.buf, b"\r\n\r\n")
                    .map(|p| (p, 4))
                    .or_else(|| find(&self.buf, b"\n\n").map(|p| (p, 2)));
                let Some((p, n)) = end else {
                    if self.buf.len() > MAX_HEADER_BYTES {
                        out.push(MjpegEvent::Bad("part headers too long".into()));
                        self.buf.clear();
                        self.state = State::Seek;
                    }
                    return false;
                };
                let headers = String::from_utf8_lossy(&self.buf[..p]).into_owned();
                self.buf.drain(..p + n);
                let mut length = None;
                for line in headers.lines() {
                    if let Some((k, v)) = line.split_once(':') {
                        if k.trim().eq_ignore_ascii_case("content-length") {
                            match v.trim().parse::<usize>() {
                                Ok(l) => length = Some(l),
                                Err(_) => {
                                    out.push(MjpegEvent::Bad(format!(
                                        "bad Content-Length `{}`",
                                        v.trim()
                                    )));
                                    self.state = State::Seek;
                                    return true;
                                }
                            }
                        }
                    }
                }
                self.state = match length {
                    Some(l) if l > self.max_frame => {
                        out.push(MjpegEvent::Oversize(l));
                        State::Skip(l)
                    }
                    Some(l) => State::Body(l),
                    None => {
                        self.searched = 0;
                        State::Open
                    }
                };
                true
            }
            State::Body(len) => {
                if self.buf.len() < len {
                    return false;
                }
                let body: Vec<u8> = self.buf.drain(..len).collect();
                self.emit(body, out);
                self.state = State::Seek;
                true
            }
            State::Skip(left) => {
                let n = left.min(self.buf.len());
                self.buf.drain(..n);
                if n == left {
                    self.state = State::Seek;
                    true
                } else {
                    self.state = State::Skip(left - n);
                    false
                }
            }
            State::Open => match find(
                self.buf.get(self.searched..).unwrap_or(&[]),
                &self.end_marker,
            )
            .map(|p| p + self.searched)
            {
                Some(p) => {
                    let body: Vec<u8> = self.buf.drain(..p).collect();
                    self.emit(body, out);
                    self.state = State::Seek;
                    true
                }
                None => {
                    if self.buf.len() > self.max_frame + self.end_marker.len() {
                        out.push(MjpegEvent::Oversize(self.buf.len()));
                        self.state = State::SkipOpen;
                        return true;
                    }
                    // The marker may yet complete across the next bytes.
                    self.searched = self.buf.len().saturating_sub(self.end_marker.len() - 1);
                    false
                }
            },
            State::SkipOpen => match find(&self.buf, &self.end_marker) {
                Some(p) => {
                    self.buf.drain(..p);
                    self.state = State::Seek;
                    true
                }
                None => {
                    let keep = self.end_marker.len().saturating_sub(1);
                    if self.buf.len() > keep {
                        let cut = self.buf.len() - keep;
                        self.buf.drain(..cut);
                    }
                    false
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(n: usize, fill: u8) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        v.resize(n - 2, fill);
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    }

    fn part(body: &[u8], with_len: bool) -> Vec<u8> {
        let mut p = b"--frame\r\nContent-Type: image/jpeg\r\n".to_vec();
        if with_len {
            p.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        p.extend_from_slice(b"\r\n");
        p.extend_from_slice(body);
        p.extend_from_slice(b"\r\n");
        p
    }

    fn frames(ev: &[MjpegEvent]) -> Vec<&Vec<u8>> {
        ev.iter()
            .filter_map(|e| match e {
                MjpegEvent::Frame(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn boundary_parameter() {
        assert_eq!(
            boundary_from_content_type("multipart/x-mixed-replace; boundary=frame").as_deref(),
            Some("frame")
        );
        assert_eq!(
            boundary_from_content_type("multipart/x-mixed-replace;boundary=\"--abc\"").as_deref(),
            Some("--abc")
        );
        assert_eq!(boundary_from_content_type("image/jpeg"), None);
        assert_eq!(
            boundary_from_content_type("multipart/x-mixed-replace"),
            None
        );
    }

    #[test]
    fn parts_with_and_without_length_in_any_chunking() {
        let a = jpeg(1000, 0x11);
        // A body containing CRLF and "--fram" but not the full end marker.
        let mut b = jpeg(500, 0x22);
        b[100..108].copy_from_slice(b"\r\n--fram");
        let mut stream = b"preamble junk\r\n".to_vec();
        stream.extend(part(&a, true));
        stream.extend(part(&b, false));
        stream.extend(part(&a, false));
        stream.extend(b"--frame--\r\n");
        for chunk in [1usize, 3, 7, 64, 4096] {
            let mut p = MjpegParser::new("frame", 10_000);
            let mut ev = Vec::new();
            for c in stream.chunks(chunk) {
                ev.extend(p.push(c));
            }
            let f = frames(&ev);
            assert_eq!(f.len(), 3, "chunk {chunk}: {ev:?}");
            assert_eq!(f[0], &a);
            assert_eq!(f[1], &b);
            assert_eq!(f[2], &a);
        }
    }

    #[test]
    fn oversize_and_non_jpeg_parts_are_dropped_with_bounded_memory() {
        let big = jpeg(50_000, 0x33);
        let small = jpeg(100, 0x44);
        let mut stream = part(&big, true);
        stream.extend(part(&big, false));
        stream.extend(part(b"<html>not a jpeg</html>", true));
        stream.extend(part(&small, true));
        stream.extend(b"--frame\r\n");
        let mut p = MjpegParser::new("frame", 10_000);
        let mut ev = Vec::new();
        let mut peak = 0;
        for c in stream.chunks(512) {
            ev.extend(p.push(c));
            peak = peak.max(p.buffered());
        }
        assert!(peak <= 10_000 + 512 + 16, "peak {peak}");
        assert_eq!(frames(&ev), vec![&small]);
        assert_eq!(
            ev.iter()
                .filter(|e| matches!(e, MjpegEvent::Oversize(_)))
                .count(),
            2,
            "{ev:?}"
        );
        assert!(ev
            .iter()
            .any(|e| matches!(e, MjpegEvent::Bad(m) if m.contains("not a JPEG"))));
    }

    #[test]
    fn garbage_and_bad_headers() {
        let mut p = MjpegParser::new("frame", 10_000);
        assert!(p.push(&[0xAA; 100_000]).is_empty());
        assert!(p.buffered() < 16);
        let ev = p.push(b"--frame\r\nContent-Length: lots\r\n\r\n");
        assert!(matches!(&ev[0], MjpegEvent::Bad(m) if m.contains("Content-Length")));
        let ev = p.push(b"--frame\r\n");
        assert!(ev.is_empty());
        let ev = p.push(&[b'x'; MAX_HEADER_BYTES + 10]);
        assert!(matches!(&ev[0], MjpegEvent::Bad(m) if m.contains("headers")));
        // Dashes already in the declared boundary.
        let mut p = MjpegParser::new("--myboundary", 10_000);
        let img = jpeg(64, 1);
        let mut s = b"--myboundary\r\nContent-Length: 64\r\n\r\n".to_vec();
        s.extend_from_slice(&img);
        assert_eq!(frames(&p.push(&s)), vec![&img]);
    }
}
