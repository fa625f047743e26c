//! The control socket: setup and connections.
//!
//! Layer: socket I/O for the control endpoint. Setup removes a stale socket
//! (nobody answers on it) but never a live one or a file that is not a
//! socket, and publishes the socket with its final mode only (bound under a
//! temporary name, chmod, then renamed into place), so there is no moment
//! when it is reachable with the umask's permissions. Connections: at most
//! [`MAX_CLIENTS`] at a time, each on its own task, one request line at a
//! time, with deadlines on reading (idle), handling and writing. When all
//! slots are taken, the client idle the longest (at least [`MIN_IDLE`]) is
//! closed to make room, so idle connections cannot lock gatectl out; a
//! `busy` answer only comes when every client is busy. What a request
//! does is `handlers`' business.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout, Instant};
use tracing::{debug, info, warn};

use super::handlers;
use super::protocol::line::{Feed, LineReader};
use super::protocol::{parse_request, ErrorCode, Response, MAX_REQUEST_BYTES};
use super::Parts;

/// Clients served at the same time; more get a `busy` answer.
pub const MAX_CLIENTS: usize = 16;
/// A connection with no request for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// An answer the client does not take within this time closes the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client idle at least this long may be closed to make room for a new one.
const MIN_IDLE: Duration = Duration::from_millis(500);
/// How long a new client waits for the room an idle one leaves.
const ROOM_WAIT: Duration = Duration::from_secs(1);

/// The connections waiting for a request line, and how to make one leave.
#[derive(Default)]
struct IdleClients(Mutex<BTreeMap<u64, (Instant, Arc<Notify>)>>);

impl IdleClients {
    fn enter(&self, id: u64, leave: &Arc<Notify>) {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        m.insert(id, (Instant::now(), Arc::clone(leave)));
    }

    fn exit(&self, id: u64) {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        m.remove(&id);
    }

    /// Ask the client idle the longest (at least [`MIN_IDLE`]) to leave;
    /// false when there is none.
    fn evict_oldest(&self) -> bool {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = m
            .iter()
            .filter(|(_, (since, _))| since.elapsed() >= MIN_IDLE)
            .min_by_key(|(_, (since, _))| *since)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| m.remove(&id)) {
            Some((_, leave)) => {
                leave.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The socket file; removed on drop if it is still the one we created.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A bound control socket (the file disappears when this is dropped).
#[derive(Debug)]
pub struct BoundSocket {
    listener: UnixListener,
    _file: SocketFile,
}

impl BoundSocket {
    pub fn path(&self) -> &Path {
        &self._file.path
    }
}

/// Bind the control socket at `path` with file `mode` (see the module doc).
/// Must be called inside a tokio runtime.
pub fn bind_socket(path: &Path, mode: u32) -> anyhow::Result<BoundSocket> {
    if mode & !0o777 != 0 {
        bail!("control.mode {mode:o} has bits outside 0o777");
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| {
            format!("creating the control socket's directory {}", dir.display())
        })?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => bail!(
                "{}: another process answers on this control socket (is an agent already running?)",
                path.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                info!(socket = %path.display(), "removing a stale control socket");
                std::fs::remove_file(path)
                    .with_context(|| format!("removing the stale socket {}", path.display()))?;
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "{}: cannot tell whether the socket is stale",
                        path.display()
                    )
                })
            }
        },
        Ok(_) => bail!(
            "{} exists and is not a socket: not removing it",
            path.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "control.sock".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let std_listener = std::os::unix::net::UnixListener::bind(&tmp)
        .with_context(|| format!("binding the control socket {}", tmp.display()))?;
    let publish = || -> io::Result<u64> {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, path)?;
        Ok(std::fs::symlink_metadata(path)?.ino())
    };
    let ino = match publish() {
        Ok(ino) => ino,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e)
                .with_context(|| format!("publishing the control socket {}", path.display()));
        }
    };
    let file = SocketFile {
        path: path.to_owned(),
        ino,
    };
    std_listener
        .set_nonblocking(true)
        .context("control socket: non-blocking mode")?;
    let listener =
        UnixListener::from_std(std_listener).context("control socket: tokio listener")?;
    Ok(BoundSocket {
        listener,
        _file: file,
    })
}

/// Accept clients until the agent's lane task stops.
pub(crate) async fn run(socket: BoundSocket, parts: Parts) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let idle = Arc::new(IdleClients::default());
    let mut next_id = 0u64;
    let mut lane_alive = parts.view.clone();
    loop {
        let accepted = tokio::select! {
            r = socket.listener.accept() => r,
            r = lane_alive.changed() => {
                if r.is_err() {
                    info!("lane task stopped: closing the control socket");
                    break;
                }
                continue;
            }
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                warn!(error = %e, "control socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let uid = stream.peer_cred().map(|c| c.uid()).ok();
        let client = Client {
            parts: parts.clone(),
            uid,
            id: next_id,
            idle: Arc::clone(&idle),
        };
        next_id += 1;
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(client.serve(permit, stream));
            }
            Err(_) => {
                // Full: the client idle the longest makes room.
                let room = idle.evict_oldest();
                let slots = Arc::clone(&slots);
                tokio::spawn(async move {
                    let permit = if room {
                        timeout(ROOM_WAIT, slots.acquire_owned())
                            .await
                            .ok()
                            .and_then(Result::ok)
                    } else {
                        None
                    };
                    if let Some(permit) = permit {
                        return client.serve(permit, stream).await;
                    }
                    let r = Response::err(
                        None,
                        ErrorCode::Busy,
                        format!("{MAX_CLIENTS} clients already connected; try again"),
                    );
                    let mut stream = stream;
                    let _ = timeout(Duration::from_secs(1), stream.write_all(&r.emit())).await;
                });
            }
        }
    }
    drop(socket);
}

/// One line from `rd`, at most `max` bytes (newline included).
enum Line {
    Text(Vec<u8>),
    TooLong,
    Eof,
}

async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(rd: &mut R, max: usize) -> io::Result<Line> {
    let mut framer = LineReader::new(max);
    loop {
        let buf = rd.fill_buf().await?;
        if buf.is_empty() {
            return Ok(framer.finish().map_or(Line::Eof, Line::Text));
        }
        let (n, fed) = framer.feed(buf);
        rd.consume(n);
        match fed {
            Feed::More => {}
            Feed::Line(l) => return Ok(Line::Text(l)),
            Feed::TooLong => return Ok(Line::TooLong),
        }
    }
}

/// One accepted client.
struct Client {
    parts: Parts,
    uid: Option<u32>,
    id: u64,
    idle: Arc<IdleClients>,
}

impl Client {
    async fn serve(self, permit: OwnedSemaphorePermit, stream: UnixStream) {
        let _permit = permit;
        let uid = self.uid;
        debug!(?uid, "control client connected");
        connection(stream, self).await;
        debug!(?uid, "control client gone");
    }
}

async fn connection(stream: UnixStream, client: Client) {
    let Client {
        parts,
        uid,
        id,
        idle,
    } = client;
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(8 * 1024, rd);
    let leave = Arc::new(Notify::new());
    loop {
        idle.enter(id, &leave);
        let read = tokio::select! {
            // A request that has arrived wins over a call to make room.
            biased;
            r = timeout(IDLE_TIMEOUT, read_line(&mut rd, MAX_REQUEST_BYTES)) => Some(r),
            () = leave.notified() => None,
        };
        idle.exit(id);
        let Some(read) = read else {
            debug!(
                ?uid,
                "idle control client closed to make room for a new one"
            );
            break;
        };
        let line = match read {
            Err(_) => break,
            Ok(Err(e)) => {
                debug!(error = %e, "control client read failed");
                break;
            }
            Ok(Ok(Line::Eof)) => break,
            Ok(Ok(Line::TooLong)) => {
                let r = Response::err(
                    None,
                    ErrorCode::TooLarge,
                    format!("request longer than {MAX_REQUEST_BYTES} bytes; closing"),
                );
                let _ = timeout(WRITE_TIMEOUT, wr.write_all(&r.emit())).await;
                break;
            }
            Ok(Ok(Line::Text(l))) => l,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let response = match parse_request(&line) {
            Ok(env) => {
                let cmd = env.request.cmd();
                let mut limit = handlers::deadline(&env.request);
                if matches!(
                    env.request,
                    super::protocol::Request::Barrier(_)
                        | super::protocol::Request::Officer(_)
                        | super::protocol::Request::Restart(_)
                        | super::protocol::Request::Reload(_)
                ) {
                    info!(?uid, cmd, "gatectl officer request");
                }
                // The client's deadline: past it the client has given up,
                // and what it asked must never happen later.
                let left_ms = env
                    .deadline_ms
                    .map(|d| d.saturating_sub(gate_proto::time::now_unix_ms()));
                if let Some(left) = left_ms.filter(|l| *l <= 0) {
                    let late = left.unsigned_abs();
                    warn!(
                        ?uid,
                        cmd,
                        late_ms = late,
                        "request past its deadline: not carried out"
                    );
                    handlers::audit_expired(&parts, &env.request, late).await;
                    let r = Response::err(
                        env.id,
                        ErrorCode::Expired,
                        format!("`{cmd}` arrived {late} ms after its deadline: not carried out"),
                    );
                    match timeout(WRITE_TIMEOUT, wr.write_all(&r.emit())).await {
                        Ok(Ok(())) => continue,
                        _ => break,
                    }
                }
                if let Some(left) = left_ms {
                    limit = limit.min(Duration::from_millis(left.unsigned_abs()));
                }
                let until = (Instant::now() + limit).into_std();
                match timeout(limit, handlers::handle(&parts, env.request, until)).await {
                    Ok(Ok(data)) => Response {
                        v: super::protocol::VERSION,
                        id: env.id,
                        ok: true,
                        data: Some(data),
                        error: None,
                        code: None,
                    },
                    Ok(Err(e)) => Response::err(env.id, e.code, e.message),
                    Err(_) => Response::err(
                        env.id,
                        ErrorCode::Unavailable,
                        format!("`{cmd}` got no answer within {} s", limit.as_secs()),
                    ),
                }
            }
            Err(e) => e.response(),
        };
        match timeout(WRITE_TIMEOUT, wr.write_all(&response.emit())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(error = %e, "control client write failed");
                break;
            }
            Err(_) => {
                warn!(?uid, "control client does not read its answers: dropped");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_bounded() {
        let data = b"abc\n{\"v\":1}\nxxxxxxxxxx";
        let mut rd = BufReader::with_capacity(4, &data[..]);
        assert!(matches!(read_line(&mut rd, 64).await, Ok(Line::Text(l)) if l == b"abc\n"));
        assert!(matches!(read_line(&mut rd, 64).await, Ok(Line::Text(l)) if l == b"{\"v\":1}\n"));
        assert!(matches!(read_line(&mut rd, 5).await, Ok(Line::TooLong)));
        let mut rd = BufReader::new(&b"tail"[..]);
        assert!(matches!(read_line(&mut rd, 64).await, Ok(Line::Text(l)) if l == b"tail"));
        assert!(matches!(read_line(&mut rd, 64).await, Ok(Line::Eof)));
    }

    #[tokio::test]
    async fn stale_socket_is_replaced_live_one_and_files_are_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sub/ctl.sock");
        let a = bind_socket(&path, 0o600).expect("first bind");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A live socket is not stolen.
        let e = bind_socket(&path, 0o600).expect_err("live");
        assert!(e.to_string().contains("another process"), "{e:#}");
        // A stale one (nobody accepts) is replaced.
        let stale =
            std::os::unix::net::UnixListener::bind(dir.path().join("stale.sock")).expect("bind");
        drop(stale);
        let stale_path = dir.path().join("stale.sock");
        assert!(stale_path.exists());
        let b = bind_socket(&stale_path, 0o660).expect("stale replaced");
        assert_eq!(
            std::fs::metadata(&stale_path)
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o660
        );
        // A regular file is never removed.
        let file = dir.path().join("file");
        std::fs::write(&file, b"keep").expect("write");
        assert!(bind_socket(&file, 0o600).is_err());
        assert_eq!(std::fs::read(&file).expect("read"), b"keep");
        // Dropping removes the socket file.
        drop(a);
        assert!(!path.exists());
        drop(b);
        assert!(!stale_path.exists());
        assert!(bind_socket(&path, 0o1777).is_err(), "sticky bit refused");
    }
}
