//! Usernames by user id, for the token API's token info (`GET /api/v1/tokens/me`), so
//! that a call whose session is cached reads nothing from the database.
//!
//! An entry never goes stale: a username never changes, and a user id is never given
//! to another user. A deleted user's tokens are refused (its sessions end) before its
//! name would be looked up, so an entry left behind is merely unused until evicted.

use moka::sync::Cache;

use super::{get_user, UserError, UserId, Username};
use crate::ids::TenantScope;
use crate::store::Store;

/// Users whose names one process keeps; past it, the least used are read again.
const CACHED_USERNAMES: u64 = 100_000;

pub struct UsernameCache {
    names: Cache<UserId, Username>,
}

impl Default for UsernameCache {
    fn default() -> Self {
        Self {
            names: Cache::new(CACHED_USERNAMES),
        }
    }
}

impl UsernameCache {
    /// The username of `id`, from memory or (once) the database; `None` if no such user.
    pub async fn username(&self, store: &Store, id: &UserId) -> anyhow::Result<Option<Username>> {
        if let Some(name) = self.names.get(id) {
            return Ok(Some(name));
        }
        match get_user(store, &TenantScope::All, id).await {
            Ok(user) => {
                self.names.insert(id.clone(), user.username.clone());
                Ok(Some(user.username))
            }
            Err(UserError::NotFound) => Ok(None),
            Err(UserError::Unexpected(error)) => Err(error),
        }
    }
}
