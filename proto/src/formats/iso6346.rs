//! ISO 6346 container codes (being written).
