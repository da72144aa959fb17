-- wasteflow v3: nothing another database role can do reaches the service.
--
-- Every role may take advisory locks and send notifications, so neither may steer the
-- service: the locks on a request's path become row locks on tables only the app role
-- may write (a read-only role can take no row lock at all, and no table lock stronger
-- than ACCESS SHARE, which conflicts only with what the schema owner does), dispatcher
-- leadership becomes a lease row, and notifications become hints the listener checks
-- against the tables. And the app role itself can no longer rewrite who may do what or
-- when the ledger says something happened.

-- ---------------------------------------------------------------- locks only the app takes

-- One row per lock the service takes to run things one at a time. The app role may lock
-- them (it has UPDATE); the auditor may only read them.
CREATE TABLE service_locks (
    name text PRIMARY KEY
);
INSERT INTO service_locks (name) VALUES ('graph'), ('transfer_commits');

-- A transfer's position is taken at its commit under the 'transfer_commits' row lock, held
-- until the commit ends, so a later position always belongs to a later commit (see
-- 005_events.sql); the lock was an advisory one, which any session could hold.
-- Replaced only where it still takes the advisory lock: a later version of the feed that
-- no longer serializes commits is left as it is.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'wf_transfer_committed'
               AND prosrc LIKE '%pg_advisory_xact_lock%') THEN
        CREATE OR REPLACE FUNCTION wf_transfer_committed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM service_locks WHERE name = 'transfer_commits' FOR UPDATE;
            INSERT INTO transfer_commits (transfer_id) VALUES (NEW.id);
            PERFORM pg_notify('wasteflow_events', 't');
            RETURN NULL;
        END
        $$;
    END IF;
END
$do$;

-- Idempotency-Key in flight: the transaction serving a key inserts its claim first and
-- deletes it with the stored response, so a claim is never seen committed; a second
-- request with the same key meanwhile meets the uncommitted row, waits 1 ms at most for it
-- and is told the key is still being processed (WF409) before any of its work runs. A
-- claim left committed by anything else is only locked, never in the way.
CREATE TABLE idempotency_claims (
    principal text NOT NULL,
    key       text NOT NULL,
    PRIMARY KEY (principal, key)
);

CREATE FUNCTION wf_idempotency_claim(caller text, idempotency_key text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    session_lock_timeout text := current_setting('lock_timeout');
BEGIN
    BEGIN
        PERFORM set_config('lock_timeout', '1ms', true);
        INSERT INTO idempotency_claims AS c (principal, key) VALUES (caller, idempotency_key)
        ON CONFLICT (principal, key) DO UPDATE SET key = EXCLUDED.key;
    EXCEPTION WHEN lock_not_available THEN
        RAISE EXCEPTION USING ERRCODE = 'WF409',
            MESSAGE = 'a request with this Idempotency-Key is still being processed';
    END;
    PERFORM set_config('lock_timeout', session_lock_timeout, true);
    RETURN true;
END
$$;

-- ---------------------------------------------------------------- dispatcher leadership

-- One row: who dispatches (a random id per instance process) until when. The holder
-- renews it at its polls once a third of it has passed, and at every page of a sweep;
-- another instance takes it over only once it has expired, so
-- a crashed leader is replaced after the lease (5 s, or three dispatch intervals if
-- longer). term counts the hand-overs: a leader that finds another term than its own was
-- replaced meanwhile and starts again from a full sweep.
CREATE TABLE dispatcher_lease (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    holder     text NOT NULL,
    term       bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
INSERT INTO dispatcher_lease (holder, term, expires_at) VALUES ('', 0, '-infinity');

-- ---------------------------------------------------------------- notifications as hints

-- Announcements name at most 500 ids each, split over as many notifications as needed:
-- the triggers never send "<kind>:*", so the listener ignores it instead of telling every
-- stream to resync (005_events.sql said '*' above 500 ids).
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'wf_notify_ids'
               AND prosrc LIKE '%''*''%') THEN
        CREATE OR REPLACE FUNCTION wf_notify_ids(kind text, ids bigint[]) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE
            first int := 1;
        BEGIN
            IF ids IS NULL THEN
                RETURN;
            END IF;
            WHILE first <= cardinality(ids) LOOP
                PERFORM pg_notify('wasteflow_events',
                                  kind || ':' || array_to_string(ids[first:first + 499], ','));
                first := first + 500;
            END LOOP;
        END
        $$;
    END IF;
END
$do$;

-- What the listener checks a hint against: deleted storages, organizations and routes (a
-- deletion leaves no row to look at). Rows older than a day are dropped as new ones come;
-- deletions are rare, administrative writes.
CREATE TABLE event_tombstones (
    kind       text NOT NULL CHECK (kind IN ('s', 'o', 'r')),
    id         bigint NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id)
);
CREATE INDEX event_tombstones_deleted_idx ON event_tombstones (deleted_at);

CREATE FUNCTION wf_tombstones() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_tombstones WHERE deleted_at < now() - interval '1 day';
    INSERT INTO event_tombstones (kind, id) SELECT TG_ARGV[0], id FROM changed
    ON CONFLICT (kind, id) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER storages_tombstones AFTER DELETE ON storages REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_tombstones('s');
CREATE TRIGGER organizations_tombstones AFTER DELETE ON organizations
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION wf_tombstones('o');
CREATE TRIGGER routes_tombstones AFTER DELETE ON routes REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION wf_tombstones('r');

-- Whether a row version (its xmin) was written by a transaction that the snapshot `since`
-- does not see: committed after it was taken, or still running then. The 32-bit xid is
-- widened with the current epoch (a row's xmin is never more than 2^31 transactions old
-- without being frozen, and frozen rows are old). NULL since: everything counts as new.
CREATE FUNCTION wf_written_since(row_xid xid, since pg_snapshot) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN since IS NULL THEN true
        WHEN row_xid::text::bigint < 3 THEN false -- bootstrap and frozen
        ELSE NOT pg_visible_in_snapshot(
            ((CASE WHEN row_xid::text::bigint <= c.now_xid % 4294967296
                   THEN c.now_xid / 4294967296 ELSE c.now_xid / 4294967296 - 1 END)
             * 4294967296 + row_xid::text::bigint)::text::xid8, since)
    END
    FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS now_xid) c
$$;

-- ---------------------------------------------------------------- keys and the ledger

-- A key's identity and powers are fixed at creation; revocation is one way. So even psql
-- as the app role cannot turn an organization key into an admin one, or a revoked key
-- back on. (Deleting is not granted to the app role at all: DELETE /v1/api-keys/{id}
-- revokes; an organization's or storage's keys go with it by the foreign keys' cascade,
-- which runs with the owner's rights.)
CREATE FUNCTION wf_api_keys_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.created_at IS DISTINCT FROM now() THEN
            RAISE EXCEPTION 'an API key is created now: created_at must be now()'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NEW.revoked_at IS NOT NULL THEN
            RAISE EXCEPTION 'an API key is not created revoked'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.role, NEW.organization_id, NEW.storage_id, NEW.secret_hash, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.role, OLD.organization_id, OLD.storage_id, OLD.secret_hash, OLD.created_at) THEN
        RAISE EXCEPTION 'an API key''s role, scope, secret and creation time never change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'a revoked API key stays revoked'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
       AND NEW.revoked_at IS DISTINCT FROM now() THEN
        RAISE EXCEPTION 'an API key is revoked now: revoked_at must be now()'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER api_keys_guard BEFORE INSERT OR UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION wf_api_keys_guard();

-- The ledger says when things happened, and only the clock may say it: a transfer or an
-- unload is dated now() (the transaction's time), by whoever writes it.
CREATE FUNCTION wf_ledger_dated_now() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.created_at IS DISTINCT FROM now() THEN
        RAISE EXCEPTION 'the % ledger is dated now(): created_at % is not now()',
            TG_TABLE_NAME, NEW.created_at USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER transfers_dated_now BEFORE INSERT ON transfers
    FOR EACH ROW EXECUTE FUNCTION wf_ledger_dated_now();
CREATE TRIGGER unloads_dated_now BEFORE INSERT ON unloads
    FOR EACH ROW EXECUTE FUNCTION wf_ledger_dated_now();
