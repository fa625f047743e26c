//! Issue 3: the `SimLane` API the scenario runner uses: endpoints, trucks and
//! their observations, held trucks backing out, stopping short, tailgating
//! seen by the board, two lanes in one process, shutdown. Bounded: 10x lane
//! time, every wait limited.

use crate::devices_support;

use std::time::Duration;

use devices_support::*;
use serde_json::json;
use sim::lane::{LaneConfig, ObservationKind, SimLane, TruckSpec};
use sim::physics::Behaviour;

fn quiet_config() -> LaneConfig {
    LaneConfig {
        cameras: Default::default(),
        ..LaneConfig::default()
    }
}

fn rigid(plate: &str, behaviour: Behaviour) -> TruckSpec {
    TruckSpec {
        plate: plate.into(),
        plate_colour: gate_proto::messages::PlateColour::Yellow,
        etag: None,
        trailer: None,
        containers: vec![],
        eseal: None,
        tare_kg: 12_000.0,
        cargo_kg: 0.0,
        behaviour,
        speed: None,
        tractor_length_m: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observations_follow_a_truck_and_a_held_truck_backs_out() {
    let lane = SimLane::spawn(quiet_config(), fast_clock())
        .await
        .expect("lane");
    let mut rx = lane.subscribe();
    let first = lane.add_truck(container_truck("琼A11111")).expect("truck");
    let second = lane
        .add_truck(rigid("琼A22222", Behaviour::Normal))
        .expect("truck");
    assert_ne!(first, second);
    wait_for(
        &lane,
        first,
        |k| matches!(k, ObservationKind::StoppedAtLine { short: false, .. }),
        Duration::from_secs(20),
    )
    .await;
    let seen = lane.observations();
    // The truck's movements, without the data observations (a reader may
    // see the windscreen tag before the truck reaches the loop).
    let kinds: Vec<_> = seen
        .iter()
        .filter(|o| o.truck == first)
        .map(|o| o.kind)
        .filter(|k| {
            !matches!(
                k,
                ObservationKind::TagFirstRead { .. } | ObservationKind::ScaleSettled { .. }
            )
        })
        .collect();
    assert_eq!(kinds[0], ObservationKind::Entered);
    assert_eq!(kinds[1], ObservationKind::ArrivedAtArrivalLoop);
    assert!(
        seen.iter()
            .any(|o| o.truck == first && o.kind == ObservationKind::TagFirstRead { eseal: false }),
        "the e-tag reader's first read of the truck is observed (the data floor)"
    );
    assert!(seen
        .iter()
        .all(|o| o.truck != first || o.plate == "琼A11111"));
    assert!(
        seen.windows(2).all(|w| w[0].t_ms <= w[1].t_ms),
        "in lane-time order"
    );
    let live = rx
        .try_recv()
        .expect("the live stream got the first observation");
    assert_eq!((live.truck, live.kind), (first, ObservationKind::Entered));
    let snap = lane.snapshot();
    assert!(snap.arrival_loop && !snap.safety_loop && snap.down_limit);
    assert!((snap.platform_load_kg - 35_000.0).abs() < 1e-6);

    // The officer sends the held truck away; the next one moves up to the line.
    assert_eq!(lane.reverse_held(), Some(first));
    wait_for(
        &lane,
        first,
        |k| *k == ObservationKind::ReversedOut,
        Duration::from_secs(30),
    )
    .await;
    wait_for(
        &lane,
        second,
        |k| matches!(k, ObservationKind::StoppedAtLine { .. }),
        Duration::from_secs(30),
    )
    .await;
    assert!(lane.snapshot().trucks.iter().all(|t| t.0 != first));
    assert!(lane.reverse(first).is_err(), "gone");
    assert!(lane.violations().is_empty());
    lane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truck_that_stops_short_misses_the_arrival_loop_until_waved_forward() {
    let lane = SimLane::spawn(quiet_config(), fast_clock())
        .await
        .expect("lane");
    let id = lane
        .add_truck(rigid("琼B33333", Behaviour::StopsShort))
        .expect("truck");
    wait_for(
        &lane,
        id,
        |k| matches!(k, ObservationKind::StoppedAtLine { short: true, .. }),
        Duration::from_secs(20),
    )
    .await;
    assert!(!lane.snapshot().arrival_loop);
    assert!(!lane
        .observations()
        .iter()
        .any(|o| o.kind == ObservationKind::ArrivedAtArrivalLoop));
    lane.pull_forward(id).expect("wave forward");
    wait_for(
        &lane,
        id,
        |k| *k == ObservationKind::ArrivedAtArrivalLoop,
        Duration::from_secs(20),
    )
    .await;
    lane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tailgater_is_seen_by_the_physics_and_counted_by_the_board() {
    require_pymodbus();
    let lane = SimLane::spawn(quiet_config(), fast_clock())
        .await
        .expect("lane");
    let lead = lane
        .add_truck(rigid("琼C44444", Behaviour::Normal))
        .expect("truck");
    let tail = lane
        .add_truck(rigid("琼C55555", Behaviour::Tailgate))
        .expect("truck");
    wait_for(
        &lane,
        lead,
        |k| matches!(k, ObservationKind::StoppedAtLine { .. }),
        Duration::from_secs(20),
    )
    .await;
    let board = lane.endpoints().board_tcp;
    let out = modbus_tcp(
        board,
        1,
        json!([
            {"op": "write_register", "addr": 1, "value": 0},
            {"op": "write_coil", "addr": 3, "value": true},
            {"op": "write_coil", "addr": 0, "value": true},
        ]),
    )
    .await;
    assert!(
        out["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ok"] == json!(true)),
        "{out}"
    );
    wait_for(
        &lane,
        tail,
        |k| *k == ObservationKind::Tailgated,
        Duration::from_secs(30),
    )
    .await;
    wait_for(
        &lane,
        tail,
        |k| *k == ObservationKind::LeftExitLoop,
        Duration::from_secs(30),
    )
    .await;
    let out = modbus_tcp(
        board,
        1,
        json!([{"op": "read", "table": "ir", "addr": 0, "count": 13}]),
    )
    .await;
    let irs = values(&out, 0);
    assert!(
        irs[lane_io::regmap::ir::TAILGATE_COUNT as usize] >= 1,
        "{irs:?}"
    );
    assert_eq!(irs[lane_io::regmap::ir::RAISE_COUNT as usize], 1);
    assert!(lane.violations().is_empty(), "{:?}", lane.violations());
    lane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lanes_run_side_by_side_and_shutdown_frees_their_ports() {
    let a = SimLane::spawn(
        LaneConfig {
            name: "lane-a".into(),
            ..LaneConfig::default()
        },
        fast_clock(),
    )
    .await
    .expect("lane a");
    let b = SimLane::spawn(
        LaneConfig {
            name: "lane-b".into(),
            seed: 2,
            ..LaneConfig::default()
        },
        fast_clock(),
    )
    .await
    .expect("lane b");
    let (ea, eb) = (a.endpoints().clone(), b.endpoints().clone());
    assert_ne!(ea.board_tcp, eb.board_tcp);
    assert_ne!(ea.board_rtu, eb.board_rtu);
    assert_eq!(ea.cameras.len(), 4);
    assert!(ea
        .cameras
        .values()
        .all(|u| u.starts_with("http://127.0.0.1:")));
    assert_eq!(ea.weighbridges.len(), 1);
    assert!(ea.etag_reader.is_some() && ea.eseal_reader.is_some());
    let ta = a
        .add_truck(rigid("琼D66666", Behaviour::Normal))
        .expect("truck");
    wait_for(
        &a,
        ta,
        |k| matches!(k, ObservationKind::StoppedAtLine { .. }),
        Duration::from_secs(20),
    )
    .await;
    assert!(b.observations().is_empty(), "lanes are independent");
    assert!(b.snapshot().trucks.is_empty());

    // Bad trucks are refused with a reason.
    let mut bad = rigid("琼D77777", Behaviour::Normal);
    bad.etag = Some("this id is far too long for an EPC".into());
    assert!(a.add_truck(bad).is_err());
    let mut bad = rigid("", Behaviour::Normal);
    bad.tare_kg = -1.0;
    assert!(a.add_truck(bad).is_err());

    let rtu = ea.board_rtu.clone().expect("rtu");
    a.shutdown().await;
    assert!(
        tokio::net::TcpStream::connect(ea.board_tcp).await.is_err(),
        "board port closed"
    );
    for url in ea.cameras.values() {
        let addr = url.trim_start_matches("http://");
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "camera {url} closed"
        );
    }
    assert!(!rtu.exists(), "pty link removed");
    // The other lane still answers.
    assert!(tokio::net::TcpStream::connect(eb.board_tcp).await.is_ok());
    b.shutdown().await;
}
