-- wasteflow v3: how movements flow (the tables are 012's).
--
-- Room is capacity - stock - reserved: the dispatcher's trigger must see room that a receipt
-- frees (a load weighed lighter than planned, or refused) as it sees room an unload frees.
DROP TRIGGER storage_waste_room_gained ON storage_waste;
CREATE TRIGGER storage_waste_room_gained AFTER UPDATE ON storage_waste
    FOR EACH ROW WHEN (NEW.capacity - NEW.stock - NEW.reserved
                       > OLD.capacity - OLD.stock - OLD.reserved)
    EXECUTE FUNCTION room_event_storage();

-- A movement's id is its shipment's id, and a transfer's reply names its movements before the
-- transfer's one writing statement runs (the reply is stored with an Idempotency-Key in the
-- same round as the COMMIT). So each transfer takes one block of 64 ids with one nextval in a
-- statement it already sends (lib/engine/statements.c, ST_TR_LOCK_ORG, ST_DISPATCH_LOCK) and
-- numbers its shipments from the block's start; a transfer with more shipments than that asks
-- for the further ids it needs in one more statement. Any other writer (psql, a fixture) still
-- takes an id by default, which is the start of a block of its own: ids never collide.
ALTER TABLE shipments ALTER COLUMN id SET INCREMENT BY 64;

-- What the weighbridges read differently from the plans, per type: sum(planned - received) over
-- received movements, kept on the writer's shard like the other running totals, so /v1/stats
-- costs the same however long the ledger grows.
ALTER TABLE waste_totals ADD COLUMN variance numeric NOT NULL DEFAULT 0;

-- A refused load comes back to its organization whatever its on-site limit: it cannot be
-- refused again. So the limit is no longer a row constraint (a row over it after a refusal
-- must still be able to shrink); the service checks it where a request changes it (a hand-over
-- in lib/core/transfer_plan.c, a lowered limit in ST_ORG_LIMIT_CHECK).
ALTER TABLE organization_waste DROP CONSTRAINT organization_waste_pending_within_capacity;
ALTER TABLE organization_waste ADD CONSTRAINT organization_waste_pending_not_negative
    CHECK (pending >= 0);

-- The feed's 'movement' events: a load that set off in transit, and one that was received. The
-- service logs them itself, in the transaction that writes them (lib/engine/transfer.c and
-- lib/api/movements.c queue wf_notify_ids('m', ...) in a round they already send), and only
-- for loads that travel: a transfer to automatic storages logs nothing more than before.
ALTER TABLE event_log DROP CONSTRAINT event_log_kind_check;
ALTER TABLE event_log ADD CONSTRAINT event_log_kind_check
    CHECK (kind IN ('s', 'o', 'r', 'u', 'm'));
