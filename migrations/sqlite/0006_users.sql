-- Users (issue 10) and their memberships of tenants. Times are Unix milliseconds; JSON
-- is TEXT. Keep in step with migrations/postgres.

-- `username_key` is the username lower-cased by Tessera; its unique index makes
-- usernames unique case-insensitively, the same way on both databases (neither's own
-- collation is involved). Never the password: its argon2id PHC string. `version` grows
-- by one with every update and `password_changed_at` moves with every new password, so
-- a session can tell that it predates either.
CREATE TABLE users (
    id                   TEXT PRIMARY KEY NOT NULL,
    username             TEXT NOT NULL,
    username_key         TEXT NOT NULL,
    display_name         TEXT,
    email                TEXT,
    default_tenant_id    TEXT REFERENCES tenants (id) ON DELETE SET NULL,
    enabled              BOOLEAN NOT NULL,
    password_hash        TEXT NOT NULL,
    password_changed_at  BIGINT NOT NULL,
    version              BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_by_username_key ON users (username_key);
CREATE INDEX users_by_creation ON users (created_at, id);
CREATE INDEX users_by_default_tenant ON users (default_tenant_id);

-- `roles` is a JSON array of "member" and "admin". Deleting a tenant or a user deletes
-- its memberships.
CREATE TABLE tenant_members (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    roles       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX tenant_members_by_creation ON tenant_members (tenant_id, created_at, user_id);
CREATE INDEX tenant_members_by_user ON tenant_members (user_id);

-- A user changed (disabled, password changed, deleted) or lost or changed a membership:
-- a 'user' change on the feed, so every process can end what depends on it (sessions).
-- Recorded by triggers, so no write path (a tenant's deletion cascading to its
-- memberships included) can forget one. Creations need none: nothing depends on a user
-- or a membership before it exists.
CREATE TRIGGER user_updated AFTER UPDATE ON users BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('user', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER user_deleted AFTER DELETE ON users BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('user', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER tenant_member_updated AFTER UPDATE ON tenant_members BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('user', NEW.user_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER tenant_member_deleted AFTER DELETE ON tenant_members BEGIN
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('user', OLD.user_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
