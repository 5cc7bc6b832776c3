-- Portal links (seed 000, issue 11). Keep in step with migrations/postgres.
-- A link is a single-use token (256 random bits) in a URL of /portal; only its SHA-256 is
-- stored (hex). Opening it deletes the row (DELETE … RETURNING: one opener wins, on any
-- process) and starts a portal session: a tenant admin token of the chain the row names
-- (`chain_id`, `auth_time`: a new chain for links the global admin asked for, the
-- caller's own for links asked for with a tenant admin token). Revoking a tenant's
-- tokens, or the chain, deletes its unopened links. Expired rows are purged as new links
-- are issued; deleting a tenant deletes its links. Times are Unix milliseconds.
CREATE TABLE portal_links (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    chain_id    TEXT NOT NULL,
    auth_time   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX portal_links_by_expiry ON portal_links (expires_at);
CREATE INDEX portal_links_by_tenant ON portal_links (tenant_id);
CREATE INDEX portal_links_by_chain ON portal_links (chain_id);
