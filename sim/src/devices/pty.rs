//! Pseudo-terminal pairs standing in for serial lines: the simulated device
//! owns the master side; the consumer (the agent, a test) opens the slave by
//! path, exactly as it would open /dev/ttyUSB0. A symlink with a stable name
//! points at the slave (`<dir>/<name>` -> /dev/pts/N).
//!
//! Layer: simulator infrastructure (OS resources); knows no protocol.
//!
//! The simulator keeps one slave descriptor open for the pty's lifetime, so a
//! consumer may close and reopen the path without the master seeing EIO. A
//! real serial line does not store what nobody reads: [`PtyHold::drop_stale`]
//! discards unread input beyond a bound, so a consumer that opens the line
//! late sees at most a few old frames.

use std::io;
use std::path::{Path, PathBuf};

use tokio_serial::{ClearBuffer, SerialPort, SerialStream};

/// The slave side kept open by the simulator.
pub struct PtyHold {
    slave: SerialStream,
    slave_path: PathBuf,
    link_path: PathBuf,
}

impl std::fmt::Debug for PtyHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyHold")
            .field("slave_path", &self.slave_path)
            .field("link_path", &self.link_path)
            .finish()
    }
}

impl PtyHold {
    /// /dev/pts/N.
    pub fn slave_path(&self) -> &Path {
        &self.slave_path
    }

    /// The symlink to give consumers.
    pub fn link_path(&self) -> &Path {
        &self.link_path
    }

    /// Bytes written by the master and not yet read on the slave side.
    pub fn unread(&self) -> u32 {
        self.slave.bytes_to_read().unwrap_or(0)
    }

    /// Discards the unread input if more than `limit` bytes are waiting.
    /// Returns whether it discarded.
    pub fn drop_stale(&self, limit: u32) -> bool {
        if self.unread() > limit {
            return self.slave.clear(ClearBuffer::Input).is_ok();
        }
        false
    }
}

impl Drop for PtyHold {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link_path);
    }
}

/// Opens a pty pair and links `dir/name` to its slave. Must run inside a
/// tokio runtime. Returns the master (for the device) and the hold.
pub fn open(dir: &Path, name: &str) -> io::Result<(SerialStream, PtyHold)> {
    let (master, slave) = SerialStream::pair().map_err(io::Error::other)?;
    let slave_path = slave
        .name()
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other("pty slave has no name"))?;
    let link_path = dir.join(name);
    let _ = std::fs::remove_file(&link_path);
    std::os::unix::fs::symlink(&slave_path, &link_path)?;
    Ok((
        master,
        PtyHold {
            slave,
            slave_path,
            link_path,
        },
    ))
}
