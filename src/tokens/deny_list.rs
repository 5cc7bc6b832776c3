//! The deny-list of revoked access tokens (RFC 7009): held in memory by every process,
//! keyed by `jti`, each entry kept only until the token's `exp`.

use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Default)]
pub struct DenyList {
    /// `jti` → `exp` (Unix seconds).
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
