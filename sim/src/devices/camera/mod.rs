//! Simulated network cameras, one per position (plate_front, plate_rear,
//! container_front, container_back), served over HTTP like IP cameras with
//! on-board recognition:
//!
//! - `GET /snapshot.jpg`: the current frame, `image/jpeg`;
//! - `GET /mjpeg`: `multipart/x-mixed-replace; boundary=frame`, one JPEG part
//!   per frame at `fps` (real time);
//! - `GET /recognition`: JSON, the camera's reading of what is in view, or
//!   `null`. Plate cameras: `{"plate","colour","confidence","frame"}`;
//!   container cameras: `{"codes":[{"text","confidence","layout"}],"frame"}`.
//!
//! Faults: `dark` gives black frames and `null` recognition; `Silent` accepts
//! connections and never answers; `Offline` closes the listening socket
//! (connections refused) until the camera is back.
//!
//! Layer: simulated device. It is told which trucks are where
//! ([`SceneTruck`]) and what is painted on them ([`VisualIdentity`]); it does
//! not know gate passes, the lane sequence or other devices. Documented in
//! docs/devices/camera.md.

pub mod ocr;
pub mod render;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lane_io_host::FaultMode;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::SimClock;
use crate::physics::Span;

/// Where a camera looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraPosition {
    PlateFront,
    PlateRear,
    ContainerFront,
    ContainerBack,
}

impl CameraPosition {
    pub const ALL: [Self; 4] = [
        Self::PlateFront,
        Self::PlateRear,
        Self::ContainerFront,
        Self::ContainerBack,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::PlateFront => "plate_front",
            Self::PlateRear => "plate_rear",
            Self::ContainerFront => "container_front",
            Self::ContainerBack => "container_back",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    pub fn is_plate(self) -> bool {
        matches!(self, Self::PlateFront | Self::PlateRear)
    }

    /// Default view window for the truck's reference point (front for all but
    /// plate_rear, which looks for the rear).
    pub fn default_view(self) -> Span {
        match self {
            Self::PlateRear => Span::new(-22.0, -6.0),
            _ => Span::new(-6.0, 1.5),
        }
    }
}

pub use gate_proto::messages::{ContainerPosition, PlateColour};

/// A licence plate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plate {
    pub text: String,
    pub colour: PlateColour,
}

/// A container's painted marking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerMark {
    /// As painted, without spaces (normally 11 characters).
    pub code: String,
    pub slot: ContainerPosition,
    pub vertical: bool,
    /// ISO 6346 size/type code painted below, e.g. 45G1.
    pub size_type: String,
}

/// What a truck shows the cameras.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisualIdentity {
    /// Stable key of the truck (recognition is decided once per truck and camera).
    pub key: u64,
    pub front_plate: Option<Plate>,
    pub rear_plate: Option<Plate>,
    pub containers: Vec<ContainerMark>,
}

/// A truck somewhere along the lane.
#[derive(Clone, Debug)]
pub struct SceneTruck {
    pub front_x: f64,
    pub rear_x: f64,
    pub speed: f64,
    pub ident: Arc<VisualIdentity>,
}

/// One camera's settings.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// HTTP port (0 or absent: ephemeral).
    pub port: Option<u16>,
    /// Window along the lane in which the truck's reference point must be
    /// (front for plate_front and container cameras, rear for plate_rear).
    /// Absent: the position's default.
    pub view: Option<Span>,
    pub width: u32,
    pub height: u32,
    /// Frames per real second on /mjpeg; also the snapshot cache period.
    pub fps: f64,
    pub jpeg_quality: u8,
    /// Gaussian blur sigma, pixels.
    pub blur: f32,
    /// Noise amplitude, grey levels.
    pub noise: u8,
    /// Lighting: brightness multiplier.
    pub brightness: f32,
    /// Viewing angle, degrees (shear/keystone of plates and codes).
    pub angle_deg: f32,
    /// Probability that a truck's text is misread (decided once per truck).
    pub misread_rate: f64,
    /// Probability that a truck in view is not recognised at all (null).
    pub miss_rate: f64,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            port: None,
            view: None,
            width: 1280,
            height: 720,
            fps: 4.0,
            jpeg_quality: 80,
            blur: 0.7,
            noise: 6,
            brightness: 1.0,
            angle_deg: 8.0,
            misread_rate: 0.0,
            miss_rate: 0.0,
        }
    }
}

/// Recognition decided for one truck.
#[derive(Clone, Debug)]
enum Decision {
    Nothing,
    Plate(ocr::PlateRead),
    Codes(Vec<ocr::CodeRead>),
}

/// Bound on cached decisions.
const MAX_DECISIONS: usize = 512;

struct Shared {
    position: CameraPosition,
    cfg: CameraConfig,
    view: Span,
    clock: SimClock,
    seed: u64,
    scene: Mutex<Option<SceneTruck>>,
    dark: AtomicBool,
    mode: watch::Sender<FaultMode>,
    frame: tokio::sync::Mutex<Option<(Instant, Bytes)>>,
    decisions: Mutex<HashMap<u64, Decision>>,
    font: Option<ab_glyph::FontRef<'static>>,
    /// Noise variants of the rendered scene for the subject in view (key: truck key, or None).
    base: Mutex<Option<BaseFrames>>,
}

/// Rendered noise variants of the scene, keyed by the truck in view (None: empty lane).
type BaseFrames = (Option<u64>, Arc<Vec<image::RgbImage>>);

/// Noise variants rendered per subject (frames cycle through them).
const NOISE_VARIANTS: u64 = 4;

/// A running camera. Cheap to clone.
#[derive(Clone)]
pub struct Camera {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field("position", &self.shared.position)
            .field("addr", &self.addr)
            .finish()
    }
}

impl Camera {
    /// Binds the camera's HTTP port on `ip` and starts serving. Returns the camera and its server task.
    pub async fn start(
        position: CameraPosition,
        cfg: CameraConfig,
        ip: std::net::IpAddr,
        clock: SimClock,
        seed: u64,
    ) -> std::io::Result<(Self, tokio::task::JoinHandle<()>)> {
        let listener = TcpListener::bind(SocketAddr::new(ip, cfg.port.unwrap_or(0))).await?;
        let addr = listener.local_addr()?;
        let (mode, _) = watch::channel(FaultMode::Normal);
        let shared = Arc::new(Shared {
            position,
            view: cfg.view.unwrap_or_else(|| position.default_view()),
            cfg,
            clock,
            seed,
            scene: Mutex::new(None),
            dark: AtomicBool::new(false),
            mode,
            frame: tokio::sync::Mutex::new(None),
            decisions: Mutex::new(HashMap::new()),
            font: render::font(),
            base: Mutex::new(None),
        });
        let task = tokio::spawn(serve(shared.clone(), listener, addr));
        Ok((Self { shared, addr }, task))
    }

    pub fn position(&self) -> CameraPosition {
        self.shared.position
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ip:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Tells the camera where the trucks are; it picks the one in its view.
    pub fn update_scene(&self, trucks: &[SceneTruck]) {
        let s = &self.shared;
        let in_view = trucks
            .iter()
            .filter(|t| {
                let x = if s.position == CameraPosition::PlateRear {
                    t.rear_x
                } else {
                    t.front_x
                };
                s.view.contains(x) && has_subject(s.position, &t.ident)
            })
            .max_by(|a, b| a.front_x.total_cmp(&b.front_x))
            .cloned();
        if let Ok(mut g) = s.scene.lock() {
            *g = in_view;
        }
    }

    pub fn set_dark(&self, dark: bool) {
        self.shared.dark.store(dark, Ordering::SeqCst);
    }

    pub fn set_fault(&self, mode: FaultMode) {
        self.shared.mode.send_replace(mode);
    }

    pub fn fault(&self) -> FaultMode {
        *self.shared.mode.borrow()
    }

    /// The recognition result as served on /recognition (`Value::Null` when nothing).
    pub fn recognition(&self) -> serde_json::Value {
        recognition_json(&self.shared)
    }
}

fn has_subject(position: CameraPosition, ident: &VisualIdentity) -> bool {
    match position {
        CameraPosition::PlateFront => ident.front_plate.is_some(),
        CameraPosition::PlateRear => ident.rear_plate.is_some(),
        CameraPosition::ContainerFront => ident
            .containers
            .iter()
            .any(|c| c.slot == ContainerPosition::Front),
        CameraPosition::ContainerBack => ident
            .containers
            .iter()
            .any(|c| c.slot == ContainerPosition::Back),
    }
}

fn frame_no(s: &Shared) -> u64 {
    (s.clock.now_ms() as f64 * s.cfg.fps.max(0.1) / 1000.0) as u64
}

fn subject(s: &Shared) -> Option<SceneTruck> {
    s.scene.lock().ok().and_then(|g| g.clone())
}

fn decide(s: &Shared, t: &SceneTruck) -> Decision {
    let key = t.ident.key;
    let Ok(mut map) = s.decisions.lock() else {
        return Decision::Nothing;
    };
    if let Some(d) = map.get(&key) {
        return d.clone();
    }
    if map.len() >= MAX_DECISIONS {
        map.clear();
    }
    let seed = s.seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (s.position as u64) << 56;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let missed = rand::Rng::gen::<f64>(&mut rng) < s.cfg.miss_rate.clamp(0.0, 1.0);
    let mut r = ocr::Recogniser::new(rand::Rng::gen(&mut rng), s.cfg.misread_rate);
    let d = if missed {
        Decision::Nothing
    } else {
        match s.position {
            CameraPosition::PlateFront | CameraPosition::PlateRear => {
                let p = if s.position == CameraPosition::PlateFront {
                    &t.ident.front_plate
                } else {
                    &t.ident.rear_plate
                };
                p.as_ref().map_or(Decision::Nothing, |p| {
                    Decision::Plate(r.read_plate(&p.text, p.colour.as_str()))
                })
            }
            CameraPosition::ContainerFront | CameraPosition::ContainerBack => {
                let slot = if s.position == CameraPosition::ContainerFront {
                    ContainerPosition::Front
                } else {
                    ContainerPosition::Back
                };
                let codes: Vec<_> = t
                    .ident
                    .containers
                    .iter()
                    .filter(|c| c.slot == slot)
                    .map(|c| r.read_code(&c.code, c.vertical))
                    .collect();
                if codes.is_empty() {
                    Decision::Nothing
                } else {
                    Decision::Codes(codes)
                }
            }
        }
    };
    map.insert(key, d.clone());
    d
}

fn recognition_json(s: &Shared) -> serde_json::Value {
    if s.dark.load(Ordering::SeqCst) {
        return serde_json::Value::Null;
    }
    let Some(t) = subject(s) else {
        return serde_json::Value::Null;
    };
    let frame = frame_no(s);
    match decide(s, &t) {
        Decision::Nothing => serde_json::Value::Null,
        Decision::Plate(p) => serde_json::json!({
            "plate": p.plate, "colour": p.colour, "confidence": p.confidence, "frame": frame,
        }),
        Decision::Codes(c) => serde_json::json!({ "codes": c, "frame": frame }),
    }
}

/// The current frame as JPEG (cached for one frame period).
async fn current_jpeg(s: &Arc<Shared>) -> Result<Bytes, String> {
    let period = Duration::from_secs_f64(1.0 / s.cfg.fps.clamp(0.1, 60.0));
    let mut cache = s.frame.lock().await;
    if let Some((at, jpg)) = cache.as_ref() {
        if at.elapsed() < period {
            return Ok(jpg.clone());
        }
    }
    let s2 = s.clone();
    let jpg = tokio::task::spawn_blocking(move || render_now(&s2))
        .await
        .map_err(|e| format!("render task: {e}"))??;
    let jpg = Bytes::from(jpg);
    *cache = Some((Instant::now(), jpg.clone()));
    Ok(jpg)
}

fn render_now(s: &Shared) -> Result<Vec<u8>, String> {
    let c = &s.cfg;
    if s.dark.load(Ordering::SeqCst) {
        let img = render::black(c.width, c.height);
        return render::encode_jpeg(&img, c.jpeg_quality).map_err(|e| format!("jpeg: {e}"));
    }
    let t = subject(s);
    let key = t.as_ref().map(|t| t.ident.key);
    let cached = s.base.lock().ok().and_then(|g| {
        g.as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    });
    let variants = match cached {
        Some(v) => v,
        None => {
            let v = Arc::new(render_variants(s, t.as_ref()));
            if let Ok(mut g) = s.base.lock() {
                *g = Some((key, v.clone()));
            }
            v
        }
    };
    let frame = frame_no(s);
    let Some(base) = variants.get((frame % NOISE_VARIANTS) as usize) else {
        return Err("no frame rendered".into());
    };
    let mut img = base.clone();
    if let Some(f) = s.font.as_ref() {
        let ts = crate::lane::format_wall(s.clock.wall_now());
        render::stamp_osd(
            &mut img,
            f,
            &format!("{} {} #{}", s.position.name().to_uppercase(), ts, frame),
        );
    }
    render::encode_jpeg(&img, c.jpeg_quality).map_err(|e| format!("jpeg: {e}"))
}

/// The scene for the subject in view, with [`NOISE_VARIANTS`] noise patterns.
fn render_variants(s: &Shared, t: Option<&SceneTruck>) -> Vec<image::RgbImage> {
    let c = &s.cfg;
    let fx = render::Effects {
        blur: c.blur,
        noise: c.noise,
        brightness: c.brightness,
        angle_deg: c.angle_deg,
        seed: s.seed,
    };
    let content = match t {
        None => render::Content::Empty,
        Some(t) => {
            let body_seed = t.ident.key.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 7;
            match s.position {
                CameraPosition::PlateFront => render::Content::TruckFront {
                    plate: t.ident.front_plate.as_ref(),
                    body_seed,
                },
                CameraPosition::PlateRear => render::Content::TruckRear {
                    plate: t.ident.rear_plate.as_ref(),
                    body_seed,
                },
                CameraPosition::ContainerFront | CameraPosition::ContainerBack => {
                    let slot = if s.position == CameraPosition::ContainerFront {
                        ContainerPosition::Front
                    } else {
                        ContainerPosition::Back
                    };
                    match t.ident.containers.iter().find(|m| m.slot == slot) {
                        Some(mark) => render::Content::Container { mark, body_seed },
                        None => render::Content::Empty,
                    }
                }
            }
        }
    };
    let base = render::render_base(c.width, c.height, &content, &fx, s.font.as_ref());
    (0..NOISE_VARIANTS)
        .map(|i| {
            let mut img = base.clone();
            render::add_noise(
                &mut img,
                c.noise,
                s.seed ^ (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            img
        })
        .collect()
}

/// Waits while the camera is Silent; returns false if it went Offline meanwhile.
async fn pass_silence(s: &Shared) -> bool {
    let mut rx = s.mode.subscribe();
    loop {
        match *rx.borrow_and_update() {
            FaultMode::Normal => return true,
            FaultMode::Offline => return false,
            FaultMode::Silent => {}
        }
        if rx.changed().await.is_err() {
            return false;
        }
    }
}

async fn snapshot(State(s): State<Arc<Shared>>) -> Response {
    if !pass_silence(&s).await {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    match current_jpeg(&s).await {
        Ok(jpg) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            jpg,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(camera = s.position.name(), error = %e, "snapshot failed");
            (StatusCode::INTERNAL_SERVER_ERROR, e).into_response()
        }
    }
}

async fn recognition(State(s): State<Arc<Shared>>) -> Response {
    if !pass_silence(&s).await {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let body = recognition_json(&s).to_string();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn mjpeg(State(s): State<Arc<Shared>>) -> Response {
    if !pass_silence(&s).await {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let period = Duration::from_secs_f64(1.0 / s.cfg.fps.clamp(0.1, 60.0));
    let stream = futures_util::stream::unfold((s, true), move |(s, first)| async move {
        if !first {
            tokio::time::sleep(period).await;
        }
        // End the stream when the camera goes offline; stall while silent.
        if !pass_silence(&s).await {
            return None;
        }
        let jpg = current_jpeg(&s).await.ok()?;
        let mut part = Vec::with_capacity(jpg.len() + 100);
        part.extend_from_slice(
            format!(
                "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                jpg.len()
            )
            .as_bytes(),
        );
        part.extend_from_slice(&jpg);
        part.extend_from_slice(b"\r\n");
        Some((Ok::<_, Infallible>(Bytes::from(part)), (s, false)))
    });
    (
        [
            (
                header::CONTENT_TYPE,
                "multipart/x-mixed-replace; boundary=frame",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn router(s: Arc<Shared>) -> Router {
    Router::new()
        .route("/snapshot.jpg", get(snapshot))
        .route("/mjpeg", get(mjpeg))
        .route("/recognition", get(recognition))
        .with_state(s)
}

/// Serves until aborted; closes the listener while Offline and rebinds the same address after.
async fn serve(s: Arc<Shared>, first: TcpListener, addr: SocketAddr) {
    let mut listener = Some(first);
    let mut rx = s.mode.subscribe();
    loop {
        if *rx.borrow_and_update() == FaultMode::Offline {
            drop(listener.take());
            if rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        let l = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(camera = s.position.name(), %addr, error = %e, "rebind failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let mut rx2 = s.mode.subscribe();
        let offline = async move {
            loop {
                if *rx2.borrow_and_update() == FaultMode::Offline {
                    return;
                }
                if rx2.changed().await.is_err() {
                    return;
                }
            }
        };
        if let Err(e) = axum::serve(l, router(s.clone()))
            .with_graceful_shutdown(offline)
            .await
        {
            tracing::warn!(camera = s.position.name(), error = %e, "camera server stopped");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
