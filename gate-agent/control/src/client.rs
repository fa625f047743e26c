//! The client's side of the control socket: connect, send one request line,
//! read one bounded answer line with a deadline.
//!
//! Layer: client transport. Blocking std I/O (a client does one thing at a
//! time); no knowledge of what the answers mean beyond the envelope.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::line::{Feed, LineReader};
use crate::protocol::{Request, Response, MAX_RESPONSE_BYTES};

/// Why talking to the agent failed.
#[derive(Debug)]
pub enum ClientError {
    /// Nobody listens on the socket (agent not running), or we may not use it.
    Unreachable(String),
    /// The connection broke or the answer was malformed or late.
    Failed(String),
}

/// A connection to the agent's control socket.
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let s = UnixStream::connect(path).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no socket there (agent not running?)".to_owned(),
                std::io::ErrorKind::ConnectionRefused => {
                    "connection refused (agent not running; stale socket?)".to_owned()
                }
                std::io::ErrorKind::PermissionDenied => {
                    "permission denied (the socket's mode/group decides who may use it)".to_owned()
                }
                _ => e.to_string(),
            };
            ClientError::Unreachable(format!("agent not reachable at {}: {why}", path.display()))
        })?;
        let writer = s
            .try_clone()
            .map_err(|e| ClientError::Failed(format!("socket: {e}")))?;
        Ok(Self {
            path: path.to_owned(),
            reader: BufReader::new(s),
            writer,
            next_id: 1,
        })
    }

    /// Send `req` and wait at most `limit` for its answer.
    pub fn call(&mut self, req: &Request, limit: Duration) -> Result<Response, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let failed = |what: &str, e: std::io::Error| {
            ClientError::Failed(format!("{what} {}: {e}", self.path.display()))
        };
        self.writer
            .set_write_timeout(Some(limit))
            .and_then(|()| self.reader.get_ref().set_read_timeout(Some(limit)))
            .map_err(|e| failed("socket", e))?;
        // Past `limit` this client reports failure: the agent must then
        // never carry the request out (docs/control-protocol.md, Deadlines).
        let deadline = gate_proto::time::now_unix_ms()
            .saturating_add(i64::try_from(limit.as_millis()).unwrap_or(i64::MAX));
        self.writer
            .write_all(&req.emit_until(Some(id), Some(deadline)))
            .map_err(|e| failed("sending to", e))?;
        let mut framer = LineReader::new(MAX_RESPONSE_BYTES);
        let line = loop {
            let buf = self.reader.fill_buf().map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    ClientError::Failed(format!(
                        "the agent did not answer `{}` within {} s",
                        req.cmd(),
                        limit.as_secs()
                    ))
                }
                _ => failed("reading from", e),
            })?;
            if buf.is_empty() {
                return Err(ClientError::Failed(match framer.finish() {
                    None => "the agent closed the connection without answering".to_owned(),
                    Some(_) => "truncated answer".to_owned(),
                }));
            }
            let (n, fed) = framer.feed(buf);
            self.reader.consume(n);
            match fed {
                Feed::More => {}
                Feed::Line(l) => break l,
                Feed::TooLong => {
                    return Err(ClientError::Failed(format!(
                        "answer longer than {MAX_RESPONSE_BYTES} bytes"
                    )))
                }
            }
        };
        let r = Response::parse(&line).map_err(|e| ClientError::Failed(e.to_string()))?;
        if r.id.is_some() && r.id != Some(id) {
            return Err(ClientError::Failed(format!(
                "answer for request {:?}, expected {id}",
                r.id
            )));
        }
        Ok(r)
    }
}
