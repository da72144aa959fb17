-- wasteflow v2, live events (GET /v1/events): every committed change is announced on the
-- channel wasteflow_events by triggers, so the service, psql and the seed are all covered,
-- and the ledger's transfers get a commit-ordered position for Last-Event-ID.
--
-- Payloads are small: "<kind>:<id>,<id>,..." with kind s (storages), o (organizations),
-- r (routes) or u (unloads), or "<kind>:*" when one statement changed more than 500 of
-- them (the listener then tells its clients to refetch); "t" says that transfers
-- committed (the listener reads them from transfer_commits by position). PostgreSQL keeps
-- one notification per distinct payload per transaction, and every instance's listener
-- fetches the details in batches.

-- The order in which the ledger's transfers committed. A transfer's position is taken at
-- its transaction's commit under one advisory lock held until the commit ends, so a later
-- position always belongs to a later commit, and a reader that sees a position sees every
-- position before it: resuming "after position P" misses nothing, which transfer ids
-- (taken when a transfer starts) cannot promise. Append-only like the ledger.
CREATE TABLE transfer_commits (
    position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id bigint NOT NULL
);
INSERT INTO transfer_commits (transfer_id) SELECT id FROM transfers ORDER BY id;
CREATE TRIGGER transfer_commits_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON transfer_commits FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Deferred to the commit, so the lock is held only from there to the commit's end. The
-- NOTIFY queue orders committing notifiers the same way (PostgreSQL serializes them on a
-- lock of its own, held as long): taking this lock first costs no further waiting.
CREATE FUNCTION wf_transfer_committed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('wasteflow.transfer_commits'));
    INSERT INTO transfer_commits (transfer_id) VALUES (NEW.id);
    PERFORM pg_notify('wasteflow_events', 't');
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER transfers_commit_position AFTER INSERT ON transfers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wf_transfer_committed();

-- One notification per statement: the distinct ids of the transition table's column.
CREATE FUNCTION wf_notify_ids(kind text, ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_notify('wasteflow_events', kind || ':' ||
                      CASE WHEN cardinality(ids) > 500 THEN '*' ELSE array_to_string(ids, ',') END);
END
$$;

-- TG_ARGV[0]: the kind. Each reads the transition table "changed" (new rows for INSERT and
-- UPDATE, old ones for DELETE).
CREATE FUNCTION wf_events_by_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wf_notify_ids(TG_ARGV[0], (SELECT array_agg(DISTINCT id ORDER BY id) FROM changed));
    RETURN NULL;
END
$$;
CREATE FUNCTION wf_events_by_storage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wf_notify_ids(TG_ARGV[0],
                          (SELECT array_agg(DISTINCT storage_id ORDER BY storage_id) FROM changed));
    RETURN NULL;
END
$$;
CREATE FUNCTION wf_events_by_organization() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wf_notify_ids(TG_ARGV[0], (SELECT array_agg(DISTINCT organization_id
                                                        ORDER BY organization_id) FROM changed));
    RETURN NULL;
END
$$;

-- A rename, row by row: a trigger with transition tables cannot name its columns, and one
-- on every update of the row would run for every transfer (pending_since). Renames are rare.
CREATE FUNCTION wf_events_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wasteflow_events', TG_ARGV[0] || ':' || NEW.id);
    RETURN NULL;
END
$$;

-- Storages: their rows (created, renamed, deleted) and their stock and capacities.
CREATE TRIGGER storages_events_insert AFTER INSERT ON storages REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_id('s');
CREATE TRIGGER storages_events_rename AFTER UPDATE OF name ON storages FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION wf_events_renamed('s');
CREATE TRIGGER storages_events_delete AFTER DELETE ON storages REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_id('s');
CREATE TRIGGER storage_waste_events_insert AFTER INSERT ON storage_waste
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_storage('s');
CREATE TRIGGER storage_waste_events_update AFTER UPDATE ON storage_waste
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_storage('s');
CREATE TRIGGER storage_waste_events_delete AFTER DELETE ON storage_waste
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_storage('s');

-- Organizations: their rows (pending_since alone is bookkeeping, not shown) and their
-- pending waste and on-site limits.
CREATE TRIGGER organizations_events_insert AFTER INSERT ON organizations
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_id('o');
CREATE TRIGGER organizations_events_rename AFTER UPDATE OF name ON organizations FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION wf_events_renamed('o');
CREATE TRIGGER organizations_events_delete AFTER DELETE ON organizations
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_id('o');
CREATE TRIGGER organization_waste_events_insert AFTER INSERT ON organization_waste
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION wf_events_by_organization('o');
CREATE TRIGGER organization_waste_events_update AFTER UPDATE ON organization_waste
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION wf_events_by_organization('o');
CREATE TRIGGER organization_waste_events_delete AFTER DELETE ON organization_waste
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION wf_events_by_organization('o');

-- Routes and unloads.
CREATE TRIGGER routes_events_insert AFTER INSERT ON routes REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_id('r');
CREATE TRIGGER routes_events_update AFTER UPDATE ON routes REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_id('r');
CREATE TRIGGER routes_events_delete AFTER DELETE ON routes REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_id('r');
CREATE TRIGGER unloads_events_insert AFTER INSERT ON unloads REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_events_by_id('u');
