-- The token endpoint's shared state: a feed of client changes that every process polls
-- to drop what it cached, and the deny-list of revoked access tokens (RFC 7009).
-- Times are Unix milliseconds. Keep in step with migrations/sqlite.

-- Written by triggers, so no code path that changes a client can forget it.
CREATE TABLE client_changes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id   TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX client_changes_by_time ON client_changes (changed_at);

CREATE FUNCTION record_client_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT;
BEGIN
    IF TG_TABLE_NAME = 'oauth_clients' THEN
        changed := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
    ELSE
        changed := CASE WHEN TG_OP = 'DELETE' THEN OLD.client_id ELSE NEW.client_id END;
    END IF;
    INSERT INTO client_changes (client_id, changed_at)
    VALUES (changed, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
    RETURN NULL;
END;
$$;

CREATE TRIGGER client_changed AFTER INSERT OR UPDATE OR DELETE ON oauth_clients
    FOR EACH ROW EXECUTE FUNCTION record_client_change();
CREATE TRIGGER client_secret_changed AFTER INSERT OR DELETE OR UPDATE OF expires_at ON client_secrets
    FOR EACH ROW EXECUTE FUNCTION record_client_change();

-- A revoked access token is denied until it expires; then its row is deleted.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY NOT NULL,
    client_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_by_revocation ON revoked_tokens (revoked_at);
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);
