-- Session state for issue 11: tenant switch and the idle timeout. Times are Unix
-- milliseconds. Keep in step with migrations/postgres.

-- A switch moves a session to another tenant (and that tenant's internal client):
-- `tenant_id` and `client_id` change, and `switched_at` is when. Its access tokens are
-- honoured only with the session's current tenant as `tid` and issued (`iat`) no
-- earlier than the second of the last switch.
ALTER TABLE sessions ADD COLUMN switched_at BIGINT;

-- The idle token timeout of a tenant (seed 003). No row: disabled. `since` is when it
-- was last turned on: a session's idle time counts from its last activity or from then,
-- whichever is later, so turning it on ends no session at once.
CREATE TABLE idle_timeouts (
    tenant_id        TEXT PRIMARY KEY NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    enabled          BOOLEAN NOT NULL,
    timeout_seconds  BIGINT NOT NULL,
    since            BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
