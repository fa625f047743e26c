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

mod actions;
pub mod auth;
pub mod reasons;
mod session;
mod tls;
mod views;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::{Config, ConsoleRole};
use crate::runtime::{AgentHandle, LaneView, OfficerRequest, PassagePhotos};
use auth::{Auth, Session};
use tls::Peer;

use actions::{ack_alarm, action, restart};
use session::{login, logout, session_info};
use views::{alarms, passages, photo, recent_photo, state, stream};

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
        crate::config::password::check_hash(&a.password_hash)
            .map_err(|e| anyhow::Error::msg(e.to_string()))
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
            tokio::task::spawn_blocking(move || crate::config::password::hash_password(&random))
                .await
                .context("hashing")?
                .map_err(|e| anyhow::Error::msg(e.to_string()))?
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

/// Lock a mutex, recovering from poisoning (a panic in a handler must not
/// lock every officer out).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
