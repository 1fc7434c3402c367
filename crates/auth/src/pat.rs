//! Personal access tokens: `agixt_` and 64 hex characters (256 random bits), stored as their
//! SHA-256. A slow hash would buy nothing against 256 bits and cost every request.

use sha2::{Digest, Sha256};

pub const PREFIX: &str = "agixt_";

/// A new token: its value (shown once), its display prefix, and its hash (stored).
pub fn generate() -> (String, String, String) {
    let value = format!("{PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let prefix = value[..16].to_owned();
    let hash = hash(&value);
    (value, prefix, hash)
}

pub fn hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Whether `value` has a token's shape (checked before any lookup).
pub fn looks_like_token(value: &str) -> bool {
    value
        .strip_prefix(PREFIX)
        .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_reference_format() {
        let (value, prefix, stored) = generate();
        assert!(looks_like_token(&value), "{value}");
        assert_eq!(value.len(), 70);
        assert!(value.starts_with(&prefix) && prefix.len() == 16);
        assert_eq!(stored, hash(&value));
        assert_eq!(stored.len(), 64);
        assert_ne!(generate().0, value);
        assert!(!looks_like_token("agixt_123"));
        assert!(!looks_like_token(&value.replace("agixt_", "other_")));
    }
}
