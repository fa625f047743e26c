//! The integration tests of this crate, one binary (one link) for all:
//! each suite is a module; `cargo test -p PACKAGE --test it SUITE::` runs one.

mod common;

mod admin;
mod atomicity;
mod crash;
mod decision_small;
mod journal;
mod open;
mod outbox;
mod whitelist;

/// The name libtest knows a test of this binary by (`suite::test`), for the
/// suites that start this binary again to run one test alone in a child
/// process: `module` is the caller's `module_path!()` (`it::suite`).
fn test_path(module: &str, test: &str) -> String {
    let suite = module.split_once("::").map_or("", |(_, m)| m);
    format!("{suite}::{test}")
}
