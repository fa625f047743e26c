//! `gatectl`: the field engineer's CLI for a lane agent (docs/gatectl.md).
//! Thin: everything is in `gate_agent::gatectl`.

fn main() -> std::process::ExitCode {
    gate_agent::gatectl::main()
}
