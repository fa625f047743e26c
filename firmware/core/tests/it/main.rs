//! The integration tests of this crate, one binary (one link) for all:
//! each suite is a module; `cargo test -p PACKAGE --test it SUITE::` runs one.

mod common;
mod modbus_common;

mod barrier_props;
mod barrier_rules;
mod modbus_mbap;
mod modbus_pdu;
mod modbus_proptest;
mod modbus_rtu;
mod register_map_doc;
