//! Store configuration: file locations, connection tuning, quotas and
//! retention. Plain data; nothing here touches SQLite.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Wall clock in Unix milliseconds. The store stamps rows with it
/// (`created_ms`, retention cut-offs); tests inject a fake one.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(gate_proto::time::now_unix_ms))
    }
    /// Any function returning Unix milliseconds.
    pub fn from_fn(f: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
    /// Current time, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// How [`crate::Store::open`] checks the files it opens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpenCheck {
    /// Header and schema only (milliseconds, whatever the size).
    #[default]
    Header,
    /// Also `PRAGMA quick_check` on both files (O(size): about a second per
    /// GB). Catches corrupt pages at start-up instead of at first use.
    Quick,
}

/// Tuning and policy of a [`crate::Store`]. `Default` gives the documented
/// defaults (docs/store.md).
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The whitelist replica file. `None`: next to the main file,
    /// `<stem>.whitelist.db` (for `lane.db`: `lane.whitelist.db`).
    pub whitelist_path: Option<PathBuf>,
    /// Page size of files this store creates (an existing file keeps its
    /// own). 8 KiB measured faster than 4 KiB for snapshot applies.
    pub page_size: u32,
    /// Reader connections on the whitelist (lookups run on them while a
    /// batch applies on the writer). Minimum 1.
    pub readers: usize,
    /// How long a connection waits for a lock held by another process
    /// (a diagnostics CLI) before failing with `SQLITE_BUSY`.
    pub busy_timeout: Duration,
    /// Page cache of each writer connection (one per file), KiB: an upper
    /// bound, allocated on demand and kept once filled. Also the in-memory
    /// share of a snapshot's index build (SQLite's sorter spills beyond it,
    /// see `temp_in_memory`). Deltas at 10 M records miss it anyway (their
    /// rows are random), so a big cache buys little there (docs/store.md).
    pub writer_cache_kib: u64,
    /// Page cache of each reader connection, KiB (whitelist readers and the
    /// main file's 2 readers).
    pub reader_cache_kib: u64,
    /// Where the writers' temporary data goes (sorter spills of a snapshot's
    /// index build): `false` (default) temp files (`SQLITE_TMPDIR`, else
    /// `/var/tmp`), deleted on close, so memory stays within the caches;
    /// `true` RAM, which at 10 M records is hundreds of MB more at the peak
    /// of a snapshot apply.
    pub temp_in_memory: bool,
    /// Memory-mapped I/O size of the connections, bytes (0: off, the default:
    /// no measurable gain here, and an I/O error becomes SIGBUS).
    pub mmap_bytes: u64,
    /// Helper threads SQLite may use to sort while it builds indexes after a
    /// snapshot (`PRAGMA threads`).
    pub sort_threads: u32,
    /// Disk quota of the outbox: sum of payload + topic bytes.
    pub outbox_quota_bytes: u64,
    /// Outbox use (percent of the quota) at which pressure becomes `Warn`.
    pub outbox_warn_percent: u8,
    /// How long processed command ids are kept for replay protection. Must
    /// exceed the longest command lifetime (expires_at - issued_at) plus the
    /// allowed clock skew.
    pub command_keep: Duration,
    /// Upper bound on kept command ids (oldest dropped first).
    pub command_max: u64,
    /// How long finished journal entries stay (local history for
    /// diagnostics; the platform has its own copy).
    pub journal_keep: Duration,
    /// Upper bound on finished journal entries kept.
    pub journal_max: u64,
    /// Checks done at open.
    pub open_check: OpenCheck,
    /// Time source.
    pub clock: Clock,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            whitelist_path: None,
            page_size: 8192,
            readers: 3,
            busy_timeout: Duration::from_secs(5),
            writer_cache_kib: 64 * 1024,
            reader_cache_kib: 16 * 1024,
            temp_in_memory: false,
            mmap_bytes: 0,
            sort_threads: 2,
            outbox_quota_bytes: 4 << 30,
            outbox_warn_percent: 80,
            command_keep: Duration::from_secs(30 * 24 * 3600),
            command_max: 100_000,
            journal_keep: Duration::from_secs(90 * 24 * 3600),
            journal_max: 1_000_000,
            open_check: OpenCheck::Header,
            clock: Clock::system(),
        }
    }
}

impl StoreConfig {
    /// Where the whitelist replica lives for a main file at `main`.
    pub fn whitelist_path_for(&self, main: &Path) -> PathBuf {
        if let Some(p) = &self.whitelist_path {
            return p.clone();
        }
        let stem = main
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lane".to_owned());
        main.with_file_name(format!("{stem}.whitelist.db"))
    }
}

impl StoreConfig {
    /// Upper bound of the SQLite page caches of a store opened with this
    /// configuration, KiB: two writers, the whitelist readers, the main
    /// file's readers and the checkpointer's two connections (2 MB each,
    /// SQLite's default). Sorter memory of an index build comes on top
    /// (about one writer cache per sort thread).
    pub fn cache_bound_kib(&self) -> u64 {
        2 * self.writer_cache_kib
            + (self.readers.max(1) as u64 + crate::MAIN_READERS as u64) * self.reader_cache_kib
            + 2 * CHECKPOINTER_CACHE_KIB
    }
}

/// Page cache of each checkpointer connection, KiB (SQLite's default).
pub(crate) const CHECKPOINTER_CACHE_KIB: u64 = 2000;

/// Milliseconds in a duration, saturating.
pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
