//! `gatectl`: the field engineer's CLI for a lane agent (docs/gatectl.md).
//! Thin: everything is in the `gatectl` crate (gate-agent/gatectl); the
//! binary is this package's so that it ships, and is tested, with the agent.

fn main() -> std::process::ExitCode {
    gatectl::main()
}
