//! Failed sign-ins on the login page, limited before any password is checked, in three
//! token buckets ([`FailureBuckets`]) so that guessing is slow and nobody can lock a
//! user out from everywhere:
//!
//! - per (account, source address): strict. One address gets a few tries at one
//!   account, then waits.
//! - per source address: strict. One address cannot spread its guesses over many
//!   accounts.
//! - per account, over all addresses: a brake on a guessing spread over many addresses.
//!   Alone it would be a lockout anyone could trigger, so it never applies to an
//!   address the account signed in from successfully within `login.known_address_days`
//!   ("known addresses", remembered per process), nor do failures from such an address
//!   count towards it. Under a distributed attack the user keeps signing in from where
//!   they usually do; only new addresses wait.
//!
//! An account is the username as typed, lower-cased, whether or not it exists, so the
//! limits say nothing about who exists. An attempt takes a cell of each bucket up front
//! and gives them back unless it failed, so concurrent attempts cannot all pass on the
//! last cell. Each bucket table is bounded, and the known addresses are a bounded cache.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use moka::sync::Cache;

use super::LoginSettings;
use crate::rate_limit::{address_key, Attempt, FailureBuckets, RetryAfter};

/// Accounts (and account-address pairs) with failures tracked at most.
const MAX_TRACKED_ACCOUNTS: usize = 100_000;
const MAX_TRACKED_ADDRESSES: usize = 1_000_000;
const MAX_KNOWN_ADDRESSES: u64 = 100_000;
/// Longest account key kept: usernames are at most 128 characters.
const MAX_ACCOUNT_KEY_CHARS: usize = 128;

pub struct LoginLimiter {
    pair: FailureBuckets<(String, IpAddr)>,
    address: FailureBuckets<IpAddr>,
    account: FailureBuckets<String>,
    known: Cache<(String, IpAddr), ()>,
}

/// One sign-in attempt's cells: [`LoginAttempt::failed`] keeps them taken,
/// [`LoginAttempt::succeeded`] gives them back and remembers the address.
#[must_use]
pub struct LoginAttempt<'a> {
    limiter: &'a LoginLimiter,
    key: (String, IpAddr),
    pair: Attempt<'a, (String, IpAddr)>,
    address: Attempt<'a, IpAddr>,
    account: Option<Attempt<'a, String>>,
}

impl LoginAttempt<'_> {
    pub fn failed(self) {
        self.pair.failed();
        self.address.failed();
        if let Some(account) = self.account {
            account.failed();
        }
    }

    pub fn succeeded(self) {
        self.limiter.known.insert(self.key.clone(), ());
    }
}

/// The account key of a typed username.
fn account_key(username: &str) -> String {
    username
        .trim()
        .chars()
        .take(MAX_ACCOUNT_KEY_CHARS)
        .flat_map(char::to_lowercase)
        .collect()
}

impl LoginLimiter {
    pub fn new(settings: &LoginSettings) -> Self {
        LoginLimiter {
            pair: FailureBuckets::new(
                settings.failures_per_account_and_address_per_minute,
                settings.failures_per_account_and_address_burst,
                MAX_TRACKED_ACCOUNTS,
            ),
            address: FailureBuckets::new(
                settings.failures_per_address_per_minute,
                settings.failures_per_address_burst,
                MAX_TRACKED_ADDRESSES,
            ),
            account: FailureBuckets::new(
                settings.failures_per_account_per_minute,
                settings.failures_per_account_burst,
                MAX_TRACKED_ACCOUNTS,
            ),
            known: Cache::builder()
                .max_capacity(MAX_KNOWN_ADDRESSES)
                .time_to_live(Duration::from_secs(
                    settings.known_address_days.saturating_mul(86_400),
                ))
                .build(),
        }
    }

    /// Admits one sign-in attempt for `username` from `source`, or says how long to
    /// wait. Nothing is taken from any bucket when one of them refuses.
    pub fn admit(
        &self,
        username: &str,
        source: IpAddr,
        now: Instant,
    ) -> Result<LoginAttempt<'_>, RetryAfter> {
        let account = account_key(username);
        let address = address_key(source);
        let key = (account.clone(), address);
        let known = self.known.contains_key(&key);
        self.pair.check(&key, now)?;
        self.address.check(&address, now)?;
        if !known {
            self.account.check(&account, now)?;
        }
        let pair = self.pair.begin(key.clone(), now)?;
        let address = self.address.begin(address, now)?;
        let account = if known {
            None
        } else {
            Some(self.account.begin(account, now)?)
        };
        Ok(LoginAttempt {
            limiter: self,
            key,
            pair,
            address,
            account,
        })
    }

    /// Forgets buckets that are full again.
    pub fn forget_idle(&self, now: Instant) {
        self.pair.forget_idle(now);
        self.address.forget_idle(now);
        self.account.forget_idle(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LoginSettings {
        LoginSettings {
            session_seconds: 600,
            failures_per_account_and_address_per_minute: 1,
            failures_per_account_and_address_burst: 2,
            failures_per_address_per_minute: 1,
            failures_per_address_burst: 4,
            failures_per_account_per_minute: 1,
            failures_per_account_burst: 3,
            known_address_days: 30,
        }
    }

    fn address(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn fail(limiter: &LoginLimiter, user: &str, from: IpAddr, now: Instant) {
        limiter.admit(user, from, now).expect("admitted").failed();
    }

    #[test]
    fn one_address_gets_a_few_tries_per_account_and_a_few_more_in_all() {
        let limiter = LoginLimiter::new(&settings());
        let now = Instant::now();
        fail(&limiter, "alice", address(1), now);
        fail(&limiter, "ALICE ", address(1), now);
        assert!(
            limiter.admit("Alice", address(1), now).is_err(),
            "case and spaces do not make another account"
        );
        fail(&limiter, "bob", address(1), now);
        fail(&limiter, "carol", address(1), now);
        assert!(
            limiter.admit("dave", address(1), now).is_err(),
            "the address's own budget is spent"
        );
        let later = now + Duration::from_secs(61);
        assert!(limiter.admit("dave", address(1), later).is_ok());
    }

    #[test]
    fn the_account_brake_spares_the_users_known_address() {
        let limiter = LoginLimiter::new(&settings());
        let now = Instant::now();
        limiter
            .admit("alice", address(9), now)
            .expect("admitted")
            .succeeded();
        // An attacker spreads guesses at alice over many addresses.
        for attacker in 1..=3 {
            fail(&limiter, "alice", address(attacker), now);
        }
        let RetryAfter(wait) = limiter
            .admit("alice", address(4), now)
            .err()
            .expect("a new address is braked");
        assert!(wait >= 1);
        // The user's own address still gets in, and its typos do not feed the brake.
        fail(&limiter, "alice", address(9), now);
        limiter
            .admit("alice", address(9), now)
            .expect("the known address is not locked out")
            .succeeded();
        assert!(
            limiter.admit("bob", address(4), now).is_ok(),
            "others unaffected"
        );
    }

    #[test]
    fn successes_give_every_cell_back() {
        let limiter = LoginLimiter::new(&settings());
        let now = Instant::now();
        for _ in 0..10 {
            limiter
                .admit("alice", address(1), now)
                .expect("admitted")
                .succeeded();
        }
        assert_eq!(limiter.pair.tracked(), 0);
        assert_eq!(limiter.address.tracked(), 0);
        assert_eq!(limiter.account.tracked(), 0);
        // A refusal takes nothing from the other buckets.
        fail(&limiter, "bob", address(2), now);
        fail(&limiter, "bob", address(2), now);
        for _ in 0..5 {
            assert!(limiter.admit("bob", address(2), now).is_err());
        }
        fail(&limiter, "carol", address(2), now);
        fail(&limiter, "dave", address(2), now);
    }
}
