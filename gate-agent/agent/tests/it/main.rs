//! The integration tests of this crate, one binary (one link) for all:
//! each suite is a module; `cargo test -p PACKAGE --test it SUITE::` runs one.

mod drivers_common;
mod gatectl_support;

mod check_config;
mod drivers_ascii;
mod drivers_board;
mod drivers_camera;
mod drivers_modbus;
mod drivers_profiles;
mod gatectl_agent;
mod gatectl_recognize;
mod gatectl_tools;
mod packaging;
mod recognition;
mod recovery;
