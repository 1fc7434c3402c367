//! Passwords: argon2id PHC strings and the reference's strength rules.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// The reference's parameters (argon2-cffi `PasswordHasher(time_cost=2, memory_cost=65536,
/// parallelism=1, hash_len=32, salt_len=16)`), so hashes move between the two servers.
fn hasher() -> Argon2<'static> {
    // The constants are valid; `Params::new` only refuses out-of-range values.
    let params = Params::new(65_536, 2, 1, Some(32)).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("{0}")]
    Weak(&'static str),
    #[error("Passwords do not match")]
    Mismatch,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// The reference's rule: 8+ characters with an uppercase letter, a lowercase letter and a
/// digit; its messages, word for word.
pub fn check_strength(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < 8 {
        return Err(PasswordError::Weak(
            "Password must be at least 8 characters",
        ));
    }
    if !password.chars().any(char::is_uppercase) {
        return Err(PasswordError::Weak(
            "Password must contain at least one uppercase letter",
        ));
    }
    if !password.chars().any(char::is_lowercase) {
        return Err(PasswordError::Weak(
            "Password must contain at least one lowercase letter",
        ));
    }
    if !password.chars().any(|c| c.is_ascii_digit()) {
        return Err(PasswordError::Weak(
            "Password must contain at least one digit",
        ));
    }
    Ok(())
}

/// Check a new password and its confirmation, as registration and password changes do.
pub fn check_new(password: &str, confirmation: &str) -> Result<(), PasswordError> {
    if password != confirmation {
        return Err(PasswordError::Mismatch);
    }
    check_strength(password)
}

/// Hash a password into a PHC string (`$argon2id$v=19$m=65536,t=2,p=1$...`).
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` matches the stored PHC string (parameters are read from the string).
/// A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_rules_use_the_reference_messages() {
        let weak = |p| check_strength(p).unwrap_err().to_string();
        assert_eq!(weak("Ab1"), "Password must be at least 8 characters");
        assert_eq!(
            weak("abcdefg1"),
            "Password must contain at least one uppercase letter"
        );
        assert_eq!(
            weak("ABCDEFG1"),
            "Password must contain at least one lowercase letter"
        );
        assert_eq!(weak("Abcdefgh"), "Password must contain at least one digit");
        assert!(check_strength("Abcdefg1").is_ok());
        assert_eq!(
            check_new("Abcdefg1", "Abcdefg2"),
            Err(PasswordError::Mismatch)
        );
    }

    #[test]
    fn hashes_verify_and_carry_the_reference_parameters() {
        let stored = hash("Sup3rSecret").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=65536,t=2,p=1$"),
            "{stored}"
        );
        assert!(verify("Sup3rSecret", &stored));
        assert!(!verify("sup3rsecret", &stored));
        assert!(!verify("Sup3rSecret", "not a hash"));
        assert_ne!(hash("Sup3rSecret").unwrap(), stored, "salted");
    }

    #[test]
    fn hashes_made_by_argon2_cffi_verify() {
        // argon2-cffi 25 `PasswordHasher(time_cost=2, memory_cost=65536, parallelism=1,
        // hash_len=32, salt_len=16).hash("password")`, as the reference stores it.
        let stored = "$argon2id$v=19$m=65536,t=2,p=1$l90i/zIEXjzBaFrkDq2cWg$3eLOmYPPOV7GiyH1fJpqy3C0h/bqEaW0idavOrUr/tg";
        assert!(verify("password", stored));
        assert!(!verify("Password", stored));
    }
}
