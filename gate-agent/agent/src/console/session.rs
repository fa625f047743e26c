//! Logging in and out: the session's body for the page, the login with its
//! limits, failures and alarm, logout and the session's information.

use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gate_proto::messages::Severity;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};

use super::auth::Session;
use super::tls::Peer;
use crate::config::ConsoleRole;

use super::{auth, error, hardened, lock, App, COOKIE};

#[derive(Deserialize)]
pub(super) struct LoginBody {
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

pub(super) async fn login(
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
    let ok = tokio::task::spawn_blocking(move || {
        crate::config::password::verify_password(&hash, &password)
    })
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
                    link.alarm("console_login_failures", Severity::Warning, text)
                        .await;
                });
            }
            error(
                StatusCode::UNAUTHORIZED,
                "unknown officer or wrong password",
            )
        }
    }
}

pub(super) async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
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

pub(super) async fn session_info(State(app): State<App>, headers: HeaderMap) -> Response {
    match app.session(&headers) {
        Some((_, s)) => hardened(Json(session_body(&app, &s)).into_response()),
        None => error(StatusCode::UNAUTHORIZED, "no session"),
    }
}
