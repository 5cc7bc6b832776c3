-- The token endpoint's shared state: a feed of client changes that every process polls
-- to drop what it cached, and the deny-list of revoked access tokens (RFC 7009).
-- Times are Unix milliseconds. Keep in step with migrations/postgres.

-- Written by triggers, so no code path that changes a client can forget it.
CREATE TABLE client_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id   TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX client_changes_by_time ON client_changes (changed_at);

CREATE TRIGGER client_inserted AFTER INSERT ON oauth_clients BEGIN
    INSERT INTO client_changes (client_id, changed_at)
    VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_updated AFTER UPDATE ON oauth_clients BEGIN
    INSERT INTO client_changes (client_id, changed_at)
    VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_deleted AFTER DELETE ON oauth_clients BEGIN
    INSERT INTO client_changes (client_id, changed_at)
    VALUES (OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_secret_inserted AFTER INSERT ON client_secrets BEGIN
    INSERT INTO client_changes (client_id, changed_at)
    VALUES (NEW.client_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_secret_deleted AFTER DELETE ON client_secrets BEGIN
    INSERT INTO client_changes (client_id, changed_at)
    VALUES (OLD.client_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_secret_expiry_changed AFTER UPDATE OF expires_at ON client_secrets BEGIN
    INSERT INTO client_changes (client_id, changed_at)
    VALUES (NEW.client_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

-- A revoked access token is denied until it expires; then its row is deleted.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY NOT NULL,
    client_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_by_revocation ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);
