#![doc = include_str!("../README.md")]

pub mod password;
pub mod pat;
pub mod secrets;
pub mod token;
pub mod totp;
pub mod wallet;

/// Compare two secrets in constant time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
