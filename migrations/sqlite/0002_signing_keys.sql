-- Signing keys: public JWK in clear, private key sealed with AES-256-GCM under the
-- master key. Lifecycle states are derived from the times (Unix milliseconds).
-- Keep in step with migrations/postgres.

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY NOT NULL,
    alg             TEXT NOT NULL,
    origin          TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    private_key     BLOB NOT NULL,
    created_at      BIGINT NOT NULL,
    activates_at    BIGINT NOT NULL,
    retires_at      BIGINT,
    expires_at      BIGINT,
    revoked_at      BIGINT
);

-- One row whose update serialises key changes across processes.
CREATE TABLE signing_key_lock (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    locked_at   BIGINT NOT NULL
);
INSERT INTO signing_key_lock (id, locked_at) VALUES (1, 0);
