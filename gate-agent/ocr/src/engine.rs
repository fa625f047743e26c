//! The two networks behind plain functions: PP-OCRv4 recognition (CTC text
//! line reader) and detection (DBNet probability map), each planned by tract
//! for fixed input shapes once at load; pre-processing (resize, BGR,
//! normalisation, padding) and greedy CTC decoding.
//!
//! Layer: inference only; knows nothing about plates, containers or frames
//! beyond "an RGB image in".

use std::path::Path;
use std::sync::Arc;

use image::RgbImage;
use tract_onnx::prelude::*;

use crate::OcrError;

type Plan = Arc<TypedRunnableModel>;

/// Height of every recognition input.
pub const REC_H: u32 = 48;
/// Widths of the recognition plans (plates fit 160, container lines 320,
/// vertical codes laid side by side 480).
pub const REC_WIDTHS: [u32; 3] = [160, 320, 480];
/// Detection inputs (frames are letterboxed into them; multiples of 32):
/// a fast pass at half a 720p frame, and a fine one for small text (single
/// characters of a vertical code) when the fast pass finds nothing.
pub const DET_SIZES: [(u32, u32); 2] = [(640, 384), (960, 544)];

/// Which detection pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Fast = 0,
    Fine = 1,
}

/// One recognised line: text, mean max-probability of its characters, and
/// per-character probabilities and time steps.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub text: String,
    pub confidence: f32,
    pub probs: Vec<f32>,
    /// Time steps `[start, end)` of each character of `text`.
    pub spans: Vec<(usize, usize)>,
    /// When read with a watched class set ([`Rec::read_watching`]): per
    /// time step, the likeliest class of the set (its text) and its
    /// probability. Empty otherwise.
    pub watched: Vec<(char, f32)>,
}

impl Decoded {
    /// The likeliest watched character over time steps `[from, to)`, with
    /// its probability.
    pub fn watched_best(&self, from: usize, to: usize) -> Option<(char, f32)> {
        self.watched
            .get(from..to.min(self.watched.len()))?
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The network input for an image placed at the top left of an `h` x `w`
/// canvas: planar BGR (channel 0 is blue), `(x/255 - 0.5)/0.5`, zero
/// (mid-grey) padding right and below.
fn bgr_tensor(img: &RgbImage, h: usize, w: usize) -> Result<Tensor, OcrError> {
    let mut data = vec![0f32; 3 * h * w];
    for (x, y, p) in img.enumerate_pixels() {
        let (x, y) = (x as usize, y as usize);
        if x >= w || y >= h {
            continue;
        }
        for c in 0..3 {
            let v = f32::from(p.0[2 - c]) / 255.0;
            data[c * h * w + y * w + x] = (v - 0.5) / 0.5;
        }
    }
    Tensor::from_shape(&[1, 3, h, w], &data).map_err(|e| OcrError::Inference(format!("{e:#}")))
}

pub struct Rec {
    plans: Vec<(u32, Plan)>,
    classes: Vec<String>,
}

/// Class indices of some single characters, for [`Rec::read_watching`].
#[derive(Clone, Debug, Default)]
pub struct ClassSet(Vec<(usize, char)>);

fn model_err(path: &Path, e: impl std::fmt::Display) -> OcrError {
    OcrError::Model {
        path: path.to_path_buf(),
        msg: format!("{e:#}"),
    }
}

fn read_proto(path: &Path) -> Result<tract_onnx::pb::ModelProto, OcrError> {
    let bytes = std::fs::read(path).map_err(|e| OcrError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    tract_onnx::onnx()
        .proto_model_for_read(&mut bytes.as_slice())
        .map_err(|e| model_err(path, e))
}

fn plan(
    path: &Path,
    proto: &tract_onnx::pb::ModelProto,
    shape: [usize; 4],
) -> Result<Plan, OcrError> {
    let onnx = tract_onnx::onnx().with_ignore_value_info(true);
    let model = onnx
        .model_for_proto_model(proto)
        .map_err(|e| model_err(path, e))?;
    model
        .with_input_fact(0, f32::fact(shape).into())
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| model_err(path, e))
}

impl Rec {
    pub fn load(path: &Path) -> Result<Rec, OcrError> {
        let proto = read_proto(path)?;
        let dict = proto
            .metadata_props
            .iter()
            .find(|p| p.key == "character")
            .map(|p| p.value.clone())
            .ok_or_else(|| model_err(path, "no `character` dictionary in the metadata"))?;
        // PaddleOCR: blank, the dictionary lines, then a space.
        let mut classes = vec![String::new()];
        classes.extend(dict.lines().map(str::to_string));
        classes.push(" ".into());
        let mut plans = Vec::new();
        for w in REC_WIDTHS {
            let p = plan(path, &proto, [1, 3, REC_H as usize, w as usize])?;
            plans.push((w, p));
        }
        let rec = Rec { plans, classes };
        // The class count must be the model's output width.
        let probe = RgbImage::from_pixel(REC_H, REC_H, image::Rgb([255, 255, 255]));
        let out = rec.run(&probe)?;
        let n = out.shape().get(2).copied().unwrap_or(0);
        if n != rec.classes.len() {
            return Err(model_err(
                path,
                format!(
                    "model has {n} classes, dictionary gives {}",
                    rec.classes.len()
                ),
            ));
        }
        Ok(rec)
    }

    /// Input width a crop resizes to (height 48, aspect kept).
    pub fn natural_width(crop: &RgbImage) -> u32 {
        let (w, h) = crop.dimensions();
        ((REC_H as f32 * w as f32 / h.max(1) as f32).ceil() as u32).max(1)
    }

    fn run(&self, crop: &RgbImage) -> Result<Tensor, OcrError> {
        let (w, h) = crop.dimensions();
        if w == 0 || h == 0 {
            return Err(OcrError::Image("empty crop".into()));
        }
        let want = Self::natural_width(crop);
        let (pw, plan) = self
            .plans
            .iter()
            .find(|(pw, _)| *pw >= want)
            .or_else(|| self.plans.last())
            .ok_or_else(|| OcrError::NotReady("no recognition plan".into()))?;
        let rw = want.min(*pw);
        let resized =
            image::imageops::resize(crop, rw, REC_H, image::imageops::FilterType::Triangle);
        let t = bgr_tensor(&resized, REC_H as usize, *pw as usize)?;
        let out = plan
            .run(tvec!(t.into()))
            .map_err(|e| OcrError::Inference(format!("{e:#}")))?;
        let first = out
            .into_iter()
            .next()
            .ok_or_else(|| OcrError::Inference("no output".into()))?;
        Ok(first.into_tensor())
    }

    /// The classes of these characters (those the dictionary has).
    pub fn class_set(&self, chars: impl IntoIterator<Item = char>) -> ClassSet {
        let mut want: Vec<char> = chars.into_iter().collect();
        want.sort_unstable();
        want.dedup();
        let mut set = Vec::with_capacity(want.len());
        for (i, c) in self.classes.iter().enumerate() {
            let mut it = c.chars();
            if let (Some(ch), None) = (it.next(), it.next()) {
                if want.binary_search(&ch).is_ok() {
                    set.push((i, ch));
                }
            }
        }
        ClassSet(set)
    }

    /// Read one text line (greedy CTC, blank 0, repeats collapsed).
    pub fn read(&self, crop: &RgbImage) -> Result<Decoded, OcrError> {
        self.read_watching(crop, &ClassSet::default())
    }

    /// [`Rec::read`], also noting at each time step the likeliest class of
    /// `watch` (e.g. the province characters, for a plate whose first
    /// character the greedy decoding got wrong or dropped).
    pub fn read_watching(&self, crop: &RgbImage, watch: &ClassSet) -> Result<Decoded, OcrError> {
        let out = self.run(crop)?;
        let view = out
            .to_plain_array_view::<f32>()
            .map_err(|e| OcrError::Inference(format!("{e:#}")))?;
        let shape = view.shape().to_vec();
        if shape.len() != 3 {
            return Err(OcrError::Inference(format!("output shape {shape:?}")));
        }
        let (steps, ncls) = (shape[1], shape[2]);
        let owned;
        let flat: &[f32] = match view.as_slice() {
            Some(s) => s,
            None => {
                owned = view.iter().copied().collect::<Vec<f32>>();
                &owned
            }
        };
        let mut text = String::new();
        let mut probs = Vec::new();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut watched = Vec::with_capacity(if watch.0.is_empty() { 0 } else { steps });
        let mut prev = 0usize;
        for t in 0..steps {
            let Some(row) = flat.get(t * ncls..(t + 1) * ncls) else {
                break;
            };
            let (mut best, mut bp) = (0usize, f32::MIN);
            for (i, &p) in row.iter().enumerate() {
                if p > bp {
                    best = i;
                    bp = p;
                }
            }
            if !watch.0.is_empty() {
                let w = watch
                    .0
                    .iter()
                    .map(|&(i, c)| (c, row.get(i).copied().unwrap_or(0.0)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                watched.push(w.unwrap_or((' ', 0.0)));
            }
            if best != 0 && best == prev {
                if let Some(last) = spans.last_mut() {
                    last.1 = t + 1;
                }
            }
            if best != 0 && best != prev {
                if let Some(s) = self.classes.get(best) {
                    text.push_str(s);
                    probs.push(bp);
                    spans.push((t, t + 1));
                }
            }
            prev = best;
        }
        let confidence = if probs.is_empty() {
            0.0
        } else {
            probs.iter().sum::<f32>() / probs.len() as f32
        };
        Ok(Decoded {
            text,
            confidence,
            probs,
            spans,
            watched,
        })
    }
}

/// The detection network: a probability map of text at 1/1 of its input.
pub struct Det {
    plans: Vec<(u32, u32, Plan)>,
}

/// A detection map in frame coordinates' scale.
pub struct ProbMap {
    pub w: usize,
    pub h: usize,
    pub data: Vec<f32>,
    /// Frame pixels per map pixel.
    pub scale: f32,
}

impl Det {
    pub fn load(path: &Path) -> Result<Det, OcrError> {
        let proto = read_proto(path)?;
        let mut plans = Vec::new();
        for (w, h) in DET_SIZES {
            plans.push((w, h, plan(path, &proto, [1, 3, h as usize, w as usize])?));
        }
        Ok(Det { plans })
    }

    /// Letterbox the frame into the detection input (top-left, aspect kept)
    /// and return the text probability map.
    pub fn run(&self, frame: &RgbImage, pass: Pass) -> Result<ProbMap, OcrError> {
        let (w, h) = frame.dimensions();
        if w < 8 || h < 8 {
            return Err(OcrError::Image(format!("frame {w}x{h} too small")));
        }
        let (det_w, det_h, plan) = self
            .plans
            .get(pass as usize)
            .ok_or_else(|| OcrError::NotReady("no detection plan".into()))?;
        let (det_w, det_h) = (*det_w, *det_h);
        let s = (det_w as f32 / w as f32).min(det_h as f32 / h as f32);
        let rw = ((w as f32 * s).round() as u32).clamp(1, det_w);
        let rh = ((h as f32 * s).round() as u32).clamp(1, det_h);
        let resized = image::imageops::resize(frame, rw, rh, image::imageops::FilterType::Triangle);
        let (hh, ww) = (det_h as usize, det_w as usize);
        let t = bgr_tensor(&resized, hh, ww)?;
        let out = plan
            .run(tvec!(t.into()))
            .map_err(|e| OcrError::Inference(format!("{e:#}")))?;
        let first = out
            .into_iter()
            .next()
            .ok_or_else(|| OcrError::Inference("no detection output".into()))?;
        let view = first
            .to_plain_array_view::<f32>()
            .map_err(|e| OcrError::Inference(format!("{e:#}")))?;
        let shape = view.shape().to_vec();
        if shape.len() != 4 || shape[2] != hh || shape[3] != ww {
            return Err(OcrError::Inference(format!(
                "detection output shape {shape:?}"
            )));
        }
        Ok(ProbMap {
            w: ww,
            h: hh,
            data: view.iter().copied().collect(),
            scale: 1.0 / s,
        })
    }
}
