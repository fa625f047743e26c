//! The builder against hand-written files: what it builds must be what a
//! lane's TOML with the same keys gives, and every configuration it writes
//! must read back equal.

use std::path::Path;

use super::ConfigBuilder;
use crate::devices::{AsciiProtocol, RecognitionMode, RfidKind};
use crate::Config;
use gate_core::identified::Device;

const KEY: &str = "/Bk1XwRk/dZW0AZjIvUjz+h9+/hR5O4fs8ilHOzBXm0=";

fn parse(text: &str) -> Config {
    Config::parse(Path::new("/lanes/l03/lane.toml"), text)
        .unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

/// The same lane written by hand (the documented keys, defaults omitted).
const BY_HAND: &str = r#"
[lane]
site = "HK-XINHAI"
lane = "L03"
time_scale = 4.0

[store]
path = "/lanes/l03/lane.db"

[platform]
broker = "mqtt://127.0.0.1:1883"
keys = { platform-test-1 = "/Bk1XwRk/dZW0AZjIvUjz+h9+/hR5O4fs8ilHOzBXm0=" }

[control]
socket = "/lanes/l03/control.sock"
mode = 0o600

[clock]
assume_synced = true

[roles]
plate_front = "plate-front"
etag = "etag-reader"

[devices]
profiles_dir = "/etc/gate-agent/profiles"

[[devices.buses]]
name = "board"
rtu = { path = "/dev/ttyS1", baud = 19200 }

[[devices.buses]]
name = "etag"
tcp = "127.0.0.1:5021"

[devices.board]
bus = "board"
unit_id = 2
poll_interval_ms = 50

[devices.weighbridge]
ascii = { port = { path = "/dev/ttyS2", baud = 9600 }, protocol = "xk3190", checksum = true }
stability = { division_kg = 20 }

[[devices.rfid]]
name = "etag-reader"
kind = "e-tag"
bus = "etag"
unit_id = 1
profile = "rfid-etag"
idle_poll_interval_ms = 500

[[devices.cameras]]
name = "plate-front"
snapshot_url = "http://127.0.0.1:8081/snapshot.jpg"
recognition_url = "http://127.0.0.1:8081/recognition"
recognition = "camera"
"#;

fn built() -> ConfigBuilder {
    let mut b = ConfigBuilder::new(
        "HK-XINHAI",
        "L03",
        "/lanes/l03/lane.db",
        "mqtt://127.0.0.1:1883",
    );
    b.time_scale(4.0)
        .key("platform-test-1", KEY)
        .control("/lanes/l03/control.sock")
        .assume_synced()
        .profiles_dir("/etc/gate-agent/profiles")
        .rtu_bus("board", "/dev/ttyS1", 19200)
        .tcp_bus("etag", "127.0.0.1:5021")
        .board("board", 2);
    if let Some(board) = b.board_mut() {
        board.poll_interval_ms = 50;
    }
    b.ascii_scale("/dev/ttyS2", 9600, AsciiProtocol::Xk3190, true);
    if let Some(w) = b.scale_mut() {
        w.stability.division_kg = 20.0;
    }
    b.rfid("etag-reader", RfidKind::ETag, "etag", 1, "rfid-etag")
        .idle_poll_interval_ms = Some(500);
    b.snapshot_camera(
        "plate-front",
        "http://127.0.0.1:8081/snapshot.jpg",
        RecognitionMode::Camera,
        Some("http://127.0.0.1:8081/recognition"),
    );
    b.role(Device::PlateFront, "plate-front")
        .role(Device::Etag, "etag-reader");
    b
}

#[test]
fn the_builder_gives_what_the_same_file_by_hand_gives() {
    let by_hand = parse(BY_HAND);
    assert_eq!(built().build(), by_hand);
    assert!(by_hand.check().is_empty(), "{:?}", by_hand.check());
}

#[test]
fn what_the_builder_writes_reads_back_equal_and_valid() {
    let b = built();
    let text = b.to_toml().expect("serialisable");
    let back = parse(&text);
    assert_eq!(back, b.build(), "{text}");
    assert!(back.check().is_empty(), "{:?}\n{text}", back.check());
}

#[test]
fn a_modbus_scale_and_a_minimal_lane_are_what_their_files_give() {
    let mut b = ConfigBuilder::new("HK-YANGPU", "L1", "/l/lane.db", "mqtt://10.0.0.1:1883");
    b.key("platform-test-1", KEY)
        .tcp_bus("board", "10.0.0.8:502")
        .board("board", 1)
        .tcp_bus("wb", "10.0.0.9:502")
        .modbus_scale("wb", 3, "wb-f32-cdab");
    let by_hand = parse(
        r#"
[lane]
site = "HK-YANGPU"
lane = "L1"
[store]
path = "/l/lane.db"
[platform]
broker = "mqtt://10.0.0.1:1883"
keys = { platform-test-1 = "/Bk1XwRk/dZW0AZjIvUjz+h9+/hR5O4fs8ilHOzBXm0=" }
[[devices.buses]]
name = "board"
tcp = "10.0.0.8:502"
[[devices.buses]]
name = "wb"
tcp = "10.0.0.9:502"
[devices.board]
bus = "board"
[devices.weighbridge]
modbus = { bus = "wb", unit_id = 3, profile = "wb-f32-cdab" }
"#,
    );
    // Relative profile directories are resolved against the file's place.
    let mut expected = b.build();
    expected.devices.profiles_dir = by_hand.devices.profiles_dir.clone();
    assert_eq!(expected, by_hand);
    assert_eq!(parse(&b.to_toml().expect("toml")).devices, by_hand.devices);
}

#[test]
fn the_shipped_example_reads_back_equal_after_writing() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/lane.example.toml");
    let example = Config::load(&path).expect("example");
    let text = example.to_toml().expect("serialisable");
    assert_eq!(
        Config::parse(&path, &text).expect("reads back"),
        example,
        "{text}"
    );
}
