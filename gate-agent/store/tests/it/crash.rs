//! A process killed (SIGKILL) in the middle of applying a batch leaves the
//! previous whitelist version whole. The test binary re-runs itself as a
//! child (env `GATE_STORE_CRASH_CHILD`) that applies a large batch; the
//! parent kills it mid-transaction, reopens the files and checks them.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use gate_store::{ApplyOutcome, LookupKey, Store, StoreConfig};

const CHILD_ENV: &str = "GATE_STORE_CRASH_CHILD";

const OLD: Mix = Mix {
    passes: 3_000,
    vehicles: 1_500,
    enterprises: 50,
    controls: 450,
};
/// The new snapshot: large enough that its final transaction (last chunk,
/// index builds over every staged row, swap) takes well over the kill delay.
const NEW: Mix = Mix {
    passes: 360_000,
    vehicles: 180_000,
    enterprises: 6_000,
    controls: 54_000,
};
const NEW_CHUNKS: u32 = 4;
const DELTA_PASSES: u64 = 150_000;

fn open(path: &Path) -> Store {
    Store::open(path, StoreConfig::default()).expect("open")
}

/// Child: apply the batch named by the env var, printing READY just before
/// and APPLIED just after.
fn child(spec: &str) {
    let (what, path) = spec.split_once(':').expect("spec");
    let store = open(Path::new(path));
    let batch = match what {
        "snapshot" => snapshot_chunk(&NEW, 2, 2, NEW_CHUNKS - 1, NEW_CHUNKS),
        "delta" => {
            let mut d = delta(1, 2);
            for i in 0..DELTA_PASSES {
                d.upserts.gate_passes.push(gate_pass(i, &NEW, 2));
            }
            d
        }
        other => panic!("unknown child role {other}"),
    };
    let mut out = std::io::stdout();
    writeln!(out, "\n@@READY").expect("stdout");
    out.flush().expect("flush");
    let r = store.apply_batch(&batch).expect("apply");
    writeln!(out, "\n@@APPLIED {r:?}").expect("stdout");
    out.flush().expect("flush");
}

/// Run the child, kill it `delay` after READY; returns whether it had
/// already printed APPLIED (then the kill came too late to test anything).
fn run_and_kill(test: &str, spec: &str, delay: Duration) -> bool {
    let exe = std::env::current_exe().expect("exe");
    let mut c = Command::new(exe)
        .args([
            &crate::test_path(module_path!(), test),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = c.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("child never became READY");
        if line.contains("@@READY") {
            break;
        }
    }
    std::thread::sleep(delay);
    c.kill().expect("SIGKILL child"); // SIGKILL on Unix
    let status = c.wait().expect("wait");
    assert!(!status.success(), "child exited normally: {status:?}");
    // Drain what it printed before dying.
    std::thread::sleep(Duration::from_millis(50));
    rx.try_iter().any(|l| l.contains("@@APPLIED"))
}

fn assert_old_whole(store: &Store) {
    let c = store.whitelist_counts().expect("counts");
    assert_eq!(c.version, 1, "version moved: {c:?}");
    assert_eq!(
        (c.passes, c.vehicles, c.enterprises, c.controls),
        (OLD.passes, OLD.vehicles, OLD.enterprises, OLD.controls),
        "old version not whole"
    );
    assert_eq!(
        c.containers,
        (0..OLD.passes).map(|i| 1 + i % 2).sum::<u64>()
    );
    for i in [0, 1, 17, OLD.passes - 1] {
        let v = store
            .lookup_by(LookupKey::PassNo(format!("HP{i:012}")))
            .expect("lookup");
        assert_eq!(v.passes.len(), 1);
        assert_eq!(v.passes[0], gate_pass(i, &OLD, 1));
    }
    // A pass only in the new version is absent.
    let v = store
        .lookup_by(LookupKey::PassNo(format!("HP{:012}", OLD.passes + 10)))
        .expect("lookup");
    assert!(v.passes.is_empty());
}

fn integrity_ok(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("raw open");
    let r: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(r, "ok");
}

#[test]
fn kill_during_snapshot_apply_leaves_previous_version_whole() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    {
        let store = open(&path);
        for b in snapshot(&OLD, 1, 1, 1) {
            store.apply_batch(&b).expect("v1");
        }
        // Stage every chunk of version 2 but the last.
        for i in 0..NEW_CHUNKS - 1 {
            store
                .apply_batch(&snapshot_chunk(&NEW, 2, 2, i, NEW_CHUNKS))
                .expect("stage");
        }
    }
    let late = run_and_kill(
        "kill_during_snapshot_apply_leaves_previous_version_whole",
        &format!("snapshot:{}", path.display()),
        Duration::from_millis(150),
    );
    assert!(
        !late,
        "the snapshot applied before the kill: make NEW larger"
    );

    let store = open(&path);
    integrity_ok(store.whitelist_path());
    assert_old_whole(&store);
    // The chunks staged before the crash are still there; the last one
    // completes the snapshot.
    let st = store.staging_status().expect("st").expect("staged");
    assert_eq!(
        (st.version, st.received, st.missing),
        (2, NEW_CHUNKS - 1, vec![NEW_CHUNKS - 1])
    );
    let r = store
        .apply_batch(&snapshot_chunk(&NEW, 2, 2, NEW_CHUNKS - 1, NEW_CHUNKS))
        .expect("resend");
    assert_eq!(
        r,
        ApplyOutcome::Applied {
            version: 2,
            records: NEW.total()
        }
    );
    assert_eq!(store.whitelist_counts().expect("c").passes, NEW.passes);
}

#[test]
fn kill_during_delta_apply_leaves_previous_version_whole() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child(&spec);
    }
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("lane.db");
    {
        let store = open(&path);
        for b in snapshot(&OLD, 1, 1, 1) {
            store.apply_batch(&b).expect("v1");
        }
    }
    let late = run_and_kill(
        "kill_during_delta_apply_leaves_previous_version_whole",
        &format!("delta:{}", path.display()),
        Duration::from_millis(150),
    );
    assert!(!late, "the delta applied before the kill: make it larger");
    let store = open(&path);
    integrity_ok(store.whitelist_path());
    assert_old_whole(&store);
}
