//! [`Freshness`]: whether this process's memory (cached clients, the deny-lists, the
//! sessions' state) is known to be current, i.e. the change feed was read lately.
//!
//! Each process promises that a change made anywhere takes effect in it within about a
//! second; it keeps that promise by reading the feed. When it cannot (a poll failed, or
//! has not finished after [`POLL_DEADLINE`]: the database is down or unreachable), what
//! it would answer from memory alone — a token for a cached
//! client, `active: true` for a token whose client or session may have been revoked
//! elsewhere meanwhile — is no longer known to be true. The endpoints that answer from
//! memory ask [`Freshness::is_current`] first and refuse with 503 instead: one atomic
//! load and a monotonic clock read, no database round trip on the hot path.
//!
//! Time is the monotonic clock, not the request's `now` (which tests move at will).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A poll of the feed that has not finished after this long counts as failed (see
/// [`crate::changes::spawn`]): a database that stopped answering is noticed this soon,
/// while a poll merely slowed by load (which happens) does not flap the endpoints.
pub const POLL_DEADLINE: Duration = Duration::from_secs(2);

/// How long past the feed's polling interval memory still counts as current without a
/// successful read: the net under [`POLL_DEADLINE`] should the poller itself stop.
pub const FRESHNESS_SLACK: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Freshness {
    started: Instant,
    /// Milliseconds after `started` until which memory counts as current; 0 once a
    /// read failed.
    current_until: AtomicU64,
    /// How long a successful read keeps memory current.
    lasts: Duration,
}

impl Freshness {
    /// Current for `lasts` after each successful read of the feed; current now, for
    /// the state was just loaded.
    pub fn new(lasts: Duration) -> Self {
        Freshness {
            started: Instant::now(),
            current_until: AtomicU64::new(millis(lasts).max(1)),
            lasts,
        }
    }

    /// The feed was read just now: memory is current for a while.
    pub fn read_now(&self) {
        let until = self.elapsed_millis().saturating_add(millis(self.lasts));
        let was = self.current_until.swap(until.max(1), Ordering::Relaxed);
        if was == 0 {
            tracing::info!("the database answers again: serving from memory again");
        }
    }

    /// The feed (or the database) could not be read: memory is not known to be
    /// current until the next successful read.
    pub fn lost(&self) {
        if self.current_until.swap(0, Ordering::Relaxed) != 0 {
            tracing::warn!(
                "cannot read the change feed: refusing tokens and introspection (503) \
                 until the database answers again"
            );
        }
    }

    /// Whether memory is known to be current: the last read of the feed succeeded, and
    /// not too long ago.
    pub fn is_current(&self) -> bool {
        let until = self.current_until.load(Ordering::Relaxed);
        if self.elapsed_millis() < until {
            return true;
        }
        // Lapsed (no read for too long, e.g. a poll stuck waiting for the database):
        // said once, by the first caller to notice.
        if until != 0
            && self
                .current_until
                .compare_exchange(until, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                "no successful read of the change feed for {} ms: refusing tokens and \
                 introspection (503) until the database answers again",
                millis(self.lasts)
            );
        }
        false
    }

    fn elapsed_millis(&self) -> u64 {
        millis(self.started.elapsed())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_after_a_read_until_it_lapses_or_a_read_fails() {
        let freshness = Freshness::new(Duration::from_millis(40));
        assert!(freshness.is_current());
        freshness.lost();
        assert!(!freshness.is_current());
        freshness.read_now();
        assert!(freshness.is_current());
        std::thread::sleep(Duration::from_millis(60));
        assert!(!freshness.is_current(), "lapsed without a read");
        freshness.read_now();
        assert!(freshness.is_current());
    }
}
