//! The integration tests of this crate, one binary (one link) for all:
//! each suite is a module; `cargo test -p PACKAGE --test it SUITE::` runs one.

mod devices_support;

mod devices_camera;
mod devices_docs;
mod devices_lane;
mod devices_modbus;
mod devices_physics;
mod devices_serial;
mod eval_split;
mod platform_collect;
mod platform_relay;
mod platform_whitelist;
mod scenario_errors;
mod scenario_library;
