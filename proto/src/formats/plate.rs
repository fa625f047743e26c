//! GA 36 plate grammar (being written).
