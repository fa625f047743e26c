//! `gatectl`: the field engineer's CLI (docs/gatectl.md). The `gatectl`
//! binary (gate-agent's `src/bin/gatectl.rs`, packaged beside the agent)
//! only calls [`main`].
//!
//! Layer: a client of the agent's control socket (`gate_control`'s
//! [`Client`]) plus commissioning tools that work without the agent, over
//! the crates that own what they touch: Modbus and cameras through
//! `gate-drivers`, weighbridge frames through `gate-wire`, recognition
//! through `gate-ocr`, the lane configuration through `gate-config`. When
//! the agent is down, the read-only commands (status, lookup, events,
//! outbox) read the lane database directly (`gate_control::db`, the same
//! answers the agent gives) and say so. It never depends on the agent's
//! crate. Nothing here decides anything about the lane: barrier commands
//! are requests the lane may refuse.
//!
//! - [`cli`]: arguments; [`out`]: tables, colour, JSON;
//! - `render`: human output of each answer;
//! - `modbus`, `serial`, `camera`, `recognize`: commissioning;
//! - `officer`: console accounts; `man`: the manual pages.

mod camera;
pub mod cli;
mod man;
mod modbus;
mod officer;
pub mod out;
mod recognize;
mod render;
mod serial;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use clap::{CommandFactory, Parser};
use serde::de::DeserializeOwned;

use cli::{BarrierArg, Cli, Cmd};
use gate_config::Config;
use gate_control::db as data;
use gate_control::protocol::{
    AlarmsArgs, AlarmsData, BarrierAction, BarrierArgs, BarrierData, CaptureArgs, CaptureData,
    DevicesData, EntryArgs, ErrorCode, EventsArgs, EventsData, IoData, LookupArgs as PLookup,
    LookupBy, LookupData, OfficerActionKind, OfficerArgs, OfficerData, ReloadArgs, ReloadData,
    Request, RestartArgs, RestartData, SelftestData, Source, StatusData, SyncArgs, SyncData,
    WeighData,
};
use gate_control::{Client, ClientError};
use out::Out;

/// Exit codes (docs/gatectl.md).
pub mod exit {
    pub const OK: u8 = 0;
    /// A command failed or the lane refused it.
    pub const FAILED: u8 = 1;
    /// Bad arguments or configuration (clap uses 2 too).
    pub const USAGE: u8 = 2;
    /// The agent's socket does not answer (and no database fallback applies).
    pub const UNREACHABLE: u8 = 3;
    /// `selftest` ran and at least one check failed.
    pub const SELFTEST: u8 = 4;
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    Failed(String),
    /// The agent answered with an error (refused, not found...).
    Agent(ErrorCode, String),
    Usage(String),
    Unreachable(String),
    /// A device (Modbus) failed: `exception`, `timeout` or `transport`.
    Device(&'static str, String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) | Self::Agent(..) | Self::Device(..) => exit::FAILED,
            Self::Usage(_) => exit::USAGE,
            Self::Unreachable(_) => exit::UNREACHABLE,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Failed(_) => "failed",
            Self::Agent(c, _) => match c {
                ErrorCode::Refused => "refused",
                ErrorCode::NotFound => "not_found",
                ErrorCode::Unavailable => "unavailable",
                ErrorCode::Busy => "busy",
                ErrorCode::Expired => "expired",
                ErrorCode::BadRequest => "bad_request",
                _ => "failed",
            },
            Self::Usage(_) => "usage",
            Self::Unreachable(_) => "unreachable",
            Self::Device(k, _) => k,
        }
    }
    fn message(&self) -> String {
        match self {
            Self::Agent(ErrorCode::Refused, m) if !m.starts_with("refused") => {
                format!("refused: {m}")
            }
            Self::Failed(m)
            | Self::Agent(_, m)
            | Self::Usage(m)
            | Self::Unreachable(m)
            | Self::Device(_, m) => m.clone(),
        }
    }
}

/// Run gatectl with the process's arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.json);
    match run(cli, out) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if out.json {
                let v = serde_json::json!({"ok": false, "error": f.message(), "code": f.code()});
                out.line(&v.to_string());
            } else {
                eprintln!("gatectl: {}", f.message());
            }
            ExitCode::from(f.exit_code())
        }
    }
}

/// Where things are, from the global options.
pub(crate) struct Ctx {
    pub out: Out,
    pub socket: PathBuf,
    pub db: Option<PathBuf>,
    pub config: Option<Config>,
}

fn context(cli: &Cli, out: Out) -> Result<Ctx, Failure> {
    let config = match &cli.config {
        Some(p) => Some(Config::load(p).map_err(|errs| {
            Failure::Usage(
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?),
        None => None,
    };
    let socket = cli
        .socket
        .clone()
        .or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.control.as_ref().map(|c| c.socket.clone()))
        })
        .unwrap_or_else(|| PathBuf::from(cli::DEFAULT_SOCKET));
    let db = cli
        .db
        .clone()
        .or_else(|| config.as_ref().map(|c| c.store.path.clone()));
    Ok(Ctx {
        out,
        socket,
        db,
        config,
    })
}

fn run(cli: Cli, out: Out) -> Result<u8, Failure> {
    // Commands that need no agent and no configuration first.
    if let Cmd::Completions { shell } = &cli.cmd {
        let mut cmd = Cli::command();
        clap_complete::generate(*shell, &mut cmd, "gatectl", &mut std::io::stdout());
        return Ok(exit::OK);
    }
    if let Cmd::Officer(cli::OfficerCmd::Add { id, role, name }) = &cli.cmd {
        return officer::add(&out, id, *role, name);
    }
    if let Cmd::Man { dir } = &cli.cmd {
        return man::write_all(dir)
            .map(|n| {
                println!("{n} manual pages written to {}", dir.display());
                exit::OK
            })
            .map_err(|e| Failure::Failed(format!("{e:#}")));
    }
    let ctx = context(&cli, out)?;
    match cli.cmd {
        Cmd::Completions { .. } | Cmd::Man { .. } | Cmd::Officer(_) => Ok(exit::OK),
        Cmd::Status => status(&ctx),
        Cmd::Devices => {
            let d: DevicesData = agent_data(&ctx, &Request::Devices, secs(10))?;
            show(&ctx, &d, None, render::devices);
            Ok(exit::OK)
        }
        Cmd::Io {
            watch,
            interval_ms,
            count,
        } => io(&ctx, watch, interval_ms, count),
        Cmd::Barrier { action, who } => {
            let req = Request::Barrier(BarrierArgs {
                action: match action {
                    BarrierArg::Raise => BarrierAction::Raise,
                    BarrierArg::Lower => BarrierAction::Lower,
                },
                officer: who.officer,
                reason: who.reason,
            });
            let d: BarrierData = agent_data(&ctx, &req, secs(who.wait))?;
            show(&ctx, &d, None, render::barrier);
            Ok(exit::OK)
        }
        Cmd::Decide { result, who } => {
            let action = match result {
                cli::DecideArg::Release => OfficerActionKind::Release,
                cli::DecideArg::Hold => OfficerActionKind::Hold,
                cli::DecideArg::Inspect => OfficerActionKind::Inspect,
            };
            officer_action(&ctx, action, who, None)
        }
        Cmd::Reload { officer, reason } => {
            let req = Request::Reload(ReloadArgs { officer, reason });
            let d: ReloadData = agent_data(&ctx, &req, secs(20))?;
            show(&ctx, &d, None, render::reload);
            Ok(exit::OK)
        }
        Cmd::Regather { who } => officer_action(&ctx, OfficerActionKind::Regather, who, None),
        Cmd::Entry {
            who,
            plate,
            trailer_plate,
            containers,
            etag,
            pass_no,
        } => {
            let entry = EntryArgs {
                plate,
                trailer_plate,
                containers,
                etag,
                pass_no,
            };
            officer_action(&ctx, OfficerActionKind::Entry, who, Some(entry))
        }
        Cmd::Restart {
            device,
            officer,
            reason,
        } => {
            let req = Request::Restart(RestartArgs {
                device,
                officer,
                reason,
            });
            let d: RestartData = agent_data(&ctx, &req, secs(20))?;
            show(&ctx, &d, None, render::restart);
            Ok(exit::OK)
        }
        Cmd::Weigh => {
            let d: WeighData = agent_data(&ctx, &Request::Weigh, secs(10))?;
            show(&ctx, &d, None, render::weigh);
            Ok(exit::OK)
        }
        Cmd::Capture { camera, output } => capture(&ctx, camera, &output),
        Cmd::Lookup(a) => lookup(&ctx, a),
        Cmd::Events {
            n,
            follow,
            interval_ms,
            count,
        } => events(&ctx, n, follow, interval_ms, count),
        Cmd::Outbox => {
            let (d, note) = with_fallback(&ctx, &Request::Outbox, |s| {
                s.outbox_stats()
                    .map(|st| data::outbox(&st, Source::Database))
                    .map_err(|e| e.to_string())
            })?;
            show(&ctx, &d, note.as_deref(), render::outbox);
            Ok(exit::OK)
        }
        Cmd::Sync { resync } => {
            let d: SyncData = agent_data(&ctx, &Request::Sync(SyncArgs { resync }), secs(10))?;
            show(&ctx, &d, None, render::sync);
            Ok(exit::OK)
        }
        Cmd::Alarms { n } => {
            let req = Request::Alarms(AlarmsArgs {
                limit: Some(n.clamp(1, 1000)),
            });
            let d: AlarmsData = agent_data(&ctx, &req, secs(15))?;
            show(&ctx, &d, None, render::alarms);
            Ok(exit::OK)
        }
        Cmd::Selftest => {
            let d: SelftestData = agent_data(&ctx, &Request::Selftest, secs(35))?;
            show(&ctx, &d, None, render::selftest);
            Ok(if d.passed { exit::OK } else { exit::SELFTEST })
        }
        Cmd::Modbus(m) => modbus::run(&ctx, m),
        Cmd::Serial(s) => serial::run(&ctx, s),
        Cmd::Camera(c) => camera::run(&ctx, c),
        Cmd::Recognize {
            kind,
            files,
            models,
        } => recognize::run(&ctx, kind, &files, models.as_deref()),
    }
}

/// An officer action on the vehicle in the lane, through the agent.
fn officer_action(
    ctx: &Ctx,
    action: OfficerActionKind,
    who: cli::Who,
    entry: Option<EntryArgs>,
) -> Result<u8, Failure> {
    let args = OfficerArgs {
        action,
        officer: who.officer,
        reason: who.reason,
        entry,
    };
    let d: OfficerData = agent_data(ctx, &Request::Officer(args), secs(who.wait))?;
    show(ctx, &d, None, render::officer);
    Ok(exit::OK)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Print `d` as JSON or through its human renderer.
fn show<T: serde::Serialize>(ctx: &Ctx, d: &T, note: Option<&str>, human: fn(&Out, &T)) {
    if ctx.out.json {
        ctx.out.json(d, note);
    } else {
        if let Some(n) = note {
            ctx.out.notice(n);
        }
        human(&ctx.out, d);
    }
}

fn client_failure(e: ClientError) -> Failure {
    match e {
        ClientError::Unreachable(m) => Failure::Unreachable(m),
        ClientError::Failed(m) => Failure::Failed(m),
    }
}

/// The typed data of an answer, or the failure it carries.
fn typed<T: DeserializeOwned>(r: gate_control::protocol::Response) -> Result<T, Failure> {
    if r.ok {
        r.data().map_err(|e| Failure::Failed(e.to_string()))
    } else {
        Err(Failure::Agent(
            r.code.unwrap_or(ErrorCode::Internal),
            r.error.unwrap_or_else(|| "error".into()),
        ))
    }
}

/// Ask the agent; an unreachable agent is exit 3.
fn agent_data<T: DeserializeOwned>(
    ctx: &Ctx,
    req: &Request,
    limit: Duration,
) -> Result<T, Failure> {
    let mut c = Client::connect(&ctx.socket).map_err(client_failure)?;
    typed(c.call(req, limit).map_err(client_failure)?)
}

/// Ask the agent; when it is unreachable, read the database instead and
/// return the note that says so.
fn with_fallback<T: DeserializeOwned>(
    ctx: &Ctx,
    req: &Request,
    offline: impl FnOnce(&gate_store::Store) -> Result<T, String>,
) -> Result<(T, Option<String>), Failure> {
    let unreachable = match Client::connect(&ctx.socket) {
        Ok(mut c) => {
            return typed(c.call(req, secs(10)).map_err(client_failure)?).map(|t| (t, None))
        }
        Err(ClientError::Unreachable(m)) => m,
        Err(e) => return Err(client_failure(e)),
    };
    let Some(db) = &ctx.db else {
        return Err(Failure::Unreachable(format!(
            "{unreachable}; give --db PATH or --config FILE to read the lane database instead"
        )));
    };
    let quota = ctx
        .config
        .as_ref()
        .map(|c| c.store.outbox_quota_mb * 1024 * 1024);
    let store = data::open_for_reading(db, quota)
        .map_err(|e| Failure::Unreachable(format!("{unreachable}; and the database: {e}")))?;
    let t = offline(&store).map_err(Failure::Failed)?;
    Ok((
        t,
        Some(format!(
            "agent not running: read from the database {}",
            db.display()
        )),
    ))
}

fn status(ctx: &Ctx) -> Result<u8, Failure> {
    let lane = ctx.config.as_ref().map(|c| c.lane.lane.clone());
    let site = ctx.config.as_ref().map(|c| c.lane.site.clone());
    let (d, note) = with_fallback(ctx, &Request::Status, |s| {
        let mut st: StatusData = data::status_from_db(s, lane.as_deref());
        st.site = site;
        Ok(st)
    })?;
    show(ctx, &d, note.as_deref(), render::status);
    Ok(exit::OK)
}

fn lookup(ctx: &Ctx, a: cli::LookupArgs) -> Result<u8, Failure> {
    let (by, key) = match (a.plate, a.etag, a.pass_no, a.container) {
        (Some(k), _, _, _) => (LookupBy::Plate, k),
        (_, Some(k), _, _) => (LookupBy::Etag, k),
        (_, _, Some(k), _) => (LookupBy::PassNo, k),
        (_, _, _, Some(k)) => (LookupBy::Container, k),
        _ => {
            return Err(Failure::Usage(
                "give one of --plate, --etag, --pass-no, --container".into(),
            ))
        }
    };
    let req = Request::Lookup(PLookup {
        by,
        key: key.clone(),
    });
    let (d, note): (LookupData, _) = with_fallback(ctx, &req, |s| {
        data::lookup(s, by, &key, Source::Database).map_err(|e| e.to_string())
    })?;
    show(ctx, &d, note.as_deref(), render::lookup);
    Ok(exit::OK)
}

fn events(
    ctx: &Ctx,
    n: usize,
    follow: bool,
    interval_ms: u64,
    count: Option<u64>,
) -> Result<u8, Failure> {
    let n = n.clamp(1, gate_control::protocol::MAX_EVENTS);
    let args = EventsArgs {
        limit: Some(n),
        after_seq: None,
    };
    let (d, note): (EventsData, _) = with_fallback(ctx, &Request::Events(args.clone()), |s| {
        data::events(s, &args, Source::Database).map_err(|e| e.to_string())
    })?;
    if !follow {
        show(ctx, &d, note.as_deref(), render::events);
        return Ok(exit::OK);
    }
    // Follow: oldest first, then each new event as it finishes.
    if let Some(n) = &note {
        if !ctx.out.json {
            ctx.out.notice(n);
        }
    }
    let mut last = d.events.iter().map(|e| e.seq).max().unwrap_or(0);
    let mut printer = render::EventPrinter::new(ctx.out);
    for e in d.events.iter().rev() {
        printer.print(e, note.as_deref());
    }
    let mut seen = 0u64;
    let period = Duration::from_millis(interval_ms.clamp(50, 60_000));
    loop {
        if count.is_some_and(|c| seen >= c) {
            return Ok(exit::OK);
        }
        std::thread::sleep(period);
        let args = EventsArgs {
            limit: Some(100),
            after_seq: Some(last),
        };
        let (d, note): (EventsData, _) = with_fallback(ctx, &Request::Events(args.clone()), |s| {
            data::events(s, &args, Source::Database).map_err(|e| e.to_string())
        })?;
        for e in d.events.iter().rev() {
            last = last.max(e.seq);
            printer.print(e, note.as_deref());
            seen += 1;
            if count.is_some_and(|c| seen >= c) {
                break;
            }
        }
    }
}

fn io(ctx: &Ctx, watch: bool, interval_ms: u64, count: Option<u64>) -> Result<u8, Failure> {
    if !watch {
        let d: IoData = agent_data(ctx, &Request::Io, secs(10))?;
        show(ctx, &d, None, render::io);
        return Ok(exit::OK);
    }
    let mut c = Client::connect(&ctx.socket).map_err(client_failure)?;
    let period = Duration::from_millis(interval_ms.clamp(50, 60_000));
    let mut prev: Option<render::IoKey> = None;
    let mut changes = 0u64;
    loop {
        let d: IoData = typed(c.call(&Request::Io, secs(10)).map_err(client_failure)?)?;
        let key = render::IoKey::of(&d);
        if prev.as_ref() != Some(&key) {
            if ctx.out.json {
                ctx.out.json(&d, None);
            } else {
                render::io_line(&ctx.out, &d);
            }
            prev = Some(key);
            changes += 1;
            if count.is_some_and(|n| changes >= n) {
                return Ok(exit::OK);
            }
        }
        std::thread::sleep(period);
    }
}

fn capture(ctx: &Ctx, camera: String, output: &Path) -> Result<u8, Failure> {
    let d: CaptureData = agent_data(ctx, &Request::Capture(CaptureArgs { camera }), secs(20))?;
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(d.jpeg_base64.as_bytes())
        .map_err(|e| Failure::Failed(format!("the agent sent bad base64: {e}")))?;
    if jpeg.len() != d.bytes {
        return Err(Failure::Failed(format!(
            "the agent announced {} bytes and sent {}",
            d.bytes,
            jpeg.len()
        )));
    }
    write_file(output, &jpeg)?;
    let shown = camera::Written::new(&d.camera, output, &jpeg, Some(d.at.clone()));
    show(ctx, &shown, None, render::written);
    Ok(exit::OK)
}

/// Write a file (atomically: a temporary name, then rename).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Failure::Failed(format!("writing {}: {e}", path.display()))
        })
}
