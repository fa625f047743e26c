//! How a scenario becomes a configuration: the simulated lane's and the agent's
//! (the TOML a lane computer would have).

use std::path::Path;

use anyhow::Result;

use crate::broker::BrokerAddr;
use crate::devices::camera::CameraPosition;
use crate::lane::{DeviceId, Endpoints, LaneConfig};
use crate::platform::PlatformKey;
use crate::scenario::{self, Scenario, Transport};

pub(super) fn norm(p: &str) -> String {
    p.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// The simulator's lane configuration for a scenario.
pub fn lane_config(s: &Scenario) -> LaneConfig {
    use crate::devices::weighbridge::WeighbridgeConfig;
    let mut c = LaneConfig {
        name: s.lane.lane.clone(),
        seed: s.scenario.seed,
        ..LaneConfig::default()
    };
    c.board.rtu = s.lane.board.transport == Transport::Serial;
    c.board.rtu_unit_id = s.lane.board.unit;
    c.weighbridges = vec![WeighbridgeConfig::new("wb", s.lane.weighbridge.profile)];
    if !s.lane.etag_reader {
        c.etag_reader = None;
    }
    if !s.lane.eseal_reader {
        c.eseal_reader = None;
    }
    c.cameras
        .retain(|p, _| s.lane.cameras.iter().any(|sc| camera_pos(*sc) == *p));
    c
}

pub(super) fn camera_pos(c: scenario::Camera) -> CameraPosition {
    match c {
        scenario::Camera::PlateFront => CameraPosition::PlateFront,
        scenario::Camera::PlateRear => CameraPosition::PlateRear,
        scenario::Camera::ContainerFront => CameraPosition::ContainerFront,
        scenario::Camera::ContainerBack => CameraPosition::ContainerBack,
    }
}

pub(super) fn device_id(d: scenario::Device) -> DeviceId {
    match d {
        scenario::Device::Board => DeviceId::Board,
        scenario::Device::Weighbridge => DeviceId::Weighbridge(None),
        scenario::Device::EtagReader => DeviceId::EtagReader,
        scenario::Device::EsealReader => DeviceId::EsealReader,
        other => match other.camera() {
            Some(c) => DeviceId::Camera(camera_pos(c)),
            None => DeviceId::Board,
        },
    }
}

/// The agent's configuration (TOML text) for a lane of the simulator,
/// written by the lane configuration builder (`gate_config::build`).
pub fn agent_config(
    s: &Scenario,
    lane_id: &str,
    ep: &Endpoints,
    broker: &BrokerAddr,
    dir: &Path,
    time_scale: f64,
) -> Result<String> {
    use crate::devices::weighbridge::WbProtocol;
    use gate_agent::config::build::ConfigBuilder;
    use gate_agent::config::devices::{RecognitionMode, RfidKind};
    use gate_core::identified::Device;
    let mut b = ConfigBuilder::new(
        &s.lane.site,
        lane_id,
        dir.join("lane.db"),
        &format!("mqtt://{}:{}", broker.host, broker.port),
    );
    b.time_scale(time_scale)
        .key(
            PlatformKey::test_key().kid(),
            PlatformKey::test_public_b64(),
        )
        .control(dir.join("control.sock"))
        .assume_synced()
        .profiles_dir(dir.join("profiles"));
    let (agent, wb) = (&s.agent, &s.lane.weighbridge);
    b.edit(|c| {
        c.lane.direction = s.lane.direction;
        c.platform.status_interval_s = 5;
        if let Some(h) = agent.hold_timeout_s {
            c.sequence.hold_timeout_ms = (h * 1000.0).round() as u64;
        }
        c.policy.weight_tolerance_pct = agent.weight_tolerance_pct;
        c.policy.focus_action = agent.focus_action;
        c.policy.scale.max_kg = wb.capacity_kg;
        c.policy.scale.division_kg = wb.division_kg;
        if s.lane.recognition == scenario::RecognitionSetup::Onboard {
            // A lane computer has at least two cores: two recognition workers.
            c.recognition.workers = 2;
        }
    });
    // The board.
    match (&ep.board_rtu, s.lane.board.transport) {
        (Some(path), Transport::Serial) => b.rtu_bus("board", path, 19200),
        _ => b.tcp_bus("board", &ep.board_tcp.to_string()),
    };
    b.board("board", s.lane.board.unit);
    // The weighbridge.
    if let Some(ep_wb) = ep.weighbridges.first() {
        match (ep_wb.tcp, &ep_wb.serial, wb.profile) {
            (Some(addr), _, _) => {
                b.tcp_bus("wb", &addr.to_string())
                    .modbus_scale("wb", 1, wb.profile.as_str());
            }
            (None, Some(path), WbProtocol::Ascii(protocol)) => {
                b.ascii_scale(path, 9600, protocol, true);
            }
            _ => {}
        }
        if let Some(scale) = b.scale_mut() {
            scale.stability.division_kg = wb.division_kg;
        }
    }
    // The readers.
    for (name, addr, kind, profile) in [
        ("etag-reader", ep.etag_reader, RfidKind::ETag, "rfid-etag"),
        (
            "eseal-reader",
            ep.eseal_reader,
            RfidKind::ESeal,
            "rfid-eseal",
        ),
    ] {
        if let Some(addr) = addr {
            b.tcp_bus(name, &addr.to_string())
                .rfid(name, kind, name, 1, profile);
            b.role(
                match kind {
                    RfidKind::ETag => Device::Etag,
                    RfidKind::ESeal => Device::Eseal,
                },
                name,
            );
        }
    }
    // The cameras: on-board recognition reads the frames itself and is not
    // told where the camera's own results are.
    for (pos, url) in &ep.cameras {
        let device = match pos {
            CameraPosition::PlateFront => Device::PlateFront,
            CameraPosition::PlateRear => Device::PlateRear,
            CameraPosition::ContainerFront => Device::ContainerFront,
            CameraPosition::ContainerBack => Device::ContainerBack,
        };
        // The camera is named after its role.
        let role = device.as_str();
        let snapshot = format!("{url}/snapshot.jpg");
        let own = format!("{url}/recognition");
        match s.lane.recognition {
            scenario::RecognitionSetup::Onboard => {
                b.snapshot_camera(role, &snapshot, RecognitionMode::Onboard, None)
            }
            scenario::RecognitionSetup::Camera => {
                b.snapshot_camera(role, &snapshot, RecognitionMode::Camera, Some(&own))
            }
        };
        b.role(device, role);
    }
    let text = b.to_toml()?;
    Ok(format!(
        "# Generated by gate-sim for scenario `{}`.\n{text}",
        s.scenario.name
    ))
}
