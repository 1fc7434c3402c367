//! Retries of transient failures: exponential backoff with full jitter, a provider's
//! `Retry-After` honoured (capped, so a provider cannot park a request for an hour).

use std::time::Duration;

use rand::Rng;

/// How a call retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries after the first.
    pub retries: u32,
    /// The first backoff; doubled after each try.
    pub base: Duration,
    /// No wait is longer, `Retry-After` included.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 2,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `attempt` (1 for the first retry): the provider's `Retry-After`
    /// when it gave one, else a random wait up to `base * 2^(attempt - 1)`; never over `cap`.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.cap);
        }
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.cap);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// `Retry-After` in seconds (the HTTP-date form is read as no hint).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_are_jittered_capped_and_follow_retry_after() {
        let policy = RetryPolicy {
            retries: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(300),
        };
        for _ in 0..100 {
            assert!(policy.wait(1, None) <= Duration::from_millis(100));
            assert!(policy.wait(2, None) <= Duration::from_millis(200));
            assert!(policy.wait(9, None) <= Duration::from_millis(300), "capped");
        }
        assert_eq!(
            policy.wait(1, Some(Duration::from_millis(150))),
            Duration::from_millis(150)
        );
        assert_eq!(
            policy.wait(1, Some(Duration::from_secs(3600))),
            Duration::from_millis(300),
            "a provider cannot park a request"
        );
        let waits: std::collections::HashSet<Duration> =
            (0..50).map(|_| policy.wait(3, None)).collect();
        assert!(waits.len() > 1, "jittered");
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "2".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
