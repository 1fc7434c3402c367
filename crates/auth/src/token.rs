//! Session tokens: HS256 JWTs with AGiXT's claims, signed with `AGIXT_API_KEY`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The reference's claim layout. `iat` is a float (Python's `datetime.timestamp()`), so
/// revocation can compare instants finer than a second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    #[serde(default)]
    pub admin: bool,
    pub exp: i64,
    pub iat: f64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
}

/// Signs and checks tokens with one key. Cheap to clone.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(***)")
    }
}

impl TokenKeys {
    /// Clock skew tolerated on `exp`, in seconds.
    const LEEWAY_SECS: u64 = 60;

    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = Self::LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// Check the signature and expiry; a raw token or one behind `Bearer ` is accepted.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let token = strip_bearer(token);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }
}

/// The reference removes "Bearer " wherever it occurs; a prefix strip covers every client.
pub fn strip_bearer(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or(value)
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "5b0c2f3e-0000-4000-8000-000000000000".into(),
            email: "ada@example.com".into(),
            admin: false,
            exp,
            iat: 1_764_000_000.25,
        }
    }

    const FAR: i64 = 4_102_444_800; // 2100-01-01

    #[test]
    fn issued_tokens_verify_raw_and_with_bearer() {
        let keys = TokenKeys::new(b"secret");
        let token = keys.issue(&claims(FAR)).unwrap();
        assert_eq!(keys.verify(&token).unwrap(), claims(FAR));
        assert_eq!(
            keys.verify(&format!("Bearer {token}")).unwrap().iat,
            1_764_000_000.25
        );
        assert_eq!(
            keys.verify(&format!("bearer {token}")).unwrap().sub,
            claims(FAR).sub
        );
    }

    #[test]
    fn forged_expired_and_garbage_tokens_are_refused() {
        let keys = TokenKeys::new(b"secret");
        let other = TokenKeys::new(b"another");
        assert_eq!(
            keys.verify(&other.issue(&claims(FAR)).unwrap()),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            keys.verify(&keys.issue(&claims(1_000)).unwrap()),
            Err(TokenError::Expired)
        );
        for garbage in ["", "None", "a.b.c", "agixt_123"] {
            assert_eq!(keys.verify(garbage), Err(TokenError::Invalid), "{garbage}");
        }
        // alg=none is never accepted.
        let token = keys.issue(&claims(FAR)).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(keys.verify(&none), Err(TokenError::Invalid));
    }
}
