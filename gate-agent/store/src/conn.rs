//! SQLite connections: opening a file safely (foreign and corrupt files are
//! refused with a clear error), pragmas per role, migrations, the reader
//! pool and the writer with its durability switch.
//!
//! This layer knows SQL connection handling only; it knows nothing about
//! what the tables mean.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::config::{OpenCheck, StoreConfig};
use crate::error::{Ctx, Result, StoreError};

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What a connection is for; decides its pragmas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Writer,
    Reader,
    /// The background checkpointer's connection.
    Checkpointer,
}

/// Refuse a file that exists, is not empty and does not start with the
/// SQLite header, before SQLite gets to touch it.
pub(crate) fn check_header(path: &Path) -> Result<()> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(StoreError::Io {
                context: format!("opening {}", path.display()),
                source,
            })
        }
    };
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(StoreError::Io {
                    context: format!("reading {}", path.display()),
                    source,
                })
            }
        }
    }
    if n == 0 || &head[..n] == SQLITE_MAGIC.as_slice() {
        return Ok(());
    }
    Err(StoreError::NotADatabase {
        path: path.to_owned(),
    })
}

/// Open one connection with the pragmas of its role.
pub(crate) fn open(path: &Path, cfg: &StoreConfig, role: Role) -> Result<Connection> {
    let what = |s: &str| format!("{s} {}", path.display());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(|e| StoreError::sqlite(what("opening"), e))?;
    conn.busy_timeout(cfg.busy_timeout)
        .map_err(|e| StoreError::sqlite(what("busy_timeout on"), e))?;
    // The first read of the schema is where SQLite notices a foreign or
    // broken file.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StoreError::NotADatabase {
            path: path.to_owned(),
        },
        _ => StoreError::sqlite(what("reading the schema of"), e),
    })?;
    let pragmas = match role {
        Role::Writer => format!(
            "PRAGMA page_size = {page};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA foreign_keys = ON;
             PRAGMA temp_store = {temp};
             PRAGMA cache_size = -{cache};
             PRAGMA threads = {threads};
             PRAGMA journal_size_limit = {limit};
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA mmap_size = {mmap};",
            mmap = cfg.mmap_bytes,
            temp = if cfg.temp_in_memory { "MEMORY" } else { "FILE" },
            page = cfg.page_size,
            cache = cfg.writer_cache_kib,
            threads = cfg.sort_threads,
            limit = 64 << 20,
        ),
        Role::Reader => format!(
            "PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -{cache};
             PRAGMA mmap_size = {mmap};
             PRAGMA query_only = ON;",
            cache = cfg.reader_cache_kib,
            mmap = cfg.mmap_bytes,
        ),
        Role::Checkpointer => format!(
            "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -{};",
            crate::config::CHECKPOINTER_CACHE_KIB
        ),
    };
    conn.execute_batch(&pragmas)
        .map_err(|e| StoreError::sqlite(what("setting pragmas on"), e))?;
    if role == Role::Writer {
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(|e| StoreError::sqlite(what("reading journal_mode of"), e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::BadValue {
                context: what("journal mode of"),
                detail: format!("`{mode}`, WAL could not be enabled"),
            });
        }
    }
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// Bring a file to the latest schema. Each migration runs in its own
/// transaction with its `user_version` bump.
pub(crate) fn migrate(conn: &mut Connection, path: &Path, migrations: &[&str]) -> Result<()> {
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx("reading user_version")?;
    let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    if found > supported {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            supported,
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(found.max(0) as usize) {
        let to = i + 1;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("starting a migration")?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::sqlite(format!("migration {to} of {}", path.display()), e))?;
        tx.pragma_update(None, "user_version", to)
            .ctx("bumping user_version")?;
        tx.commit().ctx("committing a migration")?;
        tracing::info!(path = %path.display(), version = to, "schema migrated");
    }
    Ok(())
}

/// `PRAGMA quick_check`, when configured.
pub(crate) fn open_check(conn: &Connection, path: &Path, check: OpenCheck) -> Result<()> {
    if check == OpenCheck::Header {
        return Ok(());
    }
    let mut stmt = conn
        .prepare("PRAGMA quick_check")
        .ctx("preparing quick_check")?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(Iterator::collect)
        .map_err(|e| StoreError::sqlite(format!("quick_check of {}", path.display()), e))?;
    if rows.len() == 1 && rows[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        context: format!("quick_check of {}", path.display()),
        detail: rows.join("; "),
    })
}

/// `sqlite3_db_release_memory` on one connection (its unused page cache),
/// logged when it fails: best effort, the cache is only memory.
pub(crate) fn release_memory(conn: &Connection, what: &str) {
    if let Err(e) = conn.release_memory() {
        tracing::debug!(%e, what, "page cache not released");
    }
}

/// A fixed set of reader connections; `get` waits for a free one.
pub(crate) struct Pool {
    free: Mutex<Vec<Connection>>,
    ready: Condvar,
}

impl Pool {
    pub(crate) fn new(path: &Path, cfg: &StoreConfig, n: usize) -> Result<Self> {
        let conns = (0..n.max(1))
            .map(|_| open(path, cfg, Role::Reader))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            free: Mutex::new(conns),
            ready: Condvar::new(),
        })
    }

    /// Release the page caches of the connections not in use.
    pub(crate) fn release_memory(&self) {
        for c in lock(&self.free).iter() {
            release_memory(c, "reader");
        }
    }

    pub(crate) fn get(&self) -> Pooled<'_> {
        let mut free = lock(&self.free);
        loop {
            if let Some(conn) = free.pop() {
                return Pooled {
                    pool: self,
                    conn: Some(conn),
                };
            }
            free = self
                .ready
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// A reader borrowed from the pool; goes back on drop.
pub(crate) struct Pooled<'a> {
    pool: &'a Pool,
    conn: Option<Connection>,
}

impl Pooled<'_> {
    /// A read transaction: every statement in it sees one database state.
    pub(crate) fn read_tx(&mut self) -> Result<Transaction<'_>> {
        match self.conn.as_mut() {
            Some(c) => c
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .ctx("starting a read transaction"),
            None => Err(StoreError::BadValue {
                context: "reader pool".into(),
                detail: "connection already returned".into(),
            }),
        }
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock(&self.pool.free).push(conn);
            self.pool.ready.notify_one();
        }
    }
}

/// The single writer connection of a file and its current durability.
pub(crate) struct Writer {
    pub(crate) conn: Connection,
    full_sync: bool,
    pub(crate) path: PathBuf,
}

impl Writer {
    pub(crate) fn new(conn: Connection, path: PathBuf) -> Self {
        Self {
            conn,
            full_sync: false,
            path,
        }
    }

    /// Begin a write transaction. `durable`: its commit is on stable storage
    /// when `commit` returns (synchronous = FULL: the WAL is fsynced at
    /// commit). Otherwise synchronous = NORMAL: the commit is atomic and
    /// survives a process crash, and a power cut may lose it (but never
    /// half of it). A durable commit also makes every earlier commit on the
    /// same file durable, as they precede it in the WAL.
    pub(crate) fn begin(&mut self, durable: bool) -> Result<Transaction<'_>> {
        if self.full_sync != durable {
            self.conn
                .pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })
                .ctx("switching synchronous")?;
            self.full_sync = durable;
        }
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("starting a write transaction")
    }
}

/// Lock a mutex, recovering from poisoning (a panic elsewhere must not stop
/// the lane; a transaction in flight was rolled back when its guard dropped).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
