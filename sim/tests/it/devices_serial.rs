//! Issue 3: the continuous-output weighbridges (Mettler Toledo, Yaohua
//! XK3190) on their pseudo-terminals, read by an independent decoder written
//! from docs/devices/weighbridge-{toledo,xk3190}.md
//! (sim/tests/peers/wb_ascii_peer.py), and re-checked byte for byte against
//! the simulator's own encoder. Bounded: 10x lane time, peers time-limited.

use crate::devices_support;

use std::time::Duration;

use devices_support::*;
use gate_wire::weighbridge::AsciiProtocol;
use gate_wire::weighbridge::{toledo, xk3190};
use lane_io_host::FaultMode;
use serde_json::Value;
use sim::devices::weighbridge::{WbProtocol, WeighbridgeConfig};
use sim::lane::{DeviceId, LaneConfig, ObservationKind, SimLane};

fn config() -> LaneConfig {
    LaneConfig {
        weighbridges: vec![
            WeighbridgeConfig::new("mt", WbProtocol::Ascii(AsciiProtocol::Toledo)),
            WeighbridgeConfig::new("xk", WbProtocol::Ascii(AsciiProtocol::Xk3190)),
        ],
        cameras: Default::default(),
        etag_reader: None,
        eseal_reader: None,
        ..LaneConfig::default()
    }
}

async fn read_frames(proto: &str, path: &std::path::Path, seconds: f64) -> Value {
    let args = vec![
        proto.to_string(),
        path.display().to_string(),
        seconds.to_string(),
    ];
    run_peer("wb_ascii_peer.py", &args, "", Duration::from_secs(30)).await
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toledo_and_xk3190_stream_the_truck_weight_byte_exactly() {
    require_pymodbus(); // the Debian python is the peer's interpreter
    let lane = SimLane::spawn(config(), fast_clock()).await.expect("lane");
    let ep = lane.endpoints().clone();
    let mt = ep
        .weighbridges
        .iter()
        .find(|w| w.name == "mt")
        .and_then(|w| w.serial.clone())
        .expect("mt pty");
    let xk = ep
        .weighbridges
        .iter()
        .find(|w| w.name == "xk")
        .and_then(|w| w.serial.clone())
        .expect("xk pty");

    // Empty platform: zero, stable.
    lane_sleep(&lane, 3_000).await;
    let out = read_frames("toledo", &mt, 0.5).await;
    let frames = out["frames"].as_array().expect("frames");
    assert!(
        frames.len() >= 20,
        "10 frames per lane second at 10x: {out}"
    );
    assert!(out["bad_frames"].as_u64().unwrap() <= 2, "{out}");
    let last = frames.last().unwrap();
    assert_eq!(last["weight_kg"], Value::from(0), "{last}");
    assert_eq!(last["motion"], Value::Bool(false));
    assert_eq!(last["kg"], Value::Bool(true));
    assert_eq!(last["dp_code"], Value::from(1), "20 kg division: XXXXX0");
    assert_eq!(last["increment"], Value::from(2));

    // A truck drives on: the readings move, then settle at the gross weight.
    let truck = lane.add_truck(container_truck("琼C22222")).expect("truck");
    wait_for(
        &lane,
        truck,
        |k| matches!(k, ObservationKind::ArrivedAtArrivalLoop),
        Duration::from_secs(20),
    )
    .await;
    let moving = read_frames("toledo", &mt, 0.4).await;
    assert!(
        moving["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["motion"] == Value::Bool(true)),
        "motion while the truck drives on: {moving}"
    );
    wait_for(
        &lane,
        truck,
        |k| matches!(k, ObservationKind::StoppedAtLine { .. }),
        Duration::from_secs(20),
    )
    .await;
    lane_sleep(&lane, 8_000).await;

    for (proto, path) in [("toledo", &mt), ("xk3190", &xk)] {
        let out = read_frames(proto, path, 0.5).await;
        let frames = out["frames"].as_array().expect("frames");
        assert!(frames.len() >= 20, "{proto}: {out}");
        assert!(out["bad_frames"].as_u64().unwrap() <= 2, "{proto}: {out}");
        for f in frames.iter().rev().take(5) {
            let w = f["weight_kg"].as_f64().unwrap();
            assert!((w - 35_000.0).abs() <= 20.0, "{proto}: {f}");
            assert_eq!(w % 20.0, 0.0);
            if proto == "toledo" {
                assert_eq!(f["motion"], Value::Bool(false), "settled: {f}");
            }
            // Byte-exact: the simulator's decoder agrees and re-encodes the same bytes.
            let raw = unhex(f["raw"].as_str().unwrap());
            if proto == "toledo" {
                let repr = toledo::parse(&raw, true).expect("frame");
                assert_eq!(repr.weight_kg(), w);
                assert_eq!(repr.to_vec(true), raw);
            } else {
                let repr = xk3190::parse(&raw).expect("frame");
                assert_eq!(repr.display_value(), w);
                assert_eq!(&repr.emit()[..], &raw[..]);
            }
        }
    }

    // Silent: the line goes quiet; Normal: it talks again.
    lane.set_fault(&DeviceId::Weighbridge(Some("xk".into())), FaultMode::Silent)
        .unwrap();
    lane_sleep(&lane, 1_000).await;
    let quiet = read_frames("xk3190", &xk, 0.4).await;
    assert_eq!(quiet["bytes"].as_u64(), Some(0), "{quiet}");
    lane.set_fault(
        &"weighbridge.xk".parse::<DeviceId>().unwrap(),
        FaultMode::Normal,
    )
    .unwrap();
    let back = read_frames("xk3190", &xk, 0.4).await;
    assert!(back["frames"].as_array().unwrap().len() >= 10, "{back}");
    lane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_reader_sees_only_a_few_stale_frames() {
    require_pymodbus();
    let lane = SimLane::spawn(config(), fast_clock()).await.expect("lane");
    let mt = lane.endpoints().weighbridges[0]
        .serial
        .clone()
        .expect("pty");
    // Nobody reads for 20 lane seconds (200 frames written).
    lane_sleep(&lane, 20_000).await;
    let t0 = lane.clock().now_ms();
    let out = read_frames("toledo", &mt, 0.3).await;
    let n = out["frames"].as_array().unwrap().len() as u64;
    // 0.3 s real = 3 lane s = ~30 frames, plus at most 4 stale ones.
    let elapsed_frames = (lane.clock().now_ms() - t0) / 100 + 2;
    assert!(
        n <= elapsed_frames + 4,
        "{n} frames for {elapsed_frames}: stale data was kept"
    );
    lane.shutdown().await;
}
