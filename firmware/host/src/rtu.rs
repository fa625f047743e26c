//! Modbus RTU slaves on one serial line (a real port or a pseudo-terminal).
//!
//! Layer: serial I/O. The core's [`Framer`] delimits frames (it is given
//! the monotonic time of every read); this module dispatches each frame to
//! the device with its unit id through [`handle_frame`] and writes the
//! answer back. Several devices may share the line, as on an RS-485 bus.
//!
//! Fault modes act per device: `Silent` and `Offline` both make the device
//! ignore its frames (nothing executed, nothing answered; a serial line has
//! no connection to drop). Broadcasts reach every device in `Normal` mode.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lane_io::modbus::rtu::{
    handle_frame, silent_interval_us, Framer, SilenceMode, SlaveStats, UnitSet, BROADCAST,
    DEFAULT_MIN_GAP_US, MAX_ADU_LEN,
};
use lane_io::modbus::DataModel;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_serial::{DataBits, FlowControl, Parity, SerialPortBuilderExt, SerialStream, StopBits};

use crate::{FaultMode, FaultSwitch, Shared};

/// A response not written within this time is dropped (logged), and so
/// are the next ones that cannot be written at once, until one goes out.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// One slave on an RTU line.
#[derive(Clone)]
pub struct RtuDevice {
    /// 1..=247.
    pub unit_id: u8,
    pub model: Shared<dyn DataModel + Send>,
    pub faults: Arc<FaultSwitch>,
}

impl std::fmt::Debug for RtuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtuDevice")
            .field("unit_id", &self.unit_id)
            .field("faults", &self.faults.get())
            .finish_non_exhaustive()
    }
}

/// Line settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtuLine {
    pub baud: u32,
    /// Floor of the resynchronisation gap (see
    /// [`lane_io::modbus::rtu::silent_interval_us`]).
    pub min_gap_us: u32,
    pub silence: SilenceMode,
}

impl RtuLine {
    /// Spec gap for `baud`, lazy silence handling (bursty adapters and ptys).
    pub fn new(baud: u32) -> Self {
        Self {
            baud,
            min_gap_us: DEFAULT_MIN_GAP_US,
            silence: SilenceMode::Lazy,
        }
    }
}

/// Open a serial device (or a pty such as one made by socat) at `baud`,
/// 8 data bits, no parity, 1 stop bit, no flow control.
pub fn open_serial(path: &str, baud: u32) -> io::Result<SerialStream> {
    tokio_serial::new(path, baud)
        .data_bits(DataBits::Eight)
        .parity(Parity::None)
        .stop_bits(StopBits::One)
        .flow_control(FlowControl::None)
        .open_native_async()
        .map_err(|e| io::Error::other(format!("opening serial port {path}: {e}")))
}

/// Serve one device as RTU slave `unit_id` on `port`. Returns when the port
/// reports end of file or an error.
pub async fn serve_rtu<M: DataModel + Send + 'static>(
    port: SerialStream,
    model: Shared<M>,
    unit_id: u8,
    baud: u32,
    faults: Arc<FaultSwitch>,
) -> io::Result<()> {
    let model: Shared<dyn DataModel + Send> = model;
    serve_rtu_multi(
        port,
        baud,
        vec![RtuDevice {
            unit_id,
            model,
            faults,
        }],
    )
    .await
}

/// Serve several devices (distinct unit ids) on one line.
pub async fn serve_rtu_multi(
    port: SerialStream,
    baud: u32,
    devices: Vec<RtuDevice>,
) -> io::Result<()> {
    serve_rtu_line(port, RtuLine::new(baud), devices).await
}

/// Serve `devices` on any byte stream (a serial port, a pty, an in-memory
/// duplex in tests). Duplicate unit ids and ids 0 / 248..=255 are refused.
pub async fn serve_rtu_line<T: AsyncRead + AsyncWrite + Unpin>(
    mut io: T,
    line: RtuLine,
    devices: Vec<RtuDevice>,
) -> io::Result<()> {
    let mut by_unit: BTreeMap<u8, (RtuDevice, SlaveStats)> = BTreeMap::new();
    let mut units = UnitSet::EMPTY;
    for d in devices {
        if !(1..=247).contains(&d.unit_id) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RTU unit id {} outside 1..=247", d.unit_id),
            ));
        }
        units.insert(d.unit_id);
        let unit = d.unit_id;
        if by_unit.insert(unit, (d, SlaveStats::default())).is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("RTU unit id {unit} served twice"),
            ));
        }
    }
    let gap = silent_interval_us(line.baud, line.min_gap_us);
    let mut framer = Framer::with_gap(gap, line.silence);
    framer.set_answering(units);
    tracing::debug!(units = ?by_unit.keys().collect::<Vec<_>>(), baud = line.baud, gap_us = gap, "Modbus RTU line up");

    let start = Instant::now();
    let mut buf = [0u8; 512];
    let mut out: heapless::Vec<u8, MAX_ADU_LEN> = heapless::Vec::new();
    let mut frame: heapless::Vec<u8, MAX_ADU_LEN> = heapless::Vec::new();
    // The last answer could not be written in time: until one goes out,
    // answers are tried once and dropped, so the requests behind them are
    // still read (a relay such as socat blocks both ways while we wait).
    let mut backed_up = false;
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            tracing::debug!("RTU line closed");
            return Ok(());
        }
        let now_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut rest = buf.get(..n).unwrap_or(&[]);
        loop {
            let taken = framer.push(now_us, rest);
            rest = rest.get(taken..).unwrap_or(&[]);
            frame.clear();
            if let Some(f) = framer.frame() {
                // Cannot fail: frames are at most MAX_ADU_LEN bytes.
                let _ = frame.extend_from_slice(f);
            }
            if !frame.is_empty() {
                dispatch(&frame, &mut by_unit, &mut out);
                if !out.is_empty() {
                    let limit = if backed_up {
                        Duration::ZERO
                    } else {
                        WRITE_TIMEOUT
                    };
                    match tokio::time::timeout(limit, async {
                        io.write_all(&out).await?;
                        io.flush().await
                    })
                    .await
                    {
                        Ok(r) => {
                            r?;
                            backed_up = false;
                        }
                        // The master is not reading (a pty backs up; a
                        // real UART never does): drop this answer, keep
                        // the line. Giving up here would leave the device
                        // dead until restarted.
                        Err(_) => {
                            if !backed_up {
                                tracing::warn!(
                                    timeout = ?WRITE_TIMEOUT,
                                    "RTU response not written in time: dropping answers until the line drains"
                                );
                            }
                            backed_up = true;
                        }
                    }
                }
            }
            if rest.is_empty() {
                break;
            }
        }
    }
}

/// Run one CRC-valid frame through the device(s) it addresses; `out` holds
/// the response to send, if any.
fn dispatch(
    frame: &[u8],
    by_unit: &mut BTreeMap<u8, (RtuDevice, SlaveStats)>,
    out: &mut heapless::Vec<u8, MAX_ADU_LEN>,
) {
    out.clear();
    let Some(&unit) = frame.first() else {
        return;
    };
    let targets: Vec<u8> = if unit == BROADCAST {
        by_unit.keys().copied().collect()
    } else {
        vec![unit]
    };
    for u in targets {
        let Some((dev, stats)) = by_unit.get_mut(&u) else {
            continue;
        };
        if dev.faults.get() != FaultMode::Normal {
            tracing::trace!(unit = u, mode = ?dev.faults.get(), "device not answering");
            continue;
        }
        let answered = match dev.model.lock() {
            Ok(mut m) => handle_frame(u, frame, &mut *m, out, stats),
            Err(_) => {
                tracing::error!(unit = u, "data model mutex poisoned; not answering");
                false
            }
        };
        if !answered {
            out.clear();
        }
    }
}
