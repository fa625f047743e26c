//! MQTT brokers for the simulator: an embedded broker for zero-setup runs, the
//! `mqtt://HOST:PORT` address of a real one, and a fault relay that can cut a
//! broker off to simulate "broker down".
//!
//! Layer: simulator infrastructure. It knows nothing about the platform
//! contract (topics, JSON, signatures), the lane or the devices: it moves MQTT
//! bytes.
//!
//! - [`EmbeddedBroker`]: rumqttd (MQTT 3.1.1) on 127.0.0.1, on its own
//!   threads. rumqttd cannot be stopped in-process, so the broker lives until
//!   the process exits; to simulate an outage put a [`BrokerRelay`] in front.
//! - [`BrokerAddr`]: `mqtt://HOST:PORT` (the `--broker` flag), for Mosquitto
//!   or any standard broker.
//! - [`BrokerRelay`]: a TCP relay in front of any broker. `set_down(true)`
//!   drops every relayed connection and refuses new ones until
//!   `set_down(false)`: what a lane sees when its broker goes away. Clients
//!   that should not see the outage (the simulated platform) connect to the
//!   broker directly.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Largest MQTT payload the embedded broker accepts (photos, snapshot chunks).
pub const MAX_PAYLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Simultaneous client connections the embedded broker accepts.
pub const MAX_CONNECTIONS: usize = 1024;
/// Simultaneous connections a [`BrokerRelay`] relays; more are refused.
pub const RELAY_MAX_CONNECTIONS: usize = 256;
/// How long [`EmbeddedBroker::start`] waits for the listener to come up.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot find a free port on 127.0.0.1: {0}")]
    NoPort(#[source] io::Error),
    #[error("cannot start the embedded broker thread: {0}")]
    Thread(#[source] io::Error),
    #[error("embedded broker did not start listening on {addr} within {secs} s (port in use?)")]
    NotListening { addr: SocketAddr, secs: u64 },
    #[error("embedded broker on {addr} stopped right after starting (port in use?)")]
    Died { addr: SocketAddr },
    #[error("cannot resolve broker address {addr}: {source}")]
    Resolve {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("relay cannot listen on 127.0.0.1: {0}")]
    RelayBind(#[source] io::Error),
}

// ---------------------------------------------------------------- addresses

/// A broker address, `mqtt://HOST:PORT` (plain TCP; port 1883 when omitted).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BrokerAddr {
    /// Host name or IP address (IPv6 without the brackets).
    pub host: String,
    pub port: u16,
}

impl BrokerAddr {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }

    /// Parse `mqtt://HOST[:PORT]` (also `tcp://`). TLS schemes are refused:
    /// the simulator speaks plain TCP on loopback (shared/spec/platform.md,
    /// "Transport").
    pub fn parse(url: &str) -> Result<Self, BrokerError> {
        let bad = |reason: &str| BrokerError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = if let Some(r) = url.strip_prefix("mqtt://") {
            r
        } else if let Some(r) = url.strip_prefix("tcp://") {
            r
        } else if url.starts_with("mqtts://") || url.starts_with("ssl://") {
            return Err(bad(
                "TLS is not supported by the simulator; use mqtt://HOST:PORT",
            ));
        } else {
            return Err(bad("expected mqtt://HOST:PORT"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('@') || rest.contains('?') {
            return Err(bad(
                "only HOST:PORT is allowed after the scheme (no path, user or query)",
            ));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed `[` in IPv6 address"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("expected `:PORT` after `]`"))?,
                ),
            };
            (h, port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        if host.contains(':') && !rest.starts_with('[') {
            return Err(bad("write IPv6 addresses in brackets: mqtt://[::1]:1883"));
        }
        let port = match port {
            None => 1883,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("port must be 1..=65535"))?,
        };
        Ok(Self::new(host, port))
    }

    /// Resolve to a socket address (the first one).
    pub fn resolve(&self) -> Result<SocketAddr, BrokerError> {
        let err = |source| BrokerError::Resolve {
            addr: self.to_string(),
            source,
        };
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(err)?
            .next()
            .ok_or_else(|| err(io::Error::new(io::ErrorKind::NotFound, "no address")))
    }
}

impl From<SocketAddr> for BrokerAddr {
    fn from(a: SocketAddr) -> Self {
        Self::new(a.ip().to_string(), a.port())
    }
}

impl FromStr for BrokerAddr {
    type Err = BrokerError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for BrokerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "mqtt://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "mqtt://{}:{}", self.host, self.port)
        }
    }
}

// ---------------------------------------------------------------- embedded

/// An MQTT 3.1.1 broker (rumqttd) listening on 127.0.0.1.
///
/// Runs on its own threads until the process exits (rumqttd has no shutdown);
/// dropping the handle does not stop it.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    _thread: JoinHandle<()>,
}

impl EmbeddedBroker {
    /// Start a broker on `127.0.0.1:port`, or on a free port when `None`, and
    /// wait until it accepts connections.
    ///
    /// A free port is found by binding port 0 and releasing it, so another
    /// process could in principle take it in between; that shows up as
    /// [`BrokerError::Died`] or [`BrokerError::NotListening`].
    pub fn start(port: Option<u16>) -> Result<EmbeddedBroker, BrokerError> {
        let port = match port {
            Some(p) => p,
            None => free_port()?,
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = rumqttd_config(addr);
        let thread = thread::Builder::new()
            .name(format!("mqtt-broker-{port}"))
            .spawn(move || {
                let mut broker = rumqttd::Broker::new(config);
                if let Err(e) = broker.start() {
                    tracing::error!(%addr, error = %e, "embedded broker stopped");
                }
            })
            .map_err(BrokerError::Thread)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if thread.is_finished() {
                return Err(BrokerError::Died { addr });
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(BrokerError::NotListening {
                    addr,
                    secs: START_TIMEOUT.as_secs(),
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
        // rumqttd runs each listener on its own thread; the server thread
        // ends (and logs) when it cannot bind. Give it a moment to fail.
        thread::sleep(Duration::from_millis(50));
        if thread.is_finished() {
            return Err(BrokerError::Died { addr });
        }
        tracing::info!(%addr, "embedded MQTT broker listening");
        Ok(EmbeddedBroker {
            addr,
            _thread: thread,
        })
    }

    /// The socket address the broker listens on (127.0.0.1:port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The broker address as `mqtt://127.0.0.1:port`.
    pub fn broker_addr(&self) -> BrokerAddr {
        BrokerAddr::from(self.addr)
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> Result<u16, BrokerError> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(BrokerError::NoPort)?;
    Ok(l.local_addr().map_err(BrokerError::NoPort)?.port())
}

fn rumqttd_config(addr: SocketAddr) -> rumqttd::Config {
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 60_000,
        max_payload_size: MAX_PAYLOAD_BYTES,
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: format!("v4-{}", addr.port()),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let mut v4 = HashMap::new();
    v4.insert("1".to_owned(), server);
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: MAX_CONNECTIONS,
            max_outgoing_packet_count: 500,
            // A segment must hold the largest message.
            max_segment_size: 2 * MAX_PAYLOAD_BYTES,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(v4),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}

// ---------------------------------------------------------------- relay

struct RelayConn {
    client: TcpStream,
    upstream: TcpStream,
}

#[derive(Default)]
struct RelayState {
    down: bool,
    next_id: u64,
    conns: HashMap<u64, RelayConn>,
}

struct RelayShared {
    upstream: SocketAddr,
    state: Mutex<RelayState>,
    stop: AtomicBool,
    refused: AtomicU64,
    accepted: AtomicU64,
}

impl RelayShared {
    fn lock(&self) -> MutexGuard<'_, RelayState> {
        // A poisoned lock only means a relay thread panicked; the state is a
        // plain connection table and stays usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A TCP relay on 127.0.0.1 in front of a broker, able to simulate the broker
/// going down: while down, every relayed connection is cut and new ones are
/// closed as soon as they are accepted (the client sees a refused/closed
/// connection and retries, as with a dead broker).
pub struct BrokerRelay {
    addr: SocketAddr,
    shared: Arc<RelayShared>,
    accept: Option<JoinHandle<()>>,
}

impl fmt::Debug for BrokerRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerRelay")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("down", &self.is_down())
            .finish()
    }
}

impl BrokerRelay {
    /// Listen on a free port of 127.0.0.1 and relay to `upstream`.
    pub fn start(upstream: &BrokerAddr) -> Result<BrokerRelay, BrokerError> {
        let upstream = upstream.resolve()?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(BrokerError::RelayBind)?;
        let addr = listener.local_addr().map_err(BrokerError::RelayBind)?;
        let shared = Arc::new(RelayShared {
            upstream,
            state: Mutex::new(RelayState::default()),
            stop: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        });
        let sh = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("mqtt-relay-{}", addr.port()))
            .spawn(move || accept_loop(listener, sh))
            .map_err(BrokerError::Thread)?;
        tracing::info!(%addr, %upstream, "broker relay listening");
        Ok(BrokerRelay {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn broker_addr(&self) -> BrokerAddr {
        BrokerAddr::from(self.addr)
    }

    /// Take the broker "down" (cut every connection, refuse new ones) or
    /// bring it back.
    pub fn set_down(&self, down: bool) {
        let cut: Vec<RelayConn> = {
            let mut st = self.shared.lock();
            if st.down == down {
                return;
            }
            st.down = down;
            if down {
                st.conns.drain().map(|(_, c)| c).collect()
            } else {
                Vec::new()
            }
        };
        for c in &cut {
            let _ = c.client.shutdown(Shutdown::Both);
            let _ = c.upstream.shutdown(Shutdown::Both);
        }
        tracing::info!(relay = %self.addr, down, cut = cut.len(), "broker relay state");
    }

    pub fn is_down(&self) -> bool {
        self.shared.lock().down
    }

    /// Connections currently relayed.
    pub fn connections(&self) -> usize {
        self.shared.lock().conns.len()
    }

    /// Connections accepted and relayed so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections refused so far (while down, over the limit, or upstream
    /// unreachable).
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }
}

impl Drop for BrokerRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let conns: Vec<RelayConn> = self.shared.lock().conns.drain().map(|(_, c)| c).collect();
        for c in conns {
            let _ = c.client.shutdown(Shutdown::Both);
            let _ = c.upstream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<RelayShared>) {
    for stream in listener.incoming() {
        if sh.stop.load(Ordering::SeqCst) {
            break;
        }
        let client = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "relay accept failed");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if let Err(reason) = open_relay(client, &sh) {
            tracing::debug!(reason, "relay refused a connection");
        }
    }
}

/// Count a refusal, then close the client: counted first, so whoever sees
/// the connection closed also sees it in [`BrokerRelay::refused`].
fn refuse(
    sh: &RelayShared,
    streams: &[&TcpStream],
    reason: &'static str,
) -> Result<(), &'static str> {
    sh.refused.fetch_add(1, Ordering::Relaxed);
    for s in streams {
        let _ = s.shutdown(Shutdown::Both);
    }
    Err(reason)
}

fn open_relay(client: TcpStream, sh: &Arc<RelayShared>) -> Result<(), &'static str> {
    {
        let st = sh.lock();
        if st.down {
            return refuse(sh, &[&client], "broker is down");
        }
        if st.conns.len() >= RELAY_MAX_CONNECTIONS {
            return refuse(sh, &[&client], "too many connections");
        }
    }
    let Ok(upstream) = TcpStream::connect_timeout(&sh.upstream, Duration::from_secs(2)) else {
        return refuse(sh, &[&client], "upstream unreachable");
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let clones = (
        client.try_clone(),
        upstream.try_clone(),
        upstream.try_clone(),
        client.try_clone(),
    );
    let (Ok(c_read), Ok(u_write), Ok(u_read), Ok(c_write)) = clones else {
        return refuse(sh, &[&client, &upstream], "cannot clone sockets");
    };
    let id = {
        let mut st = sh.lock();
        if st.down {
            // Went down while we were connecting.
            return refuse(sh, &[&client, &upstream], "broker is down");
        }
        let id = st.next_id;
        st.next_id += 1;
        st.conns.insert(id, RelayConn { client, upstream });
        id
    };
    sh.accepted.fetch_add(1, Ordering::Relaxed);
    for (name, from, to) in [("up", c_read, u_write), ("down", u_read, c_write)] {
        let sh2 = Arc::clone(sh);
        let spawned = thread::Builder::new()
            .name(format!("mqtt-relay-{id}-{name}"))
            .spawn(move || pump(id, from, to, &sh2));
        if spawned.is_err() {
            let conn = sh.lock().conns.remove(&id);
            let streams: Vec<&TcpStream> =
                conn.iter().flat_map(|c| [&c.client, &c.upstream]).collect();
            return refuse(sh, &streams, "cannot spawn relay thread");
        }
    }
    Ok(())
}

/// Copy one direction until either side closes, then close both.
fn pump(id: u64, mut from: TcpStream, mut to: TcpStream, sh: &RelayShared) {
    let _ = io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    sh.lock().conns.remove(&id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn parse_urls() {
        assert_eq!(
            BrokerAddr::parse("mqtt://127.0.0.1:1884").unwrap(),
            BrokerAddr::new("127.0.0.1", 1884)
        );
        assert_eq!(
            BrokerAddr::parse("mqtt://broker.local").unwrap(),
            BrokerAddr::new("broker.local", 1883)
        );
        assert_eq!(
            BrokerAddr::parse("tcp://localhost:1883/").unwrap(),
            BrokerAddr::new("localhost", 1883)
        );
        assert_eq!(
            BrokerAddr::parse("mqtt://[::1]:2000").unwrap(),
            BrokerAddr::new("::1", 2000)
        );
        assert_eq!(
            BrokerAddr::new("::1", 2000).to_string(),
            "mqtt://[::1]:2000"
        );
        assert_eq!(
            "mqtt://h:9".parse::<BrokerAddr>().unwrap().to_string(),
            "mqtt://h:9"
        );
        for bad in [
            "127.0.0.1:1883",
            "mqtts://h:8883",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:70000",
            "mqtt://h:x",
            "mqtt://h:1883/topic",
            "mqtt://u@h:1883",
            "mqtt://::1:1883",
            "mqtt://[::1",
            "http://h:1",
        ] {
            assert!(BrokerAddr::parse(bad).is_err(), "{bad} accepted");
        }
    }

    /// An echo server stands in for the broker: the relay passes bytes both
    /// ways, cuts connections when down and refuses new ones until back up.
    #[test]
    fn relay_passes_bytes_and_goes_down() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        thread::spawn(move || {
            for s in echo.incoming() {
                let Ok(mut s) = s else { continue };
                thread::spawn(move || {
                    let mut buf = [0u8; 256];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let relay = BrokerRelay::start(&BrokerAddr::from(echo_addr)).unwrap();
        let mut c = TcpStream::connect(relay.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(relay.connections(), 1);

        relay.set_down(true);
        assert!(relay.is_down());
        let mut one = [0u8; 1];
        // The relayed connection is cut: EOF or a reset.
        assert!(matches!(c.read(&mut one), Ok(0) | Err(_)));
        let mut c2 = TcpStream::connect(relay.addr()).unwrap();
        c2.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = c2.write_all(b"x");
        assert!(matches!(c2.read(&mut one), Ok(0) | Err(_)));
        assert!(relay.refused() >= 1);

        relay.set_down(false);
        let mut c3 = TcpStream::connect(relay.addr()).unwrap();
        c3.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c3.write_all(b"again").unwrap();
        let mut buf = [0u8; 5];
        c3.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"again");
        assert_eq!(relay.accepted(), 2);
    }
}
