//! Issue 3: the simulated cameras over HTTP, through an independent client
//! (sim/tests/peers/http_peer.py, Python's http.client): snapshots and MJPEG
//! parts decode as JPEG (image crate), recognition JSON follows what is in
//! view, misreads never validate, dark/silent/offline faults behave as
//! documented in docs/devices/camera.md. Bounded: 10x lane time, peers
//! time-limited.

use crate::devices_support;

use std::time::Duration;

use devices_support::*;
use lane_io_host::FaultMode;
use serde_json::{json, Value};
use sim::devices::camera::ocr::iso6346_valid;
use sim::devices::camera::{CameraConfig, CameraPosition, ContainerPosition};
use sim::lane::{ContainerSpec, DeviceId, LaneConfig, ObservationKind, SimLane, TruckSpec};

fn config() -> LaneConfig {
    let mut cfg = LaneConfig {
        weighbridges: vec![],
        etag_reader: None,
        eseal_reader: None,
        ..LaneConfig::default()
    };
    cfg.cameras.insert(
        CameraPosition::ContainerBack,
        CameraConfig {
            misread_rate: 1.0,
            ..CameraConfig::default()
        },
    );
    cfg
}

fn truck() -> TruckSpec {
    let mut t = container_truck("琼A12345");
    t.containers = vec![
        ContainerSpec {
            number: "CSQU 305438 3".into(),
            position: ContainerPosition::Front,
            vertical: false,
            size_type: "22G1".into(),
            // The two boxes weigh what the one they replace did.
            tare_kg: Some(1900.0),
            read_as: None,
        },
        ContainerSpec {
            number: "MSKU9070323".into(),
            position: ContainerPosition::Back,
            vertical: true,
            size_type: "22G1".into(),
            tare_kg: Some(1900.0),
            read_as: None,
        },
    ];
    t
}

async fn get(url: &str, timeout_s: f64) -> Value {
    let args = vec!["get".into(), url.into(), timeout_s.to_string()];
    run_peer("http_peer.py", &args, "", Duration::from_secs(30)).await
}

fn body(v: &Value) -> Vec<u8> {
    let s = v["body_hex"]
        .as_str()
        .unwrap_or_else(|| panic!("no body: {v}"));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn jpeg(bytes: &[u8]) -> image::RgbImage {
    assert_eq!(&bytes[..2], &[0xFF, 0xD8], "JPEG SOI");
    assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9], "JPEG EOI");
    image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .expect("decodes as JPEG")
        .to_rgb8()
}

async fn snapshot(base: &str) -> image::RgbImage {
    let r = get(&format!("{base}/snapshot.jpg"), 10.0).await;
    assert_eq!(
        r["status"],
        json!(200),
        "{}",
        r.get("error").unwrap_or(&Value::Null)
    );
    assert_eq!(r["content_type"], json!("image/jpeg"));
    jpeg(&body(&r))
}

async fn recognition(base: &str) -> Value {
    let r = get(&format!("{base}/recognition"), 10.0).await;
    assert_eq!(r["status"], json!(200), "{r}");
    assert_eq!(r["content_type"], json!("application/json"));
    serde_json::from_slice(&body(&r)).expect("JSON body")
}

fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let s: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    s as f64 / a.as_raw().len() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cameras_show_and_recognise_the_truck_in_view() {
    require_pymodbus(); // the Debian python runs the peer
    let lane = SimLane::spawn(config(), fast_clock()).await.expect("lane");
    let cams = lane.endpoints().cameras.clone();
    assert_eq!(cams.len(), 4);
    let url = |p: CameraPosition| cams[&p].clone();

    // Empty lane: nothing recognised, an empty scene.
    for p in CameraPosition::ALL {
        assert_eq!(recognition(&url(p)).await, Value::Null, "{p:?}");
    }
    let empty = snapshot(&url(CameraPosition::PlateFront)).await;
    assert_eq!(empty.dimensions(), (1280, 720));

    let id = lane.add_truck(truck()).expect("truck");
    wait_for(
        &lane,
        id,
        |k| matches!(k, ObservationKind::StoppedAtLine { .. }),
        Duration::from_secs(20),
    )
    .await;

    let r = recognition(&url(CameraPosition::PlateFront)).await;
    assert_eq!(r["plate"], json!("琼A12345"), "{r}");
    assert_eq!(r["colour"], json!("yellow"));
    assert!(r["confidence"].as_f64().unwrap() >= 0.88, "{r}");
    assert!(r["frame"].as_u64().is_some());
    let r = recognition(&url(CameraPosition::PlateRear)).await;
    assert_eq!(
        r["plate"],
        json!("琼A0001挂"),
        "the trailer plate at the rear: {r}"
    );
    let r = recognition(&url(CameraPosition::ContainerFront)).await;
    assert_eq!(
        r["codes"],
        json!([{"text": "CSQU3054383", "confidence": r["codes"][0]["confidence"], "layout": "horizontal"}])
    );
    // The back camera misreads (rate 1.0): a real confusion, never a valid code.
    let r = recognition(&url(CameraPosition::ContainerBack)).await;
    let text = r["codes"][0]["text"].as_str().expect("text");
    assert_ne!(text, "MSKU9070323");
    assert_eq!(text.chars().count(), 11);
    assert!(!iso6346_valid(text), "misread {text} must not validate");
    assert!(r["codes"][0]["confidence"].as_f64().unwrap() < 0.85);
    assert_eq!(r["codes"][0]["layout"], json!("vertical"));
    // The same truck is read the same way on every poll.
    assert_eq!(
        recognition(&url(CameraPosition::ContainerBack)).await["codes"][0]["text"],
        json!(text)
    );

    // Frames show the truck: far from the empty scene.
    let front = snapshot(&url(CameraPosition::PlateFront)).await;
    assert!(
        mean_abs_diff(&front, &empty) > 10.0,
        "diff {}",
        mean_abs_diff(&front, &empty)
    );
    let cont = snapshot(&url(CameraPosition::ContainerBack)).await;
    assert_eq!(cont.dimensions(), (1280, 720));

    // MJPEG: a multipart stream of JPEG parts.
    let args = vec![
        "mjpeg".into(),
        format!("{}/mjpeg", url(CameraPosition::PlateRear)),
        "3".into(),
        "10".into(),
    ];
    let m = run_peer("http_peer.py", &args, "", Duration::from_secs(30)).await;
    assert_eq!(m["status"], json!(200), "{m}");
    assert!(
        m["content_type"]
            .as_str()
            .unwrap()
            .starts_with("multipart/x-mixed-replace"),
        "{m}"
    );
    assert_eq!(m["boundary"], json!("frame"));
    let parts = m["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 3, "{}", m.get("error").unwrap_or(&Value::Null));
    for p in parts {
        assert_eq!(p["headers"]["content-type"], json!("image/jpeg"));
        let img = jpeg(&body(p));
        assert_eq!(img.dimensions(), (1280, 720));
    }

    // Dark: black frames, no recognition; light again: back.
    lane.camera_dark(CameraPosition::PlateFront, true).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // past the frame cache
    let dark = snapshot(&url(CameraPosition::PlateFront)).await;
    let max = dark.as_raw().iter().copied().max().unwrap();
    assert!(max <= 8, "black frame, brightest value {max}");
    assert_eq!(
        recognition(&url(CameraPosition::PlateFront)).await,
        Value::Null
    );
    lane.camera_dark(CameraPosition::PlateFront, false).unwrap();
    assert_eq!(
        recognition(&url(CameraPosition::PlateFront)).await["plate"],
        json!("琼A12345")
    );

    // Silent: accepted, never answered. Offline: refused. Normal: the same port answers.
    let rec = format!("{}/recognition", url(CameraPosition::PlateRear));
    lane.set_fault(
        &DeviceId::Camera(CameraPosition::PlateRear),
        FaultMode::Silent,
    )
    .unwrap();
    assert_eq!(get(&rec, 1.0).await, json!({"error": "timeout"}));
    lane.set_fault(
        &"camera.plate_rear".parse::<DeviceId>().unwrap(),
        FaultMode::Offline,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get(&rec, 2.0).await, json!({"error": "refused"}));
    lane.set_fault(
        &DeviceId::Camera(CameraPosition::PlateRear),
        FaultMode::Normal,
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(&rec, 2.0).await;
        if r["status"] == json!(200) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "camera did not come back: {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lane.shutdown().await;
}
