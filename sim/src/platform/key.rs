//! The simulated platform's signing key (Ed25519) and its key id.
//!
//! Layer: simulator platform, key handling only. The built-in test key is the
//! pair under config/keys/ (public: for tests and the demo, never for
//! production).

use std::fmt;
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use gate_proto::sign::{self, Envelope, Keyring};

/// Key id of the built-in test key (config/keys/README.md).
pub const TEST_KID: &str = "platform-test-1";
const TEST_SECRET_B64: &str = include_str!("../../../config/keys/platform-test.secret");
const TEST_PUBLIC_B64: &str = include_str!("../../../config/keys/platform-test.pub");

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path}: {reason}")]
    Bad { path: String, reason: String },
}

/// A signing key and the `kid` it is published under.
#[derive(Clone)]
pub struct PlatformKey {
    kid: String,
    key: SigningKey,
}

impl fmt::Debug for PlatformKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformKey")
            .field("kid", &self.kid)
            .field("public", &self.public_key_b64())
            .finish_non_exhaustive()
    }
}

impl PlatformKey {
    pub fn new(kid: &str, key: SigningKey) -> Self {
        Self {
            kid: kid.to_owned(),
            key,
        }
    }

    /// The built-in test key (config/keys/platform-test.secret, kid
    /// [`TEST_KID`]).
    pub fn test_key() -> Self {
        // The file is ours and checked by a test; a broken file is a build
        // defect, so fall back to a fixed seed rather than panic at run time
        // (the test below then fails).
        let key = sign::parse_secret_key(TEST_SECRET_B64)
            .unwrap_or_else(|_| SigningKey::from_bytes(&[0x5a; 32]));
        Self::new(TEST_KID, key)
    }

    /// The public half of the test key as written in config/keys/platform-test.pub.
    pub fn test_public_b64() -> &'static str {
        TEST_PUBLIC_B64.trim()
    }

    /// Load a secret key file (base64 of the 32-byte seed).
    pub fn from_file(kid: &str, path: &Path) -> Result<Self, KeyError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: p.clone(),
            source,
        })?;
        let key = sign::parse_secret_key(&text).map_err(|e| KeyError::Bad {
            path: p,
            reason: e.to_string(),
        })?;
        Ok(Self::new(kid, key))
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Base64 of the public key, the form a lane's configuration holds.
    pub fn public_key_b64(&self) -> String {
        sign::public_key_b64(&self.verifying_key())
    }

    /// A keyring holding only this key (what a lane trusting us holds).
    pub fn keyring(&self) -> Keyring {
        let mut k = Keyring::new();
        k.insert(&self.kid, self.verifying_key());
        k
    }

    /// Sign a body into the envelope `{"body","kid","sig"}`.
    pub fn sign(&self, body: &str) -> Envelope {
        sign::sign(body, &self.kid, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_key_files_are_a_pair() {
        let k = PlatformKey::test_key();
        assert_eq!(k.public_key_b64(), PlatformKey::test_public_b64());
        assert_eq!(k.kid(), TEST_KID);
        let env = k.sign("{\"x\":1}");
        let payload = serde_json::to_vec(&env).unwrap();
        assert_eq!(k.keyring().open(&payload).unwrap(), "{\"x\":1}");
    }

    #[test]
    fn from_file_reports_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "not base64").unwrap();
        let e = PlatformKey::from_file("k1", &p).unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");
        assert!(PlatformKey::from_file("k1", &dir.path().join("none")).is_err());
        std::fs::write(&p, TEST_SECRET_B64).unwrap();
        assert_eq!(
            PlatformKey::from_file("k1", &p).unwrap().public_key_b64(),
            PlatformKey::test_public_b64()
        );
    }
}
