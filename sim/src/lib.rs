//! The lane simulator: every lane device over its real protocol (the I/O
//! board runs the real firmware core), truck physics, the platform side of
//! the MQTT contract, an embedded broker, scenarios and their runner.
//!
//! Layer: test and demo tooling around the product; the agent it drives is
//! the real `gate-agent`, unchanged.
pub mod bridge;
pub mod broker;
pub mod chaos;
pub mod clock;
pub mod devices;
pub mod eval;
pub mod fixture;
pub mod isolation;
pub mod lane;
pub mod physics;
pub mod platform;
pub mod runner;
pub mod scenario;
pub mod truck;
