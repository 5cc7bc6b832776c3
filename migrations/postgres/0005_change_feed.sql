-- The change feed, ordered by the database: one row per change other processes must
-- apply, numbered by `seq`. Pollers read `WHERE seq > last_seen`, so `seq` order must
-- be commit order: every insert into `changes` first takes a transaction-scoped
-- advisory lock, then draws its number, and keeps the lock until its transaction
-- ends. A transaction holding seq 10 uncommitted therefore blocks any other from
-- drawing 11. Also the stored revocations of tenant admin tokens. Times are Unix
-- milliseconds. Keep in step with migrations/sqlite.

DROP TRIGGER client_changed ON oauth_clients;
DROP TRIGGER client_secret_changed ON client_secrets;
DROP FUNCTION record_client_change();
DROP TABLE client_changes;

-- `kind` names the event (see src/changes/event.rs); `subject` is what it is about
-- (a client id, a jti, a tenant id, a token chain id, or '' for the signing keys);
-- `instant` is the instant it carries (an expiry, a cut-off), when it carries one.
CREATE SEQUENCE changes_seq;
CREATE TABLE changes (
    seq          BIGINT PRIMARY KEY,
    kind         TEXT NOT NULL,
    subject      TEXT NOT NULL,
    instant      BIGINT,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX changes_by_time ON changes (recorded_at);

-- The lock key is a constant of Tessera's ("tessera" + feed); sqlx's migration lock
-- uses another.
CREATE FUNCTION sequence_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7305960000000000005);
    NEW.seq := nextval('changes_seq');
    RETURN NEW;
END;
$$;
CREATE TRIGGER change_sequenced BEFORE INSERT ON changes
    FOR EACH ROW EXECUTE FUNCTION sequence_change();

-- Client and secret changes are recorded by triggers, so no write path (foreign-key
-- cascades from a tenant's deletion included) can forget them. They are deferred to
-- commit, so the feed lock is taken after every row lock of the transaction (no
-- deadlock with a writer waiting for one of those rows) and held only for the commit.
CREATE FUNCTION record_client_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT;
BEGIN
    IF TG_TABLE_NAME = 'oauth_clients' THEN
        changed := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
    ELSE
        changed := CASE WHEN TG_OP = 'DELETE' THEN OLD.client_id ELSE NEW.client_id END;
    END IF;
    INSERT INTO changes (kind, subject, recorded_at)
    VALUES ('client', changed, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER client_changed AFTER INSERT OR UPDATE OR DELETE ON oauth_clients
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION record_client_change();
CREATE CONSTRAINT TRIGGER client_secret_changed
    AFTER INSERT OR DELETE OR UPDATE OF expires_at ON client_secrets
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION record_client_change();

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
