//! Weighbridge driver: a Modbus indicator described by a register profile,
//! or an ASCII indicator streaming Toledo / XK3190 frames on a serial line.
//!
//! Layer: device driver. It publishes [`WeightReading`]s (gross kg, stable,
//! time) on a `watch` channel; `None` means "no trustworthy reading" (not
//! started, device silent or failing). It does not compare weights with
//! declarations or decide anything. The framing ([`AsciiFramer`]), the frame
//! formats ([`toledo`], [`xk3190`]) and stability detection ([`stability`])
//! are sans-IO and tested byte-exact.

pub mod stability;

pub use gate_wire::weighbridge::{toledo, xk3190, AsciiEvent, AsciiFramer, RawWeight};

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout_at;
use tracing::{info, warn};

use super::backoff::Backoff;
use super::bus::{BusHandle, ModbusDevice};
use super::config::{
    AsciiProtocol, AsciiScaleConfig, ScaleSource, StabilityConfig, StabilityMode, WeighbridgeConfig,
};
use super::error::{DeviceError, ErrorClass, SpawnError};
use super::health::{HealthCell, HealthRegistry};
use super::profile::{Profile, Sample};
use super::restart::{restart_channel, RestartError, RestartRequests, RestartVerdict, Restarter};
use stability::StabilityDetector;

/// One weighbridge reading.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightReading {
    /// Gross weight, kg.
    pub gross_kg: f64,
    /// Whether the reading may be used for a decision: judged stable (see
    /// [`StabilityMode`]) and not overloaded / in error.
    pub stable: bool,
    /// When the reading was received.
    pub at: Instant,
    /// Tare, kg, when the indicator reports it.
    pub tare_kg: Option<f64>,
    /// What the indicator itself said about stability, if it says anything.
    pub device_stable: Option<bool>,
    /// What the agent's detector says.
    pub detected_stable: bool,
    /// Over capacity / indicator error.
    pub overload: bool,
    /// Under the indicator's range (not an overload).
    pub underload: bool,
    /// Readings published so far by this driver (1 = first).
    pub seq: u64,
}

/// Turns raw weights into [`WeightReading`]s: applies the stability mode.
#[derive(Debug)]
pub struct Judge {
    mode: StabilityMode,
    detector: StabilityDetector,
    seq: u64,
}

impl Judge {
    pub fn new(cfg: &StabilityConfig) -> Self {
        Self {
            mode: cfg.mode,
            detector: StabilityDetector::new(cfg),
            seq: 0,
        }
    }

    /// Forget the stability history (after a gap in readings).
    pub fn reset(&mut self) {
        self.detector.reset();
    }

    pub fn judge(&mut self, raw: RawWeight, at: Instant) -> WeightReading {
        let detected = self.detector.push(at, raw.gross_kg);
        let stable = match (self.mode, raw.device_stable) {
            (StabilityMode::Auto | StabilityMode::Device, Some(d)) => d,
            (StabilityMode::Both, Some(d)) => d && detected,
            // Device mode without a device flag is refused at start-up.
            (StabilityMode::Device, None) => false,
            _ => detected,
        };
        self.seq += 1;
        WeightReading {
            gross_kg: raw.gross_kg,
            stable: stable && !raw.overload && !raw.underload,
            at,
            tare_kg: raw.tare_kg,
            device_stable: raw.device_stable,
            detected_stable: detected,
            overload: raw.overload,
            underload: raw.underload,
            seq: self.seq,
        }
    }
}

/// Why a profile sample gives no weight ([`weight_from_sample`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SampleWeightError {
    /// The sample's first decoding problem, as the profile decoder put it.
    #[error("{0}")]
    Decode(String),
    #[error("profile sample has no numeric `gross`")]
    NoGross,
}

/// Read a weight out of a profile sample: point `gross` (kg), flags
/// `stable` / `motion` (either gives the device's stability; `stable` wins),
/// `overload` or `error` (an overload), `underload` (its own flag).
pub fn weight_from_sample(s: &Sample) -> Result<RawWeight, SampleWeightError> {
    let Some(gross) = s.number("gross") else {
        return Err(match s.problems.first() {
            Some(p) => SampleWeightError::Decode(p.clone()),
            None => SampleWeightError::NoGross,
        });
    };
    let device_stable = s.flag("stable").or_else(|| s.flag("motion").map(|m| !m));
    let overload = ["overload", "error"]
        .iter()
        .any(|f| s.flag(f) == Some(true));
    let underload = s.flag("underload") == Some(true);
    Ok(RawWeight {
        gross_kg: gross,
        tare_kg: s.number("tare"),
        device_stable,
        overload,
        underload,
    })
}

/// Handle on a running weighbridge driver.
#[derive(Clone, Debug)]
pub struct WeighbridgeHandle {
    rx: watch::Receiver<Option<WeightReading>>,
    health: HealthCell,
    link: WeighbridgeLink,
}

/// What a restart of the weighbridge reopens.
#[derive(Clone, Debug)]
enum WeighbridgeLink {
    /// Its Modbus bus (with every other device on it).
    Bus(BusHandle),
    /// Its own serial port; the verdict comes within this limit.
    Serial(Restarter, Duration),
}

impl WeighbridgeHandle {
    /// The latest reading; `None` while there is no trustworthy one.
    pub fn subscribe(&self) -> watch::Receiver<Option<WeightReading>> {
        self.rx.clone()
    }
    pub fn health(&self) -> &HealthCell {
        &self.health
    }
    /// Restart the weighbridge's connection: its Modbus bus, or its serial
    /// port reopened at once.
    pub async fn restart(&self) -> RestartVerdict {
        match &self.link {
            WeighbridgeLink::Bus(bus) => bus.restart().await,
            WeighbridgeLink::Serial(r, limit) => r.restart(*limit).await,
        }
    }
}

/// Start the weighbridge driver described by `cfg`: Modbus (the profile is
/// looked up in `profiles_dir`, the bus in `buses`) or ASCII.
pub fn spawn_weighbridge(
    cfg: &WeighbridgeConfig,
    profiles_dir: &Path,
    bus_of: impl Fn(&str) -> Option<BusHandle>,
    registry: &HealthRegistry,
) -> Result<(WeighbridgeHandle, JoinHandle<()>), SpawnError> {
    cfg.validate()?;
    match &cfg.source {
        ScaleSource::Modbus(m) => {
            let profile = super::profile::resolve(profiles_dir, &m.profile)?;
            let bus = bus_of(&m.bus).ok_or_else(|| SpawnError::WeighbridgeNoBus {
                weighbridge: cfg.name.clone(),
                bus: m.bus.clone(),
            })?;
            spawn_modbus_weighbridge(cfg, profile, &bus, registry)
        }
        ScaleSource::Ascii(_) => spawn_ascii_weighbridge(cfg, registry),
    }
}

/// Start a Modbus weighbridge with an already loaded profile.
pub fn spawn_modbus_weighbridge(
    cfg: &WeighbridgeConfig,
    profile: Profile,
    bus: &BusHandle,
    registry: &HealthRegistry,
) -> Result<(WeighbridgeHandle, JoinHandle<()>), SpawnError> {
    cfg.validate()?;
    let ScaleSource::Modbus(m) = &cfg.source else {
        return Err(SpawnError::NotModbus);
    };
    let gross_ok = profile.point("gross").is_some_and(|p| !p.function.is_bit());
    if !gross_ok {
        return Err(SpawnError::NoGross {
            profile: profile.name,
        });
    }
    if cfg.stability.mode == StabilityMode::Device
        && !(profile.has_flag("stable") || profile.has_flag("motion"))
    {
        return Err(SpawnError::NoStabilityFlag {
            weighbridge: cfg.name.clone(),
            profile: profile.name,
        });
    }
    let health = registry.register(&cfg.name);
    let device = bus.device(m.unit_id, health.clone());
    let (tx, rx) = watch::channel(None);
    let task = tokio::spawn(modbus_task(
        cfg.clone(),
        Duration::from_millis(m.poll_interval_ms),
        profile,
        device,
        tx,
    ));
    Ok((
        WeighbridgeHandle {
            rx,
            health,
            link: WeighbridgeLink::Bus(bus.clone()),
        },
        task,
    ))
}

async fn modbus_task(
    cfg: WeighbridgeConfig,
    period: Duration,
    profile: Profile,
    dev: ModbusDevice,
    tx: watch::Sender<Option<WeightReading>>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut judge = Judge::new(&cfg.stability);
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = tx.closed() => break,
        }
        let result = dev
            .read_profile(&profile)
            .await
            .and_then(|s| weight_from_sample(&s).map_err(|e| DeviceError::Decode(e.to_string())));
        match result {
            Ok(raw) => {
                failures = 0;
                tx.send_replace(Some(judge.judge(raw, Instant::now())));
            }
            Err(e) => {
                if matches!(e, DeviceError::Decode(_)) {
                    dev.health().err(&e);
                }
                failures += 1;
                if failures == cfg.offline_after_errors {
                    warn!(weighbridge = %cfg.name, error = %e, "weighbridge offline");
                    judge.reset();
                    tx.send_replace(None);
                }
            }
        }
    }
}

/// Start an ASCII weighbridge (serial line, continuous output).
pub fn spawn_ascii_weighbridge(
    cfg: &WeighbridgeConfig,
    registry: &HealthRegistry,
) -> Result<(WeighbridgeHandle, JoinHandle<()>), SpawnError> {
    cfg.validate()?;
    let ScaleSource::Ascii(a) = &cfg.source else {
        return Err(SpawnError::NotAscii);
    };
    if cfg.stability.mode == StabilityMode::Device && a.protocol == AsciiProtocol::Xk3190 {
        return Err(SpawnError::Xk3190Stability(cfg.name.clone()));
    }
    let health = registry.register(&cfg.name);
    let (tx, rx) = watch::channel(None);
    let (restarter, restarts) = restart_channel();
    let task = tokio::spawn(ascii_task(
        cfg.clone(),
        a.clone(),
        health.clone(),
        tx,
        restarts,
    ));
    Ok((
        WeighbridgeHandle {
            rx,
            health,
            link: WeighbridgeLink::Serial(restarter, SERIAL_RESTART_LIMIT),
        },
        task,
    ))
}

/// Longest a restart of a serial scale waits for the port to reopen.
const SERIAL_RESTART_LIMIT: Duration = Duration::from_secs(5);

async fn ascii_task(
    cfg: WeighbridgeConfig,
    a: AsciiScaleConfig,
    health: HealthCell,
    tx: watch::Sender<Option<WeightReading>>,
    mut restarts: RestartRequests,
) {
    let stale_after = Duration::from_millis(a.stale_after_ms);
    let mut backoff = Backoff::new(a.backoff.clone());
    let mut judge = Judge::new(&cfg.stability);
    let mut buf = [0u8; 512];
    // A pending restart is answered once the port is open again (or not).
    'reopen: loop {
        if tx.is_closed() {
            break;
        }
        let mut port = match tokio_serial::SerialStream::open(&a.port.builder()) {
            Ok(p) => p,
            Err(source) => {
                let why = RestartError::SerialOpen {
                    path: a.port.path.clone(),
                    source,
                };
                health.err_text(ErrorClass::Transport, why.to_string());
                restarts.answer(Err(why));
                tx.send_if_modified(|r| r.take().is_some());
                let delay = backoff.next_delay();
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue 'reopen,
                    () = restarts.requested() => {
                        backoff.reset();
                        continue 'reopen;
                    }
                    () = tx.closed() => break 'reopen,
                }
            }
        };
        info!(weighbridge = %cfg.name, port = %a.port.path.display(), "serial port open");
        restarts.answer(Ok(format!(
            "serial port {} reopened",
            a.port.path.display()
        )));
        let mut framer = AsciiFramer::new(a.protocol, a.checksum, a.kg_per_unit);
        let mut last_frame = tokio::time::Instant::now();
        let mut deadline = last_frame + stale_after;
        loop {
            let read = tokio::select! {
                r = timeout_at(deadline, port.read(&mut buf)) => r,
                () = restarts.requested() => {
                    info!(weighbridge = %cfg.name, "restart requested: reopening the serial port");
                    break;
                }
                () = tx.closed() => break 'reopen,
            };
            match read {
                Err(_) => {
                    // No valid frame for stale_after: withdraw the reading.
                    health.err(&DeviceError::Timeout(stale_after));
                    if tx.send_if_modified(|r| r.take().is_some()) {
                        warn!(weighbridge = %cfg.name, "no frames: reading withdrawn");
                    }
                    judge.reset();
                    deadline = tokio::time::Instant::now() + stale_after;
                }
                Ok(Ok(0)) => {
                    health.err_text(ErrorClass::Transport, "serial port closed (EOF)");
                    break;
                }
                Ok(Ok(n)) => {
                    for ev in framer.push(&buf[..n]) {
                        match ev {
                            AsciiEvent::Weight(raw) => {
                                let now = tokio::time::Instant::now();
                                health.ok(now.duration_since(last_frame));
                                last_frame = now;
                                deadline = now + stale_after;
                                backoff.reset();
                                tx.send_replace(Some(judge.judge(raw, now.into_std())));
                            }
                            AsciiEvent::Bad(e) => health.err_text(ErrorClass::Data, e.to_string()),
                            AsciiEvent::Garbage(_) => {}
                        }
                    }
                }
                Ok(Err(e)) => {
                    health.err_text(
                        ErrorClass::Transport,
                        format!("read {}: {e}", a.port.path.display()),
                    );
                    break;
                }
            }
        }
        // The port failed or a restart was asked for: withdraw the reading
        // (a reopened port's first frames are judged afresh) and reopen,
        // at once for a restart, else after a delay.
        drop(port);
        tx.send_if_modified(|r| r.take().is_some());
        judge.reset();
        if restarts.pending() {
            backoff.reset();
            continue;
        }
        let delay = backoff.next_delay();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = restarts.requested() => backoff.reset(),
            () = tx.closed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judge_modes() {
        let cfg = StabilityConfig::default();
        let t0 = Instant::now();
        let raw = |stable: Option<bool>, overload: bool| RawWeight {
            gross_kg: 1000.0,
            tare_kg: None,
            device_stable: stable,
            overload,
            underload: false,
        };
        let mut j = Judge::new(&cfg);
        assert!(j.judge(raw(Some(true), false), t0).stable);
        assert!(
            !j.judge(raw(Some(true), true), t0).stable,
            "overload is never stable"
        );
        assert!(
            !j.judge(raw(None, false), t0).stable,
            "no flag: detection needs a window"
        );
        let mut c = cfg.clone();
        c.mode = StabilityMode::Detect;
        let mut j = Judge::new(&c);
        let mut last = None;
        for i in 0..20u64 {
            last = Some(j.judge(raw(Some(false), false), t0 + Duration::from_millis(i * 100)));
        }
        let last = last.expect("readings");
        assert!(last.stable && last.detected_stable && last.device_stable == Some(false));
        assert_eq!(last.seq, 20);
        c.mode = StabilityMode::Both;
        let mut j = Judge::new(&c);
        for i in 0..20u64 {
            assert!(
                !j.judge(raw(Some(false), false), t0 + Duration::from_millis(i * 100))
                    .stable
            );
        }
    }

    #[test]
    fn sample_to_weight() {
        let mut s = Sample::default();
        assert!(weight_from_sample(&s).is_err());
        s.values
            .insert("gross".into(), super::super::profile::Value::Number(500.0));
        s.flags.insert("motion".into(), true);
        let w = weight_from_sample(&s).expect("w");
        assert_eq!(
            (w.gross_kg, w.device_stable, w.overload),
            (500.0, Some(false), false)
        );
        s.flags.insert("stable".into(), true);
        s.flags.insert("overload".into(), true);
        let w = weight_from_sample(&s).expect("w");
        assert_eq!((w.device_stable, w.overload), (Some(true), true));
        // Underload is its own flag, never an overload, never stable.
        s.flags.insert("overload".into(), false);
        s.flags.insert("underload".into(), true);
        s.values
            .insert("gross".into(), super::super::profile::Value::Number(-150.0));
        let w = weight_from_sample(&s).expect("w");
        assert_eq!((w.overload, w.underload), (false, true));
        let r = Judge::new(&StabilityConfig::default()).judge(w, Instant::now());
        assert!(!r.stable && !r.overload && r.underload, "{r:?}");
    }
}
