//! The identification tasks: one per device and vehicle, started when the
//! lane asks for identification (`Command::StartIdentification`). Each
//! sends the lane task what its device saw (`Internal::Read`), that it has
//! nothing (`Read::Nothing`, at once or after its read window), or that it
//! failed (`Internal::Fault`), and the photo kept as evidence.
//!
//! Layer: agent runtime, I/O edge (cameras, RFID readers, the recogniser);
//! the lane core decides what the reads mean.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gate_core::decision::{decide, Decision};
use gate_core::identified::Device;
use gate_core::lane::Read;
use gate_core::view::LookupKeys;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::devices;
use super::event::Photo;
use super::{Internal, Runner};
use crate::drivers::config::RecognitionMode;
use crate::recognition::{CollectOptions, Recogniser, RecogniserState, Want};

/// Poll a camera's recognition until it sees something or the deadline;
/// keep one frame as evidence. The camera reports "nothing" once its
/// recognition has answered nothing for its read window (or at the
/// deadline). Without `use_recognition` (mode `none`) the camera gives its
/// photo and "nothing read" at once.
pub(super) async fn identify_camera(
    seq: u64,
    role: Device,
    name: String,
    cam: Arc<crate::drivers::camera::Camera>,
    use_recognition: bool,
    w: CameraWindow,
    tx: mpsc::Sender<Internal>,
) {
    let CameraWindow {
        deadline,
        poll,
        empty,
    } = w;
    let mut errors = 0u32;
    let mut first = true;
    let mut photo_taken = false;
    // When the recognition first answered (nothing) for this vehicle.
    let mut empty_since: Option<Instant> = None;
    let recognition = cam.recognition.as_ref().filter(|_| use_recognition);
    loop {
        if let Some(rec) = recognition {
            match rec.fetch().await {
                Ok(r) => {
                    if errors > 0 || first {
                        let _ = tx.send(Internal::Ok(role)).await;
                    }
                    first = false;
                    errors = 0;
                    empty_since.get_or_insert_with(Instant::now);
                    let reads = devices::recognition_reads(role, &r.result);
                    debug!(camera = %name, ?reads, "recognition");
                    if !reads.is_empty() {
                        for read in reads {
                            let _ = tx.send(Internal::Read { seq, read }).await;
                        }
                        // Evidence after the read: a slow camera never delays the decision.
                        if !photo_taken {
                            take_photo(seq, &name, &cam, &tx).await;
                        }
                        return;
                    }
                }
                Err(e) => {
                    errors += 1;
                    debug!(camera = %name, %e, errors, "recognition fetch failed");
                    if errors == 3 {
                        camera_fault(&tx, seq, role, &name, &e).await;
                        return;
                    }
                }
            }
        } else if !photo_taken {
            take_photo(seq, &name, &cam, &tx).await;
            photo_taken = true;
        }
        let window_over =
            recognition.is_none() || empty_since.is_some_and(|s| s.elapsed() >= empty);
        if window_over || Instant::now() + poll >= deadline {
            if !photo_taken {
                take_photo(seq, &name, &cam, &tx).await;
            }
            send_nothing(&tx, seq, role).await;
            return;
        }
        tokio::time::sleep(poll).await;
    }
}

/// On-board recognition of one vehicle by one camera: frames read by the
/// recogniser until `frames` gave a read (or `vote_by`), voted; the reads
/// go to the lane, then the frame that gave the voted read as evidence.
#[allow(clippy::too_many_arguments)]
pub(super) async fn identify_onboard(
    seq: u64,
    role: Device,
    name: String,
    cam: Arc<crate::drivers::camera::Camera>,
    rec: Arc<Recogniser>,
    opts: CollectOptions,
    vote_by: Instant,
    tx: mpsc::Sender<Internal>,
) {
    let Some(src) = cam.source.clone() else {
        // Configuration checks make this impossible; stay safe anyway.
        send_nothing(&tx, seq, role).await;
        return;
    };
    // The recogniser is down (its models could not be had): this camera's
    // reads cannot come. A fault at once (the lane does not wait for it;
    // the alarm is raised once), and the frame kept as evidence.
    if let RecogniserState::Failed(e) = rec.state() {
        let _ = tx
            .send(Internal::Fault {
                seq,
                device: role,
                detail: format!("on-board recogniser down: {e}"),
            })
            .await;
        take_photo(seq, &name, &cam, &tx).await;
        return;
    }
    let want = match role {
        Device::PlateFront | Device::PlateRear => Want::Plate,
        _ => Want::Codes,
    };
    let t0 = Instant::now();
    let mut answered = false;
    let ok_tx = tx.clone();
    let r = crate::recognition::read_vehicle(src.as_ref(), &rec, want, opts, vote_by, || {
        if !answered {
            answered = true;
            let _ = ok_tx.try_send(Internal::Ok(role));
        }
    })
    .await;
    let v = match r {
        Ok(v) => v,
        Err(e) => {
            camera_fault(&tx, seq, role, &name, &e).await;
            return;
        }
    };
    let reads = devices::onboard_reads(role, &v);
    info!(
        camera = %name,
        ms = t0.elapsed().as_millis() as u64,
        submitted = v.submitted,
        with_reads = v.with_reads,
        lost = v.lost,
        rejected = v.rejected,
        frame_us = ?v.frame_us,
        unavailable = ?v.unavailable,
        ?reads,
        "on-board recognition"
    );
    if reads.is_empty() {
        send_nothing(&tx, seq, role).await;
    } else {
        for read in reads {
            let _ = tx.send(Internal::Read { seq, read }).await;
        }
    }
    if let Some(frame) = v.evidence {
        let photo = Photo {
            camera: name,
            jpeg: frame.jpeg,
        };
        let _ = tx.send(Internal::Photo { seq, photo }).await;
    }
}

/// Report a camera that failed during identification.
pub(super) async fn camera_fault(
    tx: &mpsc::Sender<Internal>,
    seq: u64,
    role: Device,
    name: &str,
    e: &(dyn std::fmt::Display + Sync),
) {
    let _ = tx
        .send(Internal::Fault {
            seq,
            device: role,
            detail: format!("camera {name}: {e}"),
        })
        .await;
}

/// Tell the lane that `role` found nothing for vehicle `seq`.
async fn send_nothing(tx: &mpsc::Sender<Internal>, seq: u64, role: Device) {
    let read = Read::Nothing(role);
    let _ = tx.send(Internal::Read { seq, read }).await;
}

pub(super) async fn take_photo(
    seq: u64,
    name: &str,
    cam: &crate::drivers::camera::Camera,
    tx: &mpsc::Sender<Internal>,
) {
    if let Some(src) = &cam.source {
        if let Ok(frame) = src.grab().await {
            let photo = Photo {
                camera: name.to_owned(),
                jpeg: frame.jpeg,
            };
            let _ = tx.send(Internal::Photo { seq, photo }).await;
        }
    }
}

/// How long [`identify_camera`] asks a camera's recognition.
#[derive(Clone, Copy, Debug)]
pub(super) struct CameraWindow {
    /// Give up here: "nothing".
    pub(super) deadline: Instant,
    /// Between two recognition requests.
    pub(super) poll: Duration,
    /// "Nothing" once the recognition has answered nothing this long (the
    /// camera's `read_window_ms`).
    pub(super) empty: Duration,
}

/// How long [`identify_rfid`] watches a reader.
#[derive(Clone, Copy, Debug)]
pub(super) struct RfidWindow {
    /// Give up here: "nothing", or a fault if the reader is offline.
    pub(super) deadline: Instant,
    /// "Nothing" as soon as the reader has answered this long with no tag
    /// (its `read_window_ms`), counted from its first answer for this
    /// vehicle.
    pub(super) empty: Duration,
}

/// Watch an RFID reader until a tag is present, the reader has answered
/// for its read window with no tag ("nothing"), or the deadline. A reader
/// still offline at the deadline is reported as a fault, else as "nothing".
pub(super) async fn identify_rfid(
    seq: u64,
    role: Device,
    name: String,
    reader: crate::drivers::rfid::RfidHandle,
    window: RfidWindow,
    tx: mpsc::Sender<Internal>,
) {
    // Polled at once and at its fast period while this watches it.
    let _fast = reader.fast_poll();
    let started = Instant::now();
    let mut rx = reader.subscribe();
    let mut first = true;
    let deadline = tokio::time::Instant::from_std(window.deadline);
    // When the reader first answered (with no tag) for this vehicle.
    let mut empty_since: Option<tokio::time::Instant> = None;
    loop {
        let current = rx.borrow_and_update().clone();
        if let Some(r) = current {
            if first {
                let _ = tx.send(Internal::Ok(role)).await;
                first = false;
            }
            // A poll from before this vehicle's arrival may show the tags of
            // the one before it: only what was read since counts.
            if r.at < started {
                match tokio::time::timeout_at(deadline, rx.changed()).await {
                    Ok(Ok(())) => continue,
                    _ => {
                        send_nothing_or_fault(&tx, seq, role, &name, &reader).await;
                        return;
                    }
                }
            }
            let reads = devices::rfid_reads(role, &r);
            if !reads.is_empty() {
                for read in reads {
                    let _ = tx.send(Internal::Read { seq, read }).await;
                }
                return;
            }
            let since = *empty_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() >= window.empty {
                send_nothing(&tx, seq, role).await;
                return;
            }
        } else {
            // The reader withdrew its reading (offline): its silence is not
            // an empty field; the window starts again when it answers.
            empty_since = None;
        }
        let until = empty_since.map_or(deadline, |s| (s + window.empty).min(deadline));
        let changed = tokio::time::timeout_at(until, rx.changed()).await;
        if matches!(changed, Ok(Ok(()))) {
            continue;
        }
        if changed.is_err() && until < deadline {
            // The read window ran out between two polls: judged at the top.
            continue;
        }
        send_nothing_or_fault(&tx, seq, role, &name, &reader).await;
        return;
    }
}

/// A reader's verdict at its deadline: a fault if it is offline, else
/// "nothing".
async fn send_nothing_or_fault(
    tx: &mpsc::Sender<Internal>,
    seq: u64,
    role: Device,
    name: &str,
    reader: &crate::drivers::rfid::RfidHandle,
) {
    let offline =
        reader.subscribe().borrow().is_none() && reader.health().get().consecutive_errors > 0;
    let msg = if offline {
        Internal::Fault {
            seq,
            device: role,
            detail: format!("reader {name} offline"),
        }
    } else {
        Internal::Read {
            seq,
            read: Read::Nothing(role),
        }
    };
    let _ = tx.send(msg).await;
}

impl Runner {
    pub(super) fn start_identification(&mut self, seq: u64, devices: &[Device]) {
        let identify_ms = self.lane.config().identify_timeout_ms;
        let deadline = Instant::now() + self.clock.real(identify_ms);
        let poll = self.clock.real(200).max(Duration::from_millis(20));
        let mut tasks = Vec::new();
        for dev in devices {
            let tx = self.internal_tx.clone();
            let dev = *dev;
            if let Some((name, cam)) = self.devs.cameras.get(&dev).cloned() {
                let mode = self
                    .modes
                    .get(&name)
                    .copied()
                    .unwrap_or(RecognitionMode::Camera);
                match (mode, &self.recogniser) {
                    (RecognitionMode::Onboard, Some(rec)) => {
                        let r = &self.cfg.recognition;
                        let opts = CollectOptions {
                            frames: r.frames,
                            max_frames: r.max_frames,
                            retry: self.clock.real(100).max(Duration::from_millis(10)),
                            max_grab_errors: 3,
                        };
                        // The verdict must reach the lane before its own
                        // identification timeout.
                        let margin = (self.clock.real(identify_ms) / 10)
                            .clamp(Duration::from_millis(20), Duration::from_millis(500));
                        tasks.push(tokio::spawn(identify_onboard(
                            seq,
                            dev,
                            name,
                            cam,
                            rec.clone(),
                            opts,
                            deadline.checked_sub(margin).unwrap_or(deadline),
                            tx,
                        )));
                    }
                    _ => {
                        let window = self.cfg.devices.read_window_ms(&name);
                        tasks.push(tokio::spawn(identify_camera(
                            seq,
                            dev,
                            name,
                            cam,
                            mode == RecognitionMode::Camera,
                            CameraWindow {
                                deadline,
                                poll,
                                empty: self.clock.real(window),
                            },
                            tx,
                        )))
                    }
                }
            } else if let Some((name, reader)) = self.devs.readers.get(&dev).cloned() {
                // The reader's verdict (tag, nothing, offline) must reach the
                // lane before its own identification timeout.
                let rfid_deadline = Instant::now() + self.clock.real(identify_ms * 3 / 4);
                let window = self.cfg.devices.read_window_ms(&name);
                tasks.push(tokio::spawn(identify_rfid(
                    seq,
                    dev,
                    name,
                    reader,
                    RfidWindow {
                        deadline: rfid_deadline,
                        empty: self.clock.real(window),
                    },
                    tx,
                )));
            }
        }
        let ctx = self.ctx_for(seq);
        for t in ctx.tasks.drain(..) {
            t.abort();
        }
        ctx.tasks = tasks;
    }

    pub(super) fn start_decision(
        &mut self,
        seq: u64,
        identified: gate_core::identified::Identified,
    ) {
        let store = self.store.clone();
        let policy = self.cfg.policy.clone();
        let online = self.link.state().connected;
        let tx = self.internal_tx.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let r = tokio::task::spawn_blocking(move || {
                lookup_and_decide(&store, &identified, &policy, online)
            })
            .await;
            let decision = match r {
                Ok(Ok(d)) => d,
                other => {
                    warn!(?other, "whitelist lookup failed");
                    Decision::lane(
                        gate_proto::messages::DecisionResult::Hold,
                        &[gate_proto::messages::Reason::H08],
                        "whitelist lookup failed",
                    )
                }
            };
            let micros = t0.elapsed().as_micros() as u64;
            let _ = tx
                .send(Internal::Decided {
                    seq,
                    decision: Box::new(decision),
                    micros,
                })
                .await;
        });
    }
}

/// The whitelist lookup for what was read, and the decision on it
/// (blocking: SQLite reads).
pub(super) fn lookup_and_decide(
    store: &gate_store::Store,
    identified: &gate_core::identified::Identified,
    policy: &gate_core::policy::Policy,
    online: bool,
) -> Result<Decision, gate_store::StoreError> {
    let view = store.lookup(&LookupKeys::from(identified))?;
    Ok(decide(
        identified,
        &view,
        policy,
        gate_proto::time::now_unix_ms(),
        online,
    ))
}
