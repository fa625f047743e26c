//! Playing the scenario's timeline: trucks, faults, whitelist deltas, platform
//! commands and officer actions (console, control socket).

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::platform::CommandRequest;
use crate::scenario::{CommandVia, FaultKind, Scenario, Timed};

use super::{camera_pos, device_id, Agent, LaneRun};

/// How long a run waits for an external agent to come up.
pub const EXTERNAL_AGENT_WAIT: Duration = Duration::from_secs(600);

/// An officer action on an external agent through its control socket (the
/// console offers raise and lower, as `gatectl barrier`).
async fn external_officer(
    socket: &Path,
    c: &crate::scenario::CommandEntry,
    officer: String,
) -> Result<(bool, String)> {
    use crate::scenario::Action;
    use gate_control::protocol::{
        BarrierAction, BarrierArgs, EntryArgs, OfficerActionKind, OfficerArgs, Request,
    };
    let reason = c.note.clone().unwrap_or_else(|| "scenario".into());
    let officer_req = |action| {
        Request::Officer(OfficerArgs {
            action,
            officer: officer.clone(),
            reason: reason.clone(),
            entry: c.entry.as_ref().map(|e| EntryArgs {
                plate: e.plate.clone(),
                trailer_plate: e.trailer_plate.clone(),
                containers: e.containers.clone(),
                etag: e.etag.clone(),
                pass_no: e.pass_no.clone(),
            }),
        })
    };
    let req = match c.kind {
        Action::Raise | Action::Lower => Request::Barrier(BarrierArgs {
            action: if c.kind == Action::Raise {
                BarrierAction::Raise
            } else {
                BarrierAction::Lower
            },
            officer: officer.clone(),
            reason: reason.clone(),
        }),
        Action::Release => officer_req(OfficerActionKind::Release),
        Action::Hold => officer_req(OfficerActionKind::Hold),
        Action::Inspect => officer_req(OfficerActionKind::Inspect),
        Action::Regather => officer_req(OfficerActionKind::Regather),
        Action::Entry => officer_req(OfficerActionKind::Entry),
        other => return Err(anyhow!("{other:?} is a platform command")),
    };
    let socket = socket.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut c = gate_control::Client::connect(&socket)
            .map_err(|e| anyhow!("{}: {e:?}", socket.display()))?;
        let r = c
            .call(&req, Duration::from_secs(10))
            .map_err(|e| anyhow!("{}: {e:?}", socket.display()))?;
        Ok((r.ok, r.error.unwrap_or_default()))
    })
    .await?
}

/// Bound on fetching + loading the models before a run starts.
pub(super) const RECOGNISER_LOAD_TIMEOUT: Duration = Duration::from_secs(900);

pub(super) async fn play(
    run: &mut LaneRun,
    s: &Scenario,
    what: Timed,
    start_unix: i64,
) -> Result<()> {
    match what {
        Timed::Truck(i) => {
            let id = run
                .sim
                .add_truck(s.trucks[i].to_spec())
                .map_err(|e| anyhow!("{e}"))?;
            run.trucks.push((id, i));
        }
        // Site-wide: the first lane of the run publishes it.
        Timed::Delta(_) | Timed::Stray(_) if !run.primary => {}
        Timed::Stray(i) => {
            run.platform
                .publish_stray(s.stray[i].kind, &run.lane_id, s.scenario.seed ^ i as u64)
                .await
                .map_err(|e| anyhow!("{e}"))?;
        }
        Timed::Delta(i) => {
            run.platform
                .publish_delta(s.whitelist.deltas[i].to_delta(start_unix))
                .await
                .map_err(|e| anyhow!("{e}"))?;
        }
        Timed::FaultStart(i) | Timed::FaultEnd(i) => {
            let f = &s.faults[i];
            let on = matches!(what, Timed::FaultStart(_));
            match f.kind {
                FaultKind::BrokerDown => run.relay.set_down(on),
                FaultKind::BrokerRestart => {
                    run.relay.set_down(on);
                    if on {
                        // The restarted broker has forgotten the lane's session.
                        let id = gate_proto::topics::LaneTopics::new(&s.lane.site, &run.lane_id)
                            .client_id();
                        crate::isolation::clear_session(&run.broker, &id).await?;
                    }
                }
                FaultKind::CameraDark => {
                    let cam = f
                        .device
                        .and_then(|d| d.camera())
                        .context("camera_dark needs a camera device")?;
                    run.sim
                        .camera_dark(camera_pos(cam), on)
                        .map_err(|e| anyhow!("{e}"))?;
                }
                FaultKind::DeviceOffline | FaultKind::DeviceTimeout => {
                    let dev = f.device.context("device fault without a device")?;
                    let mode = match (on, f.kind) {
                        (false, _) => lane_io_host::FaultMode::Normal,
                        (true, FaultKind::DeviceOffline) => lane_io_host::FaultMode::Offline,
                        _ => lane_io_host::FaultMode::Silent,
                    };
                    run.sim
                        .set_fault(&device_id(dev), mode)
                        .map_err(|e| anyhow!("{e}"))?;
                }
            }
        }
        Timed::Command(i) => {
            let c = &s.commands[i];
            match c.via {
                CommandVia::Platform => {
                    let kind = c
                        .kind
                        .platform()
                        .ok_or_else(|| anyhow!("{:?} is not a platform command", c.kind))?;
                    let mut req = CommandRequest::new(&run.lane_id, kind);
                    if let Some(o) = &c.officer {
                        req = req.officer(o);
                    }
                    if let Some(n) = &c.note {
                        req = req.note(n);
                    }
                    if let Some(d) = c.device {
                        req = req.device(d.as_str());
                    }
                    let sent = run
                        .platform
                        .send_command(req)
                        .await
                        .map_err(|e| anyhow!("{e}"))?;
                    run.commands_sent.push((sent.id, i));
                }
                CommandVia::Officer | CommandVia::Console => {
                    use gate_core::lane::OfficerAction;
                    let kind = officer_kind(c)?;
                    let officer = c.officer.clone().unwrap_or_else(|| "OFFICER".into());
                    let (ok, detail) = match (&run.agent, c.via) {
                        (_, CommandVia::Console) => {
                            let (Some(console), Some(password)) =
                                (&run.console, &run.console_password)
                            else {
                                return Err(anyhow!(
                                    "a console step needs the in-process agent's console"
                                ));
                            };
                            console_action(console.addr, &officer, password, c).await?
                        }
                        (Agent::InProcess(agent), _) => {
                            use gate_agent::runtime::{submit_officer_action, OfficerRefusal};
                            let action = OfficerAction {
                                officer,
                                note: c.note.clone(),
                                kind,
                            };
                            let until = std::time::Instant::now() + Duration::from_secs(10);
                            match submit_officer_action(&agent.officer, action, until).await {
                                Ok(detail) => (true, detail),
                                Err(OfficerRefusal::Refused(m) | OfficerRefusal::Expired(m)) => {
                                    (false, m)
                                }
                                Err(OfficerRefusal::Unavailable(m)) => return Err(anyhow!(m)),
                            }
                        }
                        (Agent::External { socket }, _) => {
                            external_officer(socket, c, officer).await?
                        }
                    };
                    if ok != c.expect_ok {
                        return Err(anyhow!(
                            "{:?} {:?}: ok={ok} ({detail}), expected ok={}",
                            c.via,
                            c.kind,
                            c.expect_ok
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The lane's officer action for a scenario command.
fn officer_kind(c: &crate::scenario::CommandEntry) -> Result<gate_core::lane::OfficerKind> {
    use crate::scenario::Action;
    use gate_core::lane::OfficerKind;
    Ok(match c.kind {
        Action::Raise => OfficerKind::Raise,
        Action::Lower => OfficerKind::Lower,
        Action::Release => OfficerKind::Release,
        Action::Hold => OfficerKind::Hold,
        Action::Inspect => OfficerKind::Inspect,
        Action::Regather => OfficerKind::Regather,
        Action::Entry => OfficerKind::Manual(c.entry.clone().unwrap_or_default()),
        other @ (Action::Resync | Action::RestartDevice) => {
            return Err(anyhow!("{other:?} is not an officer action"))
        }
    })
}

/// An officer action through the lane's web console, as the page sends it:
/// log in (the runner's account for `officer`), then `POST /api/action`
/// with the session cookie and CSRF token. Ok(false, why) is the lane's (or
/// the console's) refusal.
async fn console_action(
    addr: std::net::SocketAddr,
    officer: &str,
    password: &str,
    c: &crate::scenario::CommandEntry,
) -> Result<(bool, String)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .context("console client")?;
    let base = format!("http://{addr}");
    let login = http
        .post(format!("{base}/api/login"))
        .header("content-type", "application/json")
        .body(serde_json::json!({"officer": officer, "password": password}).to_string())
        .send()
        .await
        .context("console login")?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let session: serde_json::Value =
        serde_json::from_slice(&login.bytes().await?).context("console login answer")?;
    let (Some(cookie), Some(csrf)) = (cookie, session["csrf"].as_str()) else {
        return Err(anyhow!("console login refused: {session}"));
    };
    let mut body = serde_json::json!({
        "kind": c.kind.as_str(),
        "reason": c.note.clone().unwrap_or_default(),
    });
    if let Some(e) = &c.entry {
        body["plate"] = serde_json::json!(e.plate);
        body["trailer_plate"] = serde_json::json!(e.trailer_plate);
        body["containers"] = serde_json::json!(e.containers);
        body["etag"] = serde_json::json!(e.etag);
        body["pass_no"] = serde_json::json!(e.pass_no);
    }
    let r = http
        .post(format!("{base}/api/action"))
        .header("content-type", "application/json")
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .body(body.to_string())
        .send()
        .await
        .context("console action")?;
    let status = r.status().as_u16();
    let answer: serde_json::Value =
        serde_json::from_slice(&r.bytes().await?).unwrap_or(serde_json::Value::Null);
    match status {
        200 => Ok((
            true,
            answer["detail"].as_str().unwrap_or_default().to_owned(),
        )),
        400 | 409 => Ok((
            false,
            answer["error"].as_str().unwrap_or_default().to_owned(),
        )),
        other => Err(anyhow!(
            "console action {:?}: HTTP {other}: {answer}",
            c.kind
        )),
    }
}
