//! Token buckets (`governor`): requests per client on the OAuth endpoints, and failed
//! client authentications per client id, so guessing a secret is slow for everyone
//! without slowing other clients.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimitSettings;

/// How long to wait before retrying, in whole seconds (at least 1), for `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RetryAfter {
    fn from_wait(wait: Duration) -> Self {
        RetryAfter(wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max_one()
    }

    fn max_one(self) -> Self {
        RetryAfter(self.0.max(1))
    }
}

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// Requests per authenticated client, with per-client overrides.
pub struct RequestLimiter {
    default: DefaultKeyedRateLimiter<String>,
    overrides: HashMap<String, DefaultDirectRateLimiter>,
}

impl RequestLimiter {
    pub fn new(settings: &RateLimitSettings) -> Self {
        RequestLimiter {
            default: RateLimiter::keyed(quota(settings.requests_per_second, settings.burst)),
            overrides: settings
                .clients
                .iter()
                .map(|(client, limit)| {
                    let limiter =
                        RateLimiter::direct(quota(limit.requests_per_second, limit.burst));
                    (client.clone(), limiter)
                })
                .collect(),
        }
    }

    pub fn check(&self, client_id: &str) -> Result<(), RetryAfter> {
        let outcome = match self.overrides.get(client_id) {
            Some(limiter) => limiter.check(),
            None => self.default.check_key(&client_id.to_owned()),
        };
        outcome.map_err(|not_until| {
            RetryAfter::from_wait(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Forgets clients whose buckets are full again, so memory follows active clients.
    pub fn forget_idle(&self) {
        self.default.retain_recent();
        self.default.shrink_to_fit();
    }
}

/// Failed authentications per client id. Once a client id's bucket is empty, further
/// attempts that would need a secret check are refused until it refills.
pub struct FailureLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    blocked_until: Mutex<HashMap<String, Instant>>,
}

impl FailureLimiter {
    pub fn new(settings: &RateLimitSettings) -> Self {
        let quota = Quota::per_minute(
            NonZeroU32::new(settings.failed_auth_per_minute).unwrap_or(NonZeroU32::MIN),
        )
        .allow_burst(NonZeroU32::new(settings.failed_auth_burst).unwrap_or(NonZeroU32::MIN));
        FailureLimiter {
            limiter: RateLimiter::keyed(quota),
            blocked_until: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` may try a secret check now.
    pub fn check(&self, key: &str) -> Result<(), RetryAfter> {
        let blocked = self.blocked_until.lock().expect("not poisoned");
        match blocked.get(key) {
            Some(until) if *until > Instant::now() => {
                Err(RetryAfter::from_wait(*until - Instant::now()))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str) {
        if let Err(not_until) = self.limiter.check_key(&key.to_owned()) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut blocked = self.blocked_until.lock().expect("not poisoned");
            blocked.insert(key.to_owned(), Instant::now() + wait);
        }
    }

    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let now = Instant::now();
        self.blocked_until
            .lock()
            .expect("not poisoned")
            .retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_second: u32, burst: u32) -> RateLimitSettings {
        RateLimitSettings {
            requests_per_second: per_second,
            burst,
            failed_auth_per_minute: 1,
            failed_auth_burst: 2,
            clients: [(
                "vip".to_owned(),
                crate::config::ClientRateLimit {
                    requests_per_second: 1,
                    burst: 5,
                },
            )]
            .into(),
        }
    }

    #[test]
    fn buckets_are_per_client_with_overrides() {
        let limiter = RequestLimiter::new(&settings(1, 2));
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let RetryAfter(seconds) = limiter.check("a").unwrap_err();
        assert!(seconds >= 1);
        assert!(limiter.check("b").is_ok(), "other clients are unaffected");
        for _ in 0..5 {
            assert!(limiter.check("vip").is_ok());
        }
        assert!(limiter.check("vip").is_err());
    }

    #[test]
    fn failures_block_after_the_burst() {
        let failures = FailureLimiter::new(&settings(1, 1));
        assert!(failures.check("a").is_ok());
        failures.record_failure("a");
        failures.record_failure("a");
        assert!(failures.check("a").is_ok(), "the burst is allowed");
        failures.record_failure("a");
        let RetryAfter(seconds) = failures.check("a").unwrap_err();
        assert!((1..=60).contains(&seconds), "{seconds}");
        assert!(failures.check("b").is_ok());
    }
}
