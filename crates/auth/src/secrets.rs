//! Secrets at rest: setting values that hold credentials are sealed with ChaCha20-Poly1305
//! under a key derived (HKDF-SHA256) from the server's key, each with a random nonce. A
//! sealed value reads `enc:v1:<base64 of nonce and ciphertext>`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The value is sealed but does not open with this key (another server key, or tampered).
    #[error("a sealed value does not open with this server's key")]
    Unreadable,
}

/// Seals and opens setting values. Cheap to clone.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// The box for `server_key` (`AGIXT_API_KEY`).
    pub fn new(server_key: &[u8]) -> SecretBox {
        let mut key = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = Hkdf::<Sha256>::new(Some(b"agentry"), server_key)
            .expand(b"agent settings v1", &mut key);
        SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// Seal `plain` (the empty string stays empty: it records an explicit disconnect).
    pub fn seal(&self, plain: &str) -> String {
        if plain.is_empty() {
            return String::new();
        }
        let nonce: [u8; NONCE_LEN] = rand::random();
        match self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plain.as_bytes())
        {
            Ok(sealed) => {
                let mut bytes = nonce.to_vec();
                bytes.extend(sealed);
                format!("{PREFIX}{}", STANDARD.encode(bytes))
            }
            // Encryption of an in-memory buffer cannot fail; keep nothing rather than plain.
            Err(_) => String::new(),
        }
    }

    /// Open a stored value; values that were never sealed come back as they are.
    pub fn open(&self, stored: &str) -> Result<String, SealError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SealError::Unreadable)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Unreadable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| SealError::Unreadable)?;
        String::from_utf8(plain).map_err(|_| SealError::Unreadable)
    }

    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_seal_and_open_and_nothing_else_opens_them() {
        let secrets = SecretBox::new(b"server key");
        let sealed = secrets.seal("sk-live-123");
        assert!(SecretBox::is_sealed(&sealed));
        assert!(!sealed.contains("sk-live-123"));
        assert_ne!(
            sealed,
            secrets.seal("sk-live-123"),
            "a fresh nonce each time"
        );
        assert_eq!(secrets.open(&sealed).unwrap(), "sk-live-123");
        assert_eq!(
            secrets.open("plain").unwrap(),
            "plain",
            "legacy plain values"
        );
        assert_eq!(secrets.seal(""), "");
        let other = SecretBox::new(b"another key");
        assert_eq!(other.open(&sealed), Err(SealError::Unreadable));
        // Change one character in the middle (to one it is not: the seal is random).
        let mut chars: Vec<char> = sealed.chars().collect();
        let middle = chars.len() / 2;
        chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_ne!(tampered, sealed);
        assert!(
            secrets.open(&tampered).is_err(),
            "the seal is authenticated"
        );
    }
}
