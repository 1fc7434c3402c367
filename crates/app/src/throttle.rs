//! The login throttle: every check of a password or a TOTP code is an attempt, counted per
//! account in the database (atomically, before the check runs). The first few failures are
//! free; each one after them doubles a delay before the next check may run, up to a ceiling.
//! A verified password clears the account's count. Failed logins are also counted per client
//! address, in this process. Nobody is locked out for long: the owner, like an attacker,
//! waits at most the ceiling (though an attacker who retries the moment each delay ends keeps
//! the account at one check per ceiling).

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use agentry_domain::UserId;
use agentry_store::AnyConnection;
use agentry_store::account;
use agentry_store::identity::UserRow;
use cached::{Cached, LruTtlCache};
use chrono::NaiveDateTime;

use crate::AppError;
use crate::accounts::Accounts;
use crate::session::{naive_of, now_epoch};

/// How many argon2 runs at once, and the login throttle's free failures and delays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// Password hashes and checks at once (`AGENTRY_HASH_CONCURRENCY`; each holds 64 MiB).
    pub hash_concurrency: usize,
    /// How long a check waits for a free slot before the request gets 503 with
    /// `Retry-After` (`AGENTRY_HASH_WAIT`).
    pub hash_wait: Duration,
    /// Failed checks of one account before any delay (`AGENTRY_LOGIN_FREE_FAILURES`).
    pub free_failures: u32,
    /// The delay after the first failure beyond the free ones, doubled by each further one
    /// (`AGENTRY_LOGIN_DELAY`).
    pub delay: Duration,
    /// The longest delay (`AGENTRY_LOGIN_MAX_DELAY`).
    pub max_delay: Duration,
    /// Failed logins from one client address before any delay
    /// (`AGENTRY_LOGIN_ADDRESS_FREE_FAILURES`); forgotten `max_delay` after the last one.
    pub address_free_failures: u32,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_wait: Duration::from_secs(2),
            free_failures: 5,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            address_free_failures: 10,
        }
    }
}

impl Throttle {
    /// The wait before the next check once `failures` checks have failed.
    pub fn delay_after(&self, failures: u32, free: u32) -> Duration {
        let Some(beyond) = failures.checked_sub(free).filter(|n| *n > 0) else {
            return Duration::ZERO;
        };
        let doubling = 2u32.saturating_pow(beyond.saturating_sub(1));
        self.delay.saturating_mul(doubling).min(self.max_delay)
    }
}

/// 429 with the seconds to wait (rounded up).
pub(crate) fn slow_down(wait: Duration) -> AppError {
    let seconds = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1);
    let unit = if seconds == 1 { "second" } else { "seconds" };
    AppError::TooManyRequests {
        detail: format!("Too many failed attempts. Try again in {seconds} {unit}."),
        retry_after: seconds,
    }
}

/// A check of an account claimed by [`Accounts::claim_attempt`]: what to restore if it turns out
/// not to be a guess.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Claim {
    user: UserId,
    count: i32,
    previous_gate: Option<NaiveDateTime>,
}

/// Failed logins per client address, in this process (each instance counts its own).
/// IPv6 addresses count by /64, the block one host usually holds.
pub(crate) struct Addresses {
    failures: Mutex<LruTtlCache<IpAddr, AddressFailures>>,
}

#[derive(Debug, Clone, Copy)]
struct AddressFailures {
    count: u32,
    gate: Instant,
}

/// Addresses remembered at most (about 100 bytes each); beyond, the least recently failing
/// are forgotten first.
const ADDRESSES_KEPT: usize = 100_000;

/// What per-client limits count a client by: an IPv4 address, or an IPv6 address's /64 (the
/// block one host usually holds, so one host cannot bring endless fresh addresses).
pub fn client_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

impl Addresses {
    pub(crate) fn new(throttle: &Throttle) -> Self {
        Self {
            failures: Mutex::new(LruTtlCache::new(ADDRESSES_KEPT, throttle.max_delay)),
        }
    }

    fn key(address: &str) -> Option<IpAddr> {
        address.parse().ok().map(client_key)
    }

    /// Refused while `address`'s gate is closed.
    pub(crate) fn check(&self, address: &str) -> Result<(), AppError> {
        let Some(key) = Self::key(address) else {
            return Ok(());
        };
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match failures.cache_get(&key) {
            Some(state) if state.gate > now => Err(slow_down(state.gate.duration_since(now))),
            _ => Ok(()),
        }
    }

    /// Count a failed login from `address`; the count is forgotten `max_delay` after its last
    /// failure (successes neither count nor clear it).
    pub(crate) fn failed(&self, throttle: &Throttle, address: &str) {
        let Some(key) = Self::key(address) else {
            return;
        };
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let count = failures
            .cache_get(&key)
            .map_or(0, |state| state.count)
            .saturating_add(1);
        // Delays are bounded by `max_delay`; an instant beyond the clock's range is no gate.
        let gate = now
            .checked_add(throttle.delay_after(count, throttle.address_free_failures))
            .unwrap_or(now);
        failures.cache_set(key, AddressFailures { count, gate });
    }
}

impl std::fmt::Debug for Addresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Addresses").finish_non_exhaustive()
    }
}

impl Accounts<'_> {
    /// Claim the next check of `user`'s password or TOTP code, counted as a failure until it
    /// is given back ([`Self::give_back`]) or a verified password clears the count
    /// ([`account::UserPatch::attempts_cleared`]). Refused with 429 while the account's gate
    /// is closed.
    pub(crate) fn claim_attempt(
        &self,
        conn: &mut AnyConnection,
        user: &UserRow,
    ) -> Result<Claim, AppError> {
        let throttle = &self.app.settings.throttle;
        let user_id: UserId = user.id.into();
        let (mut seen, mut gate) = (user.failed_attempts, user.attempt_gate);
        // Each lost race means another check claimed its count, so the gate closes within
        // the free failures; the bound only matters when they are many.
        for _ in 0..16 {
            let now = naive_of(now_epoch());
            if let Some(wait) = gate.and_then(|gate| gate.signed_duration_since(now).to_std().ok())
            {
                return Err(slow_down(wait));
            }
            let failures = u32::try_from(seen.saturating_add(1)).unwrap_or(u32::MAX);
            let next = gate_after(now, throttle.delay_after(failures, throttle.free_failures));
            if account::claim_attempt(conn, user_id, seen, now, next)? {
                return Ok(Claim {
                    user: user_id,
                    count: seen.saturating_add(1),
                    previous_gate: gate,
                });
            }
            // Another check claimed first: look again.
            (seen, gate) = account::find_attempts(conn, user_id)?
                .ok_or_else(|| AppError::Unauthorized("Invalid username or password".into()))?;
        }
        Err(slow_down(Duration::from_secs(1)))
    }

    /// Give back a claimed check that was not a guess (a right password sent without its
    /// TOTP code, a right code that proves nothing about the password): its count and the
    /// gate it set are undone.
    pub(crate) fn give_back(&self, conn: &mut AnyConnection, claim: Claim) -> Result<(), AppError> {
        account::give_back_attempt(conn, claim.user, claim.count, claim.previous_gate)?;
        Ok(())
    }

    /// A hashing slot: taken before an attempt is claimed, so a 503 never counts.
    pub(crate) fn hash_slot(&self) -> Result<agentry_auth::password::Slot<'_>, AppError> {
        Ok(self.app.hasher.slot()?)
    }
}

fn gate_after(now: NaiveDateTime, wait: Duration) -> Option<NaiveDateTime> {
    let wait = chrono::Duration::from_std(wait).unwrap_or_default();
    (!wait.is_zero()).then(|| now.checked_add_signed(wait).unwrap_or(NaiveDateTime::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_the_free_failures_up_to_the_ceiling() {
        let throttle = Throttle {
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            ..Throttle::default()
        };
        let delays: Vec<u64> = (0..=12)
            .map(|n| throttle.delay_after(n, 5).as_secs())
            .collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60]);
        assert_eq!(throttle.delay_after(u32::MAX, 0), Duration::from_secs(60));
    }

    #[test]
    fn an_address_is_slowed_after_its_free_failures_by_64_bit_prefix() {
        let throttle = Throttle {
            address_free_failures: 2,
            delay: Duration::from_secs(30),
            ..Throttle::default()
        };
        let addresses = Addresses::new(&throttle);
        for _ in 0..3 {
            assert!(addresses.check("1.1.1.1").is_ok());
            addresses.failed(&throttle, "1.1.1.1");
        }
        match addresses.check("1.1.1.1") {
            Err(AppError::TooManyRequests { retry_after, .. }) => {
                assert!((29..=30).contains(&retry_after), "{retry_after}");
            }
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(addresses.check("2.2.2.2").is_ok(), "per address");

        for host in ["2001:db8::1", "2001:db8::2", "2001:db8::ffff:1"] {
            addresses.failed(&throttle, host);
        }
        assert!(addresses.check("2001:db8::9").is_err(), "one /64");
        assert!(addresses.check("2001:db8:0:1::1").is_ok(), "the next /64");
        assert!(addresses.check("not an address").is_ok());
    }

    #[test]
    fn the_wait_is_rounded_up_and_named_in_the_detail() {
        match slow_down(Duration::from_millis(19_100)) {
            AppError::TooManyRequests {
                detail,
                retry_after,
            } => {
                assert_eq!(retry_after, 20);
                assert_eq!(detail, "Too many failed attempts. Try again in 20 seconds.");
            }
            other => panic!("{other:?}"),
        }
    }
}
