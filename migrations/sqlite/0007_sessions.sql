-- Users' sessions and their refresh tokens (issue 10). Times are Unix milliseconds.
-- Keep in step with migrations/postgres.

-- A session: a user signed in to a tenant through a client, until it ends (`ended_at`,
-- `end_reason`) or its refresh family reaches `family_expires_at`. `scope` is
-- space-separated. `last_active_at` is for the idle timeout (issue 11).
--
-- Deleting a tenant or a client deletes its sessions (every token of theirs is refused
-- anyway: their client is gone). A user's sessions are ended explicitly, in the same
-- transaction as the change to the user, and the rows stay (no foreign key on
-- `user_id`) until no access token of theirs can be unexpired, so that every process,
-- even one starting later, can refuse those tokens. Housekeeping deletes them then.
CREATE TABLE sessions (
    id                 TEXT PRIMARY KEY NOT NULL,
    user_id            TEXT NOT NULL,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id          TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scope              TEXT NOT NULL,
    auth_time          BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    last_active_at     BIGINT NOT NULL,
    family_expires_at  BIGINT NOT NULL,
    ended_at           BIGINT,
    end_reason         TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, tenant_id);
CREATE INDEX sessions_by_client ON sessions (client_id);
CREATE INDEX sessions_by_end ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX sessions_by_family_expiry ON sessions (family_expires_at);

-- A refresh token, by the SHA-256 of the raw token (never the token). A used token has
-- `used_at` and `successor_hash`; `successor_sealed` is the successor itself, sealed
-- (AES-256-GCM) under a key derived from this token's raw value, so only whoever
-- presents this token can open it, and only during the grace period: housekeeping
-- clears it after. The family of a token is its session: ending the session revokes it.
CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY NOT NULL,
    session_id        TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    client_id         TEXT NOT NULL,
    scope             TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    used_at           BIGINT,
    successor_hash    TEXT,
    successor_sealed  TEXT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_sealed ON refresh_tokens (used_at) WHERE successor_sealed IS NOT NULL;
