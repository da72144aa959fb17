-- wasteflow v2: what automatic dispatch listens to, and running totals for /v1/stats.

-- Room appeared: a storage can take more of a type (created, capacity raised, unloaded),
-- a road was added or shortened, or someone asked for a full sweep (bumping
-- dispatch_state by hand, as seeds and benchmarks do). Written by triggers, so psql and
-- cascades count too, and only for a real gain: a no-op write (an unload of 0, a
-- name-only PATCH, a PATCH to the same capacity) adds nothing. The dispatcher that holds
-- the leader lock consumes the rows (DELETE ... RETURNING) and revisits only the
-- organizations they can concern; an idle service therefore does no dispatch work at all.
CREATE TABLE room_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    storage_id bigint,    -- the storage that gained room, NULL for a road or a sweep
    waste_type text,      -- the type it gained room for, NULL for a road or a sweep
    from_node  text,      -- a road's start ('o12', 's7'): its users may now reach more
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION room_event_storage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO room_events (storage_id, waste_type) VALUES (NEW.storage_id, NEW.waste_type);
    RETURN NULL;
END
$$;
CREATE TRIGGER storage_waste_room_new AFTER INSERT ON storage_waste
    FOR EACH ROW WHEN (NEW.capacity > NEW.stock) EXECUTE FUNCTION room_event_storage();
CREATE TRIGGER storage_waste_room_gained AFTER UPDATE ON storage_waste
    FOR EACH ROW WHEN (NEW.capacity - NEW.stock > OLD.capacity - OLD.stock)
    EXECUTE FUNCTION room_event_storage();

CREATE FUNCTION room_event_road() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO room_events (from_node) VALUES (NEW.from_node);
    IF NEW.two_way THEN
        INSERT INTO room_events (from_node) VALUES (NEW.to_node);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER routes_room_new AFTER INSERT ON routes
    FOR EACH ROW EXECUTE FUNCTION room_event_road();
CREATE TRIGGER routes_room_gained AFTER UPDATE ON routes
    FOR EACH ROW WHEN (NEW.distance_m < OLD.distance_m OR (NEW.two_way AND NOT OLD.two_way)
                       OR NEW.from_node IS DISTINCT FROM OLD.from_node
                       OR NEW.to_node IS DISTINCT FROM OLD.to_node)
    EXECUTE FUNCTION room_event_road();

CREATE FUNCTION room_event_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO room_events DEFAULT VALUES;
    RETURN NULL;
END
$$;
CREATE TRIGGER dispatch_state_sweep AFTER UPDATE ON dispatch_state
    FOR EACH STATEMENT EXECUTE FUNCTION room_event_sweep();

-- One notification per transaction that made room (PostgreSQL folds repeats), so a
-- listening dispatcher wakes at once instead of waiting for its next poll.
CREATE FUNCTION room_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wasteflow_room', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER room_events_notify AFTER INSERT ON room_events
    FOR EACH STATEMENT EXECUTE FUNCTION room_event_notify();

-- Running totals of the ledger per type, so /v1/stats costs the same at any ledger size:
-- generated (what transfers received) and unloaded. Written by triggers in the same
-- transaction as the ledger row; spread over 64 shards by backend so concurrent
-- transfers do not queue on one row. numeric: sums of bigints may pass 2^63.
CREATE TABLE waste_totals (
    waste_type text NOT NULL REFERENCES waste_types (code),
    shard      smallint NOT NULL CHECK (shard BETWEEN 0 AND 63),
    generated  numeric NOT NULL DEFAULT 0,
    unloaded   numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (waste_type, shard)
);

CREATE FUNCTION waste_totals_received() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- jsonb keeps its keys sorted: every transaction takes the shard rows in one order.
    INSERT INTO waste_totals AS w (waste_type, shard, generated)
    SELECT r.key, pg_backend_pid() % 64, r.value::bigint
    FROM jsonb_each_text(NEW.received) r WHERE r.value::bigint <> 0
    ON CONFLICT (waste_type, shard) DO UPDATE SET generated = w.generated + EXCLUDED.generated;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_totals AFTER INSERT ON transfers
    FOR EACH ROW WHEN (NEW.received <> '{}'::jsonb) EXECUTE FUNCTION waste_totals_received();

CREATE FUNCTION waste_totals_unloaded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO waste_totals AS w (waste_type, shard, unloaded)
    VALUES (NEW.waste_type, pg_backend_pid() % 64, NEW.amount)
    ON CONFLICT (waste_type, shard) DO UPDATE SET unloaded = w.unloaded + EXCLUDED.unloaded;
    RETURN NULL;
END
$$;
CREATE TRIGGER unloads_totals AFTER INSERT ON unloads
    FOR EACH ROW EXECUTE FUNCTION waste_totals_unloaded();

-- The ledger so far.
INSERT INTO waste_totals (waste_type, shard, generated, unloaded)
SELECT code, 0, coalesce(g.kg, 0), coalesce(u.kg, 0)
FROM waste_types w
LEFT JOIN (SELECT r.key, sum(r.value::bigint) AS kg FROM transfers t,
           jsonb_each_text(t.received) r GROUP BY 1) g ON g.key = w.code
LEFT JOIN (SELECT waste_type, sum(amount) AS kg FROM unloads GROUP BY 1) u
    ON u.waste_type = w.code;

-- Changes to the API keys are announced too: every instance's key cache refreshes at once
-- instead of waiting for its next poll, so a revoked key is refused everywhere within
-- milliseconds.
CREATE FUNCTION api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wasteflow_keys', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();
