-- The built-in internal client of each tenant (issue 11): the client the first-party
-- token API (`POST /api/v1/tokens`) signs users in through when the request names none.
-- Created by Tessera the first time a tenant needs it (so tenants that existed before
-- this migration get theirs too, without a backfill), at most one per tenant. It is not
-- counted against `limits.clients_per_tenant`. Keep in step with migrations/sqlite.
ALTER TABLE oauth_clients ADD COLUMN builtin BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX oauth_clients_builtin ON oauth_clients (tenant_id) WHERE builtin;

CREATE OR REPLACE FUNCTION count_clients() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT NEW.builtin THEN
            UPDATE tenants SET client_count = client_count + 1 WHERE id = NEW.tenant_id;
        END IF;
    ELSIF NOT OLD.builtin THEN
        UPDATE tenants SET client_count = client_count - 1 WHERE id = OLD.tenant_id;
    END IF;
    RETURN NULL;
END;
$$;
