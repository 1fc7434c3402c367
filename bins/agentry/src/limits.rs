//! Abuse limits at the edge: the client's address (trusting `X-Forwarded-For` only from
//! configured proxies) and a per-address rate limit on the unauthenticated account routes.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// `per_minute` requests per client address on the limited routes (0 turns it off).
    pub fn new(per_minute: u32, trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            trusted_proxies,
            per_address: NonZeroU32::new(per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
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

    /// Whether `client` may make one more limited request now.
    pub fn admit(&self, client: IpAddr) -> bool {
        let Some(limiter) = &self.per_address else {
            return true;
        };
        // Forget idle addresses now and then, so the table stays small.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
            limiter.retain_recent();
        }
        limiter.check_key(&client).is_ok()
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
        let limits = Limits::new(0, vec![ip("10.0.0.1"), ip("10.0.0.2")]);
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
    fn each_address_has_its_own_budget() {
        let limits = Limits::new(3, Vec::new());
        let (a, b) = (ip("1.1.1.1"), ip("2.2.2.2"));
        assert!((0..3).all(|_| limits.admit(a)));
        assert!(!limits.admit(a));
        assert!(limits.admit(b));
        let open = Limits::new(0, Vec::new());
        assert!((0..1000).all(|_| open.admit(a)));
    }
}
