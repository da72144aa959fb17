-- wasteflow schema v1. The constraints here make bad states impossible on their own,
-- whatever the service does: stock within capacity, pending within on-site capacity,
-- positive ledger amounts, unique names, and an append-only ledger.

CREATE TABLE waste_types (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{0,31}$'),
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO waste_types (code, name) VALUES
    ('bio', 'Bio waste'),
    ('glass', 'Glass'),
    ('plastic', 'Plastic');

CREATE TABLE organizations (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    -- When the organization's oldest still-pending waste was handed over; NULL when
    -- nothing is pending. Automatic dispatch serves the oldest first.
    pending_since timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organizations_name_key UNIQUE (name)
);

CREATE INDEX organizations_pending_idx ON organizations (pending_since, id)
    WHERE pending_since IS NOT NULL;

-- Per organization and type: the on-site limit (NULL: none) and what is pending there.
CREATE TABLE organization_waste (
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    waste_type      text NOT NULL REFERENCES waste_types (code),
    capacity        bigint CHECK (capacity BETWEEN 0 AND 1000000000000),
    pending         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, waste_type),
    CONSTRAINT organization_waste_pending_within_capacity
        CHECK (pending >= 0 AND (capacity IS NULL OR pending <= capacity))
) WITH (fillfactor = 70); -- room on each page for heap-only updates of pending

CREATE TABLE storages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT storages_name_key UNIQUE (name)
);

-- A storage accepts exactly the types it has a row for here.
CREATE TABLE storage_waste (
    storage_id bigint NOT NULL REFERENCES storages (id) ON DELETE CASCADE,
    waste_type text NOT NULL REFERENCES waste_types (code),
    capacity   bigint NOT NULL CHECK (capacity BETWEEN 0 AND 1000000000000),
    stock      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (storage_id, waste_type),
    CONSTRAINT storage_waste_stock_within_capacity CHECK (stock >= 0 AND stock <= capacity)
) WITH (fillfactor = 70); -- room on each page for heap-only updates of stock

-- Storages by type (the ?accepts= filter and the view). Deliberately not a partial index
-- on stock < capacity: an index that mentions stock would deny every stock update the
-- heap-only (HOT) path, and transfers find their candidates through the primary key.
CREATE INDEX storage_waste_type_idx ON storage_waste (waste_type, storage_id);

CREATE TABLE routes (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_organization_id bigint REFERENCES organizations (id) ON DELETE CASCADE,
    from_storage_id      bigint REFERENCES storages (id) ON DELETE CASCADE,
    to_organization_id   bigint REFERENCES organizations (id) ON DELETE CASCADE,
    to_storage_id        bigint REFERENCES storages (id) ON DELETE CASCADE,
    distance_m           bigint NOT NULL CHECK (distance_m BETWEEN 1 AND 100000000),
    two_way              boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    -- 'o12' / 's7': one comparable key per endpoint, for uniqueness and self-loop checks.
    from_node text GENERATED ALWAYS AS (
        CASE WHEN from_organization_id IS NOT NULL THEN 'o' || from_organization_id
             ELSE 's' || from_storage_id END) STORED,
    to_node text GENERATED ALWAYS AS (
        CASE WHEN to_organization_id IS NOT NULL THEN 'o' || to_organization_id
             ELSE 's' || to_storage_id END) STORED,
    CONSTRAINT routes_one_from CHECK (num_nonnulls(from_organization_id, from_storage_id) = 1),
    CONSTRAINT routes_one_to CHECK (num_nonnulls(to_organization_id, to_storage_id) = 1),
    CONSTRAINT routes_not_self CHECK (from_node <> to_node),
    CONSTRAINT routes_pair_key UNIQUE (from_node, to_node)
);

CREATE INDEX routes_to_node_idx ON routes (to_node);

-- Bumped in the same transaction as every change to the road graph, so an instance can
-- tell whether its cached graph is current with one cheap read.
CREATE TABLE graph_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO graph_state (version) VALUES (1);

-- Bumped in the same transaction as every change that can create room for pending waste
-- (storage created, capacity raised, unload, route added or changed). The dispatchers
-- sweep pending organizations whenever it moves.
CREATE TABLE dispatch_state (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    room_epoch bigint NOT NULL
);
INSERT INTO dispatch_state (room_epoch) VALUES (1);

-- The ledger. Transfers record what the organization handed over and what stayed pending;
-- shipments record every movement into a storage; unloads every movement out.
CREATE TABLE transfers (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE RESTRICT,
    trigger         text NOT NULL CHECK (trigger IN ('request', 'auto')),
    received        jsonb NOT NULL DEFAULT '{}',
    pending         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transfers_organization_idx ON transfers (organization_id, id);

CREATE TABLE shipments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id bigint NOT NULL REFERENCES transfers (id) ON DELETE RESTRICT,
    position    int NOT NULL,
    storage_id  bigint NOT NULL REFERENCES storages (id) ON DELETE RESTRICT,
    waste_type  text NOT NULL REFERENCES waste_types (code),
    amount      bigint NOT NULL CHECK (amount > 0),
    distance_m  bigint NOT NULL CHECK (distance_m >= 0),
    CONSTRAINT shipments_position_key UNIQUE (transfer_id, position)
);
CREATE INDEX shipments_storage_idx ON shipments (storage_id, transfer_id);
CREATE INDEX shipments_type_idx ON shipments (waste_type, transfer_id);

CREATE TABLE unloads (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    storage_id bigint NOT NULL REFERENCES storages (id) ON DELETE RESTRICT,
    waste_type text NOT NULL REFERENCES waste_types (code),
    amount     bigint NOT NULL CHECK (amount > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unloads_storage_idx ON unloads (storage_id);

-- The ledger is append-only: auditors can rely on every row ever written still being there.
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the % ledger is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER shipments_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON shipments
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER unloads_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON unloads
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Idempotency-Key records: the first successful response to a key, replayed for 24 h.
CREATE TABLE idempotency_keys (
    key         text PRIMARY KEY,
    fingerprint text NOT NULL,
    status      int NOT NULL,
    body        text NOT NULL,
    location    text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- wf_check(ok, sqlstate, message): raises when ok is not true, so a pipelined transaction
-- aborts (and its COMMIT becomes a ROLLBACK) on a business rule without a round trip back
-- to the service. The service maps WF409 to 409 and WF422 ("field|message") to 422, and
-- 40001 to a transparent retry.
CREATE FUNCTION wf_check(ok boolean, code text, message text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
    END IF;
    RETURN true;
END
$$;

-- RFC 3339 UTC timestamps with microseconds, the API's one timestamp format.
CREATE FUNCTION wf_ts(t timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- JSON representations shared by every endpoint that returns these resources.
CREATE FUNCTION wf_organization_json(organization_id bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', o.id,
        'name', o.name,
        'capacity', coalesce((SELECT jsonb_object_agg(w.waste_type, w.capacity)
                              FROM organization_waste w
                              WHERE w.organization_id = o.id AND w.capacity IS NOT NULL),
                             '{}'::jsonb),
        'pending', coalesce((SELECT jsonb_object_agg(w.waste_type, w.pending)
                             FROM organization_waste w
                             WHERE w.organization_id = o.id AND w.pending > 0), '{}'::jsonb),
        'created_at', wf_ts(o.created_at))
    FROM organizations o WHERE o.id = organization_id
$$;

CREATE FUNCTION wf_storage_json(storage_id bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', s.id,
        'name', s.name,
        'capacity', coalesce((SELECT jsonb_object_agg(w.waste_type, w.capacity)
                              FROM storage_waste w WHERE w.storage_id = s.id), '{}'::jsonb),
        'stock', coalesce((SELECT jsonb_object_agg(w.waste_type, w.stock)
                           FROM storage_waste w WHERE w.storage_id = s.id), '{}'::jsonb),
        'remaining', coalesce((SELECT jsonb_object_agg(w.waste_type, w.capacity - w.stock)
                               FROM storage_waste w WHERE w.storage_id = s.id), '{}'::jsonb),
        'created_at', wf_ts(s.created_at))
    FROM storages s WHERE s.id = storage_id
$$;

CREATE FUNCTION wf_route_json(r routes) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', r.id,
        'from', CASE WHEN r.from_organization_id IS NOT NULL
                     THEN jsonb_build_object('organization_id', r.from_organization_id)
                     ELSE jsonb_build_object('storage_id', r.from_storage_id) END,
        'to', CASE WHEN r.to_organization_id IS NOT NULL
                   THEN jsonb_build_object('organization_id', r.to_organization_id)
                   ELSE jsonb_build_object('storage_id', r.to_storage_id) END,
        'distance_m', r.distance_m,
        'two_way', r.two_way,
        'created_at', wf_ts(r.created_at))
$$;

CREATE FUNCTION wf_transfer_json(transfer_id bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', t.id,
        'organization_id', t.organization_id,
        'trigger', t.trigger,
        'created_at', wf_ts(t.created_at),
        'received', t.received,
        'shipments', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                          'storage_id', s.storage_id,
                                          'waste_type', s.waste_type,
                                          'amount', s.amount,
                                          'distance_m', s.distance_m) ORDER BY s.position)
                               FROM shipments s WHERE s.transfer_id = t.id), '[]'::jsonb),
        'pending', t.pending)
    FROM transfers t WHERE t.id = transfer_id
$$;
