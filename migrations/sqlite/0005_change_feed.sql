-- The change feed, ordered by the database: one row per change other processes must
-- apply, numbered by `seq` (AUTOINCREMENT: never reused, increasing in commit order,
-- since SQLite has one writer at a time). Pollers read `WHERE seq > last_seen`.
-- Also the stored revocations of tenant admin tokens. Times are Unix milliseconds.
-- Keep in step with migrations/postgres.

DROP TRIGGER client_inserted;
DROP TRIGGER client_updated;
DROP TRIGGER client_deleted;
DROP TRIGGER client_secret_inserted;
DROP TRIGGER client_secret_deleted;
DROP TRIGGER client_secret_expiry_changed;
DROP TABLE client_changes;

-- `kind` names the event (see src/changes/event.rs); `subject` is what it is about
-- (a client id, a jti, a tenant id, a token chain id, or '' for the signing keys);
-- `instant` is the instant it carries (an expiry, a cut-off), when it carries one.
CREATE TABLE changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    instant      BIGINT,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX changes_by_time ON changes (recorded_at);

-- Client and secret changes are recorded by triggers, so no write path (foreign-key
-- cascades from a tenant's deletion included) can forget them.
CREATE TRIGGER client_inserted AFTER INSERT ON oauth_clients BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('client', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_updated AFTER UPDATE ON oauth_clients BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('client', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_deleted AFTER DELETE ON oauth_clients BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('client', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_secret_inserted AFTER INSERT ON client_secrets BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('client', NEW.client_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_secret_deleted AFTER DELETE ON client_secrets BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('client', OLD.client_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER client_secret_expiry_changed AFTER UPDATE OF expires_at ON client_secrets BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('client', NEW.client_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

-- A revoked chain of tenant admin tokens (a token and its renewals, `sid`), refused
-- until the chain could not live any longer; then the row is deleted.
CREATE TABLE revoked_tenant_token_chains (
    chain_id    TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);
CREATE INDEX revoked_tenant_token_chains_by_expiry ON revoked_tenant_token_chains (expires_at);

-- Every tenant admin token of the tenant issued before `not_before` is refused; the
-- row goes once no such token can still be unexpired (`expires_at`).
CREATE TABLE tenant_token_cutoffs (
    tenant_id   TEXT PRIMARY KEY NOT NULL,
    not_before  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX tenant_token_cutoffs_by_expiry ON tenant_token_cutoffs (expires_at);
