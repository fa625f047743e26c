//! On-board recognition plumbing with a test double for the recogniser:
//! the worker's bounded queue (oldest dropped and counted), model loading
//! states, errors that must not kill the worker, and one camera's
//! collection for one vehicle (frames, dedup, limits, evidence, faults).
//! The real gate-ocr models are not needed here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use gate_agent::recognition::{
    read_vehicle, CollectOptions, FrameReader, FrameReads, RecogniseError, Recogniser,
    RecogniserState, Want,
};
use gate_drivers::camera::{CameraError, Frame, FrameSource};
use gate_drivers::health::HealthCell;
use gate_ocr::{CodeRead, Layout, PlateColour, PlateRead};
use image::RgbImage;

/// A JPEG whose colour encodes `id` (red channel id * 20, survives JPEG).
fn jpeg(id: u8) -> Bytes {
    let img = RgbImage::from_pixel(64, 48, image::Rgb([id.saturating_mul(20), 90, 40]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encode");
    Bytes::from(out)
}

fn id_of(img: &RgbImage) -> u8 {
    let r = img.get_pixel(32, 24)[0];
    ((f32::from(r) / 20.0).round()) as u8
}

/// Frames whose id is 0 or 11 show nothing; others show plate
/// `琼A0000<id / 2>` (ids 2 and 3 give the same plate) or two container codes. Optionally slow, or blocked until
/// released, or panicking on id 13.
#[derive(Default)]
struct FakeReader {
    delay: Duration,
    /// Blocks every read until the sender is dropped.
    gate: Option<Mutex<std::sync::mpsc::Receiver<()>>>,
    calls: AtomicUsize,
}

impl FrameReader for FakeReader {
    fn plate(&self, frame: &RgbImage) -> Result<Option<PlateRead>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(g) = &self.gate {
            let _ = g.lock().map_err(|e| e.to_string())?.recv();
        }
        std::thread::sleep(self.delay);
        let id = id_of(frame);
        match id {
            0 | 11 => Ok(None),
            13 => panic!("bad frame"),
            12 => Err("model error".into()),
            _ => Ok(Some(plate(
                &format!("琼A0000{}", id / 2),
                0.5 + f32::from(id) / 100.0,
            ))),
        }
    }

    fn codes(&self, frame: &RgbImage) -> Result<Vec<CodeRead>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let id = id_of(frame);
        Ok(match id {
            0 | 11 => vec![],
            _ => vec![
                code("CSQU3054383", 0.9),
                code("MSKU1234565", 0.5 + f32::from(id) / 100.0),
            ],
        })
    }
}

fn plate(text: &str, confidence: f32) -> PlateRead {
    PlateRead {
        text: text.into(),
        raw: text.into(),
        colour: PlateColour::Yellow,
        confidence,
        valid: true,
        repaired: false,
        bbox: None,
        micros: 1,
    }
}

fn code(text: &str, confidence: f32) -> CodeRead {
    CodeRead {
        text: text.into(),
        raw: text.into(),
        confidence,
        layout: Layout::Horizontal,
        check_ok: true,
        repaired: false,
        bbox: None,
        micros: 1,
    }
}

fn ready(reader: Arc<dyn FrameReader>, depth: usize) -> Recogniser {
    let r = Recogniser::start(
        move || Ok(reader),
        1,
        depth,
        HealthCell::detached("recogniser"),
    );
    let t0 = Instant::now();
    while r.state() != RecogniserState::Ready {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "not ready: {:?}",
            r.state()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    r
}

#[tokio::test]
async fn a_frame_is_read_and_timed() {
    let r = ready(Arc::new(FakeReader::default()), 4);
    let out = r
        .submit(jpeg(3), Want::Plate)
        .expect("submitted")
        .await
        .expect("answered")
        .expect("read");
    match out.reads {
        FrameReads::Plate(Some(p)) => assert_eq!(p.text, "琼A00001"),
        other => panic!("{other:?}"),
    }
    let out = r
        .submit(jpeg(0), Want::Codes)
        .expect("submitted")
        .await
        .expect("answered")
        .expect("read");
    assert!(out.reads.is_empty());
    assert_eq!(r.stats().read, 2);
}

#[tokio::test]
async fn loading_then_ready_and_failure_is_reported() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let r = Recogniser::start(
        move || {
            let _ = rx.recv();
            Ok(Arc::new(FakeReader::default()) as Arc<dyn FrameReader>)
        },
        1,
        4,
        HealthCell::detached("recogniser"),
    );
    assert_eq!(r.state(), RecogniserState::Loading);
    assert!(matches!(
        r.submit(jpeg(1), Want::Plate),
        Err(RecogniseError::NotReady(_))
    ));
    let mut states = r.subscribe();
    tx.send(()).expect("release");
    tokio::time::timeout(
        Duration::from_secs(5),
        states.wait_for(|s| *s == RecogniserState::Ready),
    )
    .await
    .expect("in time")
    .expect("state");

    let health = HealthCell::detached("recogniser");
    let r = Recogniser::start(|| Err("no models in /nowhere".into()), 1, 4, health.clone());
    let mut states = r.subscribe();
    let st = tokio::time::timeout(
        Duration::from_secs(5),
        states.wait_for(|s| matches!(s, RecogniserState::Failed(_))),
    )
    .await
    .expect("in time")
    .expect("state")
    .clone();
    assert_eq!(st, RecogniserState::Failed("no models in /nowhere".into()));
    match r.submit(jpeg(1), Want::Plate) {
        Err(RecogniseError::NotReady(e)) => assert!(e.contains("/nowhere"), "{e}"),
        other => panic!("{other:?}"),
    }
    let h = health.get();
    assert_eq!(h.consecutive_errors, 1);
    assert!(h.last_error.unwrap_or_default().contains("/nowhere"));
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_frame_and_counts_it() {
    let (held, gate) = std::sync::mpsc::channel::<()>();
    let reader = Arc::new(FakeReader {
        gate: Some(Mutex::new(gate)),
        ..FakeReader::default()
    });
    let r = ready(reader.clone(), 2);
    // Frame 1 is taken by the worker (blocked on the gate).
    let first = r.submit(jpeg(1), Want::Plate).expect("submitted");
    let t0 = Instant::now();
    while reader.calls.load(Ordering::SeqCst) == 0 {
        assert!(t0.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // 2 and 3 wait; 4 pushes 2 out, 5 pushes 3 out.
    let rx: Vec<_> = (2..=5)
        .map(|i| r.submit(jpeg(i), Want::Plate).expect("submitted"))
        .collect();
    assert_eq!(r.queued(), 2);
    assert_eq!(r.stats().dropped, 2);
    drop(held);
    let mut got = Vec::new();
    for (i, rx) in (2..=5).zip(rx) {
        got.push((i, rx.await.expect("answered").map(|o| o.reads)));
    }
    assert!(matches!(got[0].1, Err(RecogniseError::Dropped)));
    assert!(matches!(got[1].1, Err(RecogniseError::Dropped)));
    for (i, r) in &got[2..] {
        match r {
            Ok(FrameReads::Plate(Some(p))) => assert_eq!(p.text, format!("琼A0000{}", i / 2)),
            other => panic!("frame {i}: {other:?}"),
        }
    }
    assert!(first.await.expect("answered").is_ok());
    assert_eq!(r.stats().read, 3);
}

#[tokio::test]
async fn bad_frames_and_reader_failures_do_not_stop_the_worker() {
    let r = ready(Arc::new(FakeReader::default()), 4);
    let res = r
        .submit(Bytes::from_static(b"\xFF\xD8 not a jpeg"), Want::Plate)
        .expect("submitted")
        .await
        .expect("answered");
    assert!(matches!(res, Err(RecogniseError::Decode(_))), "{res:?}");
    let res = r
        .submit(jpeg(12), Want::Plate)
        .expect("submitted")
        .await
        .expect("answered");
    assert_eq!(
        res.map(|o| o.reads),
        Err(RecogniseError::Read("model error".into()))
    );
    let res = r
        .submit(jpeg(13), Want::Plate)
        .expect("submitted")
        .await
        .expect("answered");
    assert!(
        matches!(res, Err(RecogniseError::Read(ref e)) if e.contains("panicked")),
        "{res:?}"
    );
    // Still working.
    let res = r
        .submit(jpeg(4), Want::Plate)
        .expect("submitted")
        .await
        .expect("answered");
    assert!(matches!(
        res.map(|o| o.reads),
        Ok(FrameReads::Plate(Some(_)))
    ));
    assert_eq!(r.stats().failed, 3);
}

/// A camera that gives the frames of a script in turn (the last one
/// forever), or errors.
struct ScriptSource {
    frames: Vec<Result<u8, CameraError>>,
    next: AtomicUsize,
}

impl ScriptSource {
    fn new(frames: Vec<Result<u8, CameraError>>) -> Self {
        Self {
            frames,
            next: AtomicUsize::new(0),
        }
    }

    fn grabs(&self) -> usize {
        self.next.load(Ordering::SeqCst)
    }
}

impl FrameSource for ScriptSource {
    fn name(&self) -> &str {
        "test-cam"
    }

    fn grab(&self) -> BoxFuture<'_, Result<Frame, CameraError>> {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        let item = self.frames[i.min(self.frames.len() - 1)].clone();
        Box::pin(async move {
            let id = item?;
            Ok(Frame {
                camera: "test-cam".into(),
                jpeg: jpeg(id),
                at: SystemTime::now(),
                received: Instant::now(),
                seq: i as u64 + 1,
            })
        })
    }
}

fn opts(frames: u32, max_frames: u32) -> CollectOptions {
    CollectOptions {
        frames,
        max_frames,
        retry: Duration::from_millis(1),
        max_grab_errors: 3,
    }
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test]
async fn a_vehicle_is_read_from_n_frames_and_the_evidence_shows_the_voted_read() {
    let reader = Arc::new(FakeReader::default());
    let r = ready(reader.clone(), 4);
    // Nothing in view, then the truck read three different ways: frames 0,
    // 2, 2 (same image: not read twice), 4, 6, 8 ...
    let src = ScriptSource::new(vec![Ok(0), Ok(2), Ok(2), Ok(4), Ok(6), Ok(8)]);
    let mut answers = 0;
    let v = read_vehicle(&src, &r, Want::Plate, opts(3, 8), soon(), || answers += 1)
        .await
        .expect("verdict");
    assert_eq!((v.submitted, v.with_reads, v.lost), (4, 3, 0));
    assert_eq!(
        reader.calls.load(Ordering::SeqCst),
        4,
        "the repeated frame is not read"
    );
    assert_eq!(src.grabs(), 5);
    assert_eq!(answers, 5);
    assert_eq!(v.frame_us.len(), 4);
    let voted = v.plate.clone().expect("a plate");
    assert!(
        ["琼A00001", "琼A00002", "琼A00003"].contains(&voted.text.as_str()),
        "{voted:?}"
    );
    // The evidence frame is one that gave the voted text.
    let img = image::load_from_memory(&v.evidence.expect("evidence").jpeg)
        .expect("jpeg")
        .into_rgb8();
    assert_eq!(format!("琼A0000{}", id_of(&img) / 2), voted.text);
}

#[tokio::test]
async fn a_majority_of_n_frames_that_agree_ends_the_collection_early() {
    let reader = Arc::new(FakeReader::default());
    let r = ready(reader.clone(), 4);
    // Frames 2 and 3 both read 琼A00001: two of three, the third cannot
    // outvote them.
    let src = ScriptSource::new(vec![Ok(2), Ok(3), Ok(6), Ok(8)]);
    let v = read_vehicle(&src, &r, Want::Plate, opts(3, 8), soon(), || {})
        .await
        .expect("verdict");
    assert_eq!((v.submitted, v.with_reads), (2, 2));
    assert_eq!(v.plate.map(|p| p.text), Some("琼A00001".to_owned()));
    // Disagreeing frames go on to N.
    let src = ScriptSource::new(vec![Ok(2), Ok(4), Ok(6), Ok(8)]);
    let v = read_vehicle(&src, &r, Want::Plate, opts(3, 8), soon(), || {})
        .await
        .expect("verdict");
    assert_eq!((v.submitted, v.with_reads), (3, 3));
}

#[tokio::test]
async fn container_codes_are_voted_per_code() {
    let r = ready(Arc::new(FakeReader::default()), 4);
    let src = ScriptSource::new(vec![Ok(1), Ok(2), Ok(3)]);
    let v = read_vehicle(&src, &r, Want::Codes, opts(3, 8), soon(), || {})
        .await
        .expect("verdict");
    // The same two valid codes twice: a majority of three.
    assert_eq!((v.submitted, v.with_reads), (2, 2));
    let mut texts: Vec<&str> = v.codes.iter().map(|c| c.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts, ["CSQU3054383", "MSKU1234565"]);
    assert!(v.evidence.is_some());
}

/// Container reads that are no code (an on-screen caption, a truncated
/// line) are not passed on, and a frame with only those shows nothing.
struct CaptionReader;

impl FrameReader for CaptionReader {
    fn plate(&self, _: &RgbImage) -> Result<Option<PlateRead>, String> {
        Ok(None)
    }

    fn codes(&self, frame: &RgbImage) -> Result<Vec<CodeRead>, String> {
        let mut v = vec![
            code("CONTAINERBACK2026112722322", 0.5),
            code("CSQU305438", 0.6),
        ];
        if id_of(frame) == 2 {
            v.push(code("CSQU3054383", 0.9));
        }
        Ok(v)
    }
}

#[tokio::test]
async fn container_reads_that_are_no_code_are_dropped() {
    let r = ready(Arc::new(CaptionReader), 4);
    let src = ScriptSource::new(vec![Ok(1), Ok(4), Ok(6), Ok(2)]);
    let v = read_vehicle(&src, &r, Want::Codes, opts(3, 8), soon(), || {})
        .await
        .expect("verdict");
    // Three frames with captions only: nothing there.
    assert_eq!((v.submitted, v.with_reads, v.rejected), (3, 0, 6));
    assert!(v.codes.is_empty());
    let src = ScriptSource::new(vec![Ok(2), Ok(3), Ok(2)]);
    let v = read_vehicle(&src, &r, Want::Codes, opts(3, 8), soon(), || {})
        .await
        .expect("verdict");
    assert_eq!(v.with_reads, 2);
    let texts: Vec<&str> = v.codes.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["CSQU3054383"]);
}

#[tokio::test]
async fn a_camera_seeing_nothing_stops_at_max_frames_with_its_last_frame_as_evidence() {
    let reader = Arc::new(FakeReader::default());
    let r = ready(reader.clone(), 4);
    // Frames alternate between nothing and different plates: max_frames ends it.
    let src = ScriptSource::new(vec![Ok(0), Ok(2), Ok(11), Ok(4), Ok(0), Ok(6)]);
    let v = read_vehicle(&src, &r, Want::Plate, opts(4, 5), soon(), || {})
        .await
        .expect("verdict");
    assert_eq!((v.submitted, v.with_reads), (5, 2));
    assert!(v.plate.is_some());
    // N frames that show nothing: nothing there.
    let src = ScriptSource::new(vec![Ok(0), Ok(11), Ok(0), Ok(11), Ok(2)]);
    let v = read_vehicle(&src, &r, Want::Codes, opts(3, 8), soon(), || {})
        .await
        .expect("verdict");
    assert_eq!((v.submitted, v.with_reads), (3, 0));
    assert!(v.is_empty());
    let img = image::load_from_memory(&v.evidence.expect("evidence").jpeg)
        .expect("jpeg")
        .into_rgb8();
    assert_eq!(id_of(&img), 0, "the last frame grabbed is the evidence");

    // The same empty frame forever: read once, then only grabbed again
    // until the deadline.
    let src = ScriptSource::new(vec![Ok(0)]);
    let until = Instant::now() + Duration::from_millis(100);
    let v = read_vehicle(&src, &r, Want::Plate, opts(3, 5), until, || {})
        .await
        .expect("verdict");
    assert!(Instant::now() >= until);
    assert_eq!(v.submitted, 1);
    assert!(src.grabs() > 2);
    assert!(v.is_empty());
    assert!(v.evidence.is_some(), "the last frame is kept as evidence");
}

#[tokio::test]
async fn the_deadline_bounds_the_collection() {
    let reader = Arc::new(FakeReader {
        delay: Duration::from_millis(40),
        ..FakeReader::default()
    });
    let r = ready(reader, 4);
    let src = ScriptSource::new((1..=10).filter(|i| *i != 8).map(Ok).collect());
    let t0 = Instant::now();
    let v = read_vehicle(
        &src,
        &r,
        Want::Plate,
        opts(16, 16),
        Instant::now() + Duration::from_millis(150),
        || {},
    )
    .await
    .expect("verdict");
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
    assert!((2..=4).contains(&v.with_reads), "{}", v.with_reads);
    assert!(v.plate.is_some());
}

#[tokio::test]
async fn a_dead_camera_is_a_fault_and_a_missing_recogniser_reads_nothing() {
    let r = ready(Arc::new(FakeReader::default()), 4);
    let src = ScriptSource::new(vec![Err(CameraError::Timeout(100))]);
    let e = read_vehicle(&src, &r, Want::Plate, opts(3, 8), soon(), || {})
        .await
        .expect_err("fault");
    assert_eq!(e, CameraError::Timeout(100));
    assert_eq!(src.grabs(), 3);

    let r = Recogniser::start(|| Err("no models".into()), 1, 4, HealthCell::detached("r"));
    let mut st = r.subscribe();
    tokio::time::timeout(
        Duration::from_secs(5),
        st.wait_for(|s| matches!(s, RecogniserState::Failed(_))),
    )
    .await
    .expect("in time")
    .expect("state");
    let src = ScriptSource::new(vec![Ok(3)]);
    let v = read_vehicle(&src, &r, Want::Plate, opts(3, 8), soon(), || {})
        .await
        .expect("verdict");
    assert!(v.is_empty());
    assert!(v.unavailable.unwrap_or_default().contains("no models"));
    assert!(v.evidence.is_some());
}
