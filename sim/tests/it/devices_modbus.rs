//! Issue 3: every Modbus device of a simulated lane, read by independent
//! masters (pymodbus 3.0 in sim/tests/peers/modbus_peer.py, and mbpoll):
//! the board over TCP and over RTU on its pty, both weighbridge profiles, both
//! RFID readers; every documented register, exceptions past the maps, and
//! fault injection. Bounded: the lane runs 10x real time, every peer call and
//! wait has a time limit.

use crate::devices_support;

use std::time::Duration;

use devices_support::*;
use lane_io::regmap::{di, ir, BarrierState, FW_VERSION};
use lane_io_host::FaultMode;
use serde_json::json;
use sim::devices::rfid::{epc_from_id, reg, tid_for};
use sim::devices::weighbridge::modbus::status;
use sim::devices::weighbridge::{WbModbusProfile, WbProtocol, WeighbridgeConfig};
use sim::lane::{DeviceId, LaneConfig, ObservationKind, SimLane};

fn config() -> LaneConfig {
    LaneConfig {
        weighbridges: vec![
            WeighbridgeConfig::new("wbf", WbProtocol::Modbus(WbModbusProfile::F32Cdab)),
            WeighbridgeConfig::new("wbi", WbProtocol::Modbus(WbModbusProfile::I32Scaled)),
        ],
        cameras: Default::default(),
        ..LaneConfig::default()
    }
}

fn words_to_epc(w: &[u16]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_be_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_register_of_every_modbus_device_with_a_truck_at_the_line() {
    require_pymodbus();
    require_tool("mbpoll", "mbpoll");
    let lane = SimLane::spawn(config(), fast_clock()).await.expect("lane");
    let ep = lane.endpoints().clone();
    let truck = lane.add_truck(container_truck("琼A12345")).expect("truck");
    wait_for(
        &lane,
        truck,
        |k| matches!(k, ObservationKind::StoppedAtLine { .. }),
        Duration::from_secs(20),
    )
    .await;
    // Let the platform settle (lane time).
    lane_sleep(&lane, 8_000).await;

    // --- Board over TCP: every table, every address.
    let out = modbus_tcp(
        ep.board_tcp,
        1,
        json!([
            {"op": "read", "table": "di", "addr": 0, "count": 8},
            {"op": "read", "table": "co", "addr": 0, "count": 6},
            {"op": "read", "table": "hr", "addr": 0, "count": 8},
            {"op": "read", "table": "hr", "addr": 16, "count": 32},
            {"op": "read", "table": "ir", "addr": 0, "count": 13},
            {"op": "read", "table": "ir", "addr": 13, "count": 1},
        ]),
    )
    .await;
    let dis = values(&out, 0);
    assert_eq!(
        dis[di::ARRIVAL_LOOP as usize],
        1,
        "truck on the arrival loop: {dis:?}"
    );
    assert_eq!(dis[di::SAFETY_LOOP as usize], 0);
    assert_eq!(dis[di::EXIT_LOOP as usize], 0);
    assert_eq!(dis[di::PHOTOCELL as usize], 0);
    assert_eq!(dis[di::DOWN_LIMIT as usize], 1);
    assert_eq!(dis[di::UP_LIMIT as usize], 0);
    assert_eq!(values(&out, 1).len(), 6);
    assert_eq!(values(&out, 2)[1], 3000, "default heartbeat timeout");
    assert_eq!(values(&out, 3).len(), 32);
    let irs = values(&out, 4);
    assert_eq!(irs[ir::FW_VERSION as usize], FW_VERSION);
    assert_eq!(irs[ir::BARRIER_STATE as usize], BarrierState::Closed as u16);
    assert_eq!(
        out["results"][5]["exception"],
        json!(2),
        "past the input registers: {out}"
    );

    // --- Weighbridge wb-f32-cdab, FC 03 and FC 04.
    let wbf = ep
        .weighbridges
        .iter()
        .find(|w| w.name == "wbf")
        .and_then(|w| w.tcp)
        .expect("wbf");
    let out = modbus_tcp(
        wbf,
        1,
        json!([
            {"op": "read", "table": "hr", "addr": 0, "count": 7},
            {"op": "read", "table": "ir", "addr": 0, "count": 7},
            {"op": "read", "table": "hr", "addr": 7, "count": 1},
            {"op": "write_register", "addr": 0, "value": 1},
        ]),
    )
    .await;
    let r = values(&out, 0);
    let kg = f32::from_bits(u32::from(r[1]) << 16 | u32::from(r[0]));
    assert!((kg - 35_000.0).abs() <= 20.0, "gross {kg} kg");
    assert_eq!(kg % 20.0, 0.0);
    assert_eq!(r[2] & status::STABLE, status::STABLE, "status {:#x}", r[2]);
    assert_eq!(
        r[2] & (status::MOTION | status::OVERLOAD | status::NEGATIVE | status::ZERO),
        0
    );
    assert_eq!(r[3], 20);
    assert_eq!(
        f32::from_bits(u32::from(r[5]) << 16 | u32::from(r[4])),
        60_000.0
    );
    let r4 = values(&out, 1);
    assert_eq!(r4[3..6], r[3..6], "FC 04 serves the same map");
    assert_eq!(out["results"][2]["exception"], json!(2));
    assert_eq!(out["results"][3]["exception"], json!(2), "read-only");

    // mbpoll (another independent master) reads the CDAB float as-is (its default word order).
    let mb = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new("mbpoll")
            .args([
                "-m",
                "tcp",
                "-p",
                &wbf.port().to_string(),
                "-0",
                "-r",
                "0",
                "-c",
                "1",
                "-t",
                "3:float",
                "-1",
            ])
            .arg(wbf.ip().to_string())
            .output(),
    )
    .await
    .expect("mbpoll in time")
    .expect("mbpoll runs");
    let text = String::from_utf8_lossy(&mb.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("[0]:"))
        .unwrap_or_else(|| panic!("mbpoll output: {text}"));
    let v: f64 = line
        .trim_start_matches("[0]:")
        .trim()
        .parse()
        .expect("float");
    assert!((v - 35_000.0).abs() <= 20.0, "mbpoll read {v}");

    // --- Weighbridge wb-i32-scaled.
    let wbi = ep
        .weighbridges
        .iter()
        .find(|w| w.name == "wbi")
        .and_then(|w| w.tcp)
        .expect("wbi");
    let out = modbus_tcp(
        wbi,
        1,
        json!([
            {"op": "read", "table": "ir", "addr": 0, "count": 7},
            {"op": "read", "table": "hr", "addr": 0, "count": 7},
            {"op": "read", "table": "co", "addr": 0, "count": 1},
        ]),
    )
    .await;
    let r = values(&out, 0);
    let units = ((u32::from(r[0]) << 16) | u32::from(r[1])) as i32;
    assert!(
        (i64::from(units) * 10 - 35_000).abs() <= 20,
        "{units} x 10 kg"
    );
    assert_eq!(r[2] & status::STABLE, status::STABLE);
    assert_eq!(&r[3..6], &[10, 20, 6000]);
    assert_eq!(values(&out, 1)[3..6], r[3..6]);
    assert_eq!(out["results"][2]["exception"], json!(2), "no coils");

    // --- E-tag reader: windscreen tag strongest, trailer tag second.
    let out = modbus_tcp(
        ep.etag_reader.expect("etag reader"),
        1,
        json!([
            {"op": "read", "table": "ir", "addr": 0, "count": 80},
            {"op": "read", "table": "hr", "addr": 0, "count": 80},
            {"op": "read", "table": "ir", "addr": 80, "count": 1},
        ]),
    )
    .await;
    let r = values(&out, 0);
    assert_eq!(
        r[reg::STATUS as usize],
        reg::STATUS_RF_ON | reg::STATUS_TAG_PRESENT
    );
    assert_eq!(r[reg::TAG_COUNT as usize], 2);
    assert_eq!(r[reg::READER_KIND as usize], 1);
    let total = (u32::from(r[reg::TOTAL_READS_HI as usize]) << 16)
        | u32::from(r[reg::TOTAL_READS_LO as usize]);
    assert!(total >= 20, "total reads {total}");
    let slot = |i: usize| &r[16 + 16 * i..32 + 16 * i];
    let windscreen = epc_from_id("E2801160600002054CC2A1B3").unwrap();
    let trailer = epc_from_id("TRL-0001").unwrap();
    assert_eq!(slot(0)[0], 1);
    assert_eq!(words_to_epc(&slot(0)[1..7]), windscreen);
    assert_eq!(words_to_epc(&slot(0)[7..11]), tid_for(&windscreen));
    let rssi0 = slot(0)[11] as i16;
    let rssi1 = slot(1)[11] as i16;
    assert!(rssi0 > rssi1 && rssi0 < 0, "rssi {rssi0} > {rssi1}");
    assert!((u32::from(slot(0)[12]) << 16 | u32::from(slot(0)[13])) >= 10);
    assert_eq!(slot(0)[14], 0, "not an e-seal");
    assert!(slot(0)[15] <= 1000, "age {}", slot(0)[15]);
    assert_eq!(words_to_epc(&slot(1)[1..7]), trailer);
    assert!(slot(2).iter().all(|&w| w == 0) && slot(3).iter().all(|&w| w == 0));
    // The same header through FC 04, but for the read counter, which the
    // reader keeps counting between the two requests.
    let fc04 = values(&out, 1);
    let moving = [reg::TOTAL_READS_HI as usize, reg::TOTAL_READS_LO as usize];
    for i in (0..16).filter(|i| !moving.contains(i)) {
        assert_eq!(fc04[i], r[i], "FC 03 = FC 04 header, register {i}");
    }
    let total04 = (u32::from(fc04[reg::TOTAL_READS_HI as usize]) << 16)
        | u32::from(fc04[reg::TOTAL_READS_LO as usize]);
    assert!(
        total04 >= total,
        "the read counter only grows: {total} then {total04}"
    );
    assert_eq!(out["results"][2]["exception"], json!(2));

    // --- E-seal reader: the tampered seal on the rear door.
    let out = modbus_tcp(
        ep.eseal_reader.expect("eseal reader"),
        1,
        json!([{"op": "read", "table": "hr", "addr": 0, "count": 80}]),
    )
    .await;
    let r = values(&out, 0);
    assert_eq!(r[reg::TAG_COUNT as usize], 1);
    assert_eq!(r[reg::READER_KIND as usize], 2);
    assert_eq!(words_to_epc(&r[17..23]), epc_from_id("ES00012345").unwrap());
    assert_eq!(r[16 + reg::SEAL_STATE as usize], 2, "tampered");

    lane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_over_rtu_on_its_pty_raises_the_arm_and_the_truck_passes() {
    require_pymodbus();
    let lane = SimLane::spawn(config(), fast_clock()).await.expect("lane");
    let path = lane.endpoints().board_rtu.clone().expect("RTU pty");
    assert!(path.exists(), "{} exists", path.display());
    let truck = lane.add_truck(container_truck("琼B00001")).expect("truck");
    wait_for(
        &lane,
        truck,
        |k| matches!(k, ObservationKind::StoppedAtLine { .. }),
        Duration::from_secs(20),
    )
    .await;
    let out = modbus_rtu(
        &path,
        1,
        json!([
            {"op": "read", "table": "ir", "addr": 0, "count": 13},
            {"op": "read", "table": "di", "addr": 0, "count": 8},
            // Watchdog off (3 s of lane time is 0.3 s here), then raise with a green light.
            {"op": "write_register", "addr": 1, "value": 0},
            {"op": "read", "table": "hr", "addr": 1, "count": 1},
            {"op": "write_coil", "addr": 3, "value": true},
            {"op": "write_coil", "addr": 0, "value": true},
            {"op": "sleep", "seconds": 0.2},
            {"op": "read", "table": "ir", "addr": 0, "count": 1},
            {"op": "read", "table": "ir", "addr": 99, "count": 1},
        ]),
    )
    .await;
    let irs = values(&out, 0);
    assert_eq!(irs[ir::FW_VERSION as usize], FW_VERSION);
    assert_eq!(values(&out, 1)[di::ARRIVAL_LOOP as usize], 1);
    assert_eq!(values(&out, 3), [0]);
    let state = values(&out, 7)[0];
    assert!(
        state == BarrierState::Opening as u16 || state == BarrierState::Open as u16,
        "barrier state after RAISE over RTU: {state} ({out})"
    );
    assert_eq!(out["results"][8]["exception"], json!(2));
    wait_for(
        &lane,
        truck,
        |k| *k == ObservationKind::LeftExitLoop,
        Duration::from_secs(20),
    )
    .await;
    assert!(lane.violations().is_empty(), "{:?}", lane.violations());
    lane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_silence_and_disconnect_modbus_devices() {
    require_pymodbus();
    let lane = SimLane::spawn(config(), fast_clock()).await.expect("lane");
    let wbf = lane.endpoints().weighbridges[0].tcp.expect("wbf");
    let read = json!([{"op": "read", "table": "ir", "addr": 2, "count": 1}]);

    lane.set_fault(
        &"weighbridge.wbf".parse::<DeviceId>().unwrap(),
        FaultMode::Silent,
    )
    .unwrap();
    let out = modbus_tcp(wbf, 1, read.clone()).await;
    assert_eq!(
        out["results"][0]["ok"],
        json!(false),
        "silent: no answer: {out}"
    );
    assert!(
        out["results"][0].get("exception").is_none(),
        "silent is not an exception: {out}"
    );

    lane.set_fault(
        &DeviceId::Weighbridge(Some("wbf".into())),
        FaultMode::Offline,
    )
    .unwrap();
    let out = modbus_tcp(wbf, 1, read.clone()).await;
    assert!(
        out.get("fatal").is_some() || out["results"][0]["ok"] == json!(false),
        "offline: {out}"
    );

    lane.set_fault(&DeviceId::Weighbridge(None), FaultMode::Normal)
        .unwrap();
    let out = modbus_tcp(wbf, 1, read.clone()).await;
    assert_eq!(
        out["results"][0]["ok"],
        json!(true),
        "back to normal: {out}"
    );

    // The board and the readers take faults too; unknown devices are refused.
    lane.set_fault(&DeviceId::EtagReader, FaultMode::Silent)
        .unwrap();
    let out = modbus_tcp(lane.endpoints().etag_reader.unwrap(), 1, read.clone()).await;
    assert_eq!(out["results"][0]["ok"], json!(false));
    lane.set_fault(&DeviceId::Board, FaultMode::Silent).unwrap();
    let out = modbus_tcp(lane.endpoints().board_tcp, 1, read).await;
    assert_eq!(out["results"][0]["ok"], json!(false));
    assert!(lane
        .set_fault(
            &DeviceId::Weighbridge(Some("nope".into())),
            FaultMode::Silent
        )
        .is_err());
    lane.shutdown().await;
}
