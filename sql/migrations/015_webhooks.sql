-- wasteflow v3: webhooks — subscriptions, an outbox written with the change, delivery attempts.
--
-- At least once: a change that a subscription asks for writes an outbox row in the same
-- transaction as the change, so a committed change is never without its delivery and a
-- rolled-back one never has one. One instance sends (webhook_sender_lease, like
-- dispatcher_lease: a row, not an advisory lock) and records every attempt.
--
-- Nothing serial on the commit path: the triggers take no lock of their own and send no
-- NOTIFY; with no subscription for a type they cost one EXISTS on the (tiny) webhooks table.

CREATE TABLE webhooks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url        text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2000),
    events     text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 16),
    -- The signing secret, sealed (AES-256-GCM) with a subkey of the deployment's key
    -- (docs/webhooks.md): a reader of this table without that key learns nothing.
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (subscription, event): what the sender still has to deliver or delivered.
-- The webhook-id of a message is "msg_<id>", the same on every attempt.
CREATE TABLE webhook_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_type      text NOT NULL,
    entity_id       bigint NOT NULL,
    xid             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Set once: delivered (a 2xx) or given up (24 h of failures).
    done_at         timestamptz,
    delivered       boolean
);
-- The sender's queue: per endpoint, oldest first.
CREATE INDEX webhook_outbox_queue_idx ON webhook_outbox (webhook_id, id) WHERE done_at IS NULL;
-- What the sender prunes: messages finished more than a week ago, with their attempts.
CREATE INDEX webhook_outbox_done_idx ON webhook_outbox (done_at) WHERE done_at IS NOT NULL;

CREATE TABLE webhook_deliveries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id  bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    outbox_id   bigint NOT NULL REFERENCES webhook_outbox (id) ON DELETE CASCADE,
    event_type  text NOT NULL,
    attempt     int NOT NULL,
    status_code int, -- NULL: no HTTP answer (refused, timed out, connection failed)
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);

CREATE TABLE webhook_sender_lease (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    holder     text NOT NULL,
    term       bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO webhook_sender_lease (holder, term, expires_at) VALUES ('', 0, '-infinity');

-- Enqueues one event of a type for every subscription to it: for changes made elsewhere
-- (alerts) to call in their own transaction.
CREATE FUNCTION wf_webhook_enqueue_many(event_type text, entity_ids bigint[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO webhook_outbox (webhook_id, event_type, entity_id)
    SELECT w.id, $1, e.id
    FROM unnest($2) WITH ORDINALITY AS e(id, n) CROSS JOIN webhooks w
    WHERE $1 = ANY (w.events)
    ORDER BY e.n, w.id
$$;

CREATE FUNCTION wf_webhook_enqueue(event_type text, entity_id bigint) RETURNS void
LANGUAGE sql AS $$
    SELECT wf_webhook_enqueue_many($1, ARRAY[$2])
$$;

-- One statement-level trigger per source table: the EXISTS is the whole cost when nobody
-- subscribed.
CREATE FUNCTION wf_webhook_transfers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks WHERE 'transfer.created' = ANY (events)) THEN
        PERFORM wf_webhook_enqueue_many('transfer.created',
                                        (SELECT array_agg(id ORDER BY id) FROM new_rows));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_webhooks AFTER INSERT ON transfers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wf_webhook_transfers();

CREATE FUNCTION wf_webhook_unloads() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks WHERE 'unload.created' = ANY (events)) THEN
        PERFORM wf_webhook_enqueue_many('unload.created',
                                        (SELECT array_agg(id ORDER BY id) FROM new_rows));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER unloads_webhooks AFTER INSERT ON unloads
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wf_webhook_unloads();

-- A receipt's event names the movement (the shipment) it received.
CREATE FUNCTION wf_webhook_receipts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks WHERE 'movement.received' = ANY (events)) THEN
        PERFORM wf_webhook_enqueue_many('movement.received',
                                        (SELECT array_agg(shipment_id ORDER BY id) FROM new_rows));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER receipts_webhooks AFTER INSERT ON receipts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wf_webhook_receipts();

-- The export's and the report's ranges over the ledger by time.
CREATE INDEX IF NOT EXISTS transfers_created_at_idx ON transfers (created_at);
CREATE INDEX IF NOT EXISTS unloads_created_at_idx ON unloads (created_at);
