-- wasteflow v3: fill history, forecasts and threshold alerts.
--
-- History and forecasts are read from the ledger itself; these indexes keep a request's
-- cost bounded by the time range it asks for, not by the size of the ledger. Shipments
-- have no time of their own (their transfer's created_at is theirs), so transfers get an
-- index on created_at (with the id, so the least id in a range is an index-only scan); a
-- storage's shipments are then a range of the shipments' indexes.
CREATE INDEX transfers_created_at_idx ON transfers (created_at) INCLUDE (id);
CREATE INDEX unloads_history_idx ON unloads (storage_id, waste_type, created_at) INCLUDE (amount);

-- Alert rules: fire when (stock + reserved) / capacity of a matching storage and type goes
-- above fill_ratio_above. NULL storage_id or waste_type: every storage, or every type.
CREATE TABLE alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    storage_id       bigint REFERENCES storages (id) ON DELETE CASCADE,
    waste_type       text REFERENCES waste_types (code),
    fill_ratio_above double precision NOT NULL
        CHECK (fill_ratio_above > 0 AND fill_ratio_above <= 1),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Per rule and matching (storage, type): whether the rule may fire (armed) or already fired
-- and waits for the ratio to fall back to the threshold or below. A pair without a row is
-- armed. Written only by the evaluator that holds alert_lease, and when a rule is created
-- (pairs already above the threshold start disarmed: a rule fires on crossings after it).
CREATE TABLE alert_state (
    alert_id   bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    storage_id bigint NOT NULL REFERENCES storages (id) ON DELETE CASCADE,
    waste_type text NOT NULL,
    armed      boolean NOT NULL,
    PRIMARY KEY (alert_id, storage_id, waste_type)
);

-- Every firing, kept after its rule or storage is gone (no foreign keys): the feed's
-- `alert` events and the alert.fired webhooks are read from here by transaction id.
CREATE TABLE alert_firings (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id   bigint NOT NULL,
    storage_id bigint NOT NULL,
    waste_type text NOT NULL,
    ratio      double precision NOT NULL,
    threshold  double precision NOT NULL,
    fired_at   timestamptz NOT NULL DEFAULT now(),
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX alert_firings_feed_idx ON alert_firings (xid, id);

-- Which instance evaluates the rules, like dispatcher_lease: a random id per process until
-- expires_at. Taken and renewed by the evaluation statement itself, whose row lock makes
-- two evaluations run one after the other, so a crossing fires once even when two
-- instances both believe they hold the lease.
CREATE TABLE alert_lease (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO alert_lease (holder, expires_at) VALUES ('', '-infinity');

-- Firings reach /v1/events through event_log, like unloads ('a': alert_firings ids). The
-- kinds allowed so far are kept, whichever migrations added them before this one: 'a' is
-- added to the letters of the current constraint, not to a list written here.
DO $do$
DECLARE
    letters text[];
BEGIN
    SELECT array_agg(m[1]) INTO letters
    FROM pg_constraint c, regexp_matches(pg_get_constraintdef(c.oid), '''(.)''', 'g') AS m
    WHERE c.conname = 'event_log_kind_check' AND c.conrelid = 'event_log'::regclass;
    letters := ARRAY(SELECT DISTINCT l FROM unnest(letters || ARRAY['a']) AS l ORDER BY l);
    ALTER TABLE event_log DROP CONSTRAINT event_log_kind_check;
    EXECUTE format('ALTER TABLE event_log ADD CONSTRAINT event_log_kind_check CHECK (kind IN (%s))',
                   (SELECT string_agg(quote_literal(l), ', ') FROM unnest(letters) AS l));
END
$do$;
CREATE TRIGGER alert_firings_events AFTER INSERT ON alert_firings
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_id('a');
