-- OAuth clients (seed 002), their named secrets (seed 004) and the audit trail.
-- Times are Unix milliseconds; JSON is TEXT. Keep in step with migrations/postgres.
-- (Version 0002 belongs to the signing keys.)

-- Audit events outlive what they describe: no foreign keys.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    tenant_id   TEXT,
    request_id  TEXT
);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, id);

-- Array and claim columns hold JSON. `version` grows by one with every update.
CREATE TABLE oauth_clients (
    id                              TEXT PRIMARY KEY NOT NULL,
    tenant_id                       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                            TEXT NOT NULL,
    description                     TEXT NOT NULL,
    business_name                   TEXT,
    homepage_url                    TEXT,
    access_token_validity_seconds   BIGINT NOT NULL,
    refresh_token_validity_seconds  BIGINT NOT NULL,
    redirect_uris                   TEXT NOT NULL,
    grant_types                     TEXT NOT NULL,
    access_type                     TEXT NOT NULL,
    client_type                     TEXT NOT NULL,
    internal                        BOOLEAN NOT NULL,
    enabled                         BOOLEAN NOT NULL,
    strong_auth_supported           BOOLEAN NOT NULL,
    claims_supported                BOOLEAN NOT NULL,
    allowed_scopes                  TEXT NOT NULL,
    claims                          TEXT NOT NULL,
    version                         BIGINT NOT NULL,
    created_at                      BIGINT NOT NULL,
    updated_at                      BIGINT NOT NULL
);
CREATE INDEX oauth_clients_by_creation ON oauth_clients (created_at, id);
CREATE INDEX oauth_clients_by_tenant ON oauth_clients (tenant_id, created_at, id);

-- Never the secret: its argon2id hash (PHC string) and its first six characters.
CREATE TABLE client_secrets (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    display_prefix  TEXT NOT NULL,
    secret_hash     TEXT NOT NULL,
    expires_at      BIGINT,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT,
    UNIQUE (client_id, name)
);
