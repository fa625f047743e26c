//! (being written, issue 2)
