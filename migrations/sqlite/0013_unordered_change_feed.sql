-- Nothing to change on SQLite: it has one writer at a time, so `seq` order is commit
-- order already. Migration 0013 of PostgreSQL drops the lock that made it so there;
-- this one keeps the versions of both folders in step.
SELECT 1;
