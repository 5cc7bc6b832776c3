-- Each tenant counts its clients, so creating one checks `limits.clients_per_tenant`
-- in constant time (a COUNT(*) over the tenant's clients grew with every client).
-- Kept by triggers, so no write path can forget it. Keep in step with migrations/sqlite.
ALTER TABLE tenants ADD COLUMN client_count BIGINT NOT NULL DEFAULT 0;
UPDATE tenants SET client_count = (SELECT COUNT(*) FROM oauth_clients WHERE tenant_id = tenants.id);

CREATE FUNCTION count_clients() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE tenants SET client_count = client_count + 1 WHERE id = NEW.tenant_id;
    ELSE
        UPDATE tenants SET client_count = client_count - 1 WHERE id = OLD.tenant_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER client_counted AFTER INSERT OR DELETE ON oauth_clients
    FOR EACH ROW EXECUTE FUNCTION count_clients();
