//! Simulated lane devices, each speaking its real protocol: the lane I/O
//! board (the firmware core itself) over Modbus TCP/RTU, weighbridge
//! indicators (two Modbus profiles, Toledo and XK3190 continuous output on
//! ptys), RFID readers over Modbus TCP and HTTP cameras with on-board
//! recognition.
//!
//! Layer: devices. Each is given what it physically senses (load on the
//! platform, tags in range, trucks in view) and its own configuration; none
//! knows the lane sequence, gate passes or the agent. [`crate::lane`] wires
//! them to the physics. Protocols are documented in docs/devices/.

pub mod board;
pub mod camera;
pub mod pty;
pub mod rfid;
pub mod weighbridge;
