//! Token buckets (`governor`): requests per source address and in total before any
//! work is done, requests per client on the OAuth endpoints, and failed client
//! authentications per client id, so guessing a secret is slow for everyone without
//! slowing other clients.

use std::collections::HashMap;
use std::net::IpAddr;
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

/// Requests per source address and requests in total, checked before a request costs
/// a database read or a secret check (`rate_limit.address_*`, `rate_limit.global_*`).
pub struct AddressLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    global: DefaultDirectRateLimiter,
}

impl AddressLimiter {
    pub fn new(settings: &RateLimitSettings) -> Self {
        AddressLimiter {
            per_address: RateLimiter::keyed(quota(
                settings.address_requests_per_second,
                settings.address_burst,
            )),
            global: RateLimiter::direct(quota(
                settings.global_requests_per_second,
                settings.global_burst,
            )),
        }
    }

    /// The address's bucket first, so one noisy address does not drain the shared one.
    pub fn check(&self, source: IpAddr) -> Result<(), RetryAfter> {
        let now = DefaultClock::default().now();
        self.per_address
            .check_key(&source)
            .and_then(|()| self.global.check())
            .map_err(|not_until| RetryAfter::from_wait(not_until.wait_time_from(now)))
    }

    /// Forgets addresses whose buckets are full again, so memory follows active callers.
    pub fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
    }

    pub fn tracked_addresses(&self) -> usize {
        self.per_address.len()
    }
}

/// Failed authentications per client id: a token bucket of `failed_auth_burst` cells
/// refilled at `failed_auth_per_minute`. A secret check is allowed while a cell is left
/// and each failure takes one, so after `failed_auth_burst` failures no more checks run
/// until the bucket refills. Checks of one client id run one at a time (see the client
/// authenticator), so each failure is counted before the next attempt is judged.
///
/// `governor` cannot tell whether a cell is left without taking it, which this needs
/// (only failures take cells), hence this small bucket of its own.
pub struct FailureLimiter {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    cells: f64,
    updated: Instant,
}

impl FailureLimiter {
    pub fn new(settings: &RateLimitSettings) -> Self {
        FailureLimiter {
            capacity: f64::from(settings.failed_auth_burst.max(1)),
            per_second: f64::from(settings.failed_auth_per_minute.max(1)) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.cells = (bucket.cells + elapsed * self.per_second).min(self.capacity);
        bucket.updated = now;
    }

    /// Whether `key` may try a secret check now.
    pub fn check(&self, key: &str) -> Result<(), RetryAfter> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let Some(bucket) = buckets.get_mut(key) else {
            return Ok(());
        };
        self.refilled(bucket, now);
        if bucket.cells >= 1.0 {
            Ok(())
        } else {
            let wait = (1.0 - bucket.cells) / self.per_second;
            Err(RetryAfter::from_wait(Duration::from_secs_f64(wait)))
        }
    }

    pub fn record_failure(&self, key: &str) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            cells: self.capacity,
            updated: now,
        });
        self.refilled(bucket, now);
        bucket.cells = (bucket.cells - 1.0).max(0.0);
    }

    /// Forgets client ids whose buckets are full again.
    pub fn forget_idle(&self) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("not poisoned");
        buckets.retain(|_, bucket| {
            let elapsed = now.duration_since(bucket.updated).as_secs_f64();
            bucket.cells + elapsed * self.per_second < self.capacity
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_second: u32, burst: u32) -> RateLimitSettings {
        RateLimitSettings {
            requests_per_second: per_second,
            burst,
            address_requests_per_second: per_second,
            address_burst: burst,
            global_requests_per_second: per_second,
            global_burst: burst * 3,
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
    fn addresses_have_their_own_buckets_under_a_global_one() {
        let limiter = AddressLimiter::new(&settings(1, 2));
        let address = |last: u8| IpAddr::from([127, 0, 0, last]);
        assert!(limiter.check(address(2)).is_ok());
        assert!(limiter.check(address(2)).is_ok());
        let RetryAfter(seconds) = limiter.check(address(2)).unwrap_err();
        assert!(seconds >= 1);
        assert!(
            limiter.check(address(3)).is_ok(),
            "other addresses are unaffected"
        );
        assert!(limiter.check(address(3)).is_ok());
        assert!(limiter.check(address(4)).is_ok());
        assert!(limiter.check(address(4)).is_ok());
        assert!(
            limiter.check(address(5)).is_err(),
            "the global burst of 6 is spent"
        );
        assert_eq!(limiter.tracked_addresses(), 4);
    }

    #[test]
    fn failures_block_after_the_burst() {
        let failures = FailureLimiter::new(&settings(1, 1));
        assert!(failures.check("a").is_ok());
        failures.record_failure("a");
        assert!(failures.check("a").is_ok(), "the burst is allowed");
        failures.record_failure("a");
        let RetryAfter(seconds) = failures.check("a").unwrap_err();
        assert!((1..=60).contains(&seconds), "{seconds}");
        assert!(failures.check("b").is_ok());
    }
}
