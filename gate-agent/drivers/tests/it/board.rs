//! Issue 4 (drivers): the board driver against the real lane I/O board
//! logic (`lane_io::board::Board`, the register-map contract) served over
//! Modbus TCP by lane-io-host, with a small arm model: inputs reach the
//! snapshot, commands reach the controller, the LED text is written
//! (UTF-8, truncated on a char boundary), settings are written on start,
//! and the heartbeat keeps the watchdog quiet until it is stopped.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::wait_for;
use gate_drivers::board::{spawn_board, BoardCommand};
use gate_drivers::config::{BoardConfig, ModbusBusConfig};
use gate_drivers::{spawn_bus, HealthRegistry};
use lane_io::barrier::RawInputs;
use lane_io::board::Board;
use lane_io::regmap::{hr, BarrierState, CommandResult};
use lane_io_host::{serve_tcp, FaultMode, FaultSwitch};

const LIMIT: Duration = Duration::from_secs(10);

struct Lane {
    board: Arc<Mutex<Board>>,
    faults: Arc<FaultSwitch>,
    inputs: Arc<Mutex<RawInputs>>,
    port: u16,
}

/// Serve a Board over Modbus TCP and move a simulated arm.
async fn lane() -> Lane {
    let board = Arc::new(Mutex::new(Board::new()));
    let inputs = Arc::new(Mutex::new(RawInputs {
        down_limit: true,
        ..RawInputs::default()
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let faults = Arc::new(FaultSwitch::default());
    tokio::spawn(serve_tcp(
        listener,
        Arc::clone(&board),
        Some(1),
        Arc::clone(&faults),
    ));
    run_arm(Arc::clone(&board), Arc::clone(&inputs));
    Lane {
        board,
        faults,
        inputs,
        port,
    }
}

/// Tick the board every 5 ms; the limit switch of the direction the motor
/// drives is reached 100 ms after the motor starts.
fn run_arm(b: Arc<Mutex<Board>>, i: Arc<Mutex<RawInputs>>) {
    tokio::spawn(async move {
        let t0 = std::time::Instant::now();
        let mut moving_ms = 0u64;
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let now = t0.elapsed().as_millis() as u64;
            let raw = *i.lock().expect("inputs");
            let out = b.lock().expect("board").tick(now, raw);
            let mut raw = i.lock().expect("inputs");
            if out.motor_up || out.motor_down {
                moving_ms += 5;
                raw.up_limit = false;
                raw.down_limit = false;
                if moving_ms >= 100 {
                    raw.up_limit = out.motor_up;
                    raw.down_limit = out.motor_down;
                }
            } else {
                moving_ms = 0;
            }
        }
    });
}

fn bus_cfg(port: u16) -> ModbusBusConfig {
    let mut c = ModbusBusConfig::tcp("board-bus", &format!("127.0.0.1:{port}"));
    c.request_timeout_ms = 200;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_commands_led_and_settings() {
    let lane = lane().await;
    let reg = HealthRegistry::new();
    let (bus, _t) = spawn_bus(bus_cfg(lane.port), &reg).expect("bus");
    let mut cfg = BoardConfig::new("board-bus");
    cfg.poll_interval_ms = 20;
    cfg.heartbeat_interval_ms = 100;
    cfg.settings.heartbeat_timeout_ms = Some(1500);
    cfg.settings.debounce_ms = Some(10);
    let (board, _tasks) = spawn_board(cfg, &bus, &reg).expect("board");
    let mut rx = board.subscribe();

    let s = wait_for(&mut rx, LIMIT, "closed barrier", |s| {
        s.as_ref()
            .is_some_and(|s| s.barrier == Some(BarrierState::Closed) && s.inputs.down_limit)
    })
    .await
    .expect("snapshot");
    assert_eq!(s.fw_version, lane_io::regmap::FW_VERSION);
    assert!(!s.status.heartbeat_lost);

    // Settings were written when the board came online.
    {
        use lane_io::modbus::DataModel;
        let b = lane.board.lock().expect("board");
        assert_eq!(b.read_holding_register(hr::HEARTBEAT_TIMEOUT_MS), Ok(1500));
        assert_eq!(b.read_holding_register(hr::DEBOUNCE_MS), Ok(10));
    }

    // Inputs reach the snapshot.
    lane.inputs.lock().expect("inputs").arrival_loop = true;
    wait_for(&mut rx, LIMIT, "arrival loop", |s| {
        s.as_ref().is_some_and(|s| s.inputs.arrival_loop)
    })
    .await;

    // A raise is accepted and the arm opens.
    board.command(BoardCommand::Raise).await.expect("raise");
    let s = wait_for(&mut rx, LIMIT, "barrier open", |s| {
        s.as_ref()
            .is_some_and(|s| s.barrier == Some(BarrierState::Open))
    })
    .await
    .expect("snapshot");
    assert_eq!(s.last_command, Some(CommandResult::Accepted));
    assert!(s.counters.raises >= 1);

    // LED text: UTF-8, cut on a character boundary at 64 bytes.
    let text = format!("琼A12345 请停车等待检查 {}", "é".repeat(30));
    let written = board.set_led_text(&text).await.expect("led");
    assert!(written.len() <= 64 && text.starts_with(&written));
    assert!(written.len() >= 63, "{}", written.len());
    {
        let b = lane.board.lock().expect("board");
        assert_eq!(b.led_bytes(), written.as_bytes());
        assert!(std::str::from_utf8(b.led_bytes()).is_ok());
    }
    board.set_led_text("OK").await.expect("led");
    assert_eq!(lane.board.lock().expect("board").led_bytes(), b"OK");

    // Light and buzzer are plain coils.
    board
        .command(BoardCommand::Buzzer(true))
        .await
        .expect("buzzer");
    wait_for(&mut rx, LIMIT, "buzzer on", |s| {
        s.as_ref().is_some_and(|s| s.outputs.buzzer)
    })
    .await;
    board
        .command(BoardCommand::Buzzer(false))
        .await
        .expect("buzzer");

    // Stop the heartbeat: the board's watchdog (1.5 s) trips.
    board.set_heartbeat(false);
    wait_for(&mut rx, LIMIT, "heartbeat lost", |s| {
        s.as_ref().is_some_and(|s| s.status.heartbeat_lost)
    })
    .await;
    board.set_heartbeat(true);
    wait_for(&mut rx, LIMIT, "heartbeat back", |s| {
        s.as_ref().is_some_and(|s| !s.status.heartbeat_lost)
    })
    .await;

    let h = reg.get("board").expect("board health");
    assert_eq!(h.consecutive_errors, 0);
    assert!(h.total_ok > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_board_withdraws_the_snapshot_and_comes_back() {
    let lane = lane().await;
    let reg = HealthRegistry::new();
    let (bus, _t) = spawn_bus(bus_cfg(lane.port), &reg).expect("bus");
    let mut cfg = BoardConfig::new("board-bus");
    cfg.poll_interval_ms = 20;
    let (board, _tasks) = spawn_board(cfg, &bus, &reg).expect("board");
    let mut rx = board.subscribe();
    wait_for(&mut rx, LIMIT, "online", Option::is_some).await;

    // The board stops answering: after 3 failed polls the state is unknown.
    lane.faults.set(FaultMode::Silent);
    wait_for(&mut rx, LIMIT, "withdrawn", Option::is_none).await;
    let h = reg.get("board").expect("health");
    assert!(h.consecutive_errors >= 3, "{h:?}");
    assert_eq!(
        h.last_error_class,
        Some(gate_drivers::error::ErrorClass::Timeout)
    );
    // Commands fail with an error instead of hanging.
    let t0 = std::time::Instant::now();
    assert!(board.command(BoardCommand::Raise).await.is_err());
    assert!(t0.elapsed() <= bus.request_budget());

    lane.faults.set(FaultMode::Normal);
    wait_for(&mut rx, LIMIT, "back online", Option::is_some).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_and_another_unit_share_an_rtu_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pty = common::PtyPair::new(dir.path());
    let board = Arc::new(Mutex::new(Board::new()));
    let inputs = Arc::new(Mutex::new(RawInputs {
        down_limit: true,
        ..RawInputs::default()
    }));
    run_arm(Arc::clone(&board), Arc::clone(&inputs));
    let memory = Arc::new(Mutex::new(lane_io_host::MemoryModel::new(8, 8, 16, 16)));
    let port = lane_io_host::open_serial(&pty.b.to_string_lossy(), 19200).expect("open pty b");
    let devices = vec![
        lane_io_host::RtuDevice {
            unit_id: 1,
            model: board.clone(),
            faults: Arc::new(FaultSwitch::default()),
        },
        lane_io_host::RtuDevice {
            unit_id: 2,
            model: memory.clone(),
            faults: Arc::new(FaultSwitch::default()),
        },
    ];
    tokio::spawn(lane_io_host::serve_rtu_multi(port, 19200, devices));

    let reg = HealthRegistry::new();
    let mut serial = gate_drivers::config::SerialPortConfig::new(&pty.a);
    serial.baud = 19200;
    let mut bus_cfg = ModbusBusConfig::rtu("rs485", serial);
    bus_cfg.request_timeout_ms = 300;
    let (bus, _t) = spawn_bus(bus_cfg, &reg).expect("bus");
    let mut cfg = BoardConfig::new("rs485");
    cfg.poll_interval_ms = 30;
    let (handle, _tasks) = spawn_board(cfg, &bus, &reg).expect("board");
    let other = bus.device(2, reg.register("io-2"));

    let mut rx = handle.subscribe();
    wait_for(&mut rx, LIMIT, "board over RTU", |s| {
        s.as_ref().is_some_and(|s| s.inputs.down_limit)
    })
    .await;
    for v in [11u16, 22, 33] {
        other.write_register(3, v).await.expect("write unit 2");
        assert_eq!(
            other.read_holding(3, 1).await.expect("read unit 2"),
            vec![v]
        );
    }
    handle
        .command(BoardCommand::Raise)
        .await
        .expect("raise over RTU");
    wait_for(&mut rx, LIMIT, "open over RTU", |s| {
        s.as_ref()
            .is_some_and(|s| s.barrier == Some(BarrierState::Open))
    })
    .await;
    handle.set_led_text("琼A12345").await.expect("led");
    assert_eq!(
        board.lock().expect("board").led_bytes(),
        "琼A12345".as_bytes()
    );
    assert_eq!(reg.get("board").expect("board").consecutive_errors, 0);
    assert_eq!(reg.get("io-2").expect("io-2").total_ok, 6);
}
