//! TOTP (RFC 6238) as pyotp does it: SHA-1, 6 digits, 30-second steps, base32 secrets.

use totp_rs::{Algorithm, Secret, TOTP};

use crate::constant_time_eq;

const DIGITS: usize = 6;
const STEP_SECS: u64 = 30;

/// A new random secret, base32 without padding (32 characters, like `pyotp.random_base32()`).
pub fn new_secret() -> String {
    Secret::generate_secret().to_encoded().to_string()
}

fn totp(secret: &str, issuer: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().ok()?;
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        bytes,
        Some(issuer.to_owned()),
        account.to_owned(),
    )
    .ok()
}

/// `otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER`, for authenticator apps.
pub fn provisioning_uri(secret: &str, issuer: &str, account: &str) -> Option<String> {
    totp(secret, issuer, account).map(|t| t.get_url())
}

/// The code for `unix_time` (tests and tools).
pub fn code_at(secret: &str, unix_time: u64) -> Option<String> {
    totp(secret, "x", "x").map(|t| t.generate(unix_time))
}

/// If `code` is valid within one step either side of `unix_time` and its step is later than
/// `last_used_step`, the step it matched (store it to refuse the same code again).
pub fn verify(
    secret: &str,
    code: &str,
    unix_time: u64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "x", "x")?;
    let now_step = (unix_time / STEP_SECS) as i64;
    (now_step - 1..=now_step + 1)
        .filter(|step| last_used_step.is_none_or(|last| *step > last))
        .find(|step| {
            let expected = totp.generate(*step as u64 * STEP_SECS);
            constant_time_eq(expected.as_bytes(), code.as_bytes())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_rfc_6238() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", truncated to 6 digits.
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        assert_eq!(code_at(secret, 59).unwrap(), "287082");
        assert_eq!(code_at(secret, 1_111_111_109).unwrap(), "081804");
    }

    #[test]
    fn one_step_either_side_and_no_reuse() {
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        let now = 1_764_000_015;
        let step = (now / 30) as i64;
        let code = code_at(&secret, now).unwrap();
        assert_eq!(verify(&secret, &code, now, None), Some(step));
        assert_eq!(
            verify(&secret, &code, now + 30, None),
            Some(step),
            "one step late"
        );
        assert_eq!(
            verify(&secret, &code, now - 30, None),
            Some(step),
            "one step early"
        );
        assert_eq!(
            verify(&secret, &code, now + 60, None),
            None,
            "two steps late"
        );
        assert_eq!(
            verify(&secret, &code, now, Some(step)),
            None,
            "a used code is refused"
        );
        assert_eq!(verify(&secret, "12345", now, None), None);
        assert_eq!(verify(&secret, "abcdef", now, None), None);
        let uri = provisioning_uri(&secret, "AGiXT", "ada@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/AGiXT:ada%40example.com?secret="),
            "{uri}"
        );
    }
}
