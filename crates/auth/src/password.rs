//! Passwords: argon2id PHC strings and the reference's strength rules.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// Every hashing slot stayed taken for the whole wait (see [`Hasher`]).
    #[error("too many password checks at once")]
    Busy,
}

/// Hashes and verifies with a bounded number at once: each argon2 run holds 64 MiB, so the
/// slots (sized to the cores) bound the memory that logins can take, whatever arrives. A
/// caller waits up to `wait` for a slot, then gets [`PasswordError::Busy`]; so does one that
/// finds `16 × slots` callers already waiting: about what the slots serve in a 2 s wait at
/// ~0.1 s a hash, and each waiter holds a blocking thread.
#[derive(Debug)]
pub struct Hasher {
    state: Mutex<Slots>,
    freed: Condvar,
    wait: Duration,
    max_waiting: usize,
}

#[derive(Debug)]
struct Slots {
    free: usize,
    waiting: usize,
}

/// A taken slot: checks and hashes run in it; given back when dropped.
#[derive(Debug)]
pub struct Slot<'a>(&'a Hasher);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.lock().free += 1;
        self.0.freed.notify_one();
    }
}

impl Slot<'_> {
    /// [`hash`] in this slot.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        hash(password)
    }

    /// [`verify`] in this slot.
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        verify(password, stored)
    }
}

impl Hasher {
    /// `slots` argon2 runs at once (at least one); a caller waits up to `wait` for one.
    pub fn new(slots: usize, wait: Duration) -> Self {
        let slots = slots.max(1);
        Self {
            state: Mutex::new(Slots {
                free: slots,
                waiting: 0,
            }),
            freed: Condvar::new(),
            wait,
            max_waiting: slots.saturating_mul(16),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take a slot, waiting for one up to the configured wait.
    pub fn slot(&self) -> Result<Slot<'_>, PasswordError> {
        let deadline = Instant::now() + self.wait;
        let mut state = self.lock();
        if state.free == 0 && state.waiting >= self.max_waiting {
            return Err(PasswordError::Busy);
        }
        state.waiting += 1;
        while state.free == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                state.waiting -= 1;
                return Err(PasswordError::Busy);
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.waiting -= 1;
        state.free -= 1;
        Ok(Slot(self))
    }

    /// [`hash`] in a slot.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.slot()?.hash(password)
    }
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
    fn the_hasher_runs_no_more_than_its_slots_and_refuses_after_the_wait() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let stored = hash("Sup3rSecret").unwrap();
        let hasher = Hasher::new(1, Duration::from_millis(10));
        // One slot, held by a long check: a second caller gives up after its 10 ms.
        let held = hasher.slot().unwrap();
        assert_eq!(hasher.slot().unwrap_err(), PasswordError::Busy);
        drop(held);
        let slot = hasher.slot().unwrap();
        assert!(slot.verify("Sup3rSecret", &stored));
        assert!(!slot.verify("wrong", &stored));
        drop(slot);

        // Two slots, six callers who wait long enough: all run, never more than two at once.
        let hasher = Arc::new(Hasher::new(2, Duration::from_secs(60)));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (hasher, running, most) = (hasher.clone(), running.clone(), most.clone());
                std::thread::spawn(move || {
                    let _slot = hasher.slot().unwrap();
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn beyond_sixteen_waiters_per_slot_a_caller_is_refused_at_once() {
        use std::sync::Arc;
        let hasher = Arc::new(Hasher::new(1, Duration::from_secs(60)));
        let held = hasher.slot().unwrap();
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let hasher = hasher.clone();
                std::thread::spawn(move || hasher.slot().map(drop))
            })
            .collect();
        while hasher.lock().waiting < 16 {
            std::thread::yield_now();
        }
        // One more is refused, not queued: it never shows among the waiting.
        let extra = {
            let hasher = hasher.clone();
            std::thread::spawn(move || hasher.slot().map(drop))
        };
        while !extra.is_finished() && hasher.lock().waiting < 17 {
            std::thread::yield_now();
        }
        drop(held);
        assert_eq!(extra.join().unwrap(), Err(PasswordError::Busy));
        for waiter in waiters {
            assert_eq!(waiter.join().unwrap(), Ok(()));
        }
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
