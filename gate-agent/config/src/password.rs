//! The console accounts' password hashes (`[[console.accounts]]
//! password_hash`): argon2 PHC strings, made by `gatectl officer add` and
//! checked by the agent's console at login and at start.
//!
//! Layer: pure functions over argon2 (the `password` feature).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The argon2 hash (PHC string) of `password`, with a random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError::Hashing)
}

/// Why a password hash could not be made or is not usable.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// [`hash_password`] failed.
    #[error("hashing: {0}")]
    Hashing(#[source] argon2::password_hash::Error),
    /// [`check_hash`]: not a PHC string.
    #[error("not a PHC password hash: {0}")]
    NotPhc(#[source] argon2::password_hash::Error),
}

/// Whether `password` matches the PHC `hash` (false for a malformed hash).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether `hash` is a PHC string argon2 can verify against.
pub fn check_hash(hash: &str) -> Result<(), HashError> {
    PasswordHash::new(hash)
        .map(|_| ())
        .map_err(HashError::NotPhc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horsf"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert!(check_hash(&h).is_ok() && check_hash("$argon2id$x").is_err());
    }
}
