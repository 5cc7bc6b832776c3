//! A deny-list held in memory by every process, each entry kept only until the last
//! token it denies has expired: one of revoked access tokens (RFC 7009) keyed by `jti`,
//! one of ended sessions keyed by session id (`sid`). Entries come from the change
//! feed, so its size is bounded by what was revoked or ended within one token lifetime.

use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Default)]
pub struct DenyList {
    /// `jti` or session id → until when (Unix seconds).
    revoked: RwLock<HashMap<String, i64>>,
}

impl DenyList {
    pub fn deny(&self, jti: &str, exp: i64) {
        self.revoked
            .write()
            .expect("not poisoned")
            .insert(jti.to_owned(), exp);
    }

    pub fn is_denied(&self, jti: &str) -> bool {
        self.revoked.read().expect("not poisoned").contains_key(jti)
    }

    /// Forgets tokens that have expired anyway.
    pub fn purge(&self, now_seconds: i64) {
        self.revoked
            .write()
            .expect("not poisoned")
            .retain(|_, exp| *exp > now_seconds);
    }

    pub fn len(&self) -> usize {
        self.revoked.read().expect("not poisoned").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denies_until_expiry() {
        let list = DenyList::default();
        list.deny("a", 100);
        assert!(list.is_denied("a"));
        assert!(!list.is_denied("b"));
        list.purge(99);
        assert!(list.is_denied("a"));
        list.purge(100);
        assert!(list.is_empty());
    }
}
