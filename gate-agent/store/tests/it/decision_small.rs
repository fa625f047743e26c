//! The decision bench (`benches/decision.rs`) at 100 k records, so CI runs
//! the province-scale measurement path on every change: snapshot, deltas,
//! the bare-SQLite floor, lookups while batches apply, and the memory the
//! SQLite caches may take. Timings are printed (`--nocapture`), never
//! asserted (CI machines are shared); what is asserted holds on any
//! machine: every batch applied, lookups ran during the applies, and
//! SQLite's heap stayed within the configured caches plus the sorter of
//! the snapshot's index build. SQLite's heap figures are process-wide: the
//! measurement runs in a child process of its own (this test binary
//! started again for this one test), away from the other suites' stores.

// The bench declares its own `common` (the same file as `crate::common`).
#[allow(dead_code, unreachable_pub, clippy::duplicate_mod)]
#[path = "../../benches/decision.rs"]
mod decision;

/// Set in the child that runs the measurement alone.
const ALONE: &str = "GATE_STORE_DECISION_ALONE";

#[test]
fn decision_bench_small_is_bounded_by_configuration() {
    if std::env::var_os(ALONE).is_none() {
        let out = std::process::Command::new(std::env::current_exe().expect("own path"))
            .args([
                &crate::test_path(
                    module_path!(),
                    "decision_bench_small_is_bounded_by_configuration",
                ),
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ALONE, "1")
            .output()
            .expect("start the measuring child");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        println!("{text}");
        assert!(out.status.success(), "the measuring child failed:\n{text}");
        assert!(
            text.contains("1 passed"),
            "the child ran the measurement:\n{text}"
        );
        return;
    }
    let mut args = decision::Args::new(100_000);
    args.lookups = 2_000;
    args.delta = 2_000;
    args.deltas = 3;
    args.chunk = 10_000;
    // Small caches, so the bound is tight and a leak past it shows.
    args.writer_cache_kib = 8 * 1024;
    args.reader_cache_kib = 2 * 1024;
    let s = decision::run(&args);
    assert_eq!(s.deltas_applied, 6);
    assert!(s.lookups_during_applies > 0);
    // The sorter of an index build holds up to about one writer cache per
    // thread (main + `sort_threads` = 2 helpers) beside the page caches.
    let allowed = s.cache_bound_kib + 3 * s.writer_cache_kib;
    assert!(
        s.sqlite_peak_kib <= allowed,
        "SQLite heap peak {} KiB above the configured bound {} KiB",
        s.sqlite_peak_kib,
        allowed
    );
}
