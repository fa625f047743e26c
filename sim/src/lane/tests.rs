//! Unit tests of `lane` (kept beside it so the module stays readable).

use std::time::Duration;

use super::*;

#[test]
fn wall_format() {
    let t = UNIX_EPOCH + Duration::from_millis(1_766_016_000_123); // 2025-12-18 00:00:00.123 UTC
    assert_eq!(format_wall(t), "2025-12-18 00:00:00.123");
    assert_eq!(format_wall(UNIX_EPOCH), "1970-01-01 00:00:00.000");
}

#[test]
fn device_ids_parse() {
    assert_eq!("board".parse::<DeviceId>().unwrap(), DeviceId::Board);
    assert_eq!(
        "weighbridge.mt".parse::<DeviceId>().unwrap(),
        DeviceId::Weighbridge(Some("mt".into()))
    );
    assert_eq!(
        "camera.plate_rear".parse::<DeviceId>().unwrap(),
        DeviceId::Camera(CameraPosition::PlateRear)
    );
    assert_eq!(
        "container_back".parse::<DeviceId>().unwrap(),
        DeviceId::Camera(CameraPosition::ContainerBack)
    );
    assert!("toaster".parse::<DeviceId>().is_err());
    for s in [
        "board",
        "weighbridge",
        "weighbridge.x",
        "etag_reader",
        "eseal_reader",
        "camera.plate_front",
    ] {
        assert_eq!(s.parse::<DeviceId>().unwrap().to_string(), s);
    }
}
