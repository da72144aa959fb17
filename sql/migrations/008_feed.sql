-- wasteflow v3: the live feed read from the tables by transaction id, with nothing serial
-- on the commit path.
--
-- Until now every committing transfer took one lock at its commit to get a position in
-- commit order, and NOTIFYed; PostgreSQL serializes notifying commits through their WAL
-- flush, so with durable commits transfers queued one behind another. Now every row the
-- feed reads carries the id of the transaction that wrote it (xid8, pg_current_xact_id(),
-- the top-level id even inside a subtransaction), and a reader takes everything whose
-- transaction id lies below a horizon H that every transaction below has ended by (see
-- wf_feed_horizon): in (xid, id) order, a total order every instance sees alike, so a
-- resume "after transfer P" is (xid of P, P) and misses nothing. No lock, no NOTIFY.
-- docs/events.md explains the choice against logical decoding.

-- Transfers: their own writer's id. Rows from before this version get 0: they come first,
-- in id order (they all committed long ago).
ALTER TABLE transfers ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE transfers ALTER COLUMN xid SET DEFAULT pg_current_xact_id();
CREATE INDEX transfers_feed_idx ON transfers (xid, id);

-- Everything else the feed announces: the ids of the storages, organizations, routes and
-- unloads a statement changed, one row per statement and kind, written by the triggers of
-- 005_events.sql in place of their NOTIFY. Rows older than an hour are pruned by the
-- readers (a reader is never that far behind: only transfers are replayed on resume).
CREATE TABLE event_log (
    xid  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq  bigint GENERATED ALWAYS AS IDENTITY,
    kind "char" NOT NULL CHECK (kind IN ('s', 'o', 'r', 'u')),
    ids  bigint[] NOT NULL CHECK (cardinality(ids) > 0),
    at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (xid, seq)
);
CREATE INDEX event_log_at_idx ON event_log (at);

-- WASTEFLOW_EVENTS=off sets wasteflow.events to off in the service's sessions: then the
-- write path produces nothing for the feed.
CREATE OR REPLACE FUNCTION wf_notify_ids(kind text, ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR current_setting('wasteflow.events', true) = 'off' THEN
        RETURN;
    END IF;
    INSERT INTO event_log (kind, ids) VALUES (kind::"char", ids);
END
$$;

CREATE OR REPLACE FUNCTION wf_events_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wf_notify_ids(TG_ARGV[0], ARRAY[NEW.id]);
    RETURN NULL;
END
$$;

-- The commit position and its lock go: transfer_commits stays as the history it is
-- (append-only), and nothing writes it any more.
DROP TRIGGER transfers_commit_position ON transfers;
DROP FUNCTION wf_transfer_committed();
DELETE FROM service_locks WHERE name = 'transfer_commits';

-- A deletion is in event_log like any change (the reader finds no row: deleted), so the
-- tombstones and the snapshot comparison of hints are no longer needed.
DROP TRIGGER storages_tombstones ON storages;
DROP TRIGGER organizations_tombstones ON organizations;
DROP TRIGGER routes_tombstones ON routes;
DROP FUNCTION wf_tombstones();
DROP TABLE event_tombstones;
DROP FUNCTION wf_written_since(xid, pg_snapshot);

-- The horizon of the statement's snapshot: every transaction with a smaller id has ended
-- (and what it committed is visible to the statement). It is the snapshot's xmax, lowered
-- to each transaction still in progress that could write the feed's rows. A transaction
-- is passed over only when it is proven to belong to a role that may insert into neither
-- transfers nor event_log (an auditor holding a transaction open must not stall the feed):
-- its id is held by a backend (pg_locks) whose role (pg_stat_activity) lacks the
-- privilege. An id no backend holds any more is not passed over: it ended after the
-- snapshot was taken, so its rows are not visible to this statement; the next read takes
-- them. Called once per statement (in FROM), never per row.
CREATE FUNCTION wf_feed_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
    WITH s AS MATERIALIZED (SELECT pg_current_snapshot() AS snap),
    running AS MATERIALIZED (SELECT pg_snapshot_xip(s.snap) AS xid FROM s),
    passed AS MATERIALIZED (
        SELECT l.transactionid
        FROM pg_locks l JOIN pg_stat_get_activity(NULL) a ON a.pid = l.pid
        WHERE EXISTS (SELECT 1 FROM running) AND l.locktype = 'transactionid' AND l.granted
          AND l.mode = 'ExclusiveLock'
          AND NOT has_table_privilege(a.usesysid, 'transfers', 'INSERT')
          AND NOT has_table_privilege(a.usesysid, 'event_log', 'INSERT'))
    SELECT least((SELECT pg_snapshot_xmax(s.snap) FROM s),
                 (SELECT min(r.xid) FROM running r
                  WHERE NOT EXISTS (SELECT 1 FROM passed p WHERE p.transactionid = r.xid::xid)))
$$;
