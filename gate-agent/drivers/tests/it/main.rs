//! The integration tests of this crate, one binary (one link) for all:
//! each suite is a module; `cargo test -p PACKAGE --test it SUITE::` runs one.

mod common;

mod ascii;
mod board;
mod camera;
mod modbus;
mod profiles;
