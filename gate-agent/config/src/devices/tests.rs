//! Unit tests of `devices` (kept beside it so the module stays readable).

use std::time::Duration;

use super::*;

const FULL: &str = r#"
profiles_dir = "config/profiles"

[[buses]]
name = "board"
tcp = "127.0.0.1:1502"

[[buses]]
name = "rs485"
rtu = { path = "/dev/ttyUSB0", baud = 19200, parity = "even" }
request_timeout_ms = 200
retries = 2
backoff = { initial_ms = 100, max_ms = 5000 }

[board]
bus = "board"
settings = { heartbeat_timeout_ms = 3000 }

[weighbridge]
modbus = { bus = "rs485", unit_id = 3, profile = "wb-f32-cdab" }
stability = { division_kg = 10, window_ms = 2000 }

[[rfid]]
name = "etag"
kind = "e-tag"
bus = "rs485"
unit_id = 4
profile = "rfid-etag"

[[cameras]]
name = "plate-front"
snapshot_url = "http://127.0.0.1:8081/snapshot.jpg"
recognition_url = "http://127.0.0.1:8081/recognition"
"#;

#[test]
fn full_config_parses_and_validates() {
    let c: DriversConfig = toml::from_str(FULL).expect("parse");
    c.validate().expect("valid");
    let rs = &c.buses[1];
    assert_eq!(
        rs.transport().expect("t"),
        Transport::Rtu(rs.rtu.clone().expect("rtu"))
    );
    assert_eq!(
        rs.rtu.as_ref().map(|p| (p.baud, p.parity, p.data_bits)),
        Some((19200, Parity::Even, 8))
    );
    // 3.5 chars of 11 bits at 19200 baud = 2.005 ms
    assert!(
        rs.frame_gap() >= Duration::from_millis(2) && rs.frame_gap() < Duration::from_millis(3)
    );
    assert_eq!(c.board.as_ref().map(|b| b.unit_id), Some(1));
    assert_eq!(
        c.weighbridge.as_ref().map(|w| w.stability.min_samples),
        Some(5)
    );
    assert_eq!(c.rfid[0].kind, RfidKind::ETag);
}

#[test]
fn semantic_errors() {
    let c: DriversConfig =
        toml::from_str(&FULL.replace("unit_id = 4", "unit_id = 3")).expect("parse");
    assert!(c
        .validate()
        .expect_err("clash")
        .to_string()
        .contains("unit 3 on bus `rs485` is taken"));
    let c: DriversConfig =
        toml::from_str(&FULL.replace("bus = \"board\"\nsettings", "bus = \"nope\"\nsettings"))
            .expect("parse");
    assert!(c
        .validate()
        .expect_err("ref")
        .to_string()
        .contains("no bus named `nope`"));
    let c: DriversConfig = toml::from_str(&FULL.replace(
        "tcp = \"127.0.0.1:1502\"",
        "tcp = \"127.0.0.1:1502\"\nrtu = { path = \"/dev/x\" }",
    ))
    .expect("parse");
    assert!(c
        .validate()
        .expect_err("both")
        .to_string()
        .contains("exactly one"));
    let c: DriversConfig =
        toml::from_str(&FULL.replace("heartbeat_timeout_ms = 3000", "heartbeat_timeout_ms = 500"))
            .expect("parse");
    assert!(c
        .validate()
        .expect_err("hb")
        .to_string()
        .contains("heartbeat"));
    let ascii = FULL.replace(
        "modbus = { bus = \"rs485\", unit_id = 3, profile = \"wb-f32-cdab\" }",
        "ascii = { port = { path = \"/dev/ttyUSB0\" }, protocol = \"xk3190\" }",
    );
    let c: DriversConfig = toml::from_str(&ascii).expect("parse");
    assert!(c
        .validate()
        .expect_err("port")
        .to_string()
        .contains("/dev/ttyUSB0"));
    let c: DriversConfig =
        toml::from_str(&FULL.replace("snapshot_url = \"http", "mjpeg_url = \"https"))
            .expect("parse");
    assert!(c.validate().is_err());
}

#[test]
fn camera_recognition_modes() {
    let cam = |extra: &str| -> Result<CameraConfig, String> {
        let text = format!("name = \"c\"\n{extra}");
        toml::from_str::<CameraConfig>(&text).map_err(|e| e.message().to_owned())
    };
    let snap = "snapshot_url = \"http://c/s.jpg\"\n";
    let rec = "recognition_url = \"http://c/r\"\n";
    // Defaults: the camera's own results when it has them, else on board.
    let c = cam(&format!("{snap}{rec}")).expect("parse");
    assert_eq!(c.recognition_mode(), RecognitionMode::Camera);
    c.validate().expect("valid");
    let c = cam(snap).expect("parse");
    assert_eq!(c.recognition_mode(), RecognitionMode::Onboard);
    c.validate().expect("valid");
    let c = cam(rec).expect("parse");
    assert_eq!(c.recognition_mode(), RecognitionMode::Camera);
    // Explicit choices win.
    let c = cam(&format!("{snap}{rec}recognition = \"onboard\"\n")).expect("parse");
    assert_eq!(c.recognition_mode(), RecognitionMode::Onboard);
    c.validate().expect("valid");
    let c = cam(&format!("{snap}recognition = \"none\"\n")).expect("parse");
    assert_eq!(c.recognition_mode(), RecognitionMode::None);
    c.validate().expect("valid");
    // Requirements.
    let e = cam(&format!("{snap}recognition = \"camera\"\n"))
        .expect("parse")
        .validate()
        .expect_err("camera without url")
        .to_string();
    assert!(e.contains("needs `recognition_url`"), "{e}");
    let e = cam(&format!("{rec}recognition = \"onboard\"\n"))
        .expect("parse")
        .validate()
        .expect_err("onboard without frames")
        .to_string();
    assert!(e.contains("needs frames"), "{e}");
    let e = cam(&format!("{snap}recognition = \"ocr\"\n")).expect_err("bad value");
    assert!(e.contains("unknown variant `ocr`"), "{e}");
}

#[test]
fn unknown_keys_are_errors() {
    let e = toml::from_str::<DriversConfig>(&FULL.replace("retries = 2", "retries = 2\nretry = 3"))
        .expect_err("unknown");
    assert!(e.message().contains("unknown field `retry`"), "{e}");
    let e = toml::from_str::<DriversConfig>(
        &FULL.replace("parity = \"even\"", "parity = \"even\", baudrate = 1"),
    )
    .expect_err("unknown");
    assert!(e.message().contains("baudrate"), "{e}");
    assert!(e.span().is_some());
}

#[test]
fn messages_keep_their_wording() {
    let c: DriversConfig = toml::from_str(&FULL.replace(
        "bus = \"board\"\nsettings",
        "bus = \"board\"\nunit_id = 0\nsettings",
    ))
    .expect("parse");
    assert_eq!(
        c.validate().expect_err("unit").to_string(),
        "board `board`: unit_id 0 not in 1..=247 (or 255)"
    );
    let twice = FULL.replace("name = \"rs485\"", "name = \"board\"");
    let c: DriversConfig = toml::from_str(&twice).expect("parse");
    assert_eq!(
        c.validate().expect_err("twice").to_string(),
        "bus `board` defined twice"
    );
    let mut c: DriversConfig = toml::from_str(FULL).expect("parse");
    c.buses[1] = ModbusBusConfig::tcp("rs485", "127.0.0.1:1502");
    assert_eq!(
        c.validate().expect_err("shared").to_string(),
        "bus `rs485` and bus `board` both use tcp 127.0.0.1:1502"
    );
    let mut c: DriversConfig = toml::from_str(FULL).expect("parse");
    c.buses[1].backoff.jitter = 2.0;
    assert_eq!(
        c.validate().expect_err("jitter").to_string(),
        "bus `rs485`: backoff: jitter 2 not in 0..=1"
    );
    c.buses[1].backoff.jitter = 0.2;
    c.buses[1].rtu.as_mut().expect("rtu").baud = 7;
    assert_eq!(
        c.validate().expect_err("baud").to_string(),
        "bus `rs485`: baud 7 not in 50..=4000000"
    );
}
