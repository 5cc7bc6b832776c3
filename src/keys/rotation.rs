//! Every change to the key set, decided by one pure function of the stored schedules,
//! the operation asked for and a `now` passed in.
//!
//! [`decide`] runs under the key lock on the freshest rows, but it neither generates nor
//! seals key material: a key it may need is made before the lock is taken (RSA takes a
//! noticeable time), and when the rows show that a key is needed and none was made, it
//! answers [`Decided::NeedsNewKey`] and the caller makes one and tries again. `now` is
//! the caller's clock only: no stored time (such as the newest `created_at`) can move it,
//! so one host with a fast clock cannot shift the decisions of the others.

use chrono::{DateTime, Utc};

use super::lifecycle::{KeySchedule, KeyState, Origin, Plan, RotationPolicy};
use crate::audit::Action;

/// What is asked of the key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Scheduled work: rotate when due, delete what has expired.
    Tick,
    /// A rotation asked for by an admin; `immediate` signs with the new key at once.
    Rotate { immediate: bool },
    /// Revoke this kid.
    Revoke(String),
    /// Publish a key imported from another server (verification only).
    Import,
}

/// A key made before the lock, ready to join the set: its kid and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub kid: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Unchanged,
    /// The new key joined the set.
    Created(String),
    /// A scheduled rotation is already under way: this key is pending.
    Pending(String),
    Revoked,
    NotFound,
    KidTaken(String),
}

/// The key set after a change, and what to write to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The new key, with the times it was given, when it joined the set.
    pub inserted: Option<KeySchedule>,
    /// Stored keys whose times changed.
    pub updated: Vec<KeySchedule>,
    /// Keys past their `expires_at`: deleted.
    pub deleted: Vec<String>,
    /// Audit events: what was done to which kid.
    pub audit: Vec<(Action, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    Done(Decision),
    /// The set needs a new key and none was made beforehand.
    NeedsNewKey,
}

/// Decides `operation` on the stored keys `before` at `now`, using `new_key` when a key
/// must be added.
pub fn decide(
    policy: &RotationPolicy,
    before: &[KeySchedule],
    operation: &Operation,
    new_key: Option<&NewKey>,
    now: DateTime<Utc>,
) -> Decided {
    let mut keys = before.to_vec();
    let mut outcome = Outcome::Unchanged;
    let plan = match operation {
        Operation::Tick => policy.plan(&keys, now),
        Operation::Rotate { immediate } => {
            let pending = keys
                .iter()
                .find(|k| k.origin == Origin::Generated && k.state(now) == KeyState::Pending);
            match pending {
                Some(pending) if !immediate => {
                    return Decided::Done(Decision::nothing(Outcome::Pending(pending.kid.clone())))
                }
                _ => policy.forced(now, *immediate),
            }
        }
        Operation::Revoke(kid) => {
            let Some(key) = keys
                .iter_mut()
                .find(|k| &k.kid == kid && k.revoked_at.is_none())
            else {
                return Decided::Done(Decision::nothing(Outcome::NotFound));
            };
            key.revoked_at = Some(now);
            key.expires_at = Some(now + policy.retention);
            outcome = Outcome::Revoked;
            policy.plan(&keys, now)
        }
        Operation::Import => {
            let Some(imported) = new_key.filter(|key| key.origin == Origin::Imported) else {
                return Decided::NeedsNewKey;
            };
            if keys.iter().any(|k| k.kid == imported.kid) {
                return Decided::Done(Decision::nothing(Outcome::KidTaken(imported.kid.clone())));
            }
            outcome = Outcome::Created(imported.kid.clone());
            keys.push(KeySchedule {
                kid: imported.kid.clone(),
                origin: Origin::Imported,
                created_at: now,
                activates_at: now,
                retires_at: Some(now),
                expires_at: Some(now + policy.retention),
                revoked_at: None,
            });
            Plan::Nothing
        }
    };
    if let Plan::NewKey { activates_at } = plan {
        let Some(generated) = new_key.filter(|key| key.origin == Origin::Generated) else {
            return Decided::NeedsNewKey;
        };
        if outcome == Outcome::Unchanged {
            outcome = Outcome::Created(generated.kid.clone());
        }
        keys.push(KeySchedule {
            kid: generated.kid.clone(),
            origin: Origin::Generated,
            created_at: now,
            activates_at,
            retires_at: None,
            expires_at: None,
            revoked_at: None,
        });
    }
    policy.relink(&mut keys, now);
    Decided::Done(Decision::between(before, keys, outcome, now))
}

impl Decision {
    fn nothing(outcome: Outcome) -> Self {
        Decision {
            outcome,
            inserted: None,
            updated: Vec::new(),
            deleted: Vec::new(),
            audit: Vec::new(),
        }
    }

    /// What turns `before` into `after`; a key of `after` that `before` lacks is the
    /// inserted one.
    fn between(
        before: &[KeySchedule],
        mut after: Vec<KeySchedule>,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Self {
        let mut decision = Decision::nothing(outcome);
        if after.len() > before.len() {
            let inserted = after.pop().expect("one key more");
            let action = match inserted.origin {
                Origin::Imported => Action::SigningKeyImported,
                Origin::Generated => Action::SigningKeyCreated,
            };
            decision.audit.push((action, inserted.kid.clone()));
            decision.inserted = Some(inserted);
        }
        for (old, new) in before.iter().zip(after) {
            if old.revoked_at.is_none() && new.revoked_at.is_some() {
                decision
                    .audit
                    .push((Action::SigningKeyRevoked, new.kid.clone()));
            }
            // Expired, or revoked and past its record time: deleted either way.
            if new.expires_at.is_some_and(|at| now >= at) {
                decision
                    .audit
                    .push((Action::SigningKeyDeleted, new.kid.clone()));
                decision.deleted.push(new.kid);
            } else if *old != new {
                decision.updated.push(new);
            }
        }
        decision
    }

    pub fn is_empty(&self) -> bool {
        self.inserted.is_none() && self.updated.is_empty() && self.deleted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

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

    fn generated(kid: &str) -> NewKey {
        NewKey {
            kid: kid.into(),
            origin: Origin::Generated,
        }
    }

    fn done(decided: Decided) -> Decision {
        match decided {
            Decided::Done(decision) => decision,
            Decided::NeedsNewKey => panic!("a key was needed"),
        }
    }

    /// The set after the first start at 0: key "a", active.
    fn first_key(policy: &RotationPolicy) -> Vec<KeySchedule> {
        let first = decide(policy, &[], &Operation::Tick, Some(&generated("a")), at(0));
        apply(&[], &done(first))
    }

    /// The keys after applying `decision` to `before`.
    fn apply(before: &[KeySchedule], decision: &Decision) -> Vec<KeySchedule> {
        let mut keys: Vec<KeySchedule> = before
            .iter()
            .filter(|k| !decision.deleted.contains(&k.kid))
            .map(|k| {
                decision
                    .updated
                    .iter()
                    .find(|u| u.kid == k.kid)
                    .unwrap_or(k)
                    .clone()
            })
            .collect();
        keys.extend(decision.inserted.clone());
        keys
    }

    fn active(keys: &[KeySchedule], now: DateTime<Utc>) -> Vec<String> {
        keys.iter()
            .filter(|k| k.state(now) == KeyState::Active)
            .map(|k| k.kid.clone())
            .collect()
    }

    #[test]
    fn an_empty_set_asks_for_a_key_then_activates_it_now() {
        let policy = policy();
        assert_eq!(
            decide(&policy, &[], &Operation::Tick, None, at(0)),
            Decided::NeedsNewKey
        );
        let decision = done(decide(
            &policy,
            &[],
            &Operation::Tick,
            Some(&generated("a")),
            at(0),
        ));
        assert_eq!(decision.outcome, Outcome::Created("a".into()));
        assert_eq!(
            decision.audit,
            vec![(Action::SigningKeyCreated, "a".into())]
        );
        assert_eq!(active(&apply(&[], &decision), at(0)), vec!["a"]);
    }

    #[test]
    fn a_tick_with_nothing_due_changes_nothing_and_needs_no_key() {
        let policy = policy();
        let keys = vec![done(decide(
            &policy,
            &[],
            &Operation::Tick,
            Some(&generated("a")),
            at(0),
        ))
        .inserted
        .unwrap()];
        let decision = done(decide(&policy, &keys, &Operation::Tick, None, at(50)));
        assert!(decision.is_empty());
        assert_eq!(decision.outcome, Outcome::Unchanged);
    }

    /// A fake clock drives scheduled ticks for many intervals: at every instant exactly
    /// one key signs, each new key is published `prepublish` before it signs, and
    /// retired keys are deleted once their retention is over.
    #[test]
    fn scheduled_rotation_over_many_intervals() {
        let policy = policy();
        let mut keys: Vec<KeySchedule> = Vec::new();
        let mut made = 0;
        for second in 0..1_000 {
            let now = at(second);
            let decision = match decide(&policy, &keys, &Operation::Tick, None, now) {
                Decided::Done(decision) => decision,
                Decided::NeedsNewKey => {
                    made += 1;
                    let key = generated(&format!("k{made}"));
                    done(decide(&policy, &keys, &Operation::Tick, Some(&key), now))
                }
            };
            if let Some(new) = &decision.inserted {
                assert!(second == 0 || new.activates_at >= now + policy.prepublish);
            }
            keys = apply(&keys, &decision);
            assert_eq!(active(&keys, now).len(), 1, "at {second}: {keys:?}");
            assert!(keys.len() <= 3, "expired keys are deleted: {keys:?}");
        }
        // The first, then one per interval, each made `prepublish` before it signs (the
        // last at 980, for 1000).
        assert_eq!(made, 11);
    }

    #[test]
    fn a_requested_rotation_waits_for_a_pending_key_unless_immediate() {
        let policy = policy();
        let first = done(decide(
            &policy,
            &[],
            &Operation::Tick,
            Some(&generated("a")),
            at(0),
        ));
        let keys = apply(&[], &first);
        let rotate = Operation::Rotate { immediate: false };
        assert_eq!(
            decide(&policy, &keys, &rotate, None, at(10)),
            Decided::NeedsNewKey
        );
        let started = done(decide(
            &policy,
            &keys,
            &rotate,
            Some(&generated("b")),
            at(10),
        ));
        assert_eq!(started.outcome, Outcome::Created("b".into()));
        let keys = apply(&keys, &started);
        assert_eq!(active(&keys, at(29)), vec!["a"]);
        assert_eq!(active(&keys, at(30)), vec!["b"]);

        let again = done(decide(
            &policy,
            &keys,
            &rotate,
            Some(&generated("c")),
            at(11),
        ));
        assert_eq!(again.outcome, Outcome::Pending("b".into()));
        assert!(again.is_empty());

        let immediate = Operation::Rotate { immediate: true };
        let now = done(decide(
            &policy,
            &keys,
            &immediate,
            Some(&generated("c")),
            at(11),
        ));
        let keys = apply(&keys, &now);
        assert_eq!(active(&keys, at(11)), vec!["c"]);
        // The key that was already pending still takes over when it was due to.
        assert_eq!(active(&keys, at(30)), vec!["b"]);
    }

    #[test]
    fn revoking_the_active_key_needs_a_new_one_at_once() {
        let policy = policy();
        let keys = first_key(&policy);
        let revoke = Operation::Revoke("a".into());
        assert_eq!(
            decide(&policy, &keys, &revoke, None, at(5)),
            Decided::NeedsNewKey
        );
        let decision = done(decide(
            &policy,
            &keys,
            &revoke,
            Some(&generated("b")),
            at(5),
        ));
        assert_eq!(decision.outcome, Outcome::Revoked);
        assert!(decision
            .audit
            .contains(&(Action::SigningKeyRevoked, "a".into())));
        let keys = apply(&keys, &decision);
        assert_eq!(keys[0].state(at(5)), KeyState::Revoked);
        assert_eq!(active(&keys, at(5)), vec!["b"]);
        assert_eq!(
            done(decide(&policy, &keys, &revoke, None, at(6))).outcome,
            Outcome::NotFound
        );
    }

    #[test]
    fn imports_verify_only_and_keep_their_kid_unique() {
        let policy = policy();
        let keys = first_key(&policy);
        let imported = NewKey {
            kid: "old".into(),
            origin: Origin::Imported,
        };
        let decision = done(decide(
            &policy,
            &keys,
            &Operation::Import,
            Some(&imported),
            at(1),
        ));
        assert_eq!(decision.outcome, Outcome::Created("old".into()));
        let keys = apply(&keys, &decision);
        assert_eq!(keys[1].state(at(1)), KeyState::Retired);
        assert_eq!(keys[1].expires_at, Some(at(31)));
        assert_eq!(active(&keys, at(1)), vec!["a"]);
        let taken = NewKey {
            kid: "a".into(),
            origin: Origin::Imported,
        };
        assert_eq!(
            done(decide(
                &policy,
                &keys,
                &Operation::Import,
                Some(&taken),
                at(2)
            ))
            .outcome,
            Outcome::KidTaken("a".into())
        );
    }

    /// Stored times from a host whose clock runs ahead do not move this host's `now`:
    /// a key another host created "in the future" does not make this one act as if
    /// that future had come.
    #[test]
    fn a_fast_clock_elsewhere_does_not_move_now() {
        let policy = policy();
        let mut keys = first_key(&policy);
        // Another host, 500 s ahead, rotated: its key is created at 500, signs at 520.
        keys[0].created_at = at(0);
        let ahead = done(decide(
            &policy,
            &keys,
            &Operation::Rotate { immediate: false },
            Some(&generated("b")),
            at(500),
        ));
        let keys = apply(&keys, &ahead);
        // Here it is 50: "a" still signs, "b" is pending, and nothing is due or deleted.
        let here = done(decide(&policy, &keys, &Operation::Tick, None, at(50)));
        assert!(here.is_empty(), "{here:?}");
        assert_eq!(active(&keys, at(50)), vec!["a"]);
    }
}
