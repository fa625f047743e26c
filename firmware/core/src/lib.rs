//! Lane I/O board firmware core.
//!
//! Layers (bottom up):
//! - [`regmap`]: the board's Modbus register map, the single source of truth
//!   shared by the firmware, the simulator and the agent.
//! - [`barrier`]: the barrier controller, a sans-IO state machine. Time is an
//!   input (monotonic milliseconds); nothing here reads a clock.
//! - [`modbus`]: CRC, RTU framing, PDU processing against a [`modbus::DataModel`],
//!   MBAP (Modbus TCP) framing for the simulator.
//! - [`board`]: the controller and the register bank glued together; what the
//!   MCU binary and the simulator run.
//!
//! This crate knows nothing about UARTs, GPIO, timers, tokio or std. It has no
//! allocator; every buffer is bounded (heapless).
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]

pub mod barrier;
pub mod board;
pub mod modbus;
pub mod regmap;
