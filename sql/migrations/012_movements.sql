-- wasteflow v3: movements — a shipment travels, is weighed at the storage and may be refused.
--
-- Every shipment is a movement (its id is the movement's id). A shipment to a storage whose
-- intake is 'automatic' is accepted at once, as before: stock grows at the transfer's commit.
-- A shipment to a 'weighed' storage is in transit: its kilograms are reserved at the storage
-- (storage_waste.reserved) and stock does not change until a receipt row records what the
-- weighbridge read. The ledger stays append-only: a receipt is a new row, never an UPDATE of
-- the shipment that says what was planned.

-- How a storage takes loads in. Switching it leaves movements already in transit as they are.
ALTER TABLE storages
    ADD COLUMN intake text NOT NULL DEFAULT 'automatic' CHECK (intake IN ('automatic', 'weighed'));

-- Room held for loads on their way: remaining = capacity - stock - reserved.
ALTER TABLE storage_waste ADD COLUMN reserved bigint NOT NULL DEFAULT 0;
-- (The constraint keeps its name: the service maps it to 409 when a capacity is lowered.)
ALTER TABLE storage_waste DROP CONSTRAINT storage_waste_stock_within_capacity;
ALTER TABLE storage_waste ADD CONSTRAINT storage_waste_stock_within_capacity
    CHECK (stock >= 0 AND reserved >= 0 AND stock + reserved <= capacity);

-- Whether the shipment went to a weighed storage (then it waits for a receipt). Set when the
-- row is written and never changed, like every column of the ledger.
ALTER TABLE shipments ADD COLUMN in_transit boolean NOT NULL DEFAULT false;
CREATE INDEX shipments_in_transit_idx ON shipments (storage_id, waste_type) WHERE in_transit;

-- What the storage's weighbridge read, one row per received movement. accepted_kg is what
-- went into stock; rejected_kg went back to the organization's pending.
CREATE TABLE receipts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id      bigint NOT NULL REFERENCES shipments (id) ON DELETE RESTRICT,
    received_kg      bigint NOT NULL CHECK (received_kg BETWEEN 0 AND 1000000000000),
    rejected_kg      bigint NOT NULL CHECK (rejected_kg BETWEEN 0 AND received_kg),
    accepted_kg      bigint GENERATED ALWAYS AS (received_kg - rejected_kg) STORED,
    rejection_reason text CHECK (rejection_reason IS NULL
                                 OR char_length(rejection_reason) BETWEEN 1 AND 500),
    ticket           text CHECK (ticket IS NULL OR char_length(ticket) BETWEEN 1 AND 200),
    received_by      text NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    xid              xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT receipts_shipment_key UNIQUE (shipment_id),
    CONSTRAINT receipts_reason_when_rejected
        CHECK (rejected_kg = 0 OR rejection_reason IS NOT NULL)
);
CREATE INDEX receipts_received_at_idx ON receipts (received_at);
CREATE INDEX receipts_feed_idx ON receipts (xid, id);

CREATE TRIGGER receipts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON receipts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Who carries a load on its way: the only part of a movement that may change, and only while
-- it is in transit. Not the ledger: it says nothing about where waste went.
CREATE TABLE movement_carriers (
    shipment_id bigint PRIMARY KEY REFERENCES shipments (id) ON DELETE RESTRICT,
    carrier     text CHECK (carrier IS NULL OR char_length(carrier) BETWEEN 1 AND 100),
    vehicle     text CHECK (vehicle IS NULL OR char_length(vehicle) BETWEEN 1 AND 100),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
