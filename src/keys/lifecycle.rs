//! The key lifecycle as pure functions of the stored timestamps and `now`.
//!
//! States are never stored: a key is pending before `activates_at`, active until
//! `retires_at`, retired until `expires_at`, then expired (and deleted). Keys that sign
//! form one chain ordered by `activates_at` in which each key retires exactly when the
//! next activates, so at any instant exactly one key is active, and every process that
//! knows the chain agrees which one without talking to the others.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Pending,
    Active,
    Retired,
    Expired,
    Revoked,
}

impl KeyState {
    /// Published in the JWKS and accepted when verifying.
    pub fn is_published(self) -> bool {
        matches!(
            self,
            KeyState::Pending | KeyState::Active | KeyState::Retired
        )
    }
}

/// How a key came to be: generated keys sign in turn; imported keys only verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Generated,
    Imported,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Generated => "generated",
            Origin::Imported => "imported",
        }
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "generated" => Ok(Origin::Generated),
            "imported" => Ok(Origin::Imported),
            other => anyhow::bail!("unknown key origin {other:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchedule {
    pub kid: String,
    pub origin: Origin,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub retires_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeySchedule {
    pub fn state(&self, now: DateTime<Utc>) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|at| now >= at) {
            KeyState::Expired
        } else if self.origin == Origin::Imported || self.retires_at.is_some_and(|at| now >= at) {
            KeyState::Retired
        } else if now < self.activates_at {
            KeyState::Pending
        } else {
            KeyState::Active
        }
    }

    fn in_chain(&self, now: DateTime<Utc>) -> bool {
        self.origin == Origin::Generated
            && self.revoked_at.is_none()
            && self.expires_at.is_none_or(|at| now < at)
    }
}

/// The durations that drive rotation, from `[signing]`.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    pub rotation_interval: Duration,
    pub prepublish: Duration,
    /// How long a retired key stays published: the longest token lifetime plus the
    /// clock-skew leeway, so every token it signed expires first.
    pub retention: Duration,
    /// The clock skew tolerated between hosts (`signing.leeway_seconds`): a key another
    /// host made to sign "now" by its clock counts as signing here too.
    pub clock_skew: Duration,
}

/// What a rotation should create, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Nothing,
    /// A new key signing from `activates_at`.
    NewKey {
        activates_at: DateTime<Utc>,
    },
}

impl RotationPolicy {
    /// Scheduled rotation: no key signs, nor will within the clock skew (the first start,
    /// or the active one revoked) → one now;
    /// otherwise, once the newest key is within `prepublish` of its interval's end
    /// and nothing is pending, a key that activates at the end of the interval (and
    /// never sooner than `prepublish` from now).
    pub fn plan(&self, keys: &[KeySchedule], now: DateTime<Utc>) -> Plan {
        let chain: Vec<&KeySchedule> = keys.iter().filter(|k| k.in_chain(now)).collect();
        let signs_soon = |k: &&KeySchedule| {
            k.state(now) == KeyState::Active
                || (k.state(now) == KeyState::Pending && k.activates_at <= now + self.clock_skew)
        };
        if !chain.iter().any(signs_soon) {
            return Plan::NewKey { activates_at: now };
        }
        let Some(newest) = chain.iter().max_by_key(|k| k.activates_at) else {
            return Plan::NewKey { activates_at: now };
        };
        if newest.activates_at > now {
            return Plan::Nothing;
        }
        let interval_ends = newest.activates_at + self.rotation_interval;
        if now + self.prepublish >= interval_ends {
            Plan::NewKey {
                activates_at: interval_ends.max(now + self.prepublish),
            }
        } else {
            Plan::Nothing
        }
    }

    /// When a key next begins signing: the earliest pending key of the chain, or else
    /// the end of the active key's interval (when a scheduled rotation would make its
    /// successor sign). `None` while no key signs.
    pub fn next_rotation(&self, keys: &[KeySchedule], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let pending = keys
            .iter()
            .filter(|k| k.in_chain(now) && k.state(now) == KeyState::Pending)
            .map(|k| k.activates_at)
            .min();
        pending.or_else(|| {
            keys.iter()
                .find(|k| k.in_chain(now) && k.state(now) == KeyState::Active)
                .map(|active| active.activates_at + self.rotation_interval)
        })
    }

    /// Forced rotation: `immediate` for a compromised key, else after `prepublish`.
    pub fn forced(&self, now: DateTime<Utc>, immediate: bool) -> Plan {
        Plan::NewKey {
            activates_at: if immediate {
                now
            } else {
                now + self.prepublish
            },
        }
    }

    /// Re-links the chain after keys were added or revoked: each signing key retires
    /// when the next one activates and expires `retention` later; the newest has no
    /// end. Returns the keys whose times changed.
    pub fn relink(&self, keys: &mut [KeySchedule], now: DateTime<Utc>) -> Vec<String> {
        let mut chain: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].in_chain(now)).collect();
        chain.sort_by_key(|&i| (keys[i].activates_at, keys[i].created_at));
        let mut changed = Vec::new();
        for (position, &index) in chain.iter().enumerate() {
            let retires_at = chain.get(position + 1).map(|&next| keys[next].activates_at);
            let expires_at = retires_at.map(|at| at + self.retention);
            let key = &mut keys[index];
            if key.retires_at != retires_at || key.expires_at != expires_at {
                key.retires_at = retires_at;
                key.expires_at = expires_at;
                changed.push(key.kid.clone());
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn policy() -> RotationPolicy {
        RotationPolicy {
            rotation_interval: Duration::seconds(100),
            prepublish: Duration::seconds(20),
            retention: Duration::seconds(30),
            clock_skew: Duration::seconds(2),
        }
    }

    fn key(kid: &str, activates: i64) -> KeySchedule {
        KeySchedule {
            kid: kid.into(),
            origin: Origin::Generated,
            created_at: at(activates),
            activates_at: at(activates),
            retires_at: None,
            expires_at: None,
            revoked_at: None,
        }
    }

    fn active_kids(keys: &[KeySchedule], now: DateTime<Utc>) -> Vec<String> {
        keys.iter()
            .filter(|k| k.state(now) == KeyState::Active)
            .map(|k| k.kid.clone())
            .collect()
    }

    #[test]
    fn the_next_rotation_is_the_pending_key_or_the_end_of_the_interval() {
        let policy = policy();
        assert_eq!(policy.next_rotation(&[], at(0)), None);
        let mut keys = vec![key("a", 0)];
        assert_eq!(policy.next_rotation(&keys, at(10)), Some(at(100)));
        keys[0].retires_at = Some(at(90));
        keys.push(key("b", 90));
        assert_eq!(policy.next_rotation(&keys, at(75)), Some(at(90)));
        // Revoked and imported keys never sign.
        let mut revoked = key("c", 50);
        revoked.revoked_at = Some(at(40));
        let mut imported = key("d", 60);
        imported.origin = Origin::Imported;
        keys.extend([revoked, imported]);
        assert_eq!(policy.next_rotation(&keys, at(75)), Some(at(90)));
    }

    #[test]
    fn a_key_another_host_just_made_counts_as_signing() {
        // It made its first key at 1 by its clock; here it is still 0.
        let keys = vec![key("a", 1)];
        assert_eq!(policy().plan(&keys, at(0)), Plan::Nothing);
        // A key pending for longer than the skew does not sign now: one is needed.
        let keys = vec![key("a", 5)];
        assert_eq!(
            policy().plan(&keys, at(0)),
            Plan::NewKey {
                activates_at: at(0)
            }
        );
    }

    #[test]
    fn an_empty_set_gets_a_key_now() {
        assert_eq!(
            policy().plan(&[], at(0)),
            Plan::NewKey {
                activates_at: at(0)
            }
        );
    }

    #[test]
    fn rotation_is_due_prepublish_before_the_interval_ends() {
        let keys = vec![key("a", 0)];
        assert_eq!(policy().plan(&keys, at(79)), Plan::Nothing);
        assert_eq!(
            policy().plan(&keys, at(80)),
            Plan::NewKey {
                activates_at: at(100)
            }
        );
        // A process that was down catches up, still publishing before signing.
        assert_eq!(
            policy().plan(&keys, at(500)),
            Plan::NewKey {
                activates_at: at(520)
            }
        );
    }

    #[test]
    fn a_pending_key_means_nothing_more_to_do() {
        let policy = policy();
        let mut keys = vec![key("a", 0), key("b", 100)];
        policy.relink(&mut keys, at(80));
        assert_eq!(policy.plan(&keys, at(85)), Plan::Nothing);
        assert_eq!(keys[1].state(at(85)), KeyState::Pending);
    }

    #[test]
    fn exactly_one_key_is_active_at_every_instant() {
        let policy = policy();
        let mut keys = vec![key("a", 0)];
        for second in 0..400 {
            let now = at(second);
            if let Plan::NewKey { activates_at } = policy.plan(&keys, now) {
                let mut new = key(&format!("k{second}"), 0);
                new.created_at = now;
                new.activates_at = activates_at;
                assert!(activates_at >= now + policy.prepublish || second == 0);
                keys.push(new);
                policy.relink(&mut keys, now);
            }
            assert_eq!(active_kids(&keys, now).len(), 1, "at {second}: {keys:?}");
        }
    }

    #[test]
    fn retired_keys_stay_published_for_the_retention() {
        let policy = policy();
        let mut keys = vec![key("a", 0), key("b", 100)];
        policy.relink(&mut keys, at(80));
        assert_eq!(keys[0].retires_at, Some(at(100)));
        assert_eq!(keys[0].expires_at, Some(at(130)));
        assert_eq!(keys[0].state(at(99)), KeyState::Active);
        assert_eq!(keys[0].state(at(100)), KeyState::Retired);
        assert!(keys[0].state(at(129)).is_published());
        assert_eq!(keys[0].state(at(130)), KeyState::Expired);
    }

    #[test]
    fn immediate_rotation_retires_the_active_key_now() {
        let policy = policy();
        let mut keys = vec![key("a", 0)];
        let Plan::NewKey { activates_at } = policy.forced(at(10), true) else {
            panic!()
        };
        let mut new = key("b", 0);
        new.activates_at = activates_at;
        keys.push(new);
        policy.relink(&mut keys, at(10));
        assert_eq!(active_kids(&keys, at(10)), vec!["b"]);
        assert_eq!(keys[0].state(at(10)), KeyState::Retired);
    }

    #[test]
    fn revoking_the_active_key_leaves_none_until_a_new_one() {
        let policy = policy();
        let mut keys = vec![key("a", 0)];
        keys[0].revoked_at = Some(at(5));
        assert_eq!(keys[0].state(at(5)), KeyState::Revoked);
        assert_eq!(
            policy.plan(&keys, at(5)),
            Plan::NewKey {
                activates_at: at(5)
            }
        );
    }

    #[test]
    fn imported_keys_never_sign() {
        let mut imported = key("old", 0);
        imported.origin = Origin::Imported;
        imported.expires_at = Some(at(50));
        assert_eq!(imported.state(at(1)), KeyState::Retired);
        assert_eq!(imported.state(at(50)), KeyState::Expired);
        assert_eq!(
            policy().plan(&[imported], at(1)),
            Plan::NewKey {
                activates_at: at(1)
            }
        );
    }
}
