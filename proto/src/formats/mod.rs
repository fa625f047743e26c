//! Identifier formats: Chinese plates (GA 36) and ISO 6346 container codes.
//! Pure functions; no I/O.

pub mod iso6346;
pub mod plate;
