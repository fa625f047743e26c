//! Barrier controller (being written, issue 2).
