-- OAuth clients (seed 002), their named secrets (seed 004) and the audit trail.
-- Times are Unix milliseconds; JSON is TEXT. Keep in step with migrations/sqlite.
-- (Version 0002 belongs to the signing keys.)

-- Audit events outlive what they describe: no foreign keys.
CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    tenant_id   TEXT,
    request_id  TEXT
);
CREATE INDEX audit_events_by_tenant ON audit_events (tenant_id, id);
