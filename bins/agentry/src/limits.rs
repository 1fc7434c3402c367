//! Abuse limits at the edge: the client's address (trusting `X-Forwarded-For` only from
//! configured proxies) and a per-address rate limit on the unauthenticated account routes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Routes limited per client address: the ones that cost an argon2 hash or probe accounts.
pub const LIMITED: &[(&str, &str)] = &[
    ("POST", "/v1/login"),
    ("POST", "/v1/user"),
    ("GET", "/v1/user/exists"),
    ("POST", "/v1/api-keys/validate"),
];

pub struct Limits {
    trusted_proxies: Vec<IpAddr>,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    checks: AtomicU64,
}

impl Limits {
    /// `per_minute` requests per client address on the limited routes (0 turns it off), at
    /// most `burst` of them at once (a token bucket refilled at `per_minute`).
    pub fn new(per_minute: u32, burst: u32, trusted_proxies: Vec<IpAddr>) -> Self {
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Self {
            trusted_proxies,
            per_address: NonZeroU32::new(per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n).allow_burst(burst.min(n)))),
            checks: AtomicU64::new(0),
        }
    }

    /// The client: the peer, or, when the peer is a trusted proxy, the right-most address of
    /// `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let chain = forwarded_for.unwrap_or_default();
        chain
            .split(',')
            .rev()
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .find(|hop| !self.trusted_proxies.contains(hop))
            .or(Some(peer))
    }

    /// Whether `client` (an IPv6 client by its /64) may make one more limited request now; if
    /// not, how long until it may.
    pub fn admit(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.per_address else {
            return Ok(());
        };
        // Forget idle addresses now and then, so the table stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&agentry_app::throttle::client_key(client))
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let limits = Limits::new(0, 1, vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        let spoof = Some("1.2.3.4");
        assert_eq!(
            limits.client(Some(ip("9.9.9.9")), spoof),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(
            limits.client(Some(ip("10.0.0.1")), spoof),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            limits.client(Some(ip("10.0.0.1")), Some("6.6.6.6, 1.2.3.4, 10.0.0.2")),
            Some(ip("1.2.3.4")),
            "the right-most untrusted hop; what the client wrote further left is ignored"
        );
        assert_eq!(
            limits.client(Some(ip("10.0.0.1")), Some("garbage")),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(limits.client(None, spoof), None);
    }

    #[test]
    fn each_address_has_its_own_budget_and_bursts_are_small() {
        let limits = Limits::new(3, 10, Vec::new());
        let (a, b) = (ip("1.1.1.1"), ip("2.2.2.2"));
        assert!((0..3).all(|_| limits.admit(a).is_ok()));
        let wait = limits.admit(a).unwrap_err();
        assert!(
            wait > Duration::from_secs(10) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limits.admit(b).is_ok());
        let (v6, same_64) = (ip("2001:db8::1"), ip("2001:db8::ffff"));
        assert!((0..3).all(|_| limits.admit(v6).is_ok()));
        assert!(
            limits.admit(same_64).is_err(),
            "an IPv6 client counts by its /64"
        );
        // 600 a minute, but only 5 at once.
        let bursty = Limits::new(600, 5, Vec::new());
        assert_eq!((0..50).filter(|_| bursty.admit(a).is_ok()).count(), 5);
        let open = Limits::new(0, 1, Vec::new());
        assert!((0..1000).all(|_| open.admit(a).is_ok()));
    }
}
