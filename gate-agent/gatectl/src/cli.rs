//! `gatectl`'s command line (clap derive). Help text here is the user
//! documentation; docs/gatectl.md shows real output.
//!
//! Layer: argument parsing only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default control socket (overridden by `--socket` or the `[control]`
/// section of `--config`).
pub const DEFAULT_SOCKET: &str = "/run/gate-agent/control.sock";

/// Diagnostics and commissioning for a customs lane agent.
///
/// Exit codes: 0 ok; 1 failed or refused; 2 usage error; 3 agent
/// unreachable; 4 selftest found failures.
#[derive(Parser, Debug)]
#[command(name = "gatectl", version)]
pub struct Cli {
    /// The agent's control socket [default: from --config, else /run/gate-agent/control.sock].
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The lane configuration: gives the socket, the database and the cameras.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The lane database, read directly when the agent is not running
    /// (status, lookup, events, outbox) [default: from --config].
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Print one JSON object per answer (one per line when following).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Lane state, board, LED, link, whitelist, outbox, clock, decisions.
    Status,
    /// Health of every device: last success, errors, latency.
    Devices,
    /// Board inputs and outputs.
    Io {
        /// Print again whenever something changes (Ctrl-C to stop).
        #[arg(long)]
        watch: bool,
        /// Poll period with --watch, ms.
        #[arg(long, default_value_t = 500, value_name = "MS")]
        interval_ms: u64,
        /// With --watch: stop after this many changes (scripts).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Raise or lower the barrier through the lane (safety rules apply; audited).
    Barrier {
        #[arg(value_enum)]
        action: BarrierArg,
        #[command(flatten)]
        who: Who,
    },
    /// Close a device's connection and open it again (audited): a device
    /// name from `gatectl devices`, `bus/<name>`, or a lane role
    /// (plate_front, etag, scale, barrier, ...).
    Restart {
        device: String,
        /// Officer id (audited).
        #[arg(long, value_name = "ID")]
        officer: String,
        /// Why (audited).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Live weight and stability.
    Weigh,
    /// Grab one JPEG from a configured camera.
    Capture {
        /// Camera name (see `gatectl devices` or `camera list`).
        camera: String,
        /// Where to write the JPEG.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
    },
    /// Whitelist records for one key.
    Lookup(LookupArgs),
    /// Recent finished events, newest first.
    Events {
        /// How many.
        #[arg(short = 'n', default_value_t = 20, value_name = "N")]
        n: usize,
        /// Keep printing new events as they finish (Ctrl-C to stop).
        #[arg(long)]
        follow: bool,
        /// Poll period with --follow, ms.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval_ms: u64,
        /// With --follow: stop after this many new events (scripts).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Outbox depth, bytes, oldest item, pressure, link.
    Outbox,
    /// Whitelist sync state.
    Sync {
        /// Ask the platform for the batches after the current version now.
        #[arg(long)]
        resync: bool,
    },
    /// Recent alarms: the lane's alarm log (delivered or not, acknowledged
    /// or not) and what the agent observed.
    Alarms {
        /// How many.
        #[arg(short = 'n', default_value_t = 50, value_name = "N")]
        n: usize,
    },
    /// Check every configured device (exit 4 when one fails).
    Selftest,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Officer override on the vehicle in the lane: release (O01), hold
    /// (O02) or send to inspection (O01, result inspect), through the lane,
    /// audited. Past --wait it never happens.
    Decide {
        #[arg(value_enum)]
        result: DecideArg,
        #[command(flatten)]
        who: Who,
    },
    /// Read the agent's configuration file again (as SIGHUP does): checked
    /// first (every problem printed; a bad file changes nothing and raises
    /// `config_rejected`); `[policy]` and `[sequence]` take effect between
    /// passages; other changed sections are listed as needing a restart.
    Reload {
        /// Officer id (audited).
        #[arg(long, value_name = "ID")]
        officer: String,
        /// Why (audited).
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Re-trigger the identification devices for the vehicle in the lane.
    Regather {
        #[command(flatten)]
        who: Who,
    },
    /// Type data for the vehicle in the lane (what a device misread or
    /// missed); the lane decides again on it and the decision names the
    /// officer.
    Entry {
        #[command(flatten)]
        who: Who,
        #[arg(long, value_name = "PLATE")]
        plate: Option<String>,
        #[arg(long, value_name = "PLATE")]
        trailer_plate: Option<String>,
        /// A container number (repeat for two).
        #[arg(long = "container", value_name = "NUMBER")]
        containers: Vec<String>,
        #[arg(long, value_name = "EPC")]
        etag: Option<String>,
        /// A gate pass number.
        #[arg(long = "pass", value_name = "PASS_NO")]
        pass_no: Option<String>,
    },
    /// Console accounts (the officer's booth screen, docs/console.md).
    #[command(subcommand)]
    Officer(OfficerCmd),
    /// Write the manual pages of gatectl (one per command) and gate-agent
    /// into DIR (the package build runs it).
    #[command(hide = true)]
    Man {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Modbus commissioning without the agent.
    #[command(subcommand)]
    Modbus(ModbusCmd),
    /// Serial line tools without the agent.
    #[command(subcommand)]
    Serial(SerialCmd),
    /// Cameras without the agent.
    #[command(subcommand)]
    Camera(CameraCmd),
    /// Read plates or container codes in image files with the on-board
    /// recogniser (fetches the models on first use).
    ///
    /// A file where nothing (or nothing valid) was read is a result too:
    /// `(nothing found)`, or the read marked invalid.
    ///
    /// Exit status: 0 when every file was processed (read or not), 1 when
    /// a file could not be processed (not an image, unreadable, a
    /// recognition error) or the models could not be loaded, 2 on bad
    /// arguments.
    Recognize {
        #[arg(value_enum)]
        kind: RecognizeKind,
        /// Image files (JPEG or PNG).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The models directory [default: $GATE_OCR_MODELS, else the user cache].
        #[arg(long, value_name = "DIR")]
        models: Option<PathBuf>,
    },
}

/// What `gatectl recognize` looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RecognizeKind {
    /// The licence plate of a frame.
    Plate,
    /// Every container code of a frame.
    Container,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BarrierArg {
    Raise,
    Lower,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct LookupArgs {
    #[arg(long, value_name = "PLATE")]
    pub plate: Option<String>,
    #[arg(long, value_name = "EPC")]
    pub etag: Option<String>,
    #[arg(long, value_name = "N")]
    pub pass_no: Option<String>,
    #[arg(long, value_name = "ISO6346")]
    pub container: Option<String>,
}

/// How to reach a Modbus device.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false, id = "transport")]
pub struct TransportArgs {
    /// Modbus TCP device or gateway.
    #[arg(long, value_name = "HOST:PORT")]
    pub tcp: Option<String>,
    /// Modbus RTU serial port.
    #[arg(long, value_name = "PATH")]
    pub rtu: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct LineArgs {
    /// RTU baud rate.
    #[arg(long, default_value_t = 9600, value_name = "N")]
    pub baud: u32,
    /// RTU parity.
    #[arg(long, value_enum, default_value_t = ParityArg::None)]
    pub parity: ParityArg,
    /// RTU data bits.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub data_bits: u8,
    /// RTU stop bits.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub stop_bits: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ParityArg {
    None,
    Even,
    Odd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Coil,
    Discrete,
    Holding,
    Input,
}

#[derive(Args, Debug)]
pub struct ModbusRw {
    #[command(flatten)]
    pub transport: TransportArgs,
    #[command(flatten)]
    pub line: LineArgs,
    /// Unit (slave) id.
    #[arg(long, default_value_t = 1, value_name = "U")]
    pub unit: u8,
    /// Object type.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// First address (0-based, as on the wire).
    #[arg(long, value_name = "A")]
    pub addr: u16,
    /// How many to read.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub count: u16,
    /// Values to write (registers: 0..65535 or 0x...; coils: 0/1/true/false).
    #[arg(long, num_args = 1.., value_name = "V", allow_negative_numbers = true)]
    pub value: Vec<String>,
    /// Time allowed for the answer, ms.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub timeout_ms: u64,
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    #[command(flatten)]
    pub transport: TransportArgs,
    #[command(flatten)]
    pub line: LineArgs,
    /// First unit id.
    #[arg(long, default_value_t = 1, value_name = "U")]
    pub from: u8,
    /// Last unit id.
    #[arg(long, default_value_t = 247, value_name = "U")]
    pub to: u8,
    /// Time allowed per unit, ms.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub timeout_ms: u64,
}

#[derive(Subcommand, Debug)]
pub enum ModbusCmd {
    /// Read coils, discrete inputs, holding or input registers.
    Read(ModbusRw),
    /// Write coils or holding registers (one value: FC 05/06; several: FC 15/16).
    Write(ModbusRw),
    /// Find the unit ids that answer (reads holding register 0 of each).
    Scan(ScanArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// Mettler Toledo continuous output.
    Toledo,
    /// Yaohua XK3190 continuous output.
    Xk3190,
    /// Bytes as hex and text.
    Raw,
}

#[derive(Subcommand, Debug)]
pub enum SerialCmd {
    /// Print what an indicator sends, frame by frame (the agent's parsers).
    Monitor {
        /// Serial port.
        #[arg(long, value_name = "PATH")]
        port: PathBuf,
        #[command(flatten)]
        line: LineArgs,
        #[arg(long, value_enum)]
        protocol: ProtocolArg,
        /// Toledo frames carry a checksum byte.
        #[arg(long)]
        checksum: bool,
        /// Kilograms per displayed unit (1000 when the indicator shows tonnes).
        #[arg(long, default_value_t = 1.0, value_name = "F")]
        kg_per_unit: f64,
        /// Stop after this many frames (raw: reads).
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "S")]
        seconds: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CameraCmd {
    /// The cameras of --config (and USB cameras with the usb-camera feature).
    List,
    /// Grab one JPEG from a camera URL.
    Capture {
        /// HTTP URL of a snapshot (one JPEG per GET) or, with --mjpeg, a stream.
        #[arg(long, value_name = "URL")]
        url: String,
        /// The URL is an MJPEG stream.
        #[arg(long)]
        mjpeg: bool,
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        /// Time allowed, ms.
        #[arg(long, default_value_t = 5000, value_name = "MS")]
        timeout_ms: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum OfficerCmd {
    /// Make a console account: reads the password (twice on a terminal,
    /// not echoed; once from a pipe) and prints the `[[console.accounts]]`
    /// entry with its argon2 hash, to add to the lane configuration.
    Add {
        /// Officer id (audited with every action).
        id: String,
        /// What the account may do.
        #[arg(long, value_enum, default_value = "officer")]
        role: RoleArg,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// Every officer action.
    Officer,
    /// Read-only, plus restarting a device.
    Engineer,
    /// Read-only.
    Viewer,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DecideArg {
    Release,
    Hold,
    /// Send to the inspection area (the arm opens towards it).
    Inspect,
}

/// Who acts, why, and how long gatectl waits: every officer action.
#[derive(Args, Debug)]
pub struct Who {
    /// Officer id (audited).
    #[arg(long, value_name = "ID")]
    pub officer: String,
    /// Why (audited; becomes the event's note).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// How long to wait for the lane's answer. Past it gatectl reports
    /// failure and the agent will never carry the action out (it drops it
    /// and audits the drop).
    #[arg(long, value_name = "SECONDS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub wait: u64,
}
