//! The feed's pure decisions: what a poll applies, when it must rebuild instead, and
//! when housekeeping is due. No I/O; time is passed in.

use chrono::{DateTime, Duration, Utc};

use super::Change;
use crate::store::{ChangeRecord, FeedBounds};

/// What one poll does with what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Apply these changes in order; then `last_seen` is the newest read.
    Apply {
        changes: Vec<Change>,
        last_seen: i64,
    },
    /// Rows after `last_seen` may have been purged unread: drop every cache and reload
    /// the lists, then continue after `last_seen`.
    Resync { last_seen: i64 },
}

/// Decides a poll: `last_seen` is the newest sequence number this process applied,
/// `bounds` the feed's, `batch` the rows after `last_seen` in order.
///
/// Rows are purged oldest first and the newest is always kept, so if the oldest row
/// left is beyond `last_seen + 1`, rows in between may have been missed. (A number a
/// rolled-back transaction drew also leaves a hole; that costs one needless rebuild.)
pub fn plan(last_seen: i64, bounds: FeedBounds, batch: Vec<ChangeRecord>) -> Step {
    let newest_read = batch.last().map_or(last_seen, |row| row.seq.max(last_seen));
    if bounds.oldest.is_some_and(|oldest| oldest > last_seen + 1) {
        return Step::Resync {
            last_seen: newest_read,
        };
    }
    let changes = batch
        .iter()
        .filter_map(|row| {
            let change = Change::from_row(&row.kind, &row.subject, row.instant);
            if change.is_none() {
                tracing::warn!(seq = row.seq, kind = %row.kind, "skipping a change this version does not know");
            }
            change
        })
        .collect();
    Step::Apply {
        changes,
        last_seen: newest_read,
    }
}

/// How long the feed keeps its rows: far longer than any poll takes, and a process
/// away for longer rebuilds instead.
pub const RETENTION: Duration = Duration::hours(1);
pub const HOUSEKEEPING_EVERY: Duration = Duration::minutes(1);

pub fn housekeeping_due(last: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - last >= HOUSEKEEPING_EVERY
}

/// Rows recorded before this instant may go.
pub fn purge_before(now: DateTime<Utc>) -> DateTime<Utc> {
    now - RETENTION
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ClientId;

    fn row(seq: i64, change: &Change) -> ChangeRecord {
        let stored = change.to_row();
        ChangeRecord {
            seq,
            kind: stored.kind.to_owned(),
            subject: stored.subject,
            instant: stored.instant,
        }
    }

    fn bounds(oldest: i64, newest: i64) -> FeedBounds {
        FeedBounds {
            oldest: Some(oldest),
            newest: Some(newest),
        }
    }

    #[test]
    fn applies_what_follows_in_order_and_moves_on() {
        let client = Change::Client(ClientId::generate());
        let batch = vec![row(11, &client), row(12, &Change::Key)];
        assert_eq!(
            plan(10, bounds(3, 12), batch),
            Step::Apply {
                changes: vec![client, Change::Key],
                last_seen: 12
            }
        );
    }

    #[test]
    fn nothing_new_stays_where_it_was() {
        assert_eq!(
            plan(12, bounds(3, 12), vec![]),
            Step::Apply {
                changes: vec![],
                last_seen: 12
            }
        );
        assert_eq!(
            plan(0, FeedBounds::default(), vec![]),
            Step::Apply {
                changes: vec![],
                last_seen: 0
            }
        );
    }

    #[test]
    fn rows_purged_unread_force_a_rebuild() {
        // Last saw 10; 11..=19 are gone, only 20 is left.
        let batch = vec![row(20, &Change::Key)];
        assert_eq!(
            plan(10, bounds(20, 20), batch),
            Step::Resync { last_seen: 20 }
        );
        // The oldest kept row directly follows: nothing was lost.
        let batch = vec![row(11, &Change::Key)];
        assert!(matches!(
            plan(10, bounds(11, 11), batch),
            Step::Apply { .. }
        ));
    }

    #[test]
    fn unknown_kinds_are_skipped_but_counted_as_seen() {
        let batch = vec![ChangeRecord {
            seq: 5,
            kind: "session".into(),
            subject: "s".into(),
            instant: None,
        }];
        assert_eq!(
            plan(4, bounds(1, 5), batch),
            Step::Apply {
                changes: vec![],
                last_seen: 5
            }
        );
    }

    #[test]
    fn housekeeping_runs_once_a_minute_and_purges_after_an_hour() {
        let start = DateTime::from_timestamp(1_000_000, 0).unwrap();
        assert!(!housekeeping_due(start, start + Duration::seconds(59)));
        assert!(housekeeping_due(start, start + Duration::seconds(60)));
        assert_eq!(purge_before(start), start - Duration::hours(1));
    }
}
