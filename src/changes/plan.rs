//! The feed's pure decisions: where a process stands in the feed ([`Position`]), what a
//! poll applies, when it must rebuild instead, and when housekeeping is due. No I/O;
//! time is passed in.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::Change;
use crate::store::{ChangeRecord, FeedBounds, Gap};

/// How long a missing sequence number is read again before it is given up. A number is
/// missing while the transaction that drew it has not committed, or for ever if it
/// rolled back; client, secret and user changes draw theirs at commit (deferred
/// triggers) and the others in their transaction's last statement, so a real one shows
/// up within milliseconds. This bound is far beyond that; and giving a gap up rebuilds
/// the process's state ([`Step::Resync`]), so even a slower commit is not lost.
pub const GAP_TIMEOUT: Duration = Duration::seconds(30);

/// At most this many gaps are tracked; beyond it the oldest are given up and the
/// process rebuilds (as when it falls behind), so it misses nothing they held that had
/// committed by then. Only a flood of rolled-back numbers could get here.
pub const MAX_GAPS: usize = 1000;

/// Where a process stands: every sequence number up to `max_seen` was applied, except
/// those in the gaps, which are read again until they show up or time out. (The
/// complement of "a contiguous high-water mark and the numbers applied above it": the
/// same information, in as many entries as there are gaps rather than rows.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    max_seen: i64,
    /// Keyed by the gap's first number: its last, and when it was first missed.
    gaps: BTreeMap<i64, (i64, DateTime<Utc>)>,
}

impl Position {
    /// Every number up to `seq` applied, none missing.
    pub fn at(seq: i64) -> Self {
        Position {
            max_seen: seq,
            gaps: BTreeMap::new(),
        }
    }

    /// Where a process starts: `present` are the numbers the feed holds after `from`
    /// (whose state the process is about to load). Numbers missing among them may belong
    /// to transactions still committing, so they are gaps like any other.
    pub fn starting(from: i64, present: &[i64], now: DateTime<Utc>) -> Self {
        let mut position = Position::at(from);
        for &seq in present {
            position.see(seq, now);
        }
        position
    }

    /// The newest sequence number applied.
    pub fn max_seen(&self) -> i64 {
        self.max_seen
    }

    /// Every number up to this one was applied or given up.
    pub fn contiguous(&self) -> i64 {
        self.gaps
            .keys()
            .next()
            .map_or(self.max_seen, |first| first - 1)
    }

    /// The gaps to read again, lowest first.
    pub fn gaps(&self) -> Vec<Gap> {
        self.gaps
            .iter()
            .map(|(&first, &(last, _))| Gap { first, last })
            .collect()
    }

    /// Takes `seq` as read: returns whether it is new (above every number read, or in a
    /// gap), and so to be applied.
    fn see(&mut self, seq: i64, now: DateTime<Utc>) -> bool {
        if seq > self.max_seen {
            if seq > self.max_seen + 1 {
                self.gaps.insert(self.max_seen + 1, (seq - 1, now));
            }
            self.max_seen = seq;
            return true;
        }
        let Some((&first, &(last, noticed))) = self.gaps.range(..=seq).next_back() else {
            return false;
        };
        if seq > last {
            return false;
        }
        self.gaps.remove(&first);
        if first < seq {
            self.gaps.insert(first, (seq - 1, noticed));
        }
        if seq < last {
            self.gaps.insert(seq + 1, (last, noticed));
        }
        true
    }

    /// Forgets the gaps missed for [`GAP_TIMEOUT`] or more; returns whether there were
    /// any.
    fn give_up_stale_gaps(&mut self, now: DateTime<Utc>) -> bool {
        let before = self.gaps.len();
        self.gaps.retain(|first, (last, noticed)| {
            let stale = now - *noticed >= GAP_TIMEOUT;
            if stale {
                tracing::debug!(first, last, "giving up sequence numbers never committed");
            }
            !stale
        });
        self.gaps.len() < before
    }

    /// Forgets every gap below `oldest`: those numbers are gone from the feed.
    fn forget_gaps_before(&mut self, oldest: i64) {
        self.max_seen = self.max_seen.max(oldest - 1);
        let below: Vec<i64> = self.gaps.range(..oldest).map(|(&first, _)| first).collect();
        for first in below {
            let (last, noticed) = self.gaps.remove(&first).expect("just listed");
            if last >= oldest {
                self.gaps.insert(oldest, (last, noticed));
            }
        }
    }
}

/// What one poll does with what it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Apply these changes (in any order: each is an invalidation or an addition, see
    /// the module header of `crate::changes`), then stand at `position`.
    Apply {
        changes: Vec<Change>,
        position: Position,
    },
    /// Rows this process never read may have been purged, a gap was given up, or too
    /// many gaps are open: drop every cache and reload the lists, then stand at
    /// `position`.
    Resync { position: Position },
}

/// Decides a poll from `position`: `bounds` are the feed's, `batch` the rows read, in
/// sequence order: those after `position.max_seen()` (a bounded batch) and those in its
/// gaps.
///
/// Rows are purged oldest first and the newest is always kept, so if the oldest row
/// left is beyond the first number not yet applied, rows in between may have been
/// missed. (A number a rolled-back transaction drew also leaves a hole; that costs one
/// needless rebuild, if the purge reaches it while this process has not read past it.)
pub fn plan(
    position: &Position,
    bounds: FeedBounds,
    batch: Vec<ChangeRecord>,
    now: DateTime<Utc>,
) -> Step {
    let mut next = position.clone();
    let fell_behind = bounds
        .oldest
        .is_some_and(|oldest| oldest > position.contiguous() + 1);
    if let (true, Some(oldest)) = (fell_behind, bounds.oldest) {
        next.forget_gaps_before(oldest);
    }
    let mut changes = Vec::new();
    for row in &batch {
        if !next.see(row.seq, now) {
            continue;
        }
        match Change::from_row(&row.kind, &row.subject, row.instant) {
            Some(change) => changes.push(change),
            None => {
                tracing::warn!(seq = row.seq, kind = %row.kind, "skipping a change this version does not know");
            }
        }
    }
    // A number given up is most likely a rollback's; but it could be a commit slower
    // than the timeout (a stalled fsync, a synchronous standby, a clock step), whose
    // change would then be lost. Rebuilding makes that impossible, at the cost of one
    // rebuild per rollback that drew a number, which is rare.
    let gave_up = next.give_up_stale_gaps(now);
    let too_many_gaps = next.gaps.len() > MAX_GAPS;
    while next.gaps.len() > MAX_GAPS {
        next.gaps.pop_first();
    }
    if fell_behind || too_many_gaps || gave_up {
        Step::Resync { position: next }
    } else {
        Step::Apply {
            changes,
            position: next,
        }
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
    use std::collections::{BTreeSet, HashMap};

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

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_000_000, 0).unwrap()
    }

    fn applied(step: Step) -> (Vec<Change>, Position) {
        match step {
            Step::Apply { changes, position } => (changes, position),
            Step::Resync { .. } => panic!("expected Apply, got {step:?}"),
        }
    }

    fn gaps(position: &Position) -> Vec<(i64, i64)> {
        position
            .gaps()
            .iter()
            .map(|gap| (gap.first, gap.last))
            .collect()
    }

    #[test]
    fn applies_what_follows_in_order_and_moves_on() {
        let client = Change::Client(ClientId::generate());
        let batch = vec![row(11, &client), row(12, &Change::Key)];
        let (changes, position) = applied(plan(&Position::at(10), bounds(3, 12), batch, start()));
        assert_eq!(changes, vec![client, Change::Key]);
        assert_eq!(position, Position::at(12));
    }

    #[test]
    fn nothing_new_stays_where_it_was() {
        let (changes, position) = applied(plan(&Position::at(12), bounds(3, 12), vec![], start()));
        assert!(changes.is_empty());
        assert_eq!(position, Position::at(12));
        let (changes, position) = applied(plan(
            &Position::at(0),
            FeedBounds::default(),
            vec![],
            start(),
        ));
        assert!(changes.is_empty());
        assert_eq!(position, Position::at(0));
    }

    #[test]
    fn a_gap_filled_later_is_applied() {
        let (late, early) = (
            Change::Client(ClientId::generate()),
            Change::Client(ClientId::generate()),
        );
        // 11 is still committing when 12 is read: 12 is applied at once, 11 awaited.
        let (changes, position) = applied(plan(
            &Position::at(10),
            bounds(3, 12),
            vec![row(12, &early)],
            start(),
        ));
        assert_eq!(changes, vec![early]);
        assert_eq!(position.max_seen(), 12);
        assert_eq!(position.contiguous(), 10);
        assert_eq!(gaps(&position), [(11, 11)]);
        // Still missing a poll later: nothing to do, still awaited.
        let (changes, position) = applied(plan(
            &position,
            bounds(3, 12),
            vec![],
            start() + Duration::seconds(1),
        ));
        assert!(changes.is_empty());
        assert_eq!(gaps(&position), [(11, 11)]);
        // Committed: read again through the gap and applied once.
        let (changes, position) = applied(plan(
            &position,
            bounds(3, 12),
            vec![row(11, &late)],
            start() + Duration::seconds(2),
        ));
        assert_eq!(changes, vec![late]);
        assert_eq!(position, Position::at(12));
    }

    #[test]
    fn a_gap_never_filled_is_given_up_after_the_timeout() {
        let (_, position) = applied(plan(
            &Position::at(10),
            bounds(3, 14),
            vec![row(14, &Change::Key)],
            start(),
        ));
        assert_eq!(gaps(&position), [(11, 13)]);
        let just_before = start() + GAP_TIMEOUT - Duration::milliseconds(1);
        let (_, position) = applied(plan(&position, bounds(3, 14), vec![], just_before));
        assert_eq!(gaps(&position), [(11, 13)]);
        // One of the three shows up; the other two keep their first-missed time.
        let (changes, position) = applied(plan(
            &position,
            bounds(3, 14),
            vec![row(12, &Change::Key)],
            just_before,
        ));
        assert_eq!(changes, vec![Change::Key]);
        assert_eq!(gaps(&position), [(11, 11), (13, 13)]);
        // Given up: the process rebuilds, so a change that commits later than the
        // timeout after all is in what it reloads, not lost.
        let Step::Resync { position } =
            plan(&position, bounds(3, 14), vec![], start() + GAP_TIMEOUT)
        else {
            panic!("a given-up gap rebuilds");
        };
        assert_eq!(position, Position::at(14));
        // Rows read later for it are not applied again.
        let (changes, _) = applied(plan(
            &position,
            bounds(3, 14),
            vec![row(11, &Change::Key)],
            start() + GAP_TIMEOUT,
        ));
        assert!(changes.is_empty());
    }

    /// A database whose transactions commit in any order, and the read a poll makes of
    /// it: rows after `max_seen` (up to `limit`) and rows in the gaps.
    fn read(committed: &BTreeSet<i64>, position: &Position, limit: usize) -> Vec<ChangeRecord> {
        let in_gap = |seq: i64| {
            position
                .gaps()
                .iter()
                .any(|gap| (gap.first..=gap.last).contains(&seq))
        };
        let after = committed
            .iter()
            .filter(|&&seq| seq > position.max_seen())
            .take(limit);
        let mut seqs: Vec<i64> = committed
            .iter()
            .filter(|&&seq| in_gap(seq))
            .chain(after)
            .copied()
            .collect();
        seqs.sort_unstable();
        seqs.into_iter()
            .map(|seq| ChangeRecord {
                seq,
                kind: "client".into(),
                subject: format!("svc.acme~c{seq}"),
                instant: None,
            })
            .collect()
    }

    #[test]
    fn out_of_order_commits_are_all_applied_exactly_once() {
        // Numbers 1..=40 drawn in order, committed in a scrambled order (a fixed
        // permutation: 7 is coprime with 40), polled after every commit, three rows a
        // poll at most, and sometimes twice in a row.
        let order: Vec<i64> = (0..40).map(|n| (n * 7) % 40 + 1).collect();
        let mut committed = BTreeSet::new();
        let mut position = Position::at(0);
        let mut times_applied: HashMap<String, u32> = HashMap::new();
        let mut now = start();
        for (n, seq) in order.iter().enumerate() {
            committed.insert(*seq);
            for _ in 0..(1 + n % 2) {
                now += Duration::milliseconds(250);
                let feed = bounds(1, *committed.last().unwrap());
                let (changes, next) =
                    applied(plan(&position, feed, read(&committed, &position, 3), now));
                for change in changes {
                    let Change::Client(id) = change else {
                        panic!("{change:?}")
                    };
                    *times_applied.entry(id.as_str().to_owned()).or_default() += 1;
                }
                position = next;
            }
        }
        // Catch up with the rest.
        for _ in 0..20 {
            let feed = bounds(1, 40);
            let (changes, next) =
                applied(plan(&position, feed, read(&committed, &position, 3), now));
            for change in changes {
                let Change::Client(id) = change else {
                    panic!("{change:?}")
                };
                *times_applied.entry(id.as_str().to_owned()).or_default() += 1;
            }
            position = next;
        }
        assert_eq!(times_applied.len(), 40, "{times_applied:?}");
        assert!(
            times_applied.values().all(|&times| times == 1),
            "{times_applied:?}"
        );
        assert_eq!(position, Position::at(40));
    }

    #[test]
    fn rows_purged_unread_force_a_rebuild() {
        // Last saw 10; 11..=19 are gone, only 20 is left.
        let batch = vec![row(20, &Change::Key)];
        assert_eq!(
            plan(&Position::at(10), bounds(20, 20), batch, start()),
            Step::Resync {
                position: Position::at(20)
            }
        );
        // The oldest kept row directly follows: nothing was lost.
        let batch = vec![row(11, &Change::Key)];
        assert!(matches!(
            plan(&Position::at(10), bounds(11, 11), batch, start()),
            Step::Apply { .. }
        ));
    }

    #[test]
    fn a_gap_the_purge_went_past_forces_a_rebuild() {
        // 11 missing, 12..=15 applied; then the feed's oldest row is 14 (a writer with a
        // slow clock made the purge take more than an hour's rows): 11 may have
        // committed and gone unread.
        let (_, position) = applied(plan(
            &Position::at(10),
            bounds(3, 15),
            vec![row(12, &Change::Key), row(15, &Change::Key)],
            start(),
        ));
        assert_eq!(gaps(&position), [(11, 11), (13, 14)]);
        let step = plan(
            &position,
            bounds(14, 16),
            vec![row(16, &Change::Key)],
            start(),
        );
        let Step::Resync { position } = step else {
            panic!("{step:?}")
        };
        // 14 is still in the feed's range, so it is still awaited.
        assert_eq!(gaps(&position), [(14, 14)]);
        assert_eq!(position.max_seen(), 16);
    }

    #[test]
    fn too_many_gaps_give_up_the_oldest_and_rebuild() {
        let batch: Vec<ChangeRecord> = (0..=MAX_GAPS as i64)
            .map(|n| row(2 * n + 2, &Change::Key))
            .collect();
        let step = plan(&Position::at(0), bounds(1, 2_000_000), batch, start());
        let Step::Resync { position } = step else {
            panic!("{step:?}")
        };
        assert_eq!(position.gaps().len(), MAX_GAPS);
        assert_eq!(position.contiguous(), 2);
    }

    #[test]
    fn a_start_awaits_the_numbers_missing_below_the_newest() {
        let position = Position::starting(100, &[101, 102, 105, 106], start());
        assert_eq!(position.max_seen(), 106);
        assert_eq!(gaps(&position), [(103, 104)]);
        // Rows already there at the start are not applied again.
        let batch = vec![row(104, &Change::Key), row(106, &Change::Key)];
        let (changes, position) = applied(plan(&position, bounds(1, 106), batch, start()));
        assert_eq!(changes, vec![Change::Key]);
        assert_eq!(gaps(&position), [(103, 103)]);
    }

    #[test]
    fn unknown_kinds_are_skipped_but_counted_as_seen() {
        let batch = vec![ChangeRecord {
            seq: 5,
            kind: "session".into(),
            subject: "s".into(),
            instant: None,
        }];
        let (changes, position) = applied(plan(&Position::at(4), bounds(1, 5), batch, start()));
        assert!(changes.is_empty());
        assert_eq!(position, Position::at(5));
    }

    #[test]
    fn housekeeping_runs_once_a_minute_and_purges_after_an_hour() {
        let start = start();
        assert!(!housekeeping_due(start, start + Duration::seconds(59)));
        assert!(housekeeping_due(start, start + Duration::seconds(60)));
        assert_eq!(purge_before(start), start - Duration::hours(1));
    }
}
