//! Modbus bus tasks: one task per bus (a TCP connection or an RS-485 line).
//!
//! Layer: transport plumbing. The bus task owns the tokio-modbus client
//! context; devices on the bus ([`ModbusDevice`], one per unit id) send it
//! requests through a bounded queue and get the answer on a oneshot. The
//! task serialises requests (switching the slave id per request), wraps each
//! one in `tokio::time::timeout` (tokio-modbus has no timeouts), retries
//! idempotent requests, reconnects with capped exponential backoff and
//! jitter, and drops requests that waited too long. A caller never waits
//! longer than its budget: a full queue fails at once, a stuck bus fails at
//! the deadline. This module knows nothing about what the registers mean.
//!
//! After a timeout the state of the link is unknown (the answer may still
//! come): on TCP the connection is dropped and reopened at once; on RTU the
//! task keeps silent for a few frame gaps and tokio-modbus clears its read
//! buffer before the next request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_modbus::client::{Client as _, Context, Reader, Writer};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::Slave;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::config::{ModbusBusConfig, Transport};
use super::error::{DeviceError, SpawnError};
use super::health::{HealthCell, HealthRegistry};
use super::profile::{BlockData, Function, Profile, ReadBlock, Sample};
use super::restart::{restart_channel, RestartError, RestartRequests, RestartVerdict, Restarter};

/// A Modbus request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    ReadCoils(u16, u16),
    ReadDiscreteInputs(u16, u16),
    ReadHoldingRegisters(u16, u16),
    ReadInputRegisters(u16, u16),
    WriteSingleCoil(u16, bool),
    WriteMultipleCoils(u16, Vec<bool>),
    WriteSingleRegister(u16, u16),
    WriteMultipleRegisters(u16, Vec<u16>),
}

impl Request {
    fn is_write(&self) -> bool {
        matches!(
            self,
            Self::WriteSingleCoil(..)
                | Self::WriteMultipleCoils(..)
                | Self::WriteSingleRegister(..)
                | Self::WriteMultipleRegisters(..)
        )
    }
}

/// The data of a successful answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Bits(Vec<bool>),
    Words(Vec<u16>),
    /// A write was acknowledged.
    Written,
}

struct Job {
    unit: u8,
    request: Request,
    /// Whether the request may be sent twice (reads, absolute writes).
    idempotent: bool,
    /// Not started by then = dropped.
    start_by: Instant,
    reply: oneshot::Sender<Result<(Response, Duration), DeviceError>>,
}

#[derive(Debug, Default)]
struct BusShared {
    connected: AtomicBool,
    connects: AtomicU64,
}

/// A handle on a running bus task. Cheap to clone; the task ends when every
/// handle (and every [`ModbusDevice`]) is dropped.
#[derive(Clone, Debug)]
pub struct BusHandle {
    name: Arc<str>,
    tx: mpsc::Sender<Job>,
    shared: Arc<BusShared>,
    /// Longest a caller waits for one request.
    budget: Duration,
    queue_timeout: Duration,
    restarter: Restarter,
    connect_timeout: Duration,
}

impl BusHandle {
    /// Bus name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the transport is currently open.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Successful connections so far (1 + reconnects).
    pub fn connects(&self) -> u64 {
        self.shared.connects.load(Ordering::Relaxed)
    }

    /// The longest a request can take before its caller gets an error.
    pub fn request_budget(&self) -> Duration {
        self.budget
    }

    /// Close the transport and open it again at once (every device on the
    /// bus sees the gap). `Ok` once it is open again; `Err` when opening
    /// failed (the bus then goes on retrying on its backoff).
    pub async fn restart(&self) -> RestartVerdict {
        let limit = self.connect_timeout + self.budget + Duration::from_secs(1);
        self.restarter.restart(limit).await
    }

    /// A device (unit id) on this bus; its health is recorded in `health`.
    pub fn device(&self, unit: u8, health: HealthCell) -> ModbusDevice {
        ModbusDevice {
            bus: self.clone(),
            unit,
            health,
        }
    }

    /// Send one request and wait for its answer (at most the budget).
    pub async fn call(
        &self,
        unit: u8,
        request: Request,
        idempotent: bool,
    ) -> Result<(Response, Duration), DeviceError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            unit,
            request,
            idempotent,
            start_by: Instant::now() + self.queue_timeout,
            reply,
        };
        self.tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => DeviceError::QueueFull(self.name.to_string()),
            mpsc::error::TrySendError::Closed(_) => DeviceError::BusClosed,
        })?;
        match timeout(self.budget, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(DeviceError::BusClosed),
            Err(_) => Err(DeviceError::Timeout(self.budget)),
        }
    }
}

/// One unit id on a bus. Cheap to clone. Every call records the device's
/// health.
#[derive(Clone, Debug)]
pub struct ModbusDevice {
    bus: BusHandle,
    unit: u8,
    health: HealthCell,
}

impl ModbusDevice {
    pub fn unit(&self) -> u8 {
        self.unit
    }
    pub fn bus(&self) -> &BusHandle {
        &self.bus
    }
    pub fn health(&self) -> &HealthCell {
        &self.health
    }

    /// Send a request; `idempotent` = safe to send twice.
    pub async fn call(&self, request: Request, idempotent: bool) -> Result<Response, DeviceError> {
        match self.bus.call(self.unit, request, idempotent).await {
            Ok((resp, latency)) => {
                self.health.ok(latency);
                Ok(resp)
            }
            Err(e) => {
                self.health.err(&e);
                Err(e)
            }
        }
    }

    async fn words(&self, request: Request, count: u16) -> Result<Vec<u16>, DeviceError> {
        match self.call(request, true).await? {
            Response::Words(w) if w.len() == usize::from(count) => Ok(w),
            other => Err(self.bad(format!("expected {count} registers, got {other:?}"))),
        }
    }

    async fn bits(&self, request: Request, count: u16) -> Result<Vec<bool>, DeviceError> {
        match self.call(request, true).await? {
            Response::Bits(mut b) if b.len() >= usize::from(count) => {
                b.truncate(usize::from(count));
                Ok(b)
            }
            other => Err(self.bad(format!("expected {count} bits, got {other:?}"))),
        }
    }

    fn bad(&self, text: String) -> DeviceError {
        let e = DeviceError::Decode(text);
        self.health.err(&e);
        e
    }

    pub async fn read_holding(&self, addr: u16, count: u16) -> Result<Vec<u16>, DeviceError> {
        self.words(Request::ReadHoldingRegisters(addr, count), count)
            .await
    }
    pub async fn read_input(&self, addr: u16, count: u16) -> Result<Vec<u16>, DeviceError> {
        self.words(Request::ReadInputRegisters(addr, count), count)
            .await
    }
    pub async fn read_coils(&self, addr: u16, count: u16) -> Result<Vec<bool>, DeviceError> {
        self.bits(Request::ReadCoils(addr, count), count).await
    }
    pub async fn read_discrete(&self, addr: u16, count: u16) -> Result<Vec<bool>, DeviceError> {
        self.bits(Request::ReadDiscreteInputs(addr, count), count)
            .await
    }

    /// Write one coil. `idempotent = false` for momentary commands.
    pub async fn write_coil(
        &self,
        addr: u16,
        value: bool,
        idempotent: bool,
    ) -> Result<(), DeviceError> {
        self.call(Request::WriteSingleCoil(addr, value), idempotent)
            .await
            .map(drop)
    }
    /// Write one holding register.
    pub async fn write_register(&self, addr: u16, value: u16) -> Result<(), DeviceError> {
        self.call(Request::WriteSingleRegister(addr, value), true)
            .await
            .map(drop)
    }
    /// Write consecutive holding registers (FC 16).
    pub async fn write_registers(&self, addr: u16, values: Vec<u16>) -> Result<(), DeviceError> {
        self.call(Request::WriteMultipleRegisters(addr, values), true)
            .await
            .map(drop)
    }

    /// Read one block of a profile's plan.
    pub async fn read_block(&self, b: &ReadBlock) -> Result<BlockData, DeviceError> {
        Ok(match b.function {
            Function::Holding => BlockData::Words(self.read_holding(b.start, b.count).await?),
            Function::Input => BlockData::Words(self.read_input(b.start, b.count).await?),
            Function::Coil => BlockData::Bits(self.read_coils(b.start, b.count).await?),
            Function::Discrete => BlockData::Bits(self.read_discrete(b.start, b.count).await?),
        })
    }

    /// Read every point of a profile and decode them.
    pub async fn read_profile(&self, profile: &Profile) -> Result<Sample, DeviceError> {
        let mut data = Vec::with_capacity(profile.blocks().len());
        for b in profile.blocks() {
            data.push(self.read_block(b).await?);
        }
        Ok(profile.decode(&data))
    }
}

/// Start the task of one bus. The bus's own connection health is recorded
/// in `registry` under `bus/<name>`. Must be called inside a tokio runtime.
pub fn spawn_bus(
    cfg: ModbusBusConfig,
    registry: &HealthRegistry,
) -> Result<(BusHandle, JoinHandle<()>), SpawnError> {
    cfg.validate()?;
    let transport = cfg.transport.clone();
    let (tx, rx) = mpsc::channel(cfg.queue_depth);
    let (restarter, restarts) = restart_channel();
    let shared = Arc::new(BusShared::default());
    let attempts = u32::from(cfg.retries) + 1;
    let per_attempt = cfg.request_timeout() + cfg.frame_gap() * 4;
    // Worst case: waited the whole queue timeout, then every attempt timed
    // out, each after a reconnect (TCP reconnects after a timeout).
    let budget = cfg.queue_timeout()
        + (per_attempt + cfg.connect_timeout()) * attempts
        + Duration::from_millis(50);
    let handle = BusHandle {
        name: cfg.name.as_str().into(),
        tx,
        shared: Arc::clone(&shared),
        budget,
        queue_timeout: cfg.queue_timeout(),
        restarter,
        connect_timeout: cfg.connect_timeout(),
    };
    let health = registry.register(&format!("bus/{}", cfg.name));
    let task = BusTask {
        transport,
        frame_gap: cfg.frame_gap(),
        backoff: Backoff::new(cfg.backoff.clone()),
        cfg,
        shared,
        health,
        ctx: None,
        next_connect: Instant::now(),
        last_connect_error: String::new(),
        unit_timeouts: HashMap::new(),
    };
    let join = tokio::spawn(task.run(rx, restarts));
    Ok((handle, join))
}

struct BusTask {
    cfg: ModbusBusConfig,
    transport: Transport,
    frame_gap: Duration,
    backoff: Backoff,
    shared: Arc<BusShared>,
    health: HealthCell,
    ctx: Option<Context>,
    next_connect: Instant,
    last_connect_error: String,
    /// Consecutive timeouts per unit id (a dead unit gets no retries).
    unit_timeouts: HashMap<u8, u32>,
}

enum Outcome {
    Ok(Response),
    Exception(tokio_modbus::ExceptionCode),
    Timeout,
    Transport(String),
    Protocol(String),
}

impl BusTask {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>, mut restarts: RestartRequests) {
        info!(bus = %self.cfg.name, "bus task started");
        loop {
            // While disconnected, reconnect on schedule even without requests.
            // A restart request goes before queued jobs (between two jobs,
            // never inside an exchange).
            let job = tokio::select! {
                biased;
                () = restarts.requested() => {
                    let verdict = self.restart().await;
                    restarts.answer(verdict);
                    continue;
                }
                j = rx.recv() => j,
                () = sleep_until(self.next_connect), if self.ctx.is_none() => {
                    self.connect().await;
                    continue;
                }
            };
            let Some(job) = job else { break };
            self.serve(job).await;
        }
        if let Some(mut ctx) = self.ctx.take() {
            let _ = timeout(Duration::from_millis(200), ctx.disconnect()).await;
        }
        info!(bus = %self.cfg.name, "bus task stopped (no more handles)");
    }

    async fn connect(&mut self) {
        let started = Instant::now();
        let result = timeout(self.cfg.connect_timeout(), open(&self.transport)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(OpenError::TimedOut(self.cfg.connect_timeout_ms)),
        };
        match result {
            Ok(ctx) => {
                info!(bus = %self.cfg.name, "connected");
                self.ctx = Some(ctx);
                self.shared.connected.store(true, Ordering::Relaxed);
                self.shared.connects.fetch_add(1, Ordering::Relaxed);
                self.health.ok(started.elapsed());
            }
            Err(e) => {
                let delay = self.backoff.next_delay();
                warn!(bus = %self.cfg.name, error = %e, retry_in_ms = delay.as_millis() as u64, "connect failed");
                let e = e.to_string();
                self.health.err(&DeviceError::Transport(e.clone()));
                self.last_connect_error = e;
                self.next_connect = Instant::now() + delay;
            }
        }
    }

    /// Close the transport and open it again now, backoff reset; the
    /// verdict for the restart's caller.
    async fn restart(&mut self) -> RestartVerdict {
        info!(bus = %self.cfg.name, "restart requested: reopening the transport");
        self.disconnect("restart requested", true);
        self.unit_timeouts.clear();
        self.backoff.reset();
        let started = Instant::now();
        self.connect().await;
        if self.ctx.is_some() {
            Ok(format!(
                "bus `{}` reopened in {} ms",
                self.cfg.name,
                started.elapsed().as_millis()
            ))
        } else {
            Err(RestartError::BusReopen {
                bus: self.cfg.name.clone(),
                reason: self.last_connect_error.clone(),
            })
        }
    }

    /// Drop the connection; reconnect at once (`soon`) or after a backoff delay.
    fn disconnect(&mut self, why: &str, soon: bool) {
        if self.ctx.take().is_some() {
            debug!(bus = %self.cfg.name, why, "connection dropped");
        }
        self.shared.connected.store(false, Ordering::Relaxed);
        self.last_connect_error = why.to_owned();
        self.next_connect = if soon {
            Instant::now()
        } else {
            Instant::now() + self.backoff.next_delay()
        };
    }

    async fn serve(&mut self, job: Job) {
        if job.reply.is_closed() {
            return; // the caller gave up
        }
        let now = Instant::now();
        if now > job.start_by {
            let waited = now.saturating_duration_since(job.start_by) + self.cfg.queue_timeout();
            let _ = job.reply.send(Err(DeviceError::Expired(waited)));
            return;
        }
        let dead_unit = self.unit_timeouts.get(&job.unit).copied().unwrap_or(0) >= 3;
        let attempts = if job.idempotent && !dead_unit {
            u32::from(self.cfg.retries) + 1
        } else {
            1
        };
        let mut last_err = DeviceError::Transport("not attempted".into());
        for attempt in 0..attempts {
            if self.ctx.is_none() {
                if Instant::now() >= self.next_connect {
                    self.connect().await;
                }
                if self.ctx.is_none() {
                    last_err = DeviceError::Transport(format!(
                        "bus `{}` not connected: {}",
                        self.cfg.name, self.last_connect_error
                    ));
                    break;
                }
            }
            if job.reply.is_closed() {
                return;
            }
            let started = Instant::now();
            let outcome = self.exchange(job.unit, &job.request).await;
            let latency = started.elapsed();
            match outcome {
                Outcome::Ok(resp) => {
                    self.backoff.reset();
                    self.unit_timeouts.remove(&job.unit);
                    let _ = job.reply.send(Ok((resp, latency)));
                    return;
                }
                Outcome::Exception(code) => {
                    // The device answered: the link is fine.
                    self.backoff.reset();
                    self.unit_timeouts.remove(&job.unit);
                    let _ = job.reply.send(Err(DeviceError::Exception(code)));
                    return;
                }
                Outcome::Timeout => {
                    *self.unit_timeouts.entry(job.unit).or_default() += 1;
                    last_err = DeviceError::Timeout(self.cfg.request_timeout());
                    debug!(bus = %self.cfg.name, unit = job.unit, attempt, "timeout");
                    match self.transport {
                        Transport::Tcp(_) => self.disconnect("request timed out", true),
                        // Let a late answer arrive and be discarded.
                        Transport::Rtu(_) => sleep(self.frame_gap * 4).await,
                    }
                }
                Outcome::Protocol(e) => {
                    last_err = DeviceError::Protocol(e.clone());
                    if matches!(self.transport, Transport::Tcp(_)) {
                        self.disconnect(&e, true);
                    }
                }
                Outcome::Transport(e) => {
                    warn!(bus = %self.cfg.name, error = %e, "transport error");
                    last_err = DeviceError::Transport(e.clone());
                    self.disconnect(&e, false);
                }
            }
            if !job.idempotent {
                break;
            }
        }
        let _ = job.reply.send(Err(last_err));
    }

    async fn exchange(&mut self, unit: u8, req: &Request) -> Outcome {
        let Some(ctx) = self.ctx.as_mut() else {
            return Outcome::Transport("not connected".into());
        };
        ctx.set_slave(Slave(unit));
        let is_rtu = matches!(self.transport, Transport::Rtu(_));
        let fut = async {
            use tokio_modbus::Result as MbResult;
            fn words(r: MbResult<Vec<u16>>) -> MbResult<Response> {
                r.map(|x| x.map(Response::Words))
            }
            fn bits(r: MbResult<Vec<bool>>) -> MbResult<Response> {
                r.map(|x| x.map(Response::Bits))
            }
            fn done(r: MbResult<()>) -> MbResult<Response> {
                r.map(|x| x.map(|()| Response::Written))
            }
            match req {
                Request::ReadCoils(a, n) => bits(ctx.read_coils(*a, *n).await),
                Request::ReadDiscreteInputs(a, n) => bits(ctx.read_discrete_inputs(*a, *n).await),
                Request::ReadHoldingRegisters(a, n) => {
                    words(ctx.read_holding_registers(*a, *n).await)
                }
                Request::ReadInputRegisters(a, n) => words(ctx.read_input_registers(*a, *n).await),
                Request::WriteSingleCoil(a, v) => done(ctx.write_single_coil(*a, *v).await),
                Request::WriteMultipleCoils(a, v) => done(ctx.write_multiple_coils(*a, v).await),
                Request::WriteSingleRegister(a, v) => done(ctx.write_single_register(*a, *v).await),
                Request::WriteMultipleRegisters(a, v) => {
                    done(ctx.write_multiple_registers(*a, v).await)
                }
            }
        };
        let result = timeout(self.cfg.request_timeout(), fut).await;
        if is_rtu {
            // Inter-frame silence before the next transaction on the line.
            sleep(self.frame_gap).await;
        }
        let outcome = match result {
            Err(_) => Outcome::Timeout,
            Ok(Ok(Ok(resp))) => Outcome::Ok(resp),
            Ok(Ok(Err(code))) => Outcome::Exception(code),
            Ok(Err(tokio_modbus::Error::Transport(e))) => Outcome::Transport(e.to_string()),
            Ok(Err(tokio_modbus::Error::Protocol(e))) => Outcome::Protocol(e.to_string()),
        };
        if req.is_write() {
            if let Outcome::Ok(_) = outcome {
                debug!(bus = %self.cfg.name, unit, ?req, "write acknowledged");
            }
        }
        outcome
    }
}

/// Why a bus's transport could not be opened.
#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error("connect timed out after {0} ms")]
    TimedOut(u64),
    #[error("resolve `{addr}`: {source}")]
    Resolve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The address resolved to nothing.
    #[error("cannot resolve `{0}`")]
    NoAddress(String),
    /// The last address tried refused (or failed) the connection.
    #[error("connect {addr}: {source}")]
    Connect {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("open {}: {source}", .path.display())]
    Serial {
        path: std::path::PathBuf,
        #[source]
        source: tokio_serial::Error,
    },
}

async fn open(transport: &Transport) -> Result<Context, OpenError> {
    match transport {
        Transport::Tcp(addr) => {
            let mut last = OpenError::NoAddress(addr.clone());
            let addrs = tokio::net::lookup_host(addr.as_str())
                .await
                .map_err(|source| OpenError::Resolve {
                    addr: addr.clone(),
                    source,
                })?;
            for sa in addrs {
                match tokio::net::TcpStream::connect(sa).await {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        return Ok(tokio_modbus::client::tcp::attach(stream));
                    }
                    Err(source) => last = OpenError::Connect { addr: sa, source },
                }
            }
            Err(last)
        }
        Transport::Rtu(port) => {
            let stream = tokio_serial::SerialStream::open(&port.builder()).map_err(|source| {
                OpenError::Serial {
                    path: port.path.clone(),
                    source,
                }
            })?;
            Ok(tokio_modbus::client::rtu::attach(stream))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(addr: &str) -> ModbusBusConfig {
        let mut c = ModbusBusConfig::tcp("t", addr);
        c.request_timeout_ms = 100;
        c.connect_timeout_ms = 100;
        c.queue_timeout_ms = 100;
        c.backoff.initial_ms = 50;
        c.backoff.max_ms = 100;
        c
    }

    #[tokio::test]
    async fn unreachable_bus_fails_fast_and_records_health() {
        // A port nobody listens on.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        drop(l);
        let reg = HealthRegistry::new();
        let (bus, _join) = spawn_bus(cfg(&addr), &reg).expect("spawn");
        let dev = bus.device(1, reg.register("d"));
        let t0 = std::time::Instant::now();
        let e = dev.read_holding(0, 1).await.expect_err("no server");
        assert!(matches!(e, DeviceError::Transport(_)), "{e:?}");
        assert!(t0.elapsed() <= bus.request_budget());
        assert!(!bus.is_connected());
        let h = reg.get("d").expect("d");
        assert_eq!(h.consecutive_errors, 1);
        assert!(reg.get("bus/t").expect("bus").total_errors >= 1);
    }

    #[tokio::test]
    async fn full_queue_fails_at_once() {
        // A server that accepts and never answers: requests pile up.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let _server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        let mut c = cfg(&addr);
        c.queue_depth = 1;
        c.retries = 0;
        let reg = HealthRegistry::new();
        let (bus, _join) = spawn_bus(c, &reg).expect("spawn");
        let dev = bus.device(1, reg.register("d"));
        let mut calls = Vec::new();
        for _ in 0..4 {
            let d = dev.clone();
            calls.push(tokio::spawn(async move { d.read_holding(0, 1).await }));
        }
        let mut kinds = Vec::new();
        for c in calls {
            let e = c.await.expect("join").expect_err("never answered");
            kinds.push(e.class());
        }
        assert!(
            kinds.contains(&super::super::error::ErrorClass::Overload),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&super::super::error::ErrorClass::Timeout),
            "{kinds:?}"
        );
    }
}
