//! The background checkpointer: copies committed WAL frames back into the
//! database files, off the callers' threads.
//!
//! Automatic checkpoints run inside the commit that crosses the threshold,
//! so a `journal_decided` (barrier path) or a delta apply would sometimes
//! pay for copying megabytes and an fsync of the database file. Instead the
//! writers have `wal_autocheckpoint = 0` and notify this thread after each
//! commit; it runs PASSIVE checkpoints (never waiting for readers or the
//! writer) on its own connections. If it falls behind, the WAL only grows;
//! nothing is lost. Stopped and joined when the store is dropped.
//!
//! Knows connections only; nothing about tables.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::StoreConfig;
use crate::conn::{self, lock, Role};
use crate::error::Result;

/// Which file a commit touched.
#[derive(Clone, Copy, Debug)]
pub(crate) enum File {
    Main = 0,
    Whitelist = 1,
}

#[derive(Default)]
struct Flags {
    pending: [bool; 2],
    stop: bool,
}

pub(crate) struct Checkpointer {
    shared: Arc<(Mutex<Flags>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

/// Checkpoint at least this often while commits keep coming.
const MIN_GAP: Duration = Duration::from_millis(200);

impl Checkpointer {
    pub(crate) fn start(paths: [PathBuf; 2], cfg: &StoreConfig) -> Result<Self> {
        let conns = [
            conn::open(&paths[0], cfg, Role::Checkpointer)?,
            conn::open(&paths[1], cfg, Role::Checkpointer)?,
        ];
        let shared: Arc<(Mutex<Flags>, Condvar)> = Arc::default();
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("gate-store-ckpt".into())
            .spawn(move || run(&s, &conns, &paths))
            .map_err(|source| crate::error::StoreError::Io {
                context: "starting the checkpoint thread".into(),
                source,
            })?;
        Ok(Self {
            shared,
            handle: Some(handle),
        })
    }

    /// A commit happened on `file`.
    pub(crate) fn notify(&self, file: File) {
        let (m, cv) = &*self.shared;
        lock(m).pending[file as usize] = true;
        cv.notify_one();
    }
}

fn run(shared: &(Mutex<Flags>, Condvar), conns: &[rusqlite::Connection; 2], paths: &[PathBuf; 2]) {
    let (m, cv) = shared;
    loop {
        let pending = {
            let mut f = lock(m);
            while !f.stop && !f.pending.iter().any(|p| *p) {
                f = cv
                    .wait(f)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if f.stop {
                return;
            }
            std::mem::take(&mut f.pending)
        };
        for (i, p) in pending.iter().enumerate() {
            if *p {
                if let Err(e) = conns[i].query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::warn!(file = %paths[i].display(), error = %e, "checkpoint failed");
                }
            }
        }
        // Coalesce bursts of commits (a snapshot's chunks, a photo burst),
        // but stop at once when asked.
        let f = lock(m);
        let (f, _) = cv
            .wait_timeout_while(f, MIN_GAP, |f| !f.stop)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if f.stop {
            return;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (m, cv) = &*self.shared;
        lock(m).stop = true;
        cv.notify_one();
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                tracing::error!("checkpoint thread panicked");
            }
        }
    }
}
