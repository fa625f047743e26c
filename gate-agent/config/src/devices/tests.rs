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
    match &rs.transport {
        Transport::Rtu(p) => assert_eq!(
            (p.path.as_path(), p.baud, p.parity, p.data_bits),
            (std::path::Path::new("/dev/ttyUSB0"), 19200, Parity::Even, 8)
        ),
        other => panic!("an RTU bus: {other:?}"),
    }
    assert_eq!(
        c.buses[0].transport,
        Transport::Tcp("127.0.0.1:1502".into())
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
    // Both transports: the typed configuration cannot hold them.
    let e = toml::from_str::<DriversConfig>(&FULL.replace(
        "tcp = \"127.0.0.1:1502\"",
        "tcp = \"127.0.0.1:1502\"\nrtu = { path = \"/dev/x\" }",
    ))
    .expect_err("both");
    assert_eq!(
        e.message(),
        "bus `board`: give exactly one of `tcp` and `rtu`",
        "{e}"
    );
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
    match &mut c.buses[1].transport {
        Transport::Rtu(p) => p.baud = 7,
        other => panic!("an RTU bus: {other:?}"),
    }
    assert_eq!(
        c.validate().expect_err("baud").to_string(),
        "bus `rs485`: baud 7 not in 50..=4000000"
    );
}

#[test]
fn exactly_one_of_choices_are_read_into_their_enums() {
    let wb = |body: &str| toml::from_str::<WeighbridgeConfig>(body);
    let modbus = "modbus = { bus = \"wb\", unit_id = 3, profile = \"wb-f32-cdab\" }\n";
    let ascii = "ascii = { port = { path = \"/dev/ttyS2\" }, protocol = \"toledo\" }\n";
    match wb(modbus).expect("modbus").source {
        ScaleSource::Modbus(m) => assert_eq!((m.bus.as_str(), m.unit_id), ("wb", 3)),
        other => panic!("{other:?}"),
    }
    match wb(ascii).expect("ascii").source {
        ScaleSource::Ascii(a) => assert_eq!(a.protocol, AsciiProtocol::Toledo),
        other => panic!("{other:?}"),
    }
    for body in [format!("{modbus}{ascii}"), "name = \"w\"\n".to_owned()] {
        let e = wb(&body).expect_err("both or neither");
        assert!(
            e.message()
                .ends_with("give exactly one of `modbus` and `ascii`"),
            "{e}"
        );
    }

    let cam = |body: &str| toml::from_str::<CameraConfig>(&format!("name = \"c\"\n{body}"));
    let source = |body: &str| cam(body).expect("camera").source;
    assert_eq!(
        source("snapshot_url = \"http://c/s.jpg\""),
        Some(CameraSource::Snapshot("http://c/s.jpg".into()))
    );
    assert_eq!(
        source("mjpeg_url = \"http://c/m\""),
        Some(CameraSource::Mjpeg("http://c/m".into()))
    );
    assert!(matches!(
        source("usb = { serial = \"s1\" }"),
        Some(CameraSource::Usb(u)) if u.serial.as_deref() == Some("s1") && u.width == 1280
    ));
    assert_eq!(source("recognition_url = \"http://c/r\""), None);
    let e = cam("snapshot_url = \"http://c/s.jpg\"\nusb = { name = \"x\" }").expect_err("two");
    assert_eq!(
        e.message(),
        "camera `c`: give exactly one of `snapshot_url`, `mjpeg_url` and `usb`"
    );
    // No frames and no recognition: typed, refused by its checks with the
    // same words.
    let c = cam("timeout_ms = 100").expect("no source");
    assert_eq!(
        c.validate().expect_err("nothing to give").to_string(),
        "camera `c`: give exactly one of `snapshot_url`, `mjpeg_url` and `usb`"
    );
}

#[test]
fn each_choice_is_written_back_as_its_key() {
    let c: DriversConfig = toml::from_str(FULL).expect("parse");
    let mut c = c;
    c.cameras.push(CameraConfig::mjpeg("rear", "http://c/m"));
    let mut usb = CameraConfig::snapshot("side", "http://c/s.jpg");
    usb.source = Some(CameraSource::Usb(UsbCameraConfig {
        name: Some("HD".into()),
        serial: None,
        width: 640,
        height: 480,
        fps: 10,
        jpeg_quality: 80,
    }));
    c.cameras.push(usb);
    let text = toml::to_string(&c).expect("serialise");
    for key in [
        "tcp = \"127.0.0.1:1502\"",
        "[buses.rtu]",
        "[weighbridge.modbus]",
        "snapshot_url = ",
        "mjpeg_url = ",
        "[cameras.usb]",
    ] {
        assert!(text.contains(key), "{key} in:\n{text}");
    }
    let back: DriversConfig = toml::from_str(&text).expect("read back");
    assert_eq!(back, c, "{text}");
}
