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
    /// Denies `jti` until `exp`, or until a later expiry it is denied until already:
    /// the change feed may apply two denials of one entry in either order.
    pub fn deny(&self, jti: &str, exp: i64) {
        let mut revoked = self.revoked.write().expect("not poisoned");
        let until = revoked.entry(jti.to_owned()).or_insert(exp);
        *until = (*until).max(exp);
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

    #[test]
    fn two_denials_of_one_entry_keep_the_later_expiry_in_either_order() {
        let list = DenyList::default();
        list.deny("a", 200);
        list.deny("a", 100);
        list.purge(150);
        assert!(list.is_denied("a"));
    }
}
