-- Tenants (seed 000) and the generated admin API key.
-- Times are Unix milliseconds; JSON is TEXT. Keep in step with migrations/sqlite.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- One row at most: the SHA-256 of the admin API key generated on the first start.
CREATE TABLE admin_api_key (
    id          TEXT PRIMARY KEY NOT NULL CHECK (id = 'global'),
    key_hash    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
