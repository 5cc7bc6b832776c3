-- The cap on a tenant's clients, counted in slots (issue 9). Migration 0009 kept one
-- count per tenant (`tenants.client_count`), updated by a trigger: every creation locked
-- the tenant's row from its insert to its commit, so creations in one tenant committed
-- one at a time. Each tenant now has 16 slots (rows of `tenant_client_slots`, made with
-- the tenant, deleted with it); each client counted against the cap records the slot
-- that counts it (`count_slot`; built-in clients, outside the cap, have none), and a
-- trigger keeps the slot's count, so no write path can forget it. A creation takes a
-- slot still under its share of the cap, preferring one no other creation holds
-- (src/store/clients.rs): up to 16 creations in a tenant commit side by side, and the
-- cap stays exact, since no slot takes more than its share. Existing clients are dealt
-- round-robin over the slots, so no slot holds more than its share of a cap the tenant
-- is within. Keep migrations/sqlite in step (its 0014 changes nothing: SQLite has one
-- writer at a time, and keeps `tenants.client_count`).
CREATE TABLE tenant_client_slots (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slot       INTEGER NOT NULL CHECK (slot BETWEEN 0 AND 15),
    clients    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, slot)
);

ALTER TABLE oauth_clients ADD COLUMN count_slot INTEGER;
-- Dealing the slots changes nothing any process holds: no change to record.
ALTER TABLE oauth_clients DISABLE TRIGGER client_changed;
UPDATE oauth_clients SET count_slot = dealt.turn % 16
FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY id) - 1 AS turn
      FROM oauth_clients WHERE NOT builtin) AS dealt
WHERE oauth_clients.id = dealt.id;
ALTER TABLE oauth_clients ENABLE TRIGGER client_changed;
ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_counted_unless_builtin
    CHECK (builtin = (count_slot IS NULL) AND count_slot BETWEEN 0 AND 15);

INSERT INTO tenant_client_slots (tenant_id, slot, clients)
SELECT tenants.id, slots.slot,
       (SELECT COUNT(*) FROM oauth_clients
        WHERE tenant_id = tenants.id AND count_slot = slots.slot)
FROM tenants CROSS JOIN generate_series(0, 15) AS slots (slot);

CREATE FUNCTION make_client_slots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tenant_client_slots (tenant_id, slot, clients)
    SELECT NEW.id, slot, 0 FROM generate_series(0, 15) AS slot;
    RETURN NULL;
END;
$$;
CREATE TRIGGER tenant_client_slots_made AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION make_client_slots();

CREATE OR REPLACE FUNCTION count_clients() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.count_slot IS NOT NULL THEN
            UPDATE tenant_client_slots SET clients = clients + 1
            WHERE tenant_id = NEW.tenant_id AND slot = NEW.count_slot;
        END IF;
    ELSIF OLD.count_slot IS NOT NULL THEN
        UPDATE tenant_client_slots SET clients = clients - 1
        WHERE tenant_id = OLD.tenant_id AND slot = OLD.count_slot;
    END IF;
    RETURN NULL;
END;
$$;
ALTER TABLE tenants DROP COLUMN client_count;
