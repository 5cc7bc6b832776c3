-- The built-in internal client of each tenant (issue 11): the client the first-party
-- token API (`POST /api/v1/tokens`) signs users in through when the request names none.
-- Created by Tessera the first time a tenant needs it (so tenants that existed before
-- this migration get theirs too, without a backfill), at most one per tenant. It is not
-- counted against `limits.clients_per_tenant`. Keep in step with migrations/postgres.
ALTER TABLE oauth_clients ADD COLUMN builtin BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX oauth_clients_builtin ON oauth_clients (tenant_id) WHERE builtin;

DROP TRIGGER client_counted;
DROP TRIGGER client_uncounted;
CREATE TRIGGER client_counted AFTER INSERT ON oauth_clients WHEN NOT NEW.builtin
BEGIN
    UPDATE tenants SET client_count = client_count + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER client_uncounted AFTER DELETE ON oauth_clients WHEN NOT OLD.builtin
BEGIN
    UPDATE tenants SET client_count = client_count - 1 WHERE id = OLD.tenant_id;
END;
