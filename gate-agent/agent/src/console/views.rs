//! What the page shows: the lane's state as a snapshot and as server-sent
//! events, photos, the recent passages and the alarms.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{cookie_token, error, hardened, lock, reasons, App};

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

pub(super) async fn state(State(app): State<App>, headers: HeaderMap) -> Response {
    if app.session(&headers).is_none() {
        return error(StatusCode::UNAUTHORIZED, "no session: log in");
    }
    hardened(Json(snapshot(&app)).into_response())
}

/// Server-sent events: the whole snapshot at once and again on every change
/// of the lane's view or photos (a truck on the arrival loop shows within
/// the lane task's next turn); a comment every 15 s keeps proxies open.
pub(super) async fn stream(State(app): State<App>, headers: HeaderMap) -> Response {
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

pub(super) async fn photo(
    State(app): State<App>,
    headers: HeaderMap,
    Path(camera): Path<String>,
) -> Response {
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
pub(super) async fn recent_photo(
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
pub(super) async fn passages(State(app): State<App>, headers: HeaderMap) -> Response {
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
pub(super) async fn alarms(State(app): State<App>, headers: HeaderMap) -> Response {
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
