-- Authorization codes (RFC 6749 §4.1.2, issue 10). Keep in step with migrations/sqlite.
-- Only the SHA-256 of a code is stored (hex), never the code. A code is bound to the
-- client, the redirect URI (and whether the request sent it), the user, the tenant, the
-- scope and the PKCE challenge it was issued for. `used_at` is set by its one exchange,
-- with the session that exchange started, so a second presentation can end that session
-- (RFC 6749 §4.1.2). Rows are purged an hour after they expire: long enough to recognise
-- a replay, short enough to stay small. Deleting a client, a user or a tenant deletes
-- its codes.
CREATE TABLE authorization_codes (
    code_hash          TEXT PRIMARY KEY NOT NULL,
    client_id          TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    redirect_uri       TEXT NOT NULL,
    redirect_uri_sent  BOOLEAN NOT NULL,
    scope              TEXT NOT NULL,
    code_challenge     TEXT,
    auth_time          BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    expires_at         BIGINT NOT NULL,
    used_at            BIGINT,
    session_id         TEXT
);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);
