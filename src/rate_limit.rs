//! Token buckets: requests per source address and in total before any work is done
//! (`governor`), requests per client on the OAuth endpoints, and failed attempts per key
//! ([`FailureBuckets`]): client authentications per source address, so guessing secrets
//! is slow without an attacker being able to slow down the client whose id it names, and
//! the login page's sign-ins (see `crate::login`).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use serde::Deserialize;

/// `[rate_limit]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSettings {
    pub requests_per_second: u32,
    pub burst: u32,
    pub address_requests_per_second: u32,
    pub address_burst: u32,
    pub global_requests_per_second: u32,
    pub global_burst: u32,
    pub failed_auth_per_address_per_minute: u32,
    pub failed_auth_per_address_burst: u32,
    pub clients: std::collections::BTreeMap<String, ClientRateLimit>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRateLimit {
    pub requests_per_second: u32,
    pub burst: u32,
}

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
    /// Made once (see [`AddressLimiter`]'s).
    clock: DefaultClock,
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
            clock: DefaultClock::default(),
        }
    }

    pub fn check(&self, client_id: &str) -> Result<(), RetryAfter> {
        let outcome = match self.overrides.get(client_id) {
            Some(limiter) => limiter.check(),
            None => self.default.check_key(&client_id.to_owned()),
        };
        outcome
            .map_err(|not_until| RetryAfter::from_wait(not_until.wait_time_from(self.clock.now())))
    }

    /// Forgets clients whose buckets are full again, so memory follows active clients.
    pub fn forget_idle(&self) {
        self.default.retain_recent();
        self.default.shrink_to_fit();
    }
}

/// The bucket of [`AddressLimiter`] that refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressLimit {
    Address,
    Global,
}

/// Requests per source address and requests in total, checked before a request costs
/// a database read or a secret check (`rate_limit.address_*`, `rate_limit.global_*`).
pub struct AddressLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    global: DefaultDirectRateLimiter,
    /// Made once: making one calibrates the clock source (a `cpuid` per call), which
    /// cost a fifth of the token endpoint's CPU when done per request.
    clock: DefaultClock,
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
            clock: DefaultClock::default(),
        }
    }

    /// The address's bucket first, so one noisy address does not drain the shared one.
    pub fn check(&self, source: IpAddr) -> Result<(), RetryAfter> {
        self.admit(source).map_err(|(_, retry)| retry)
    }

    /// Like [`Self::check`], saying which bucket refused.
    pub fn admit(&self, source: IpAddr) -> Result<(), (AddressLimit, RetryAfter)> {
        let wait = |not_until: governor::NotUntil<_>| {
            RetryAfter::from_wait(not_until.wait_time_from(self.clock.now()))
        };
        self.per_address
            .check_key(&address_key(source))
            .map_err(|not_until| (AddressLimit::Address, wait(not_until)))?;
        self.global
            .check()
            .map_err(|not_until| (AddressLimit::Global, wait(not_until)))
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

/// Failed attempts counted per key (a source address, an account, a pair of both): a
/// token bucket of `capacity` cells per key refilled at `per_second`.
///
/// An attempt that can wait (an argon2 check) takes a cell up front
/// ([`FailureBuckets::begin`]) and gives it back unless it failed, so attempts waiting at
/// the same time cannot all pass on the last cell. An attempt that costs nothing (an
/// HMAC, an id alone) takes its cell only once it failed
/// ([`FailureBuckets::record_failure`]): a failure that finds no cell left is answered as
/// a refusal, so of guesses sent all at once exactly the burst learn their outcome, and a
/// success is refused when the key has no cell left ([`FailureBuckets::check`]). A check
/// takes no lock while no key has failed. Only keys with failures (or a waiting attempt)
/// are kept, and at most `max_keys` of them, so memory stays bounded whatever keys an
/// attacker invents. A new key that finds the table full makes room rather than pass
/// untracked: keys whose buckets are full again go first, then the tenth of the table
/// that failed longest ago (whose buckets have refilled the most). One such sweep is
/// O(`max_keys`), and it frees a tenth of the table, so a flood of new keys pays O(10)
/// each.
///
/// `governor` cannot give a cell back, which this needs, hence this small bucket.
pub struct FailureBuckets<K> {
    capacity: f64,
    per_second: f64,
    max_keys: usize,
    buckets: Mutex<HashMap<K, Bucket>>,
    /// How many keys `buckets` holds, read without the lock.
    tracked: AtomicUsize,
}

struct Bucket {
    cells: f64,
    updated: Instant,
}

/// One attempt's cell: given back when dropped, unless [`Attempt::failed`].
#[must_use]
pub struct Attempt<'a, K: Hash + Eq + Clone = IpAddr> {
    buckets: &'a FailureBuckets<K>,
    /// Taken when the cell is given back.
    key: Option<K>,
    failed: bool,
}

impl<K: Hash + Eq + Clone> Attempt<'_, K> {
    /// The attempt failed: its cell stays taken.
    pub fn failed(mut self) {
        self.failed = true;
    }
}

impl<K: Hash + Eq + Clone> Drop for Attempt<'_, K> {
    fn drop(&mut self) {
        if let (false, Some(key)) = (self.failed, self.key.take()) {
            self.buckets.give_back(&key, Instant::now());
        }
    }
}

/// The key of an address: IPv4 as is (also when mapped into IPv6), IPv6 by its /64,
/// the block one host normally holds.
pub fn address_key(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(_) => source,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
        },
    }
}

impl<K: Hash + Eq + Clone> FailureBuckets<K> {
    /// `burst` failures at once, then `per_minute` more each minute, for at most
    /// `max_keys` keys at a time.
    pub fn new(per_minute: u32, burst: u32, max_keys: usize) -> Self {
        FailureBuckets {
            capacity: f64::from(burst.max(1)),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
        }
    }

    fn refilled(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.cells = (bucket.cells + elapsed * self.per_second).min(self.capacity);
        bucket.updated = now;
    }

    fn wait_for_a_cell(&self, bucket: &Bucket) -> RetryAfter {
        let wait = (1.0 - bucket.cells) / self.per_second;
        RetryAfter::from_wait(Duration::from_secs_f64(wait.max(0.0)))
    }

    /// Whether `key` may make an attempt now, taking nothing: what runs before any work
    /// is done for a request.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), RetryAfter> {
        if self.tracked.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let Some(bucket) = buckets.get_mut(key) else {
            return Ok(());
        };
        self.refilled(bucket, now);
        if bucket.cells >= 1.0 {
            Ok(())
        } else {
            Err(self.wait_for_a_cell(bucket))
        }
    }

    /// An attempt of `key` that did not reserve a cell failed: it takes one now, or, when
    /// none is left (other guesses got there first), says how long to wait, and the
    /// failure must be answered as that refusal.
    pub fn record_failure(&self, key: &K, now: Instant) -> Result<(), RetryAfter> {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let bucket = self.bucket(&mut buckets, key, now);
        if bucket.cells < 1.0 {
            return Err(self.wait_for_a_cell(bucket));
        }
        bucket.cells -= 1.0;
        Ok(())
    }

    /// The bucket of `key`, made full when it had none, refilled to `now`.
    fn bucket<'b>(
        &self,
        buckets: &'b mut HashMap<K, Bucket>,
        key: &K,
        now: Instant,
    ) -> &'b mut Bucket {
        if !buckets.contains_key(key) {
            if buckets.len() >= self.max_keys {
                self.make_room(buckets, now);
            }
            self.tracked.store(buckets.len() + 1, Ordering::Release);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            cells: self.capacity,
            updated: now,
        });
        self.refilled(bucket, now);
        bucket
    }

    /// Drops the keys whose buckets are full again and, if that leaves the table more
    /// than nine tenths full, the tenth updated longest ago.
    fn make_room(&self, buckets: &mut HashMap<K, Bucket>, now: Instant) {
        buckets.retain(|_, bucket| !self.is_full_again(bucket, now));
        let keep = self.max_keys - self.max_keys.div_ceil(10);
        if buckets.len() <= keep {
            return;
        }
        let mut updated: Vec<Instant> = buckets.values().map(|bucket| bucket.updated).collect();
        let drop = updated.len() - keep;
        let before = buckets.len();
        let (_, oldest_kept, _) = updated.select_nth_unstable(drop);
        let oldest_kept = *oldest_kept;
        buckets.retain(|_, bucket| bucket.updated >= oldest_kept);
        // Ties at the threshold: drop among them until the tenth is free.
        if buckets.len() > keep {
            let mut excess = buckets.len() - keep;
            buckets.retain(|_, bucket| {
                if excess > 0 && bucket.updated == oldest_kept {
                    excess -= 1;
                    false
                } else {
                    true
                }
            });
        }
        tracing::debug!(
            dropped = before - buckets.len(),
            "failure buckets full: oldest forgotten"
        );
    }

    fn is_full_again(&self, bucket: &Bucket, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.cells + elapsed * self.per_second >= self.capacity
    }

    /// Takes a cell for one attempt of `key` that may wait, or says how long to wait.
    pub fn begin(&self, key: K, now: Instant) -> Result<Attempt<'_, K>, RetryAfter> {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let bucket = self.bucket(&mut buckets, &key, now);
        if bucket.cells < 1.0 {
            return Err(self.wait_for_a_cell(bucket));
        }
        bucket.cells -= 1.0;
        Ok(Attempt {
            buckets: self,
            key: Some(key),
            failed: false,
        })
    }

    fn give_back(&self, key: &K, now: Instant) {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        if let Some(bucket) = buckets.get_mut(key) {
            self.refilled(bucket, now);
            bucket.cells = (bucket.cells + 1.0).min(self.capacity);
            if bucket.cells >= self.capacity {
                buckets.remove(key);
                self.tracked.store(buckets.len(), Ordering::Release);
            }
        }
    }

    /// Forgets keys whose buckets are full again.
    pub fn forget_idle(&self, now: Instant) {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        buckets.retain(|_, bucket| !self.is_full_again(bucket, now));
        self.tracked.store(buckets.len(), Ordering::Release);
    }

    /// How many keys are kept.
    pub fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Acquire)
    }
}

/// Addresses with failures kept at most by [`FailureLimiter`].
const MAX_FAILING_ADDRESSES: usize = 1_000_000;

/// Failed client authentications per source address
/// (`failed_auth_per_address_burst` cells refilled at `failed_auth_per_address_per_minute`),
/// a brake on guessing secrets that never slows a client down because of what other
/// addresses did with its id. The token path takes no lock while no address has failed.
pub struct FailureLimiter(FailureBuckets<IpAddr>);

impl FailureLimiter {
    pub fn new(settings: &RateLimitSettings) -> Self {
        FailureLimiter(FailureBuckets::new(
            settings.failed_auth_per_address_per_minute,
            settings.failed_auth_per_address_burst,
            MAX_FAILING_ADDRESSES,
        ))
    }

    /// Whether `source` may try a secret check now, taking nothing.
    pub fn check(&self, source: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        self.0.check(&address_key(source), now)
    }

    /// A secret check from `source` that did not reserve a cell failed (see
    /// [`FailureBuckets::record_failure`]).
    pub fn record_failure(&self, source: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        self.0.record_failure(&address_key(source), now)
    }

    /// Takes a cell for one secret check from `source` that may wait, or says how long
    /// to wait.
    pub fn begin(&self, source: IpAddr, now: Instant) -> Result<Attempt<'_>, RetryAfter> {
        self.0.begin(address_key(source), now)
    }

    /// Forgets addresses whose buckets are full again.
    pub fn forget_idle(&self, now: Instant) {
        self.0.forget_idle(now)
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
            failed_auth_per_address_per_minute: 1,
            failed_auth_per_address_burst: 2,
            clients: [(
                "vip".to_owned(),
                ClientRateLimit {
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

    fn address(text: &str) -> IpAddr {
        text.parse().unwrap()
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
    fn failures_that_did_not_wait_count_like_reserved_ones() {
        let failures = FailureLimiter::new(&settings(1, 1));
        let (a, b) = (address("192.0.2.1"), address("192.0.2.2"));
        let start = Instant::now();
        assert_eq!(failures.0.tracked(), 0, "nothing kept yet");
        assert!(failures.record_failure(a, start).is_ok());
        assert!(failures.check(a, start).is_ok(), "one cell left");
        assert!(failures.record_failure(a, start).is_ok());
        assert!(
            failures.record_failure(a, start).is_err(),
            "a failure past the burst is a refusal"
        );
        assert!(failures.check(a, start).is_err());
        assert!(failures.check(b, start).is_ok());
        // The empty bucket was not overdrawn by the refused failure: one cell a minute.
        assert!(failures.check(a, start + Duration::from_secs(61)).is_ok());
        failures.forget_idle(start + Duration::from_secs(121));
        assert_eq!(failures.0.tracked(), 0, "a full bucket is forgotten");
    }

    #[test]
    fn failures_block_an_address_after_the_burst() {
        let failures = FailureLimiter::new(&settings(1, 1));
        let (a, b) = (address("192.0.2.1"), address("192.0.2.2"));
        let start = Instant::now();
        assert!(failures.check(a, start).is_ok());
        failures.begin(a, start).unwrap().failed();
        failures.begin(a, start).unwrap().failed();
        let RetryAfter(seconds) = failures.check(a, start).unwrap_err();
        assert!((1..=60).contains(&seconds), "{seconds}");
        assert!(failures.begin(a, start).is_err());
        assert!(
            failures.check(b, start).is_ok(),
            "other addresses are unaffected"
        );
        // One cell a minute comes back.
        let later = start + Duration::from_secs(61);
        assert!(failures.check(a, later).is_ok());
        failures.begin(a, later).unwrap().failed();
        assert!(failures.check(a, later).is_err());
    }

    #[test]
    fn successes_give_their_cell_back_and_leave_nothing_behind() {
        let failures = FailureLimiter::new(&settings(1, 1));
        let a = address("192.0.2.1");
        let now = Instant::now();
        for _ in 0..10 {
            drop(failures.begin(a, now).unwrap());
        }
        assert_eq!(failures.0.tracked(), 0);
        // Checks in progress hold their cells: no more run at once than the burst.
        let first = failures.begin(a, now).unwrap();
        let second = failures.begin(a, now).unwrap();
        assert!(failures.begin(a, now).is_err());
        drop(first);
        second.failed();
        assert!(
            failures.begin(a, now).is_ok(),
            "the success gave its cell back"
        );
    }

    #[test]
    fn a_full_table_forgets_the_oldest_tenth_rather_than_let_new_keys_pass() {
        let buckets: FailureBuckets<u32> = FailureBuckets::new(1, 1, 20);
        let start = Instant::now();
        for key in 0..20 {
            buckets
                .begin(key, start + Duration::from_millis(u64::from(key)))
                .unwrap()
                .failed();
        }
        assert_eq!(buckets.tracked(), 20);
        let later = start + Duration::from_secs(1);
        buckets.begin(100, later).unwrap().failed();
        assert!(
            buckets.check(&100, later).is_err(),
            "a new key is tracked when the table is full"
        );
        assert_eq!(
            buckets.tracked(),
            19,
            "the oldest two went, the new key came"
        );
        assert!(buckets.check(&0, later).is_ok(), "the oldest was forgotten");
        assert!(buckets.check(&1, later).is_ok());
        for key in 2..20 {
            assert!(
                buckets.check(&key, later).is_err(),
                "key {key} kept its limit"
            );
        }
    }

    #[test]
    fn a_full_table_drops_refilled_buckets_first() {
        let buckets: FailureBuckets<u32> = FailureBuckets::new(60, 1, 10);
        let start = Instant::now();
        for key in 0..5 {
            buckets.begin(key, start).unwrap().failed();
        }
        let later = start + Duration::from_secs(5);
        for key in 5..10 {
            buckets.begin(key, later).unwrap().failed();
        }
        // One cell a second: the first five are full again when the eleventh key comes.
        buckets.begin(10, later).unwrap().failed();
        assert_eq!(buckets.tracked(), 6);
        for key in 5..=10 {
            assert!(
                buckets.check(&key, later).is_err(),
                "key {key} kept its limit"
            );
        }
    }

    #[test]
    fn ties_at_the_threshold_still_free_a_tenth() {
        let buckets: FailureBuckets<u32> = FailureBuckets::new(1, 1, 10);
        let now = Instant::now();
        for key in 0..11 {
            buckets.begin(key, now).unwrap().failed();
        }
        assert_eq!(buckets.tracked(), 10);
        assert!(
            buckets.check(&10, now).is_err(),
            "the newest key is tracked"
        );
    }

    #[test]
    fn an_ipv6_host_counts_by_its_64_and_mapped_ipv4_as_ipv4() {
        let failures = FailureLimiter::new(&settings(1, 1));
        let now = Instant::now();
        failures
            .begin(address("2001:db8::1"), now)
            .unwrap()
            .failed();
        failures
            .begin(address("2001:db8::ffff:2"), now)
            .unwrap()
            .failed();
        assert!(failures.check(address("2001:db8::3"), now).is_err());
        assert!(failures.check(address("2001:db8:0:1::1"), now).is_ok());
        failures
            .begin(address("::ffff:192.0.2.7"), now)
            .unwrap()
            .failed();
        failures.begin(address("192.0.2.7"), now).unwrap().failed();
        assert!(failures.check(address("192.0.2.7"), now).is_err());
        failures.forget_idle(now + Duration::from_secs(3600));
        assert_eq!(failures.0.tracked(), 0);
    }
}
