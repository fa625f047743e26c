//! Issue 4 (drivers): the generic Modbus stack against an independent slave
//! (pymodbus, tests/peers/modbus_slave.py) configured through a profile file
//! alone (tests/peers/wb-dcba.toml): TCP and RTU (socat pty pair, two unit
//! ids on one line), exceptions vs timeouts, a silent slave, reconnect after
//! the slave is killed and restarted. Every test is bounded in time.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use gate_drivers::config::{
    ModbusBusConfig, ModbusScaleConfig, ScaleSource, SerialPortConfig, StabilityConfig,
    WeighbridgeConfig,
};
use gate_drivers::error::{DeviceError, ErrorClass, ExceptionCode};
use gate_drivers::profile::Profile;
use gate_drivers::weighbridge::{spawn_modbus_weighbridge, WeighbridgeHandle};
use gate_drivers::{spawn_bus, BusHandle, HealthRegistry};

const LIMIT: Duration = Duration::from_secs(10);

fn profile() -> Profile {
    Profile::load(&peers_dir().join("wb-dcba.toml")).expect("the peer's profile loads")
}

fn fast_bus(mut c: ModbusBusConfig) -> ModbusBusConfig {
    c.request_timeout_ms = 200;
    c.connect_timeout_ms = 500;
    c.queue_timeout_ms = 500;
    c.backoff.initial_ms = 50;
    c.backoff.max_ms = 300;
    c
}

fn weighbridge(name: &str, bus: &str, unit: u8) -> WeighbridgeConfig {
    WeighbridgeConfig {
        name: name.into(),
        source: ScaleSource::Modbus(ModbusScaleConfig {
            bus: bus.into(),
            unit_id: unit,
            profile: "wb-dcba".into(),
            poll_interval_ms: 50,
        }),
        stability: StabilityConfig::default(),
        offline_after_errors: 2,
    }
}

fn start_wb(name: &str, bus: &BusHandle, unit: u8, reg: &HealthRegistry) -> WeighbridgeHandle {
    spawn_modbus_weighbridge(&weighbridge(name, bus.name(), unit), profile(), bus, reg)
        .expect("weighbridge starts")
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_weighbridge_through_a_profile_file() {
    require_pymodbus();
    let port = free_port();
    let _peer = modbus_peer(&["--tcp", &port.to_string(), "--units", "1,2,3"]);
    wait_listening(port, LIMIT);
    let reg = HealthRegistry::new();
    let (bus, _task) = spawn_bus(
        fast_bus(ModbusBusConfig::tcp("peer", &format!("127.0.0.1:{port}"))),
        &reg,
    )
    .expect("bus");

    let wb1 = start_wb("wb1", &bus, 1, &reg);
    let wb2 = start_wb("wb2", &bus, 2, &reg);
    let wb3 = start_wb("wb3", &bus, 3, &reg);
    let r1 = wait_for(
        &mut wb1.subscribe(),
        LIMIT,
        "unit 1 reading",
        Option::is_some,
    )
    .await
    .expect("some");
    assert_eq!(r1.gross_kg, 25_340.0);
    assert_eq!(r1.device_stable, Some(true));
    assert!(r1.stable && !r1.overload);
    assert_eq!(r1.tare_kg, Some(1500.0));
    let r2 = wait_for(
        &mut wb2.subscribe(),
        LIMIT,
        "unit 2 reading",
        Option::is_some,
    )
    .await
    .expect("some");
    assert_eq!(r2.gross_kg, 18_220.5);
    assert!(r2.overload && !r2.stable, "{r2:?}");
    let r3 = wait_for(
        &mut wb3.subscribe(),
        LIMIT,
        "unit 3 reading",
        Option::is_some,
    )
    .await
    .expect("some");
    assert_eq!(r3.gross_kg, -40.0);

    // Health of each device is kept apart and readable.
    let h = reg.get("wb1").expect("wb1 registered");
    assert!(h.total_ok >= 1 && h.last_latency.is_some() && h.last_success.is_some());
    assert!(bus.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceptions_are_not_transport_errors() {
    require_pymodbus();
    let port = free_port();
    let _peer = modbus_peer(&["--tcp", &port.to_string(), "--units", "1"]);
    wait_listening(port, LIMIT);
    let reg = HealthRegistry::new();
    let (bus, _task) = spawn_bus(
        fast_bus(ModbusBusConfig::tcp("peer", &format!("127.0.0.1:{port}"))),
        &reg,
    )
    .expect("bus");
    let dev = bus.device(1, reg.register("dev"));

    // An unmapped address: the device answers "illegal data address".
    let e = dev.read_holding(400, 2).await.expect_err("unmapped");
    assert_eq!(e, DeviceError::Exception(ExceptionCode::IllegalDataAddress));
    let h = reg.get("dev").expect("dev");
    assert_eq!(h.last_error_class, Some(ErrorClass::Exception));
    let connects = bus.connects();
    // The link is fine: the next request works on the same connection.
    dev.write_register(310, 1234).await.expect("write");
    assert_eq!(
        dev.read_holding(310, 1).await.expect("read back"),
        vec![1234]
    );
    assert_eq!(dev.read_discrete(5, 1).await.expect("discrete"), vec![true]);
    assert_eq!(bus.connects(), connects, "an exception must not reconnect");
    assert_eq!(reg.get("dev").expect("dev").consecutive_errors, 0);

    // A unit the slave does not serve: pymodbus stays silent (as many
    // devices behind gateways do), so that is a timeout, not an exception,
    // and the bus recovers for the unit that works.
    let other = bus.device(9, reg.register("other"));
    let e = other.read_holding(300, 2).await.expect_err("missing unit");
    assert!(matches!(e, DeviceError::Timeout(_)), "{e:?}");
    assert_eq!(
        reg.get("other").expect("other").last_error_class,
        Some(ErrorClass::Timeout)
    );
    assert_eq!(
        dev.read_holding(310, 1).await.expect("still works"),
        vec![1234]
    );
}

/// A TCP "slave" that accepts and reads but never answers.
async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut s, _)) = l.accept().await {
            held.push(tokio::spawn(async move {
                let mut buf = [0u8; 256];
                use tokio::io::AsyncReadExt;
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
            }));
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_slave_times_out_and_never_stalls_callers() {
    let (port, _server) = silent_server().await;
    let reg = HealthRegistry::new();
    let mut cfg = fast_bus(ModbusBusConfig::tcp("silent", &format!("127.0.0.1:{port}")));
    cfg.queue_depth = 4;
    let (bus, _task) = spawn_bus(cfg, &reg).expect("bus");
    let dev = bus.device(1, reg.register("mute"));

    let t0 = Instant::now();
    let e = dev.read_holding(0, 1).await.expect_err("no answer");
    assert!(matches!(e, DeviceError::Timeout(_)), "{e:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "timed out too early: {:?}",
        t0.elapsed()
    );

    // Many concurrent callers: every one gets an error within the bus budget.
    let budget = bus.request_budget();
    let t0 = Instant::now();
    let calls: Vec<_> = (0..12)
        .map(|i| {
            let d = dev.clone();
            tokio::spawn(async move { d.read_holding(i, 1).await })
        })
        .collect();
    let mut classes = Vec::new();
    for c in calls {
        let e = c.await.expect("join").expect_err("silent slave");
        classes.push(e.class());
    }
    assert!(
        t0.elapsed() <= budget + Duration::from_millis(500),
        "{:?} > {budget:?}",
        t0.elapsed()
    );
    assert!(
        classes.contains(&ErrorClass::Overload),
        "queue of 4 must overflow: {classes:?}"
    );
    assert!(!classes.contains(&ErrorClass::Exception), "{classes:?}");
    let h = reg.get("mute").expect("mute");
    assert_eq!(h.total_errors, 13);
    assert!(h.last_success.is_none());
}

/// A pymodbus slave (unit 1) on TCP, a fast bus to it and weighbridge `wb`
/// on it, with its first reading in.
struct TcpLane {
    port: u16,
    peer: Proc,
    bus: BusHandle,
    wb: WeighbridgeHandle,
}

async fn tcp_lane(reg: &HealthRegistry) -> TcpLane {
    require_pymodbus();
    let port = free_port();
    let peer = modbus_peer(&["--tcp", &port.to_string(), "--units", "1"]);
    wait_listening(port, LIMIT);
    let (bus, _task) = spawn_bus(
        fast_bus(ModbusBusConfig::tcp("peer", &format!("127.0.0.1:{port}"))),
        reg,
    )
    .expect("bus");
    let wb = start_wb("wb", &bus, 1, reg);
    wait_for(&mut wb.subscribe(), LIMIT, "first reading", |r| {
        r.as_ref().is_some_and(|r| r.gross_kg == 25_340.0)
    })
    .await;
    TcpLane {
        port,
        peer,
        bus,
        wb,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_reconnects_after_the_slave_restarts() {
    let reg = HealthRegistry::new();
    let TcpLane {
        port,
        peer,
        bus,
        wb,
    } = tcp_lane(&reg).await;
    let mut rx = wb.subscribe();
    let connects = bus.connects();

    peer.kill();
    // Readings are withdrawn once the device has failed `offline_after_errors` polls.
    wait_for(&mut rx, LIMIT, "reading withdrawn", Option::is_none).await;
    let h = reg.get("wb").expect("wb");
    assert!(h.consecutive_errors >= 2);
    assert_eq!(h.last_error_class, Some(ErrorClass::Transport), "{h:?}");
    assert!(!bus.is_connected());

    let _peer = modbus_peer(&["--tcp", &port.to_string(), "--units", "1"]);
    wait_for(&mut rx, LIMIT, "reading back", Option::is_some).await;
    assert!(bus.connects() > connects);
    assert_eq!(reg.get("wb").expect("wb").consecutive_errors, 0);
    let bus_health = reg.get("bus/peer").expect("bus health");
    assert!(bus_health.total_errors >= 1, "{bus_health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_two_units_share_one_line() {
    require_pymodbus();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pty = PtyPair::new(dir.path());
    let b = pty.b.to_string_lossy().into_owned();
    let peer = modbus_peer(&["--rtu", &b, "--baud", "19200", "--units", "1,2"]);
    let reg = HealthRegistry::new();
    let mut port = SerialPortConfig::new(&pty.a);
    port.baud = 19200;
    let mut cfg = fast_bus(ModbusBusConfig::rtu("line", port));
    cfg.request_timeout_ms = 300;
    let (bus, _task) = spawn_bus(cfg, &reg).expect("bus");

    let wb1 = start_wb("u1", &bus, 1, &reg);
    let wb2 = start_wb("u2", &bus, 2, &reg);
    let r1 = wait_for(
        &mut wb1.subscribe(),
        LIMIT,
        "unit 1 over RTU",
        Option::is_some,
    )
    .await
    .expect("some");
    let r2 = wait_for(
        &mut wb2.subscribe(),
        LIMIT,
        "unit 2 over RTU",
        Option::is_some,
    )
    .await
    .expect("some");
    assert_eq!((r1.gross_kg, r1.stable), (25_340.0, true));
    assert_eq!((r2.gross_kg, r2.overload), (18_220.5, true));

    // A unit nobody answers for on the line: a timeout (not an exception),
    // and the other units keep being served.
    let ghost = bus.device(7, reg.register("ghost"));
    let e = ghost.read_holding(300, 2).await.expect_err("no such unit");
    assert!(matches!(e, DeviceError::Timeout(_)), "{e:?}");
    let seq_before = wb1.subscribe().borrow().as_ref().map_or(0, |r| r.seq);
    wait_for(&mut wb1.subscribe(), LIMIT, "unit 1 still polled", |r| {
        r.as_ref().is_some_and(|r| r.seq > seq_before + 3)
    })
    .await;
    assert_eq!(
        reg.get("ghost").expect("ghost").last_error_class,
        Some(ErrorClass::Timeout)
    );

    // Kill the slave: both units go offline; restart it: both come back
    // without reopening the port.
    peer.kill();
    wait_for(
        &mut wb1.subscribe(),
        LIMIT,
        "unit 1 withdrawn",
        Option::is_none,
    )
    .await;
    wait_for(
        &mut wb2.subscribe(),
        LIMIT,
        "unit 2 withdrawn",
        Option::is_none,
    )
    .await;
    let _peer = modbus_peer(&["--rtu", &b, "--baud", "19200", "--units", "1,2"]);
    wait_for(&mut wb1.subscribe(), LIMIT, "unit 1 back", Option::is_some).await;
    wait_for(&mut wb2.subscribe(), LIMIT, "unit 2 back", Option::is_some).await;
    pty.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_start_from_a_toml_configuration() {
    require_pymodbus();
    let port = free_port();
    let _peer = modbus_peer(&["--tcp", &port.to_string(), "--units", "1,2"]);
    wait_listening(port, LIMIT);
    let text = format!(
        r#"
[[buses]]
name = "scale-gw"
tcp = "127.0.0.1:{port}"
request_timeout_ms = 200

[weighbridge]
name = "wb-lane3"
modbus = {{ bus = "scale-gw", unit_id = 2, profile = "wb-dcba", poll_interval_ms = 50 }}
stability = {{ mode = "device" }}
"#
    );
    let cfg: gate_drivers::config::DriversConfig = toml::from_str(&text).expect("config");
    let drivers =
        gate_drivers::Drivers::spawn(&cfg, &peers_dir(), HealthRegistry::new()).expect("spawn");
    let wb = drivers.weighbridge.as_ref().expect("weighbridge");
    let r = wait_for(&mut wb.subscribe(), LIMIT, "reading", Option::is_some)
        .await
        .expect("some");
    assert_eq!(r.gross_kg, 18_220.5);
    assert!(drivers
        .registry
        .get("wb-lane3")
        .is_some_and(|h| h.total_ok >= 1));
    assert!(drivers.registry.get("bus/scale-gw").is_some());

    // A profile that does not exist stops everything before anything starts.
    let bad: gate_drivers::config::DriversConfig =
        toml::from_str(&text.replace("profile = \"wb-dcba\"", "profile = \"wb-nope\""))
            .expect("config");
    let e = gate_drivers::Drivers::spawn(&bad, &peers_dir(), HealthRegistry::new())
        .expect_err("missing profile")
        .to_string();
    assert!(e.contains("wb-nope.toml"), "{e}");
    drivers.abort();
}

/// Restart `wb` (its bus): the verdict names the bus, the bus connected
/// once more, and polling goes on.
async fn restart_and_poll(wb: &WeighbridgeHandle, bus: &BusHandle) {
    let mut rx = wb.subscribe();
    let connects = bus.connects();
    let verdict = wb.restart().await.expect("restarted");
    let want = format!("bus `{}` reopened", bus.name());
    assert!(verdict.contains(&want), "{verdict}");
    assert_eq!(bus.connects(), connects + 1);
    let seq = rx.borrow().as_ref().map_or(0, |r| r.seq);
    wait_for(&mut rx, LIMIT, "polling after the restart", |r| {
        r.as_ref().is_some_and(|r| r.seq > seq + 2)
    })
    .await;
}

/// `restart_device` on Modbus devices: the device's bus closes its
/// transport and opens it again at once (TCP: a new connection; RTU: the
/// serial port reopened), the verdict says so, and polling goes on; with
/// nobody listening the verdict is a failure and the bus keeps retrying on
/// its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_reopens_the_bus() {
    let reg = HealthRegistry::new();
    let TcpLane {
        port,
        peer,
        bus,
        wb,
    } = tcp_lane(&reg).await;
    restart_and_poll(&wb, &bus).await;
    let mut rx = wb.subscribe();

    peer.kill();
    let t0 = Instant::now();
    let err = bus.restart().await.expect_err("nobody listens").to_string();
    assert!(err.contains("reopening failed"), "{err}");
    assert!(t0.elapsed() < LIMIT, "{:?}", t0.elapsed());
    let _peer = modbus_peer(&["--tcp", &port.to_string(), "--units", "1"]);
    wait_for(&mut rx, LIMIT, "reading back on its own", Option::is_some).await;

    // RTU: the serial port is closed and opened again.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pty = PtyPair::new(dir.path());
    let b = pty.b.to_string_lossy().into_owned();
    let _rtu_peer = modbus_peer(&["--rtu", &b, "--baud", "19200", "--units", "1"]);
    let mut p = SerialPortConfig::new(&pty.a);
    p.baud = 19200;
    let mut cfg = fast_bus(ModbusBusConfig::rtu("line", p));
    cfg.request_timeout_ms = 300;
    let (line, _task) = spawn_bus(cfg, &reg).expect("rtu bus");
    let u1 = start_wb("u1", &line, 1, &reg);
    wait_for(
        &mut u1.subscribe(),
        LIMIT,
        "unit 1 over RTU",
        Option::is_some,
    )
    .await;
    restart_and_poll(&u1, &line).await;
    pty.stop();
}

/// An RFID reader between vehicles is polled at its idle period; a
/// vehicle's identification (the `fast_poll` guard) polls it at once and
/// then at its fast period, and dropping the guard slows it down again.
/// Served by the firmware host's register bank (80 zero registers: a
/// reader with no tag).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_is_polled_fast_only_while_a_vehicle_is_identified() {
    use gate_drivers::config::{RfidConfig, RfidKind};
    use lane_io_host::{serve_tcp, FaultSwitch, MemoryModel};
    use std::sync::{Arc, Mutex};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bank = Arc::new(Mutex::new(MemoryModel::new(0, 0, 80, 0)));
    tokio::spawn(serve_tcp(
        listener,
        bank,
        None,
        Arc::new(FaultSwitch::default()),
    ));
    let reg = HealthRegistry::new();
    let (bus, _task) = spawn_bus(
        fast_bus(ModbusBusConfig::tcp("rf", &format!("127.0.0.1:{port}"))),
        &reg,
    )
    .expect("bus");
    let cfg: RfidConfig = toml::from_str(
        r#"
name = "etag-reader"
kind = "e-tag"
bus = "rf"
unit_id = 1
profile = "rfid-etag"
poll_interval_ms = 20
idle_poll_interval_ms = 3000
"#,
    )
    .expect("reader config");
    assert_eq!(cfg.kind, RfidKind::ETag);
    let profiles = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/profiles");
    let (reader, _t) =
        gate_drivers::rfid::spawn_rfid(&cfg, &profiles, &bus, &reg).expect("reader starts");
    let polls = || reg.get("etag-reader").map_or(0, |h| h.total_ok);
    wait_for(
        &mut reader.subscribe(),
        LIMIT,
        "first reading",
        Option::is_some,
    )
    .await;
    // Idle: the next poll is 3 s after the first one.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let idle = polls();
    assert!(
        idle <= 2,
        "{idle} polls in the first 400 ms at a 3 s idle period"
    );

    // A vehicle arrives: a reading made after it, long before the idle tick.
    let t0 = Instant::now();
    let guard = reader.fast_poll();
    let fresh = wait_for(&mut reader.subscribe(), LIMIT, "a fresh reading", |r| {
        r.as_ref().is_some_and(|r| r.at >= t0)
    })
    .await
    .expect("reading");
    assert!(
        fresh.at.duration_since(t0) < Duration::from_millis(1500),
        "first poll after the arrival took {:?}",
        fresh.at.duration_since(t0)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fast = polls() - idle;
    assert!(fast >= 5, "only {fast} polls in 500 ms at a 20 ms period");

    // Its verdict given: back to the idle period.
    drop(guard);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = polls();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        polls() - before <= 1,
        "{} polls in 600 ms after the guard was dropped",
        polls() - before
    );
}
