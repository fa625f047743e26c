//! Errors of the link's public API.
//!
//! Layer: error types only.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("link configuration: {0}")]
    Config(String),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the link has stopped")]
    Stopped,
}
