//! One camera's on-board recognition for one vehicle: grab frames, have the
//! worker read them, vote, keep the evidence.
//!
//! Layer: recognition. Knows a [`FrameSource`], the [`Recogniser`] and
//! gate-ocr's voting; nothing about the lane core (the runtime turns a
//! [`Verdict`] into reads and a photo).
//!
//! Rules: frames are taken one after the other (one frame of this camera in
//! the queue at a time, so four cameras share one worker fairly); a frame
//! identical to the previous one (a camera's cached snapshot) is not read
//! twice. Collection stops at the first of: `frames` (N) frames that gave
//! a read; a strict majority of N frames that agree (same valid plate, or
//! same set of check-digit-valid codes: the remaining frames could not
//! outvote them); N frames that showed nothing (the camera is triggered with
//! the vehicle in view: nothing there); `max_frames` frames submitted;
//! `until`. The reads are then combined with `gate_ocr::vote`. The evidence is the frame
//! that gave the voted read (the highest-confidence one among those that
//! agree), else the last frame grabbed.

use std::time::{Duration, Instant};

use gate_ocr::{CodeRead, PlateRead};
use tracing::debug;

use super::worker::{RecogniseError, Recogniser};
use super::{FrameReads, Want};
use crate::drivers::camera::{CameraError, Frame, FrameSource};

/// How much to collect per vehicle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectOptions {
    /// Frames with a read to vote over.
    pub frames: u32,
    /// Frames submitted at most.
    pub max_frames: u32,
    /// Pause before grabbing again after an identical frame or an error.
    pub retry: Duration,
    /// Consecutive grab failures that end the collection as a camera fault.
    pub max_grab_errors: u32,
}

impl Default for CollectOptions {
    fn default() -> Self {
        Self {
            frames: 3,
            max_frames: 8,
            retry: Duration::from_millis(50),
            max_grab_errors: 3,
        }
    }
}

/// What a camera saw of one vehicle.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// The voted plate (plate cameras).
    pub plate: Option<PlateRead>,
    /// The voted container codes (container cameras).
    pub codes: Vec<CodeRead>,
    /// The frame kept as evidence.
    pub evidence: Option<Frame>,
    /// Frames submitted, frames that gave a read, frames lost (dropped from
    /// a full queue or failed).
    pub submitted: u32,
    pub with_reads: u32,
    pub lost: u32,
    /// Container reads dropped because they are not shaped like a code
    /// (11 letters and digits): on-screen captions, truncated lines.
    pub rejected: u32,
    /// Recognition time (decode + read) of each frame read, µs.
    pub frame_us: Vec<u64>,
    /// Why nothing could be read at all, when that is the case (recogniser
    /// not ready).
    pub unavailable: Option<String>,
}

impl Verdict {
    pub fn is_empty(&self) -> bool {
        self.plate.is_none() && self.codes.is_empty()
    }
}

/// Collect and vote. `on_frame` is called after every frame grabbed (the
/// camera answers). Returns `Err` when the camera failed `max_grab_errors`
/// times in a row before giving any frame.
pub async fn read_vehicle(
    src: &dyn FrameSource,
    rec: &Recogniser,
    want: Want,
    opts: CollectOptions,
    until: Instant,
    mut on_frame: impl FnMut(),
) -> Result<Verdict, CameraError> {
    let until_t = tokio::time::Instant::from_std(until);
    let mut v = Verdict::default();
    // (frame, what it gave) for the frames that gave something.
    let mut read: Vec<(Frame, FrameReads)> = Vec::new();
    let mut last: Option<Frame> = None;
    let mut grab_errors = 0u32;
    let mut grabbed_any = false;
    let n = opts.frames.max(1);
    let mut empty = 0u32;
    while v.with_reads < n
        && empty < n
        && !majority(&read, n)
        && v.submitted < opts.max_frames.max(1)
        && Instant::now() < until
    {
        let frame = match tokio::time::timeout_at(until_t, src.grab()).await {
            Err(_) => break,
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                grab_errors += 1;
                debug!(camera = src.name(), %e, grab_errors, "frame grab failed");
                if grab_errors >= opts.max_grab_errors && !grabbed_any {
                    return Err(e);
                }
                tokio::time::sleep(opts.retry).await;
                continue;
            }
        };
        grab_errors = 0;
        grabbed_any = true;
        on_frame();
        if last.as_ref().is_some_and(|l| l.jpeg == frame.jpeg) {
            tokio::time::sleep(opts.retry).await;
            continue;
        }
        last = Some(frame.clone());
        let rx = match rec.submit(frame.jpeg.clone(), want) {
            Ok(rx) => rx,
            Err(e) => {
                v.unavailable = Some(e.to_string());
                break;
            }
        };
        v.submitted += 1;
        match tokio::time::timeout_at(until_t, rx).await {
            Err(_) => break,
            Ok(Err(_)) => {
                v.lost += 1;
                v.unavailable = Some(RecogniseError::Closed.to_string());
                break;
            }
            Ok(Ok(Err(e))) => {
                v.lost += 1;
                debug!(camera = src.name(), %e, "frame not read");
                if matches!(e, RecogniseError::Closed | RecogniseError::NotReady(_)) {
                    v.unavailable = Some(e.to_string());
                    break;
                }
            }
            Ok(Ok(Ok(mut o))) => {
                v.frame_us.push(o.decode_us + o.read_us);
                if let FrameReads::Codes(c) = &mut o.reads {
                    let before = c.len();
                    c.retain(|c| code_shaped(&c.text));
                    v.rejected += (before - c.len()) as u32;
                }
                if o.reads.is_empty() {
                    empty += 1;
                } else {
                    v.with_reads += 1;
                    read.push((frame, o.reads));
                }
            }
        }
    }
    if !read.is_empty() {
        v.unavailable = None;
    }
    let (plate, codes, evidence) = vote(&read);
    v.plate = plate;
    v.codes = codes;
    v.evidence = evidence.or(last);
    Ok(v)
}

/// A container code as ISO 6346 writes it: 11 ASCII letters and digits
/// (the decision checks and repairs the rest). Anything else a recogniser
/// returns (an on-screen caption, a truncated line) is not passed on.
pub(crate) fn code_shaped(text: &str) -> bool {
    text.len() == 11 && text.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Whether more than half of `n` frames already agree on a valid read
/// (one plate text, or one set of check-digit-valid codes).
fn majority(read: &[(Frame, FrameReads)], n: u32) -> bool {
    let need = (n / 2 + 1) as usize;
    if n < 2 || read.len() < need {
        return false;
    }
    let key = |r: &FrameReads| -> Option<Vec<String>> {
        match r {
            FrameReads::Plate(Some(p)) if p.valid => Some(vec![p.text.clone()]),
            FrameReads::Codes(c) if !c.is_empty() && c.iter().all(|c| c.check_ok) => {
                let mut t: Vec<String> = c.iter().map(|c| c.text.clone()).collect();
                t.sort_unstable();
                Some(t)
            }
            _ => None,
        }
    };
    let keys: Vec<Vec<String>> = read.iter().filter_map(|(_, r)| key(r)).collect();
    keys.iter()
        .any(|k| keys.iter().filter(|o| *o == k).count() >= need)
}

/// Combine the frames' reads (gate_ocr::vote) and pick the evidence frame.
fn vote(read: &[(Frame, FrameReads)]) -> (Option<PlateRead>, Vec<CodeRead>, Option<Frame>) {
    let plates: Vec<PlateRead> = read
        .iter()
        .filter_map(|(_, r)| match r {
            FrameReads::Plate(p) => p.clone(),
            FrameReads::Codes(_) => None,
        })
        .collect();
    let codes: Vec<CodeRead> = read
        .iter()
        .flat_map(|(_, r)| match r {
            FrameReads::Codes(c) => c.clone(),
            FrameReads::Plate(_) => Vec::new(),
        })
        .collect();
    let plate = if plates.is_empty() {
        None
    } else {
        gate_ocr::vote::plates(&plates)
    };
    let codes = if codes.is_empty() {
        Vec::new()
    } else {
        gate_ocr::vote::codes(&codes)
    };
    let voted: Vec<&str> = plate
        .iter()
        .map(|p| p.text.as_str())
        .chain(codes.iter().map(|c| c.text.as_str()))
        .collect();
    let evidence = evidence_index(read, &voted).and_then(|i| read.get(i).map(|(f, _)| f.clone()));
    (plate, codes, evidence)
}

/// The frame that shows the voted reads best: most voted texts read in it,
/// then the highest confidence of those reads.
pub(crate) fn evidence_index(read: &[(Frame, FrameReads)], voted: &[&str]) -> Option<usize> {
    if voted.is_empty() {
        return None;
    }
    let score = |r: &FrameReads| -> (usize, f32) {
        let hits: Vec<f32> = match r {
            FrameReads::Plate(p) => p
                .iter()
                .filter(|p| voted.contains(&p.text.as_str()))
                .map(|p| p.confidence)
                .collect(),
            FrameReads::Codes(c) => c
                .iter()
                .filter(|c| voted.contains(&c.text.as_str()))
                .map(|c| c.confidence)
                .collect(),
        };
        (hits.len(), hits.iter().copied().fold(0.0, f32::max))
    };
    read.iter()
        .enumerate()
        .map(|(i, (_, r))| (i, score(r)))
        .filter(|(_, (n, _))| *n > 0)
        .max_by(|(_, a), (_, b)| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map(|(i, _)| i)
}
