//! The recognition worker: blocking OS threads that own the frame reader,
//! fed through one bounded queue.
//!
//! Layer: recognition plumbing. Knows JPEG bytes, decoding and the
//! [`FrameReader`]; nothing about cameras' roles or lanes.
//!
//! Queue policy: at most `depth` frames wait. A frame submitted to a full
//! queue pushes out the **oldest** waiting frame, whose caller is answered
//! [`RecogniseError::Dropped`] at once (a newer frame of a vehicle is worth
//! more than an older one); drops are counted ([`RecogniserStats::dropped`])
//! and logged. A caller that stopped waiting (its deadline passed) leaves
//! its frame in the queue; the worker skips it without reading it.
//!
//! Metrics ([`Recogniser::start_with_metrics`]): each frame read is timed
//! from its submission to its result (queue wait, decoding, reading) and
//! each drop counted, where they happen.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};
use tracing::{debug, info, warn};

use super::{FrameReader, FrameReads, Want};
use crate::drivers::error::ErrorClass;
use crate::drivers::health::HealthCell;

/// Where the recogniser is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecogniserState {
    /// Fetching / loading the models.
    Loading,
    /// Reading frames.
    Ready,
    /// The models could not be had: nothing will be read.
    Failed(String),
}

/// Why a frame was not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecogniseError {
    #[error("recogniser not ready: {0}")]
    NotReady(String),
    #[error("dropped: the recognition queue was full and this frame was the oldest")]
    Dropped,
    #[error("recogniser stopped")]
    Closed,
    #[error("frame not decodable: {0}")]
    Decode(String),
    #[error("recognition failed: {0}")]
    Read(String),
}

/// One frame read.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameOutcome {
    pub reads: FrameReads,
    /// Time in the queue, decoding the JPEG, and reading (µs).
    pub waited_us: u64,
    pub decode_us: u64,
    pub read_us: u64,
}

/// Counters since start.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecogniserStats {
    /// Frames read (with or without a result).
    pub read: u64,
    /// Frames pushed out of a full queue.
    pub dropped: u64,
    /// Frames skipped because their caller had stopped waiting.
    pub abandoned: u64,
    /// Frames that failed (decode or reader error).
    pub failed: u64,
    /// Decode + read time of the last frame read, of all frames read, and
    /// the longest (µs).
    pub last_us: u64,
    pub total_us: u64,
    pub max_us: u64,
}

type Reply = oneshot::Sender<Result<FrameOutcome, RecogniseError>>;

struct Job {
    jpeg: Bytes,
    want: Want,
    queued: Instant,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    depth: usize,
    reader: OnceLock<Arc<dyn FrameReader>>,
    state: watch::Sender<RecogniserState>,
    health: HealthCell,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    read: AtomicU64,
    dropped: AtomicU64,
    abandoned: AtomicU64,
    failed: AtomicU64,
    last_us: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The recognition worker. Dropping it stops the threads (after the frame
/// they are reading); frames still queued are answered `Closed`.
pub struct Recogniser {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Recogniser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recogniser")
            .field("state", &*self.shared.state.borrow())
            .field("depth", &self.shared.depth)
            .finish()
    }
}

impl Recogniser {
    /// Start: `load` runs on a thread of its own (it may download models),
    /// then `workers` threads read frames. `depth` bounds the queue.
    pub fn start<F>(load: F, workers: u32, depth: usize, health: HealthCell) -> Recogniser
    where
        F: FnOnce() -> Result<Arc<dyn FrameReader>, String> + Send + 'static,
    {
        Self::start_with_metrics(load, workers, depth, health, None)
    }

    /// [`Recogniser::start`], also timing each frame read and counting
    /// drops in `metrics`.
    pub fn start_with_metrics<F>(
        load: F,
        workers: u32,
        depth: usize,
        health: HealthCell,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Recogniser
    where
        F: FnOnce() -> Result<Arc<dyn FrameReader>, String> + Send + 'static,
    {
        let (state, _) = watch::channel(RecogniserState::Loading);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            depth: depth.max(1),
            reader: OnceLock::new(),
            state,
            health,
            metrics,
            read: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_us: AtomicU64::new(0),
            total_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        });
        let s = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("ocr-load".into())
            .spawn(move || load_then_work(s, load, workers.max(1)));
        if let Err(e) = spawned {
            fail(&shared, format!("cannot start the recognition thread: {e}"));
        }
        Recogniser { shared }
    }

    /// Submit a frame. Refused at once when the models are not loaded or
    /// the recogniser stopped; otherwise the answer comes on the receiver
    /// (`Dropped` if a newer frame pushed this one out of a full queue).
    pub fn submit(
        &self,
        jpeg: Bytes,
        want: Want,
    ) -> Result<oneshot::Receiver<Result<FrameOutcome, RecogniseError>>, RecogniseError> {
        match &*self.shared.state.borrow() {
            RecogniserState::Ready => {}
            RecogniserState::Loading => {
                return Err(RecogniseError::NotReady("models still loading".into()))
            }
            RecogniserState::Failed(e) => return Err(RecogniseError::NotReady(e.clone())),
        }
        let (tx, rx) = oneshot::channel();
        let mut q = self.shared.lock();
        if q.closed {
            return Err(RecogniseError::Closed);
        }
        if q.jobs.len() >= self.shared.depth {
            if let Some(old) = q.jobs.pop_front() {
                let n = self.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(m) = &self.shared.metrics {
                    m.recognition_dropped();
                }
                warn!(
                    dropped_total = n,
                    depth = self.shared.depth,
                    "recognition queue full: oldest frame dropped"
                );
                let _ = old.reply.send(Err(RecogniseError::Dropped));
            }
        }
        q.jobs.push_back(Job {
            jpeg,
            want,
            queued: Instant::now(),
            reply: tx,
        });
        drop(q);
        self.shared.wake.notify_one();
        Ok(rx)
    }

    /// The current state.
    pub fn state(&self) -> RecogniserState {
        self.shared.state.borrow().clone()
    }

    /// Follow the state (loading -> ready / failed).
    pub fn subscribe(&self) -> watch::Receiver<RecogniserState> {
        self.shared.state.subscribe()
    }

    /// Frames waiting now.
    pub fn queued(&self) -> usize {
        self.shared.lock().jobs.len()
    }

    pub fn stats(&self) -> RecogniserStats {
        let s = &self.shared;
        RecogniserStats {
            read: s.read.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            abandoned: s.abandoned.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            last_us: s.last_us.load(Ordering::Relaxed),
            total_us: s.total_us.load(Ordering::Relaxed),
            max_us: s.max_us.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Recogniser {
    fn drop(&mut self) {
        let jobs: Vec<Job> = {
            let mut q = self.shared.lock();
            q.closed = true;
            q.jobs.drain(..).collect()
        };
        for j in jobs {
            let _ = j.reply.send(Err(RecogniseError::Closed));
        }
        self.shared.wake.notify_all();
    }
}

fn fail(shared: &Shared, msg: String) {
    warn!(error = %msg, "on-board recognition unavailable");
    shared.health.err_text(ErrorClass::Data, msg.clone());
    shared.state.send_replace(RecogniserState::Failed(msg));
}

fn load_then_work<F>(shared: Arc<Shared>, load: F, workers: u32)
where
    F: FnOnce() -> Result<Arc<dyn FrameReader>, String>,
{
    let t0 = Instant::now();
    let reader = match load() {
        Ok(r) => r,
        Err(e) => return fail(&shared, e),
    };
    if shared.reader.set(reader).is_err() {
        return fail(&shared, "models loaded twice".into());
    }
    if shared.lock().closed {
        return;
    }
    let took = t0.elapsed();
    info!(
        ms = took.as_millis() as u64,
        workers, "recognition models loaded"
    );
    shared.health.ok(took);
    for i in 1..workers {
        let s = shared.clone();
        if let Err(e) = std::thread::Builder::new()
            .name(format!("ocr-{i}"))
            .spawn(move || work(&s))
        {
            warn!(%e, "recognition worker {i} not started");
        }
    }
    shared.state.send_replace(RecogniserState::Ready);
    work(&shared);
}

fn work(shared: &Shared) {
    let Some(reader) = shared.reader.get() else {
        return;
    };
    loop {
        let job = {
            let mut q = shared.lock();
            loop {
                if q.closed {
                    return;
                }
                if let Some(j) = q.jobs.pop_front() {
                    break j;
                }
                q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        if job.reply.is_closed() {
            shared.abandoned.fetch_add(1, Ordering::Relaxed);
            debug!("frame skipped: its caller stopped waiting");
            continue;
        }
        let r = read_one(reader.as_ref(), &job);
        match &r {
            Ok(o) => {
                shared.read.fetch_add(1, Ordering::Relaxed);
                let us = o.decode_us + o.read_us;
                shared.last_us.store(us, Ordering::Relaxed);
                shared.total_us.fetch_add(us, Ordering::Relaxed);
                shared.max_us.fetch_max(us, Ordering::Relaxed);
                shared.health.ok(Duration::from_micros(us));
                if let Some(m) = &shared.metrics {
                    m.recognition(Duration::from_micros(o.waited_us + us));
                }
                debug!(
                    waited_us = o.waited_us,
                    decode_us = o.decode_us,
                    read_us = o.read_us,
                    empty = o.reads.is_empty(),
                    "frame read"
                );
            }
            Err(e) => {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                shared.health.err_text(ErrorClass::Data, e.to_string());
                debug!(%e, "frame not read");
            }
        }
        let _ = job.reply.send(r);
    }
}

fn read_one(reader: &dyn FrameReader, job: &Job) -> Result<FrameOutcome, RecogniseError> {
    let waited_us = job.queued.elapsed().as_micros() as u64;
    let t0 = Instant::now();
    let img = image::load_from_memory_with_format(&job.jpeg, image::ImageFormat::Jpeg)
        .map_err(|e| RecogniseError::Decode(e.to_string()))?
        .into_rgb8();
    let decode_us = t0.elapsed().as_micros() as u64;
    let t1 = Instant::now();
    // A panic in the reader must not kill the worker (bad input never panics
    // the agent): it becomes this frame's error.
    let reads = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match job.want {
        Want::Plate => reader.plate(&img).map(FrameReads::Plate),
        Want::Codes => reader.codes(&img).map(FrameReads::Codes),
    }))
    .map_err(|_| RecogniseError::Read("the recogniser panicked".into()))?
    .map_err(RecogniseError::Read)?;
    Ok(FrameOutcome {
        reads,
        waited_us,
        decode_us,
        read_us: t1.elapsed().as_micros() as u64,
    })
}
