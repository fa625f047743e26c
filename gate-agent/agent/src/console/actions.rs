//! The officer's actions: acknowledging an alarm, raise/lower/hold/data entry
//! on the lane (with a deadline), device restarts.

use anyhow::Result;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gate_core::identified::ManualData;
use gate_core::lane::{OfficerAction, OfficerKind};
use serde::Deserialize;
use serde_json::json;

use crate::config::ConsoleRole;
use crate::control::protocol::EntryArgs;
use crate::runtime::OfficerRefusal;

use super::{error, hardened, App, ACTION_WAIT};

/// The reason an officer gives (audited): trimmed, 1..=256 characters;
/// None otherwise (answered with [`NO_REASON`]).
fn reason_of(raw: &str) -> Option<String> {
    let reason = raw.trim();
    (!reason.is_empty() && reason.chars().count() <= 256).then(|| reason.to_owned())
}

const NO_REASON: &str = "a reason (1..=256 characters) is required";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AckBody {
    id: i64,
    /// Why (audited), 1..=256 characters.
    reason: String,
}

/// Acknowledge an alarm: officers and engineers, with a reason; audited.
pub(super) async fn ack_alarm(
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
pub(super) struct ActionBody {
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

pub(super) async fn action(
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
pub(super) struct RestartBody {
    device: String,
    reason: String,
}

pub(super) async fn restart(
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
