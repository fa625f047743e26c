//! The lane's setup in a scenario: its devices (board, weighbridges, cameras,
//! readers), recognition, transport, the agent's assumptions and the platform.

use gate_proto::messages::Direction;
use serde::{Deserialize, Serialize};

use crate::devices::weighbridge::WbProtocol;

use gate_core::policy::FocusAction;

use super::{
    all_cameras, capacity, division, exit, f32_cdab, hold, one_f, one_u8, per_chunk, sixty, tcp,
    three, yes,
};

/// Lane seconds a run goes on after its last timed item, by default.
pub const DEFAULT_TAIL_S: f64 = 120.0;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaneSetup {
    pub site: String,
    pub lane: String,
    #[serde(default = "exit")]
    pub direction: Direction,
    /// Lane seconds per real second (10.0 runs ten times faster than real time).
    #[serde(default = "one_f")]
    pub time_scale: f64,
    #[serde(default)]
    pub board: BoardSetup,
    #[serde(default)]
    pub weighbridge: WeighbridgeSetup,
    /// Cameras fitted; default all four.
    #[serde(default = "all_cameras")]
    pub cameras: Vec<Camera>,
    #[serde(default = "yes")]
    pub etag_reader: bool,
    #[serde(default = "yes")]
    pub eseal_reader: bool,
    /// Who reads plates and container codes: the cameras' own recognition
    /// (`camera`, their `/recognition` JSON) or the agent from the frames
    /// (`onboard`, gate-ocr).
    #[serde(default)]
    pub recognition: RecognitionSetup,
}

/// Who reads the cameras' frames in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecognitionSetup {
    /// The simulated cameras' recognition JSON (ANPR cameras).
    #[default]
    Camera,
    /// The agent reads the JPEG frames itself; the cameras' recognition
    /// endpoint is not given to it.
    Onboard,
}

impl RecognitionSetup {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Onboard => "onboard",
        }
    }
}

/// How a Modbus device or serial indicator is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Modbus TCP, or the indicator's stream over a TCP serial server.
    Tcp,
    /// A serial line (a pty in the simulator): Modbus RTU for the board and
    /// the Modbus weighbridge profiles, the ASCII stream for toledo/xk3190.
    #[serde(alias = "rtu")]
    Serial,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Serial => "serial",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSetup {
    #[serde(default = "tcp")]
    pub transport: Transport,
    /// Modbus unit id.
    #[serde(default = "one_u8")]
    pub unit: u8,
}

impl Default for BoardSetup {
    fn default() -> Self {
        Self {
            transport: Transport::Tcp,
            unit: 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeighbridgeSetup {
    #[serde(default = "f32_cdab")]
    pub profile: WbProtocol,
    /// Default: tcp for the Modbus profiles, serial for toledo/xk3190.
    #[serde(default)]
    pub transport: Option<Transport>,
    #[serde(default = "capacity")]
    pub capacity_kg: f64,
    #[serde(default = "division")]
    pub division_kg: f64,
}

impl Default for WeighbridgeSetup {
    fn default() -> Self {
        Self {
            profile: f32_cdab(),
            transport: None,
            capacity_kg: capacity(),
            division_kg: division(),
        }
    }
}

impl WeighbridgeSetup {
    pub fn transport(&self) -> Transport {
        self.transport.unwrap_or(if self.profile.is_modbus() {
            Transport::Tcp
        } else {
            Transport::Serial
        })
    }
}

/// The lane's cameras.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Camera {
    PlateFront,
    PlateRear,
    ContainerFront,
    ContainerBack,
}

impl Camera {
    pub const ALL: [Camera; 4] = [
        Camera::PlateFront,
        Camera::PlateRear,
        Camera::ContainerFront,
        Camera::ContainerBack,
    ];
    pub fn as_str(self) -> &'static str {
        Device::from(self).as_str()
    }
}

/// Every device a fault or a command can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Board,
    Weighbridge,
    EtagReader,
    EsealReader,
    PlateFront,
    PlateRear,
    ContainerFront,
    ContainerBack,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Board => "board",
            Device::Weighbridge => "weighbridge",
            Device::EtagReader => "etag_reader",
            Device::EsealReader => "eseal_reader",
            Device::PlateFront => "plate_front",
            Device::PlateRear => "plate_rear",
            Device::ContainerFront => "container_front",
            Device::ContainerBack => "container_back",
        }
    }
    pub fn camera(self) -> Option<Camera> {
        Some(match self {
            Device::PlateFront => Camera::PlateFront,
            Device::PlateRear => Camera::PlateRear,
            Device::ContainerFront => Camera::ContainerFront,
            Device::ContainerBack => Camera::ContainerBack,
            _ => return None,
        })
    }
}

impl From<Camera> for Device {
    fn from(c: Camera) -> Self {
        match c {
            Camera::PlateFront => Device::PlateFront,
            Camera::PlateRear => Device::PlateRear,
            Camera::ContainerFront => Device::ContainerFront,
            Camera::ContainerBack => Device::ContainerBack,
        }
    }
}

/// Decision settings the expected results assume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentAssumptions {
    /// k of the weight tolerance max(k% of declared, 2 x in-service scale
    /// error) (docs/domain.md; default 3).
    #[serde(default = "three")]
    pub weight_tolerance_pct: f64,
    /// What H07 (focus list) leads to: hold (default) or inspect.
    #[serde(default = "hold")]
    pub focus_action: FocusAction,
    /// The agent's hold timeout, lane seconds (`sequence.hold_timeout_ms`;
    /// absent: the agent's default, 900 s): a held truck still there then
    /// ends its passage as `timeout`.
    #[serde(default)]
    pub hold_timeout_s: Option<f64>,
}

impl Default for AgentAssumptions {
    fn default() -> Self {
        Self {
            weight_tolerance_pct: three(),
            focus_action: FocusAction::Hold,
            hold_timeout_s: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSetup {
    #[serde(default = "per_chunk")]
    pub records_per_chunk: usize,
    #[serde(default = "sixty")]
    pub command_ttl_s: f64,
    /// The seq the lane starts at, for gap reports (default: the lowest seen).
    #[serde(default)]
    pub expect_first_seq: Option<u64>,
}

impl Default for PlatformSetup {
    fn default() -> Self {
        Self {
            records_per_chunk: per_chunk(),
            command_ttl_s: sixty(),
            expect_first_seq: None,
        }
    }
}
