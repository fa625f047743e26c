//! HTTP cameras: one JPEG per GET (snapshot) or a multipart MJPEG stream.
//!
//! Layer: device driver (HTTP client side). Every request is bounded in
//! time and size; the MJPEG reader reconnects with backoff and keeps only
//! the latest frame. Proxies from the environment are ignored: cameras sit
//! on the lane network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::timeout;
use tracing::{debug, info, warn};

use super::mjpeg::{boundary_from_content_type, MjpegEvent, MjpegParser};
use super::{is_jpeg, CameraError, Frame, FrameSource, LatestFrame};
use crate::backoff::Backoff;
use crate::config::CameraConfig;
use crate::error::{ErrorClass, SpawnError};
use crate::health::HealthCell;
use crate::restart::{restart_channel, RestartError, RestartRequests};

/// An HTTP client for lane devices: no proxy, bounded connect time.
pub fn client(connect_timeout: Duration) -> Result<reqwest::Client, SpawnError> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(connect_timeout)
        .build()
        .map_err(SpawnError::HttpClient)
}

fn http_err(e: reqwest::Error) -> CameraError {
    if e.is_timeout() {
        CameraError::Timeout(0)
    } else {
        CameraError::Http(e.to_string())
    }
}

fn class(e: &CameraError) -> ErrorClass {
    match e {
        CameraError::Timeout(_) => ErrorClass::Timeout,
        CameraError::TooLarge(_) | CameraError::NotJpeg | CameraError::Recognition(_) => {
            ErrorClass::Data
        }
        _ => ErrorClass::Transport,
    }
}

/// Record `r` in `health` (with the time it took).
pub(crate) fn record<T>(health: &HealthCell, started: Instant, r: &Result<T, CameraError>) {
    match r {
        Ok(_) => health.ok(started.elapsed()),
        Err(e) => health.err_text(class(e), e.to_string()),
    }
}

/// GET `url` and return the body, at most `max` bytes, within `limit`.
pub async fn get_bounded(
    client: &reqwest::Client,
    url: &str,
    max: usize,
    limit: Duration,
) -> Result<Bytes, CameraError> {
    let fut = async {
        let resp = client.get(url).send().await.map_err(http_err)?;
        if !resp.status().is_success() {
            return Err(CameraError::Status(resp.status().as_u16()));
        }
        if resp.content_length().is_some_and(|l| l > max as u64) {
            return Err(CameraError::TooLarge(max));
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(http_err)?;
            if body.len() + chunk.len() > max {
                return Err(CameraError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    };
    match timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(CameraError::Timeout(limit.as_millis() as u64)),
    }
}

/// A camera that returns one JPEG per GET.
#[derive(Debug)]
pub struct SnapshotSource {
    name: Arc<str>,
    url: String,
    client: reqwest::Client,
    timeout: Duration,
    max_bytes: usize,
    health: HealthCell,
    seq: AtomicU64,
}

impl SnapshotSource {
    pub fn new(cfg: &CameraConfig, url: &str, health: HealthCell) -> Result<Self, SpawnError> {
        let timeout = Duration::from_millis(cfg.timeout_ms);
        Ok(Self {
            name: cfg.name.as_str().into(),
            url: url.to_owned(),
            client: client(timeout)?,
            timeout,
            max_bytes: cfg.max_frame_bytes,
            health,
            seq: AtomicU64::new(0),
        })
    }

    async fn fetch(&self) -> Result<Frame, CameraError> {
        let started = Instant::now();
        let r = get_bounded(&self.client, &self.url, self.max_bytes, self.timeout)
            .await
            .and_then(|b| {
                if is_jpeg(&b) {
                    Ok(b)
                } else {
                    Err(CameraError::NotJpeg)
                }
            })
            .map(|jpeg| Frame {
                camera: Arc::clone(&self.name),
                jpeg,
                at: SystemTime::now(),
                received: Instant::now(),
                seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            });
        record(&self.health, started, &r);
        r
    }
}

impl FrameSource for SnapshotSource {
    fn name(&self) -> &str {
        &self.name
    }
    fn grab(&self) -> BoxFuture<'_, Result<Frame, CameraError>> {
        Box::pin(self.fetch())
    }
}

/// A camera streaming MJPEG: starts the reader task (inside a tokio
/// runtime), which keeps the latest frame. It ends when the source and every
/// receiver from [`LatestFrame::subscribe`] are dropped.
pub fn spawn_mjpeg(
    cfg: &CameraConfig,
    url: &str,
    health: HealthCell,
) -> Result<LatestFrame, SpawnError> {
    let timeout = Duration::from_millis(cfg.timeout_ms);
    let client = client(timeout)?;
    let (tx, rx) = watch::channel(None);
    let (restarter, restarts) = restart_channel();
    let name: Arc<str> = cfg.name.as_str().into();
    tokio::spawn(reader(
        Arc::clone(&name),
        client,
        url.to_owned(),
        timeout,
        cfg.max_frame_bytes,
        Backoff::new(cfg.backoff.clone()),
        health,
        tx,
        restarts,
    ));
    Ok(LatestFrame::new(
        name,
        rx,
        cfg,
        || CameraError::Stream("reader stopped".into()),
        restarter,
    ))
}

#[allow(clippy::too_many_arguments)]
async fn reader(
    name: Arc<str>,
    client: reqwest::Client,
    url: String,
    limit: Duration,
    max_frame: usize,
    mut backoff: Backoff,
    health: HealthCell,
    tx: watch::Sender<Option<Frame>>,
    mut restarts: RestartRequests,
) {
    let mut seq = 0u64;
    // A pending restart is answered once the stream is open again (or not).
    loop {
        let started = Instant::now();
        let result: Result<(), CameraError> = async {
            let resp = match timeout(limit, client.get(&url).send()).await {
                Ok(r) => r.map_err(http_err)?,
                Err(_) => return Err(CameraError::Timeout(limit.as_millis() as u64)),
            };
            if !resp.status().is_success() {
                return Err(CameraError::Status(resp.status().as_u16()));
            }
            let ct = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let boundary = boundary_from_content_type(&ct)
                .ok_or_else(|| CameraError::Stream(format!("not a multipart stream: `{ct}`")))?;
            restarts.answer(Ok(format!(
                "stream reopened in {} ms",
                started.elapsed().as_millis()
            )));
            let mut parser = MjpegParser::new(&boundary, max_frame);
            let mut stream = resp.bytes_stream();
            let mut last = Instant::now();
            loop {
                let chunk = tokio::select! {
                    c = timeout(limit, stream.next()) => c,
                    () = restarts.requested() => {
                        info!(camera = %name, "restart requested: reopening the stream");
                        return Ok(());
                    }
                    () = tx.closed() => return Ok(()),
                };
                let chunk = match chunk {
                    Err(_) => return Err(CameraError::Timeout(limit.as_millis() as u64)),
                    Ok(None) => return Err(CameraError::Stream("stream ended".into())),
                    Ok(Some(Err(e))) => return Err(http_err(e)),
                    Ok(Some(Ok(c))) => c,
                };
                for ev in parser.push(&chunk) {
                    match ev {
                        MjpegEvent::Frame(jpeg) => {
                            seq += 1;
                            health.ok(last.elapsed());
                            last = Instant::now();
                            backoff.reset();
                            tx.send_replace(Some(Frame {
                                camera: Arc::clone(&name),
                                jpeg: Bytes::from(jpeg),
                                at: SystemTime::now(),
                                received: Instant::now(),
                                seq,
                            }));
                        }
                        MjpegEvent::Oversize(n) => health.err_text(
                            ErrorClass::Data,
                            format!("frame of {n} bytes skipped (limit {max_frame})"),
                        ),
                        MjpegEvent::Bad(m) => health.err_text(ErrorClass::Data, m),
                    }
                }
            }
        }
        .await;
        if tx.is_closed() {
            debug!(camera = %name, "mjpeg reader stopped");
            return;
        }
        if let Err(e) = &result {
            warn!(camera = %name, error = %e, "mjpeg stream failed");
            record(&health, started, &result);
            restarts.answer(Err(RestartError::Stream(e.clone())));
        }
        if restarts.pending() {
            // Asked to restart while streaming: reopen at once.
            backoff.reset();
            continue;
        }
        let delay = backoff.next_delay();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = restarts.requested() => backoff.reset(),
            () = tx.closed() => return,
        }
    }
}
