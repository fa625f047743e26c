//! Per-device health: last success, error counters, last error, last latency.
//!
//! Layer: driver plumbing shared with the runtime. Drivers write through a
//! [`HealthCell`]; the runtime reads a [`HealthRegistry`] snapshot (status
//! reports, `gatectl`, deciding that a device is down). Nothing here knows
//! what the devices are or what "down" means for the lane: the runtime
//! decides with [`DeviceHealth::is_up`] and its own thresholds.
//!
//! A registry made [`HealthRegistry::observed`] also gives every cell its
//! device's [`ExchangeObserver`] (the agent's metrics: each successful
//! exchange timed and counted, each failure counted), told where the driver
//! records the exchange ([`HealthCell::ok`], [`HealthCell::err`]). The
//! drivers know no metrics library.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::error::{DeviceError, ErrorClass};

/// Told of each exchange of one device, beside its health (the agent's
/// per-device metrics).
pub trait ExchangeObserver: Send + Sync + std::fmt::Debug {
    /// A successful exchange that took `latency`.
    fn ok(&self, latency: Duration);
    /// A failed exchange.
    fn err(&self);
}

/// Gives each device registered in a [`HealthRegistry`] its observer.
pub trait DeviceObservers: Send + Sync + std::fmt::Debug {
    fn device(&self, name: &str) -> Arc<dyn ExchangeObserver>;
}

/// Health of one device (or one bus connection).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceHealth {
    /// Monotonic time of the last successful exchange.
    pub last_success: Option<Instant>,
    /// Wall-clock time of the last successful exchange (for reports).
    pub last_success_wall: Option<SystemTime>,
    /// Errors since the last success.
    pub consecutive_errors: u32,
    /// Errors since the driver started.
    pub total_errors: u64,
    /// Successful exchanges since the driver started.
    pub total_ok: u64,
    /// Text of the last error.
    pub last_error: Option<String>,
    /// Class of the last error.
    pub last_error_class: Option<ErrorClass>,
    /// Monotonic time of the last error.
    pub last_error_at: Option<Instant>,
    /// Duration of the last successful exchange (request to answer).
    pub last_latency: Option<Duration>,
}

impl DeviceHealth {
    /// Up = the last exchange succeeded and it is not older than `max_age`.
    /// Its last exchange succeeded (and there was one): "up" on the
    /// console and in the metrics.
    pub fn answering(&self) -> bool {
        self.consecutive_errors == 0 && self.last_success.is_some()
    }

    pub fn is_up(&self, now: Instant, max_age: Duration) -> bool {
        self.consecutive_errors == 0
            && self
                .last_success
                .is_some_and(|t| now.saturating_duration_since(t) <= max_age)
    }

    fn record_ok(&mut self, latency: Duration) {
        self.last_success = Some(Instant::now());
        self.last_success_wall = Some(SystemTime::now());
        self.consecutive_errors = 0;
        self.total_ok = self.total_ok.saturating_add(1);
        self.last_latency = Some(latency);
    }

    fn record_err(&mut self, class: ErrorClass, text: String) {
        self.consecutive_errors = self.consecutive_errors.saturating_add(1);
        self.total_errors = self.total_errors.saturating_add(1);
        self.last_error = Some(text);
        self.last_error_class = Some(class);
        self.last_error_at = Some(Instant::now());
    }
}

/// A serialisable view of [`DeviceHealth`] at one moment (status reports,
/// `gatectl`): times as ages in ms.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HealthReport {
    /// [`DeviceHealth::is_up`] with the `max_age` given to [`DeviceHealth::report`].
    pub up: bool,
    pub since_success_ms: Option<u64>,
    pub since_error_ms: Option<u64>,
    pub consecutive_errors: u32,
    pub total_errors: u64,
    pub total_ok: u64,
    pub last_error: Option<String>,
    pub last_error_class: Option<ErrorClass>,
    pub last_latency_ms: Option<f64>,
}

impl DeviceHealth {
    /// The state as of `now`, judged up if a success is at most `max_age` old.
    pub fn report(&self, now: Instant, max_age: Duration) -> HealthReport {
        let age =
            |t: Option<Instant>| t.map(|t| now.saturating_duration_since(t).as_millis() as u64);
        HealthReport {
            up: self.is_up(now, max_age),
            since_success_ms: age(self.last_success),
            since_error_ms: age(self.last_error_at),
            consecutive_errors: self.consecutive_errors,
            total_errors: self.total_errors,
            total_ok: self.total_ok,
            last_error: self.last_error.clone(),
            last_error_class: self.last_error_class,
            last_latency_ms: self.last_latency.map(|d| d.as_secs_f64() * 1000.0),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave DeviceHealth inconsistent
    // in a way that matters: keep going with the inner value.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A writable handle on one device's health entry. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HealthCell {
    name: Arc<str>,
    inner: Arc<Mutex<DeviceHealth>>,
    /// The device's observer, when its registry has some.
    observer: Option<Arc<dyn ExchangeObserver>>,
}

impl HealthCell {
    /// A cell that belongs to no registry (tests, ad-hoc tools).
    pub fn detached(name: &str) -> Self {
        Self {
            name: name.into(),
            inner: Arc::default(),
            observer: None,
        }
    }

    /// The device name this cell reports under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Record a successful exchange that took `latency`.
    pub fn ok(&self, latency: Duration) {
        lock(&self.inner).record_ok(latency);
        if let Some(o) = &self.observer {
            o.ok(latency);
        }
    }

    /// Record a failed exchange.
    pub fn err(&self, e: &DeviceError) {
        lock(&self.inner).record_err(e.class(), e.to_string());
        if let Some(o) = &self.observer {
            o.err();
        }
    }

    /// Record a failure described by text (non-Modbus drivers).
    pub fn err_text(&self, class: ErrorClass, text: impl Into<String>) {
        lock(&self.inner).record_err(class, text.into());
        if let Some(o) = &self.observer {
            o.err();
        }
    }

    /// Copy of the current state.
    pub fn get(&self) -> DeviceHealth {
        lock(&self.inner).clone()
    }
}

/// All devices' health, by device name. Cheap to clone; shared by the
/// drivers (writers) and the runtime (reader).
#[derive(Clone, Debug, Default)]
pub struct HealthRegistry {
    cells: Arc<Mutex<BTreeMap<String, HealthCell>>>,
    observers: Option<Arc<dyn DeviceObservers>>,
}

impl HealthRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry whose cells also tell their device's observer from
    /// `observers` of each exchange.
    pub fn observed(observers: Arc<dyn DeviceObservers>) -> Self {
        Self {
            cells: Arc::default(),
            observers: Some(observers),
        }
    }

    /// The cell for `name`, created on first use. Two drivers registering the
    /// same name share one entry (configuration checks prevent that).
    pub fn register(&self, name: &str) -> HealthCell {
        lock(&self.cells)
            .entry(name.to_owned())
            .or_insert_with(|| HealthCell {
                observer: self.observers.as_ref().map(|o| o.device(name)),
                ..HealthCell::detached(name)
            })
            .clone()
    }

    /// Health of one device.
    pub fn get(&self, name: &str) -> Option<DeviceHealth> {
        lock(&self.cells).get(name).map(HealthCell::get)
    }

    /// Health of every registered device, by name.
    pub fn snapshot(&self) -> BTreeMap<String, DeviceHealth> {
        lock(&self.cells)
            .iter()
            .map(|(k, c)| (k.clone(), c.get()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_up() {
        let reg = HealthRegistry::new();
        let cell = reg.register("wb");
        let t0 = Instant::now();
        assert!(!reg
            .get("wb")
            .expect("registered")
            .is_up(t0, Duration::from_secs(1)));
        cell.err(&DeviceError::Timeout(Duration::from_millis(100)));
        cell.err(&DeviceError::Transport("reset".into()));
        let h = reg.get("wb").expect("registered");
        assert_eq!(
            (h.consecutive_errors, h.total_errors, h.total_ok),
            (2, 2, 0)
        );
        assert_eq!(h.last_error_class, Some(ErrorClass::Transport));
        cell.ok(Duration::from_millis(7));
        let h = reg.get("wb").expect("registered");
        assert_eq!(
            (h.consecutive_errors, h.total_errors, h.total_ok),
            (0, 2, 1)
        );
        assert_eq!(h.last_latency, Some(Duration::from_millis(7)));
        assert!(h.is_up(Instant::now(), Duration::from_secs(1)));
        assert!(!h.is_up(
            Instant::now() + Duration::from_secs(5),
            Duration::from_secs(1)
        ));
        let r = h.report(
            h.last_success.expect("success") + Duration::from_millis(5),
            Duration::from_secs(1),
        );
        assert!(r.up);
        assert_eq!(
            (r.since_success_ms, r.total_errors, r.last_latency_ms),
            (Some(5), 2, Some(7.0))
        );
        assert_eq!(
            serde_json::to_value(&r).expect("json")["last_error_class"],
            "transport"
        );
        // The same name shares the entry.
        reg.register("wb").err_text(ErrorClass::Data, "bad");
        assert_eq!(reg.snapshot()["wb"].consecutive_errors, 1);
        assert!(reg.get("nope").is_none());
    }
}
