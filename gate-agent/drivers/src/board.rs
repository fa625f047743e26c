//! Lane I/O board driver (register map: `lane_io::regmap`, docs/register-map.md).
//!
//! Layer: device driver. It polls the discrete inputs and input registers,
//! publishes a [`BoardSnapshot`] on a `watch` channel, writes commands
//! (coils), the LED text and the settings, and refreshes the heartbeat
//! register. It does not decide anything: when to raise, what to show and
//! what a fault means are the runtime's business. The snapshot decoding and
//! the LED packing are sans-IO functions with their own tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lane_io::board::{Outputs, RawInputs};
use lane_io::regmap::{coil, di, hr, ir, BarrierState, CommandResult, FaultCode};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::bus::{BusHandle, ModbusDevice};
use super::config::BoardConfig;
use super::error::{DeviceError, SpawnError};
use super::health::HealthRegistry;
use super::restart::RestartVerdict;

/// LED message capacity, bytes.
pub const LED_MAX_BYTES: usize = hr::LED_TEXT_REGS as usize * 2;

/// Counters since the board's power-up (each wraps at 65536).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoardCounters {
    pub vehicles: u16,
    pub raises: u16,
    pub tailgates: u16,
    pub reversals: u16,
    pub faults: u16,
}

/// IR STATUS bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoardStatus {
    pub heartbeat_lost: bool,
    pub tailgate: bool,
    pub held_by_occupancy: bool,
    pub admit_pending: bool,
    pub manual: bool,
    /// The register as read (undefined bits kept).
    pub raw: u16,
}

/// One poll of the board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardSnapshot {
    /// When the poll completed.
    pub at: Instant,
    /// The field inputs (loops, photocell, limits, manual key, motor fault).
    pub inputs: RawInputs,
    /// Barrier state; `None` if the board reported a value this agent does
    /// not know (see `barrier_raw`).
    pub barrier: Option<BarrierState>,
    pub barrier_raw: u16,
    /// Latched fault; `Some(FaultCode::None)` when there is none.
    pub fault: Option<FaultCode>,
    pub fault_raw: u16,
    pub counters: BoardCounters,
    /// Result of the last remote command.
    pub last_command: Option<CommandResult>,
    pub last_command_raw: u16,
    pub status: BoardStatus,
    /// What the board drives.
    pub outputs: Outputs,
    /// major << 8 | minor.
    pub fw_version: u16,
    pub uptime_s: u32,
}

/// Fewer inputs or registers than a board snapshot needs
/// ([`BoardSnapshot::decode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("short read: {inputs} inputs, {registers} registers")]
pub struct ShortRead {
    pub inputs: usize,
    pub registers: usize,
}

impl BoardSnapshot {
    /// Decode DI 0..8 and IR 0..13 as read from the board.
    pub fn decode(dis: &[bool], irs: &[u16], at: Instant) -> Result<Self, ShortRead> {
        if dis.len() < usize::from(di::COUNT) || irs.len() < usize::from(ir::COUNT) {
            return Err(ShortRead {
                inputs: dis.len(),
                registers: irs.len(),
            });
        }
        let r = |a: u16| irs[usize::from(a)];
        let st = r(ir::STATUS);
        Ok(Self {
            at,
            inputs: RawInputs::from_array(std::array::from_fn(|i| dis[i])),
            barrier: BarrierState::from_u16(r(ir::BARRIER_STATE)),
            barrier_raw: r(ir::BARRIER_STATE),
            fault: FaultCode::from_u16(r(ir::FAULT_CODE)),
            fault_raw: r(ir::FAULT_CODE),
            counters: BoardCounters {
                vehicles: r(ir::VEHICLE_COUNT),
                raises: r(ir::RAISE_COUNT),
                tailgates: r(ir::TAILGATE_COUNT),
                reversals: r(ir::REVERSAL_COUNT),
                faults: r(ir::FAULT_COUNT),
            },
            last_command: CommandResult::from_u16(r(ir::LAST_COMMAND)),
            last_command_raw: r(ir::LAST_COMMAND),
            status: BoardStatus {
                heartbeat_lost: st & ir::ST_HEARTBEAT_LOST != 0,
                tailgate: st & ir::ST_TAILGATE != 0,
                held_by_occupancy: st & ir::ST_HELD_BY_OCCUPANCY != 0,
                admit_pending: st & ir::ST_ADMIT_PENDING != 0,
                manual: st & ir::ST_MANUAL != 0,
                raw: st,
            },
            outputs: Outputs::from_bits(r(ir::OUTPUTS)),
            fw_version: r(ir::FW_VERSION),
            uptime_s: u32::from(r(ir::UPTIME_LO)) | (u32::from(r(ir::UPTIME_HI)) << 16),
        })
    }

    /// Equal apart from the poll time and the uptime (nothing happened).
    pub fn same_state(&self, other: &Self) -> bool {
        let strip = |s: &Self| Self {
            at: other.at,
            uptime_s: 0,
            ..s.clone()
        };
        strip(self) == strip(other)
    }
}

/// A command for the board (a coil write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardCommand {
    /// Raise and admit one vehicle (momentary; never retried).
    Raise,
    /// Lower when safe (momentary).
    Lower,
    /// Stop the motor (momentary).
    Stop,
    /// Clear a latched fault (momentary).
    FaultReset,
    /// The agent's wish for the traffic light (true = green).
    Light(bool),
    Buzzer(bool),
}

impl BoardCommand {
    /// (coil address, value, idempotent).
    pub fn coil(self) -> (u16, bool, bool) {
        match self {
            Self::Raise => (coil::RAISE, true, false),
            Self::Lower => (coil::LOWER, true, false),
            Self::Stop => (coil::STOP, true, false),
            Self::FaultReset => (coil::FAULT_RESET, true, false),
            Self::Light(on) => (coil::LIGHT_GREEN, on, true),
            Self::Buzzer(on) => (coil::BUZZER, on, true),
        }
    }
}

/// `text` cut to at most [`LED_MAX_BYTES`] bytes of UTF-8 on a character
/// boundary.
pub fn truncate_led(text: &str) -> &str {
    if text.len() <= LED_MAX_BYTES {
        return text;
    }
    let mut end = LED_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The LED_LEN value and the LED_TEXT registers for `text` (truncated on a
/// char boundary, two bytes per register, high byte first, odd length padded
/// with 0).
pub fn led_registers(text: &str) -> (u16, Vec<u16>) {
    let t = truncate_led(text).as_bytes();
    let regs = t
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
        .collect();
    (t.len() as u16, regs)
}

/// Handle on the running board driver. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BoardHandle {
    device: ModbusDevice,
    snapshot: watch::Receiver<Option<BoardSnapshot>>,
    poll_now: Arc<Notify>,
    heartbeat_on: Arc<AtomicBool>,
    led: Arc<tokio::sync::Mutex<()>>,
}

impl BoardHandle {
    /// The latest snapshot; `None` until the first poll and while the board
    /// is offline (`offline_after_errors` failed polls in a row).
    pub fn subscribe(&self) -> watch::Receiver<Option<BoardSnapshot>> {
        self.snapshot.clone()
    }

    /// The Modbus device (health, ad-hoc reads for `gatectl`).
    pub fn device(&self) -> &ModbusDevice {
        &self.device
    }

    /// Restart the board's connection: its bus is reopened. The board keeps
    /// the barrier safe on its own meanwhile (its firmware enforces the
    /// safety rules; a missed heartbeat only makes it fail safe).
    pub async fn restart(&self) -> RestartVerdict {
        self.device.bus().restart().await
    }

    /// Send a command; the board's verdict appears as `last_command` in the
    /// next snapshot (polled at once).
    pub async fn command(&self, cmd: BoardCommand) -> Result<(), DeviceError> {
        let (addr, value, idempotent) = cmd.coil();
        let r = self.device.write_coil(addr, value, idempotent).await;
        self.poll_now.notify_one();
        r
    }

    /// Show `text` on the LED board (truncated to 64 bytes on a char
    /// boundary). Writes the text registers, then LED_LEN. Returns the text
    /// actually written.
    pub async fn set_led_text(&self, text: &str) -> Result<String, DeviceError> {
        let _one_at_a_time = self.led.lock().await;
        let (len, regs) = led_registers(text);
        if !regs.is_empty() {
            self.device.write_registers(hr::LED_TEXT, regs).await?;
        }
        self.device.write_register(hr::LED_LEN, len).await?;
        Ok(truncate_led(text).to_owned())
    }

    /// Stop or resume the heartbeat (stopping it lets the board's watchdog
    /// put the lane in its safe state: red light, no raise).
    pub fn set_heartbeat(&self, on: bool) {
        self.heartbeat_on.store(on, Ordering::Relaxed);
    }
}

/// Start the board driver: a poll task and a heartbeat task on `bus`.
/// Both end when every [`BoardHandle`] and snapshot receiver is dropped.
pub fn spawn_board(
    cfg: BoardConfig,
    bus: &BusHandle,
    registry: &HealthRegistry,
) -> Result<(BoardHandle, Vec<JoinHandle<()>>), SpawnError> {
    cfg.validate()?;
    let device = bus.device(cfg.unit_id, registry.register(&cfg.name));
    let (tx, rx) = watch::channel(None);
    let poll_now = Arc::new(Notify::new());
    let heartbeat_on = Arc::new(AtomicBool::new(true));
    let handle = BoardHandle {
        device: device.clone(),
        snapshot: rx,
        poll_now: Arc::clone(&poll_now),
        heartbeat_on: Arc::clone(&heartbeat_on),
        led: Arc::default(),
    };
    let poll = tokio::spawn(poll_task(cfg.clone(), device.clone(), tx.clone(), poll_now));
    let hb = tokio::spawn(heartbeat_task(cfg, device, tx, heartbeat_on));
    Ok((handle, vec![poll, hb]))
}

async fn read_snapshot(dev: &ModbusDevice) -> Result<BoardSnapshot, DeviceError> {
    let dis = dev.read_discrete(0, di::COUNT).await?;
    let irs = dev.read_input(0, ir::COUNT).await?;
    BoardSnapshot::decode(&dis, &irs, Instant::now())
        .map_err(|e| DeviceError::Decode(e.to_string()))
}

async fn write_settings(cfg: &BoardConfig, dev: &ModbusDevice) -> Result<(), DeviceError> {
    let s = &cfg.settings;
    for (addr, v) in [
        (hr::HEARTBEAT_TIMEOUT_MS, s.heartbeat_timeout_ms),
        (hr::AUTO_CLOSE_DELAY_MS, s.auto_close_delay_ms),
        (hr::MOTOR_RUN_TIMEOUT_MS, s.motor_run_timeout_ms),
        (hr::DEBOUNCE_MS, s.debounce_ms),
        (hr::CLEAR_DELAY_MS, s.clear_delay_ms),
        (
            hr::FLAGS,
            s.auto_close
                .map(|a| if a { hr::FLAG_AUTO_CLOSE } else { 0 }),
        ),
    ] {
        if let Some(v) = v {
            dev.write_register(addr, v).await?;
        }
    }
    Ok(())
}

async fn poll_task(
    cfg: BoardConfig,
    dev: ModbusDevice,
    tx: watch::Sender<Option<BoardSnapshot>>,
    poll_now: Arc<Notify>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.poll_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u32;
    let mut online = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = poll_now.notified() => {}
            () = tx.closed() => break,
        }
        match read_snapshot(&dev).await {
            Ok(snap) => {
                failures = 0;
                if !online {
                    online = true;
                    info!(board = %cfg.name, "board online");
                    if let Err(e) = write_settings(&cfg, &dev).await {
                        warn!(board = %cfg.name, error = %e, "writing board settings failed");
                        online = false; // try again next poll
                    }
                }
                tx.send_if_modified(|cur| match cur {
                    Some(old) if old.same_state(&snap) => false,
                    _ => {
                        *cur = Some(snap);
                        true
                    }
                });
            }
            Err(e) => {
                failures += 1;
                if failures == cfg.offline_after_errors {
                    warn!(board = %cfg.name, error = %e, "board offline");
                    online = false;
                    tx.send_replace(None);
                }
            }
        }
    }
}

async fn heartbeat_task(
    cfg: BoardConfig,
    dev: ModbusDevice,
    tx: watch::Sender<Option<BoardSnapshot>>,
    on: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.heartbeat_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut counter: u16 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = tx.closed() => break,
        }
        if !on.load(Ordering::Relaxed) {
            continue;
        }
        counter = counter.wrapping_add(1);
        // Failures are in the device health; the poll task decides offline.
        let _ = dev.write_register(hr::HEARTBEAT, counter).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn led_truncates_on_char_boundary() {
        assert_eq!(led_registers(""), (0, vec![]));
        assert_eq!(led_registers("AB"), (2, vec![0x4142]));
        assert_eq!(led_registers("ABC"), (3, vec![0x4142, 0x4300]));
        // 22 CJK characters = 66 bytes: 21 fit (63 bytes), the 22nd is cut whole.
        let s = "请".repeat(22);
        let t = truncate_led(&s);
        assert_eq!(t.len(), 63);
        assert_eq!(t.chars().count(), 21);
        let (len, regs) = led_registers(&s);
        assert_eq!((len, regs.len()), (63, 32));
        // Exactly 64 bytes stay whole.
        let s = "x".repeat(64);
        assert_eq!(led_registers(&s).0, 64);
        // Mixed: "琼A" = 4 bytes: E7 90 BC 41
        assert_eq!(led_registers("琼A").1, vec![0xE790, 0xBC41]);
    }

    #[test]
    fn decodes_a_snapshot() {
        let mut dis = vec![false; 8];
        dis[usize::from(di::ARRIVAL_LOOP)] = true;
        dis[usize::from(di::DOWN_LIMIT)] = true;
        let mut irs = vec![0u16; 13];
        irs[usize::from(ir::BARRIER_STATE)] = BarrierState::Closed as u16;
        irs[usize::from(ir::VEHICLE_COUNT)] = 7;
        irs[usize::from(ir::STATUS)] = ir::ST_ADMIT_PENDING | 0x8000;
        irs[usize::from(ir::OUTPUTS)] = ir::OUT_LIGHT_GREEN;
        irs[usize::from(ir::UPTIME_LO)] = 0x0002;
        irs[usize::from(ir::UPTIME_HI)] = 0x0001;
        irs[usize::from(ir::LAST_COMMAND)] = 99;
        irs[usize::from(ir::FW_VERSION)] = 0x0100;
        let at = Instant::now();
        let s = BoardSnapshot::decode(&dis, &irs, at).expect("decode");
        assert!(
            s.inputs.arrival_loop
                && !s.inputs.safety_loop
                && s.inputs.down_limit
                && !s.inputs.up_limit
        );
        assert_eq!(s.barrier, Some(BarrierState::Closed));
        assert_eq!(s.fault, Some(FaultCode::None));
        assert_eq!(s.counters.vehicles, 7);
        assert!(s.status.admit_pending && !s.status.heartbeat_lost);
        assert_eq!(s.status.raw, ir::ST_ADMIT_PENDING | 0x8000);
        assert!(s.outputs.light_green && !s.outputs.motor_up);
        assert_eq!(s.uptime_s, 0x0001_0002);
        assert_eq!((s.last_command, s.last_command_raw), (None, 99));
        irs[usize::from(ir::BARRIER_STATE)] = 42;
        let t = BoardSnapshot::decode(&dis, &irs, at).expect("decode");
        assert_eq!((t.barrier, t.barrier_raw), (None, 42));
        assert!(!t.same_state(&s));
        irs[usize::from(ir::BARRIER_STATE)] = BarrierState::Closed as u16;
        irs[usize::from(ir::UPTIME_LO)] = 0x0003;
        let u = BoardSnapshot::decode(&dis, &irs, Instant::now()).expect("decode");
        assert!(u.same_state(&s));
        assert!(BoardSnapshot::decode(&dis[..7], &irs, at).is_err());
    }

    #[test]
    fn momentary_commands_are_not_idempotent() {
        assert_eq!(BoardCommand::Raise.coil(), (coil::RAISE, true, false));
        assert_eq!(
            BoardCommand::Light(false).coil(),
            (coil::LIGHT_GREEN, false, true)
        );
        assert!(!BoardCommand::FaultReset.coil().2);
    }
}
