//! `gate-agent`'s command line (clap derive; the `cli` feature): how a
//! lane's agent is started on its configuration file. Here, below both
//! binaries, so that `gatectl man` can write the agent's manual page beside
//! its own.
//!
//! Layer: argument parsing only.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The customs lane agent: drives one lane's devices, decides release, hold
/// or inspection for each truck, reports every passage to the platform.
///
/// It runs until SIGTERM or SIGINT (it then leaves the light red, flushes
/// the journal and exits 0). Under systemd (the gate-agent package's unit,
/// Type=notify) it reports READY=1 once the lane is up, a STATUS= line, and
/// pets the watchdog from the lane task.
///
/// Files: /etc/gate-agent/lane.toml (the configuration, see
/// config/lane.example.toml, commented),
/// /usr/share/gate-agent/profiles (register profiles), /var/lib/gate-agent
/// (the lane database), /run/gate-agent/control.sock (gatectl's socket).
///
/// Exit status: 0 stopped by a signal or the configuration checks; 1 the
/// lane could not start or stopped on an error; 2 the configuration is
/// invalid (every problem printed as FILE:LINE:COLUMN: message).
///
/// Logs: RUST_LOG (default info) filters; `--log-format json` (or `[log]
/// format = "json"`) writes one JSON object per line; text has colours
/// only on a terminal.
#[derive(Parser, Debug)]
#[command(name = "gate-agent", version, subcommand_negates_reqs = true)]
pub struct Args {
    /// The lane configuration (TOML); see config/lane.example.toml.
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        required_unless_present = "check_config"
    )]
    pub config: Option<PathBuf>,
    /// Check a configuration file and exit: 0 when valid, 2 when not (each
    /// problem printed as FILE:LINE:COLUMN: message).
    #[arg(long, value_name = "FILE")]
    pub check_config: Option<PathBuf>,
    /// Log lines as `text` (colours only on a terminal) or `json` (one
    /// object per line); overrides the configuration's `[log] format`.
    /// RUST_LOG filters (default `info`, e.g. `RUST_LOG=gate_link=debug`).
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The on-board recognition models: install them offline, see where
    /// the agent finds them.
    Models {
        #[command(subcommand)]
        action: ModelsCmd,
    },
}

#[derive(Subcommand, Debug)]
pub enum ModelsCmd {
    /// Install the models from the pinned wheel
    /// (rapidocr_onnxruntime-1.4.4-py3-none-any.whl) or from a folder
    /// holding the two model files: every file sha256-checked, no network.
    /// Into --dir, else $GATE_OCR_MODELS, else ~/.cache/gate-agent/models
    /// (the service's unit sets GATE_OCR_MODELS=/var/lib/gate-agent/models).
    Install {
        /// The wheel file, or a folder with the two .onnx files. Absent:
        /// the models the agent itself would use (to copy them elsewhere,
        /// e.g. into a package).
        #[arg(value_name = "FILE|DIR")]
        from: Option<PathBuf>,
        /// Install here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Where the agent looks for the models (a configured `models_dir`,
    /// else $GATE_OCR_MODELS or the cache, then the gate-agent-models
    /// package's /usr/share/gate-agent/models) and what each holds. Exit 1
    /// when none holds verified models.
    Status {
        /// Look only here (as a configured `[recognition] models_dir`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}
