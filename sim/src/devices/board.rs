//! The lane I/O board in the simulator: the firmware core's own
//! [`lane_io::board::Board`] (the code the MCU runs), served over Modbus TCP
//! and, optionally, Modbus RTU on a pseudo-terminal by lane-io-host. Its
//! inputs come from the lane physics and its motor outputs drive the
//! simulated arm; the lane task ticks it with lane time.
//!
//! Layer: simulated device glue. It knows the board's pins and transports,
//! not trucks or the lane sequence. The register map is the firmware's:
//! docs/register-map.md.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lane_io::board::{Board, RawInputs};
use lane_io_host::{FaultSwitch, Shared};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::devices::pty::{self, PtyHold};

/// Board transports.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoardConfig {
    /// Modbus TCP port (0 or absent: ephemeral).
    pub port: Option<u16>,
    /// Unit id answered over TCP (absent: any).
    pub tcp_unit_id: Option<u8>,
    /// Also serve Modbus RTU on a pseudo-terminal. Default true.
    pub rtu: bool,
    /// RTU unit id. Default 1 (regmap::DEFAULT_UNIT_ID).
    pub rtu_unit_id: u8,
    /// Nominal RTU baud rate (sets the inter-frame timing). Default 19200.
    pub baud: u32,
}

impl Default for BoardConfig {
    fn default() -> Self {
        Self {
            port: None,
            tcp_unit_id: None,
            rtu: true,
            rtu_unit_id: lane_io::regmap::DEFAULT_UNIT_ID,
            baud: 19_200,
        }
    }
}

/// A running simulated board.
pub struct BoardDevice {
    board: Shared<Board>,
    fault: Arc<FaultSwitch>,
    tcp_addr: SocketAddr,
    rtu: Option<PtyHold>,
    manual_key: AtomicBool,
    motor_fault: AtomicBool,
}

impl BoardDevice {
    /// Binds the TCP port, opens the RTU pty (linked as `dir/board-rtu`) and
    /// starts both servers. Returns the device and the server tasks.
    pub async fn start(
        cfg: &BoardConfig,
        ip: IpAddr,
        dir: &Path,
    ) -> io::Result<(Self, Vec<JoinHandle<()>>)> {
        let board: Shared<Board> = Arc::new(Mutex::new(Board::new()));
        let fault = Arc::new(FaultSwitch::default());
        let listener = TcpListener::bind(SocketAddr::new(ip, cfg.port.unwrap_or(0))).await?;
        let tcp_addr = listener.local_addr()?;
        let mut tasks = Vec::new();
        {
            let (b, f, unit) = (board.clone(), fault.clone(), cfg.tcp_unit_id);
            tasks.push(tokio::spawn(async move {
                if let Err(e) = lane_io_host::serve_tcp(listener, b, unit, f).await {
                    tracing::warn!(error = ?e, "board Modbus TCP server stopped");
                }
            }));
        }
        let rtu = if cfg.rtu {
            let (master, hold) = pty::open(dir, "board-rtu")?;
            let (b, f, unit, baud) = (board.clone(), fault.clone(), cfg.rtu_unit_id, cfg.baud);
            tasks.push(tokio::spawn(async move {
                if let Err(e) = lane_io_host::serve_rtu(master, b, unit, baud, f).await {
                    tracing::warn!(error = ?e, "board Modbus RTU server stopped");
                }
            }));
            Some(hold)
        } else {
            None
        };
        Ok((
            Self {
                board,
                fault,
                tcp_addr,
                rtu,
                manual_key: AtomicBool::new(false),
                motor_fault: AtomicBool::new(false),
            },
            tasks,
        ))
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// The symlink to the RTU pty slave, if RTU is served.
    pub fn rtu_path(&self) -> Option<&Path> {
        self.rtu.as_ref().map(|h| h.link_path())
    }

    pub fn fault(&self) -> &Arc<FaultSwitch> {
        &self.fault
    }

    /// The shared board (the Modbus servers hold clones).
    pub fn board(&self) -> &Shared<Board> {
        &self.board
    }

    /// Officer's manual key switch input.
    pub fn set_manual_key(&self, on: bool) {
        self.manual_key.store(on, Ordering::SeqCst);
    }

    /// Motor drive fault input.
    pub fn set_motor_fault(&self, on: bool) {
        self.motor_fault.store(on, Ordering::SeqCst);
    }

    /// The board's raw inputs: the field's (from the physics) with this
    /// board's manual key and motor fault switches.
    pub fn raw_inputs(&self, field: &RawInputs) -> RawInputs {
        RawInputs {
            manual_key: self.manual_key.load(Ordering::SeqCst),
            motor_fault: self.motor_fault.load(Ordering::SeqCst),
            ..*field
        }
    }
}
