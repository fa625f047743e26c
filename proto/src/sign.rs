//! The signed envelope of platform -> lane messages:
//! `{"body": "<JSON as a string>", "kid": "<key id>", "sig": "<base64 Ed25519 of body's UTF-8>"}`.
//!
//! [`Keyring::open`] is the only way a whitelist batch or a command body gets
//! into the agent: a message that is not in this form, names an unknown key or
//! fails verification is refused with a [`SignError`].

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Signed messages larger than this are refused before parsing.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub body: String,
    pub kid: String,
    pub sig: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    #[error("message is {0} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("not a signed envelope {{body,kid,sig}}: {0}")]
    NotEnvelope(String),
    #[error("unknown key id `{0}`")]
    UnknownKey(String),
    #[error("signature is not base64 of 64 bytes")]
    BadSignatureEncoding,
    #[error("signature verification failed (key `{0}`)")]
    BadSignature(String),
}

impl SignError {
    /// A short stable name for alarms and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            SignError::TooLarge(_) => "too_large",
            SignError::NotEnvelope(_) => "not_envelope",
            SignError::UnknownKey(_) => "unknown_key",
            SignError::BadSignatureEncoding => "bad_signature_encoding",
            SignError::BadSignature(_) => "bad_signature",
        }
    }
}

/// Sign `body` with `key`, naming it `kid`.
pub fn sign(body: &str, kid: &str, key: &SigningKey) -> Envelope {
    let sig = key.sign(body.as_bytes());
    Envelope {
        body: body.to_owned(),
        kid: kid.to_owned(),
        sig: B64.encode(sig.to_bytes()),
    }
}

/// Which half of a key pair a [`KeyError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyHalf {
    Public,
    Secret,
}

impl std::fmt::Display for KeyHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Public => "public",
            Self::Secret => "secret",
        })
    }
}

/// A key that [`parse_public_key`] or [`parse_secret_key`] refuses.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{half} key is not base64: {source}")]
    Base64 {
        half: KeyHalf,
        #[source]
        source: base64::DecodeError,
    },
    /// The decoded key is not 32 bytes long (`len` bytes).
    #[error("{half} key is {len} bytes, expected 32")]
    Length { half: KeyHalf, len: usize },
    #[error("not an Ed25519 public key: {0}")]
    NotEd25519(#[source] ed25519_dalek::SignatureError),
}

/// The 32 bytes of a base64 key.
fn key_bytes(b64: &str, half: KeyHalf) -> Result<[u8; 32], KeyError> {
    let bytes = B64
        .decode(b64.trim())
        .map_err(|source| KeyError::Base64 { half, source })?;
    bytes.as_slice().try_into().map_err(|_| KeyError::Length {
        half,
        len: bytes.len(),
    })
}

/// Parse a public key given as base64 (standard alphabet) of its 32 bytes.
pub fn parse_public_key(b64: &str) -> Result<VerifyingKey, KeyError> {
    let arr = key_bytes(b64, KeyHalf::Public)?;
    VerifyingKey::from_bytes(&arr).map_err(KeyError::NotEd25519)
}

/// Parse a secret key given as base64 of its 32-byte seed.
pub fn parse_secret_key(b64: &str) -> Result<SigningKey, KeyError> {
    Ok(SigningKey::from_bytes(&key_bytes(b64, KeyHalf::Secret)?))
}

/// Base64 of a public key, the form used in configurations.
pub fn public_key_b64(key: &VerifyingKey) -> String {
    B64.encode(key.to_bytes())
}

/// The platform's public keys by key id.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: BTreeMap<String, VerifyingKey>,
}

impl Keyring {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn insert(&mut self, kid: &str, key: VerifyingKey) {
        self.keys.insert(kid.to_owned(), key);
    }
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verify a raw MQTT payload and return the body it carries.
    pub fn open(&self, payload: &[u8]) -> Result<String, SignError> {
        if payload.len() > MAX_ENVELOPE_BYTES {
            return Err(SignError::TooLarge(payload.len()));
        }
        let env: Envelope =
            serde_json::from_slice(payload).map_err(|e| SignError::NotEnvelope(e.to_string()))?;
        let key = self
            .keys
            .get(&env.kid)
            .ok_or_else(|| SignError::UnknownKey(env.kid.clone()))?;
        let raw = B64
            .decode(env.sig.as_bytes())
            .map_err(|_| SignError::BadSignatureEncoding)?;
        let arr: [u8; 64] = raw
            .as_slice()
            .try_into()
            .map_err(|_| SignError::BadSignatureEncoding)?;
        let sig = Signature::from_bytes(&arr);
        key.verify(env.body.as_bytes(), &sig)
            .map_err(|_| SignError::BadSignature(env.kid.clone()))?;
        Ok(env.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn sign_and_open() {
        let k = key(7);
        let mut ring = Keyring::new();
        ring.insert("p1", k.verifying_key());
        let env = sign("{\"a\":1}", "p1", &k);
        let payload = serde_json::to_vec(&env).expect("ser");
        assert_eq!(ring.open(&payload), Ok("{\"a\":1}".to_owned()));
    }

    #[test]
    fn refusals() {
        let k = key(7);
        let mut ring = Keyring::new();
        ring.insert("p1", k.verifying_key());
        // Forged body.
        let mut env = sign("{\"a\":1}", "p1", &k);
        env.body = "{\"a\":2}".into();
        let p = serde_json::to_vec(&env).expect("ser");
        assert_eq!(ring.open(&p), Err(SignError::BadSignature("p1".into())));
        // Signed by another key under a known kid.
        let env = sign("{}", "p1", &key(8));
        let p = serde_json::to_vec(&env).expect("ser");
        assert!(matches!(ring.open(&p), Err(SignError::BadSignature(_))));
        // Unknown kid.
        let env = sign("{}", "p2", &k);
        let p = serde_json::to_vec(&env).expect("ser");
        assert_eq!(ring.open(&p), Err(SignError::UnknownKey("p2".into())));
        // Unsigned / not an envelope.
        assert!(matches!(
            ring.open(b"{\"body\":\"{}\"}"),
            Err(SignError::NotEnvelope(_))
        ));
        assert!(matches!(
            ring.open(b"\xff\x00"),
            Err(SignError::NotEnvelope(_))
        ));
        // Bad signature encoding.
        let p = br#"{"body":"{}","kid":"p1","sig":"!!"}"#;
        assert_eq!(ring.open(p), Err(SignError::BadSignatureEncoding));
    }

    #[test]
    fn key_parsing() {
        let k = key(3);
        let b64 = public_key_b64(&k.verifying_key());
        assert_eq!(parse_public_key(&b64).ok(), Some(k.verifying_key()));
        assert_eq!(
            parse_public_key("AAAA").unwrap_err().to_string(),
            "public key is 3 bytes, expected 32"
        );
        assert_eq!(
            parse_secret_key("AAAA").unwrap_err().to_string(),
            "secret key is 3 bytes, expected 32"
        );
        assert!(parse_public_key("not base64!").is_err());
    }
}
