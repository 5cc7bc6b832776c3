-- The change feed without its commit-order lock (issue 9). Until now every insert into
-- `changes` took one advisory lock held to its commit (migration 0005), so that `seq`
-- order was commit order; every transaction that recorded a change then committed one
-- at a time, each through its own fsync, which capped client creation. Numbers are now
-- drawn without it and transactions commit in any order: readers keep the numbers they
-- have not seen yet below the newest they have, read them again at every poll and give
-- one up after a while (src/changes/plan.rs). The deferred triggers of migrations 0005
-- and 0006 draw their number at commit, so a number is seldom missing for longer than
-- a commit takes. A plain default replaces the trigger that drew the number. Keep
-- migrations/sqlite in step (its 0013 changes nothing: SQLite has one writer at a time).
ALTER TABLE changes ALTER COLUMN seq SET DEFAULT nextval('changes_seq');
ALTER SEQUENCE changes_seq OWNED BY changes.seq;
DROP TRIGGER change_sequenced ON changes;
DROP FUNCTION sequence_change();
