-- Each tenant counts its clients, so creating one checks `limits.clients_per_tenant`
-- in constant time (a COUNT(*) over the tenant's clients grew with every client).
-- Kept by triggers, so no write path can forget it. Keep in step with migrations/postgres.
ALTER TABLE tenants ADD COLUMN client_count BIGINT NOT NULL DEFAULT 0;
UPDATE tenants SET client_count = (SELECT COUNT(*) FROM oauth_clients WHERE tenant_id = tenants.id);

CREATE TRIGGER client_counted AFTER INSERT ON oauth_clients
BEGIN
    UPDATE tenants SET client_count = client_count + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER client_uncounted AFTER DELETE ON oauth_clients
BEGIN
    UPDATE tenants SET client_count = client_count - 1 WHERE id = OLD.tenant_id;
END;
