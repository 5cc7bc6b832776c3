-- Nothing to change on SQLite: it has one writer at a time, so the one count per tenant
-- of migration 0009 (`tenants.client_count`) makes creations wait for nothing more than
-- the write lock. Migration 0014 of PostgreSQL counts clients in slots instead; this one
-- keeps the versions of both folders in step.
SELECT 1;
