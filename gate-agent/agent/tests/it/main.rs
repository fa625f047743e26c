//! The integration tests of this crate, one binary (one link) for all:
//! each suite is a module; `cargo test -p PACKAGE --test it SUITE::` runs one.

mod gatectl_support;

mod check_config;
mod gatectl_agent;
mod gatectl_recognize;
mod gatectl_tools;
mod packaging;
mod recognition;
mod recovery;
