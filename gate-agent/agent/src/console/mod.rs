//! The officer's booth console (`[console]`; docs/console.md): a web page
//! served by the agent, live over server-sent events, with the passage in
//! front of the officer (state, photos, every read with its confidence, the
//! weight against the declared one, the pass found, the decision and every
//! reason in Chinese and English) and the officer's actions.
//!
//! Rules kept here (server side, never only in the page):
//! - no state and no action without a session; officers log in with their
//!   id and password (argon2 hashes in the configuration); sessions expire;
//! - every state-changing request carries the session's CSRF token
//!   (`X-CSRF-Token`), and the session cookie is `SameSite=Strict`;
//! - roles: `officer` acts; `engineer` reads and restarts devices;
//!   `viewer` reads;
//! - failed logins are limited per address and per officer id, audited, and
//!   five in a row from one address raise a `console_login_failures` alarm;
//! - officer actions go to the lane like gatectl's (the lane's safety rules
//!   and state decide; a refusal is the lane's reason) with a deadline: an
//!   action the page stopped waiting for is never carried out later;
//! - every action, every refusal and every failed login is in the audit log.
//!
//! Plain HTTP only on loopback (the configuration refuses otherwise); HTTPS
//! with the configured certificate (`tls.rs`). The page is static HTML and
//! JavaScript compiled into the binary: no build step, nothing fetched.
//!
//! Layer: agent edge, beside the control socket.

pub mod auth;
pub mod reasons;
mod tls;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gate_core::identified::ManualData;
use gate_core::lane::{OfficerAction, OfficerKind};
use gate_proto::messages::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{Config, ConsoleRole};
use crate::control::protocol::EntryArgs;
use crate::runtime::{AgentHandle, LaneView, OfficerRefusal, OfficerRequest, PassagePhotos};
use auth::{Auth, Session};
use tls::Peer;

const COOKIE: &str = "gate_console";
const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("app.js");
/// How long the page waits for the lane's answer to an action (the lane
/// must take it up a second before: `submit_officer_action`).
const ACTION_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct App {
    view: watch::Receiver<LaneView>,
    photos: watch::Receiver<PassagePhotos>,
    officer: mpsc::Sender<OfficerRequest>,
    store: gate_store::Store,
    link: gate_link::LinkHandle,
    registry: crate::drivers::HealthRegistry,
    restarts: crate::runtime::devices::RestartTargets,
    recent_photos: crate::runtime::RecentPhotos,
    auth: Arc<Mutex<Auth>>,
    secure: bool,
    reasons: Arc<BTreeMap<String, reasons::ReasonText>>,
    site: String,
    lane: String,
    /// An argon2 hash of a random password, checked for unknown officer
    /// ids so that the answer time does not say which ids exist.
    dummy_hash: Arc<str>,
}

/// The running console; stops when dropped.
pub struct ConsoleServer {
    pub addr: SocketAddr,
    pub https: bool,
    task: JoinHandle<()>,
}

impl Drop for ConsoleServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve the console configured in `cfg` (None when `[console]` is absent).
pub async fn serve(agent: &AgentHandle, cfg: &Config) -> Result<Option<ConsoleServer>> {
    let Some(c) = &cfg.console else {
        return Ok(None);
    };
    for a in &c.accounts {
        auth::check_hash(&a.password_hash)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("console account `{}`", a.id))?;
    }
    let tls = match &c.tls {
        Some(t) => Some(tls::server_config(&t.cert, &t.key)?),
        None => None,
    };
    let app = App {
        view: agent.view.clone(),
        photos: agent.photos.clone(),
        officer: agent.officer.clone(),
        store: agent.store.clone(),
        link: agent.link.clone(),
        registry: agent.registry.clone(),
        restarts: agent.restarts.clone(),
        recent_photos: agent.recent_photos.clone(),
        auth: Arc::new(Mutex::new(Auth::new(c))),
        secure: tls.is_some(),
        reasons: Arc::new(reasons::table()),
        site: cfg.lane.site.clone(),
        lane: cfg.lane.lane.clone(),
        dummy_hash: {
            let random = format!("{:x}", rand::random::<u128>());
            tokio::task::spawn_blocking(move || auth::hash_password(&random))
                .await
                .context("hashing")?
                .map_err(anyhow::Error::msg)?
                .into()
        },
    };
    let router = Router::new()
        .route("/", get(page))
        .route("/app.js", get(script))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/session", get(session_info))
        .route("/api/state", get(state))
        .route("/api/stream", get(stream))
        .route("/api/photo/{camera}", get(photo))
        .route("/api/action", post(action))
        .route("/api/restart", post(restart))
        .route("/api/alarms", get(alarms))
        .route("/api/alarms/ack", post(ack_alarm))
        .route("/api/passages", get(passages))
        .route("/api/passage/{event_id}/photo/{camera}", get(recent_photo))
        .with_state(app);
    let tcp = tokio::net::TcpListener::bind(c.listen)
        .await
        .with_context(|| format!("console: cannot listen on {}", c.listen))?;
    let addr = tcp.local_addr().context("console: local address")?;
    let https = tls.is_some();
    let service = router.into_make_service_with_connect_info::<Peer>();
    let task = match tls {
        Some(t) => {
            let l = tls::TlsListener {
                tcp,
                acceptor: tokio_rustls::TlsAcceptor::from(t),
            };
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, service).await {
                    warn!(%e, "console stopped");
                }
            })
        }
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(tls::PlainListener(tcp), service).await {
                warn!(%e, "console stopped");
            }
        }),
    };
    info!(%addr, https, "officer console");
    Ok(Some(ConsoleServer { addr, https, task }))
}

/// Headers every answer carries: nothing cached, nothing framed, scripts
/// only from this server.
fn hardened(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    r
}

fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    hardened((code, Json(json!({ "ok": false, "error": msg.into() }))).into_response())
}

async fn page() -> Response {
    hardened(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response())
}

async fn script() -> Response {
    hardened(
        (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
            SCRIPT,
        )
            .into_response(),
    )
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_owned())
        })
}

impl App {
    /// The session of the request, if it has a live one.
    fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let t = cookie_token(headers)?;
        let s = lock(&self.auth).session(&t, Instant::now())?;
        Some((t, s))
    }

    /// The session, and the CSRF token checked, for a state-changing request.
    fn acting(&self, headers: &HeaderMap) -> Result<(String, Session), (StatusCode, String)> {
        let (t, s) = self
            .session(headers)
            .ok_or((StatusCode::UNAUTHORIZED, "no session: log in".to_owned()))?;
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if sent != Some(s.csrf.as_str()) {
            return Err((
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token".to_owned(),
            ));
        }
        Ok((t, s))
    }

    /// A state-changing request (session and CSRF token checked) that a
    /// viewer may not make (officers and engineers may): refused and
    /// audited for a viewer.
    async fn acting_beyond_viewer(
        &self,
        headers: &HeaderMap,
        what: String,
    ) -> Result<Session, Response> {
        let (_, s) = self.acting(headers).map_err(|(code, m)| error(code, m))?;
        if s.role == ConsoleRole::Viewer {
            self.audit(
                &s.officer,
                "ConsoleActionRefused",
                format!("{what}: viewer"),
            )
            .await;
            return Err(error(
                StatusCode::FORBIDDEN,
                format!("role viewer may not {what}"),
            ));
        }
        Ok(s)
    }

    async fn audit(&self, officer: &str, action: &str, detail: String) {
        let (store, officer, action) = (self.store.clone(), officer.to_owned(), action.to_owned());
        let event_id = self.view.borrow().event_id.clone();
        let r = tokio::task::spawn_blocking(move || {
            store.audit(&officer, &action, &detail, event_id.as_deref())
        })
        .await;
        if !matches!(r, Ok(Ok(_))) {
            warn!("console audit write failed: {r:?}");
        }
    }
}

#[derive(Deserialize)]
struct LoginBody {
    officer: String,
    password: String,
}

#[derive(Serialize)]
struct SessionBody<'a> {
    ok: bool,
    officer: &'a str,
    name: &'a str,
    role: ConsoleRole,
    csrf: &'a str,
    site: &'a str,
    lane: &'a str,
}

fn session_body(app: &App, s: &Session) -> Value {
    serde_json::to_value(SessionBody {
        ok: true,
        officer: &s.officer,
        name: &s.name,
        role: s.role,
        csrf: &s.csrf,
        site: &app.site,
        lane: &app.lane,
    })
    .unwrap_or(Value::Null)
}

async fn login(
    State(app): State<App>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    Json(body): Json<LoginBody>,
) -> Response {
    let officer: String = body.officer.chars().take(64).collect();
    let now = Instant::now();
    let limited = lock(&app.auth).limited(peer.ip(), &officer, now);
    if let Some(wait) = limited {
        app.audit(
            &officer,
            "ConsoleLoginRefused",
            format!(
                "from {}: too many failures, {} s to wait",
                peer.ip(),
                wait.as_secs()
            ),
        )
        .await;
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many failed logins: try again in {} s",
                wait.as_secs().max(1)
            ),
        );
    }
    let account = lock(&app.auth).account(&officer).cloned();
    let password = body.password;
    // A hash check even for an unknown id: the answer time does not say
    // which ids exist.
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| app.dummy_hash.to_string());
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    match account.filter(|_| ok) {
        Some(acc) => {
            let (token, s) = lock(&app.auth).open(&acc, now);
            app.audit(&acc.id, "ConsoleLogin", format!("from {}", peer.ip()))
                .await;
            info!(officer = %acc.id, ip = %peer.ip(), "console login");
            let secure = if app.secure { "; Secure" } else { "" };
            let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}");
            let mut r = Json(session_body(&app, &s)).into_response();
            if let Ok(v) = header::HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            hardened(r)
        }
        None => {
            let n = lock(&app.auth).failed(peer.ip(), &officer, now);
            app.audit(
                &officer,
                "ConsoleLoginFailed",
                format!(
                    "from {} ({n} in {} s)",
                    peer.ip(),
                    auth::LIMIT_WINDOW.as_secs()
                ),
            )
            .await;
            warn!(%officer, ip = %peer.ip(), failures = n, "console login failed");
            if n == auth::MAX_FAILURES {
                let link = app.link.clone();
                let text = format!(
                    "{n} failed console logins from {} within {} s (last tried: `{officer}`)",
                    peer.ip(),
                    auth::LIMIT_WINDOW.as_secs()
                );
                tokio::spawn(async move {
                    if let Err(e) = link
                        .alarm("console_login_failures", Severity::Warning, text)
                        .await
                    {
                        warn!(%e, "alarm not queued");
                    }
                });
            }
            error(
                StatusCode::UNAUTHORIZED,
                "unknown officer or wrong password",
            )
        }
    }
}

/// Lock a mutex, recovering from poisoning (a panic in a handler must not
/// lock every officer out).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.acting(&headers) {
        Ok((t, s)) => {
            lock(&app.auth).close(&t);
            app.audit(&s.officer, "ConsoleLogout", String::new()).await;
            let mut r = Json(json!({"ok": true})).into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                header::HeaderValue::from_static("gate_console=; Max-Age=0; Path=/"),
            );
            hardened(r)
        }
        Err((code, m)) => error(code, m),
    }
}

async fn session_info(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.session(&headers) {
        Some((_, s)) => hardened(Json(session_body(&app, &s)).into_response()),
        None => error(StatusCode::UNAUTHORIZED, "no session"),
    }
}

/// Everything the page shows, in one document.
fn snapshot(app: &App) -> Value {
    let view = app.view.borrow().clone();
    let photos = app.photos.borrow().clone();
    let reasons: BTreeMap<String, &reasons::ReasonText> = view
        .passage
        .as_ref()
        .and_then(|p| p.decision.as_ref())
        .map(|d| {
            d.reasons
                .iter()
                .filter_map(|r| {
                    let code = r.as_str().to_owned();
                    app.reasons.get(&code).map(|t| (code, t))
                })
                .collect()
        })
        .unwrap_or_default();
    let now = Instant::now();
    let devices: Vec<Value> = app
        .registry
        .snapshot()
        .iter()
        .map(|(name, h)| {
            json!({
                "name": name,
                "up": h.answering(),
                "last_ok_s": h.last_success.map(|t| now.saturating_duration_since(t).as_secs_f64()),
                "errors": h.total_errors,
                "last_error": h.last_error,
            })
        })
        .collect();
    let outbox = app.store.outbox_pressure();
    json!({
        "site": app.site,
        "lane": app.lane,
        "view": view,
        "reasons": reasons,
        "photos": photos.photos.iter().map(|p| json!({"camera": p.camera, "bytes": p.jpeg.len()})).collect::<Vec<_>>(),
        "photos_seq": photos.seq,
        "devices": devices,
        "outbox_pressure": format!("{outbox:?}").to_lowercase(),
    })
}

async fn state(State(app): State<App>, headers: HeaderMap) -> Response {
    if app.session(&headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "no session: log in");
    }
    hardened(Json(snapshot(&app)).into_response())
}

/// Server-sent events: the whole snapshot at once and again on every change
/// of the lane's view or photos (a truck on the arrival loop shows within
/// the lane task's next turn); a comment every 15 s keeps proxies open.
async fn stream(State(app): State<App>, headers: HeaderMap) -> Response {
    if app.session(&headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "no session: log in");
    }
    let token = cookie_token(&headers).unwrap_or_default();
    let mut view = app.view.clone();
    let mut photos = app.photos.clone();
    view.mark_changed();
    let s = futures_util::stream::unfold(
        (app, view, photos.clone(), token, true),
        |(app, mut view, mut photos, token, first)| async move {
            if !first {
                tokio::select! {
                    r = view.changed() => r.ok()?,
                    r = photos.changed() => r.ok()?,
                }
            } else {
                let _ = view.borrow_and_update();
            }
            // A session that ended (logout, expiry) ends its stream.
            lock(&app.auth).session(&token, Instant::now())?;
            let ev = Event::default()
                .event("state")
                .data(snapshot(&app).to_string());
            Some((Ok::<_, Infallible>(ev), (app, view, photos, token, false)))
        },
    );
    photos.mark_unchanged();
    hardened(
        Sse::new(s)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response(),
    )
}

/// The reason an officer gives (audited): trimmed, 1..=256 characters;
/// None otherwise (answered with [`NO_REASON`]).
fn reason_of(raw: &str) -> Option<String> {
    let reason = raw.trim();
    (!reason.is_empty() && reason.chars().count() <= 256).then(|| reason.to_owned())
}

const NO_REASON: &str = "a reason (1..=256 characters) is required";

/// A read of the lane database on a blocking thread; unreadable: 503.
async fn read_store<T: Send + 'static>(
    app: &App,
    f: impl FnOnce(&gate_store::Store) -> gate_store::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(Ok(t)) => Ok(t),
        other => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the lane database cannot be read: {:?}",
                other.map(|r| r.map(|_| ()))
            ),
        )),
    }
}

fn jpeg(p: &crate::runtime::event::Photo) -> Response {
    hardened(
        (
            [(header::CONTENT_TYPE, "image/jpeg")],
            Body::from(p.jpeg.clone()),
        )
            .into_response(),
    )
}

async fn photo(State(app): State<App>, headers: HeaderMap, Path(camera): Path<String>) -> Response {
    if app.session(&headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "no session: log in");
    }
    let photos = app.photos.borrow().clone();
    match photos.photos.iter().rev().find(|p| p.camera == camera) {
        Some(p) => jpeg(p),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no photo from `{camera}` for this passage"),
        ),
    }
}

/// A photo of one of the last finished passages (kept in memory for the
/// last ten).
async fn recent_photo(
    State(app): State<App>,
    headers: HeaderMap,
    Path((event_id, camera)): Path<(String, String)>,
) -> Response {
    if app.session(&headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "no session: log in");
    }
    match app.recent_photos.get(&event_id, &camera) {
        Some(p) => jpeg(&p),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no photo from `{camera}` kept for event {event_id}"),
        ),
    }
}

/// The last finished passages, newest first, as the platform got them
/// (decision, reasons, outcome, officer), with the cameras whose photos
/// are still kept.
async fn passages(State(app): State<App>, headers: HeaderMap) -> Response {
    if app.session(&headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "no session: log in");
    }
    let rows = match read_store(&app, |s| s.recent_events(10)).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let e = &r.event;
            let cameras = app.recent_photos.cameras(&e.event_id);
            json!({
                "seq": e.seq,
                "event_id": e.event_id,
                "finished_at": e.finished_at,
                "plate": e.vehicle.as_ref().and_then(|v| v.plate.clone()),
                "gate_pass": e.gate_pass,
                "result": e.decision.result,
                "reasons": e.decision.reasons,
                "by": e.decision.by,
                "officer": e.decision.officer,
                "outcome": e.outcome,
                "cameras": cameras,
            })
        })
        .collect();
    hardened(Json(json!({"ok": true, "passages": list})).into_response())
}

/// The lane's alarm log: the newest 30, and how many are not acknowledged.
async fn alarms(State(app): State<App>, headers: HeaderMap) -> Response {
    if app.session(&headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "no session: log in");
    }
    match read_store(&app, |s| Ok((s.alarm_log(30, false)?, s.open_alarms()?))).await {
        Ok((list, open)) => {
            hardened(Json(json!({"ok": true, "open": open, "alarms": list})).into_response())
        }
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    id: i64,
    /// Why (audited), 1..=256 characters.
    reason: String,
}

/// Acknowledge an alarm: officers and engineers, with a reason; audited.
async fn ack_alarm(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<AckBody>,
) -> Response {
    let s = match app
        .acting_beyond_viewer(&headers, format!("acknowledge alarm {}", body.id))
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(reason) = reason_of(&body.reason) else {
        return error(StatusCode::BAD_REQUEST, NO_REASON);
    };
    let (store, officer, id, note) = (
        app.store.clone(),
        s.officer.clone(),
        body.id,
        reason.clone(),
    );
    match tokio::task::spawn_blocking(move || store.ack_alarm(id, &officer, &note)).await {
        Ok(Ok(true)) => {
            app.audit(
                &s.officer,
                "AlarmAck",
                format!("alarm {}: {reason}", body.id),
            )
            .await;
            hardened(
                Json(json!({"ok": true, "detail": format!("alarm {} acknowledged", body.id)}))
                    .into_response(),
            )
        }
        Ok(Ok(false)) => error(
            StatusCode::CONFLICT,
            format!("alarm {} is unknown or already acknowledged", body.id),
        ),
        other => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the acknowledgement could not be written: {other:?}"),
        ),
    }
}

/// An officer action as the page sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    /// raise, lower, release, hold, regather, entry.
    kind: String,
    /// Why (audited; the event's note), 1..=256 characters.
    reason: String,
    #[serde(default)]
    plate: Option<String>,
    #[serde(default)]
    trailer_plate: Option<String>,
    #[serde(default)]
    containers: Vec<String>,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    pass_no: Option<String>,
}

fn officer_kind(b: &ActionBody) -> Result<OfficerKind, String> {
    Ok(match b.kind.as_str() {
        "raise" => OfficerKind::Raise,
        "lower" => OfficerKind::Lower,
        "release" => OfficerKind::Release,
        "hold" => OfficerKind::Hold,
        "inspect" => OfficerKind::Inspect,
        "regather" => OfficerKind::Regather,
        "entry" => {
            let data = crate::runtime::manual_data(&EntryArgs {
                plate: b.plate.clone(),
                trailer_plate: b.trailer_plate.clone(),
                containers: b.containers.clone(),
                etag: b.etag.clone(),
                pass_no: b.pass_no.clone(),
            });
            if data == ManualData::default() {
                return Err("an entry needs at least one value".into());
            }
            let long = [&data.plate, &data.trailer_plate, &data.etag, &data.pass_no]
                .into_iter()
                .flatten()
                .chain(&data.containers)
                .any(|v| v.chars().count() > 32 || v.chars().any(char::is_control));
            if long || data.containers.len() > 4 {
                return Err(
                    "entry values are at most 32 printable characters, 4 containers".into(),
                );
            }
            OfficerKind::Manual(data)
        }
        other => {
            return Err(format!(
                "unknown action `{}`",
                other.chars().take(32).collect::<String>()
            ))
        }
    })
}

async fn action(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<ActionBody>,
) -> Response {
    let (_, s) = match app.acting(&headers) {
        Ok(x) => x,
        Err((code, m)) => {
            let who = app
                .session(&headers)
                .map(|(_, s)| s.officer)
                .unwrap_or_else(|| "-".into());
            app.audit(&who, "ConsoleActionRefused", format!("{}: {m}", body.kind))
                .await;
            return error(code, m);
        }
    };
    if s.role != ConsoleRole::Officer {
        let m = format!("role {:?} may not act on the lane", s.role).to_lowercase();
        app.audit(
            &s.officer,
            "ConsoleActionRefused",
            format!("{}: {m}", body.kind),
        )
        .await;
        return error(StatusCode::FORBIDDEN, m);
    }
    let Some(reason) = reason_of(&body.reason) else {
        return error(StatusCode::BAD_REQUEST, NO_REASON);
    };
    let kind = match officer_kind(&body) {
        Ok(k) => k,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let action = OfficerAction {
        officer: s.officer.clone(),
        note: Some(reason),
        kind,
    };
    let until = std::time::Instant::now() + ACTION_WAIT;
    match crate::runtime::submit_officer_action(&app.officer, action, until).await {
        Ok(detail) => hardened(Json(json!({"ok": true, "detail": detail})).into_response()),
        Err(OfficerRefusal::Expired(m)) => error(StatusCode::GATEWAY_TIMEOUT, m),
        Err(OfficerRefusal::Refused(m)) => error(StatusCode::CONFLICT, format!("refused: {m}")),
        Err(OfficerRefusal::Unavailable(m)) => error(StatusCode::SERVICE_UNAVAILABLE, m),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestartBody {
    device: String,
    reason: String,
}

async fn restart(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<RestartBody>,
) -> Response {
    let s = match app
        .acting_beyond_viewer(&headers, format!("restart {}", body.device))
        .await
    {
        Ok(s) => s,
        Err(r) => return r,
    };
    use crate::runtime::devices::{restart_audited, RestartRefusal};
    let event_id = app.view.borrow().event_id.clone();
    match restart_audited(
        &app.restarts,
        &app.store,
        &body.device,
        &s.officer,
        &body.reason,
        event_id,
    )
    .await
    {
        Ok((name, d)) => {
            hardened(Json(json!({"ok": true, "detail": format!("{name}: {d}")})).into_response())
        }
        Err(RestartRefusal::NotFound(e)) => error(StatusCode::NOT_FOUND, e),
        Err(RestartRefusal::NotAudited(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(RestartRefusal::Failed(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}
