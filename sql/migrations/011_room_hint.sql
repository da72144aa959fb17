-- wasteflow v3: the dispatcher's wake-up leaves the writing transaction's commit.
--
-- room_events rows announced themselves with NOTIFY wasteflow_room inside the transaction
-- that made room (an unload, a capacity raised, a road added): PostgreSQL serializes
-- notifying commits through their WAL flush, so with durable commits those requests queued
-- one behind another. The service's own sessions now say `SET wasteflow.room_hint =
-- after_commit`, and the instance that committed the room tells the dispatcher itself, after
-- the commit, in a transaction of its own on its control connection (lib/engine/dispatch.c,
-- dispatcher_room_appeared). Every other session (psql, the seed) still notifies from here,
-- so room made by hand wakes the dispatcher as before.
CREATE OR REPLACE FUNCTION room_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('wasteflow.room_hint', true) IS DISTINCT FROM 'after_commit' THEN
        PERFORM pg_notify('wasteflow_room', '');
    END IF;
    RETURN NULL;
END
$$;
