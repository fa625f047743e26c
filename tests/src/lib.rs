//! End-to-end suites live in tests/tests/; this crate has no code of its own.
