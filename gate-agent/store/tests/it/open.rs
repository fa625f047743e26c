//! Opening files: creation, migration, foreign files, corrupt files, files
//! from a newer build.

use std::io::{Seek, SeekFrom, Write};

use gate_store::{LookupKey, OpenCheck, Store, StoreConfig, StoreError};

#[test]
fn creates_both_files_and_reopens() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    let store = Store::open(&path, StoreConfig::default()).expect("open");
    assert_eq!(store.whitelist_path(), dir.path().join("lane.whitelist.db"));
    assert!(path.exists() && store.whitelist_path().exists());
    drop(store);
    let store = Store::open(&path, StoreConfig::default()).expect("reopen");
    assert_eq!(store.whitelist_version().expect("v"), 0);
    let raw = rusqlite::Connection::open(&path).expect("raw");
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    let v: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("uv");
    assert!(v >= 1);
}

#[test]
fn a_foreign_file_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    let junk = b"this is a config file, not a database\n".repeat(200);
    std::fs::write(&path, &junk).expect("write");
    let err = Store::open(&path, StoreConfig::default()).expect_err("refused");
    assert!(
        matches!(&err, StoreError::NotADatabase { path: p } if *p == path),
        "{err}"
    );
    assert!(err.is_corrupt());
    assert!(err.to_string().contains("not an SQLite database"), "{err}");
    assert_eq!(std::fs::read(&path).expect("read"), junk, "file untouched");

    // Same for the whitelist file.
    let dir = tempfile::tempdir().expect("tmp");
    let wl = dir.path().join("lane.whitelist.db");
    std::fs::write(&wl, b"short").expect("write");
    let err = Store::open(dir.path().join("lane.db"), StoreConfig::default()).expect_err("refused");
    assert!(
        matches!(&err, StoreError::NotADatabase { path: p } if *p == wl),
        "{err}"
    );
}

/// Overwrite the middle of every page after the first with garbage.
fn trash_pages(path: &std::path::Path) {
    let len = std::fs::metadata(path).expect("meta").len();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open");
    let mut off = 4096 + 8;
    while off + 64 < len {
        f.seek(SeekFrom::Start(off)).expect("seek");
        f.write_all(&[0xA5; 64]).expect("write");
        off += 4096;
    }
}

#[test]
fn a_corrupt_database_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    let wl_path = {
        let store = Store::open(&path, StoreConfig::default()).expect("open");
        let mut b = gate_proto::messages::WhitelistBatch {
            schema: gate_proto::messages::WHITELIST_SCHEMA.into(),
            site: "HK".into(),
            kind: gate_proto::messages::BatchKind::Snapshot,
            from_version: None,
            version: 1,
            chunk: gate_proto::messages::Chunk { index: 0, count: 1 },
            issued_at: "2026-11-27T10:00:00.000Z".into(),
            upserts: Default::default(),
            deletes: Default::default(),
        };
        for i in 0..2000 {
            b.upserts
                .enterprises
                .push(gate_proto::messages::Enterprise {
                    id: format!("E{i:06}"),
                    name: "x".repeat(100),
                    credit: gate_proto::messages::Credit::Aeo,
                });
        }
        store.apply_batch(&b).expect("apply");
        store.whitelist_path().to_owned()
        // Dropping the store checkpoints and removes the WAL.
    };
    assert!(!wl_path.with_extension("db-wal").exists());
    trash_pages(&wl_path);

    let cfg = StoreConfig {
        open_check: OpenCheck::Quick,
        ..StoreConfig::default()
    };
    let err = Store::open(&path, cfg).expect_err("corrupt");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.is_corrupt());
    assert!(err.to_string().contains("lane.whitelist.db"), "{err}");

    // Without the full check the damage shows at first use, still typed.
    match Store::open(&path, StoreConfig::default()) {
        Err(e) => assert!(e.is_corrupt(), "{e}"),
        Ok(store) => {
            let e = store
                .lookup_by(LookupKey::Plate("X".into()))
                .and_then(|_| store.whitelist_counts().map(|_| ()))
                .expect_err("corrupt");
            assert!(e.is_corrupt(), "{e}");
        }
    }
}

#[test]
fn a_file_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    drop(Store::open(&path, StoreConfig::default()).expect("open"));
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.pragma_update(None, "user_version", 99).expect("uv");
    drop(raw);
    let err = Store::open(&path, StoreConfig::default()).expect_err("too new");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
}

#[test]
fn a_missing_directory_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("no/such/dir/lane.db");
    let err = Store::open(&path, StoreConfig::default()).expect_err("missing dir");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}
