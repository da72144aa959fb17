-- wasteflow v2, road changes as a log: every change to routes, in the transaction that makes
-- it, becomes rows of route_changes numbered by the graph version it leads to, so an instance
-- holding version v brings its road graph up to date by applying the rows after v instead of
-- reloading every road (lib/engine/graph_cache.c).
--
-- Triggers on routes write the log and move graph_state.version, for every writer: the API,
-- cascades from deleting a storage or an organization, seeds, psql. graph_state.version
-- advances by exactly the number of rows logged, so versions in the log are contiguous; a
-- version with no row (a statement too large to log, a TRUNCATE, a bump by hand, rows
-- deleted by hand) is a gap, and an instance that would have to cross it loads the whole
-- graph instead. An UPDATE that changes nothing moves nothing.

CREATE TABLE route_changes (
    version              bigint PRIMARY KEY,  -- the graph_state.version this change made
    route_id             bigint NOT NULL,     -- no foreign key: deleted routes stay logged
    op                   text NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
    -- The road after the change; for a delete, the road that was deleted.
    from_organization_id bigint,
    from_storage_id      bigint,
    to_organization_id   bigint,
    to_storage_id        bigint,
    distance_m           bigint NOT NULL,
    two_way              boolean NOT NULL,
    -- For an update, the road before it (so a reader can tell a road that got shorter).
    old_distance_m       bigint,
    old_two_way          boolean,
    changed_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT route_changes_one_from CHECK (num_nonnulls(from_organization_id, from_storage_id) = 1),
    CONSTRAINT route_changes_one_to CHECK (num_nonnulls(to_organization_id, to_storage_id) = 1)
);

-- Moves graph_state.version past `changed` new log rows and returns the version before them
-- (the rows take the next `changed` numbers), pruning what falls out of the retained window
-- of the newest 100,000 changes. More than that in one statement is not logged at all: the
-- version moves by one with no row (a gap, so every instance loads the whole graph), and the
-- log before it, which can never serve anyone again, is dropped. The row lock on graph_state
-- orders concurrent route changes, so versions are handed out without holes.
CREATE FUNCTION route_changes_advance(changed bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    retained constant bigint := 100000;
    before bigint;
BEGIN
    IF changed > retained THEN
        UPDATE graph_state SET version = version + 1 RETURNING version - 1 INTO before;
        DELETE FROM route_changes WHERE version <= before;
        RETURN NULL;
    END IF;
    UPDATE graph_state SET version = version + changed RETURNING version - changed INTO before;
    -- Exactly the versions that leave the window now: each statement prunes its own share,
    -- so the log never grows past the window and no statement scans it.
    DELETE FROM route_changes
    WHERE version > before - retained AND version <= before + changed - retained;
    RETURN before;
END
$$;

CREATE FUNCTION route_changes_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
    before bigint;
BEGIN
    SELECT count(*) INTO changed FROM new_routes;
    IF changed = 0 THEN
        RETURN NULL;
    END IF;
    before := route_changes_advance(changed);
    IF before IS NOT NULL THEN
        INSERT INTO route_changes (version, route_id, op, from_organization_id, from_storage_id,
                                   to_organization_id, to_storage_id, distance_m, two_way)
        SELECT before + row_number() OVER (ORDER BY n.id), n.id, 'insert',
               n.from_organization_id, n.from_storage_id, n.to_organization_id, n.to_storage_id,
               n.distance_m, n.two_way
        FROM new_routes n;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION route_changes_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
    before bigint;
BEGIN
    -- Only the rows whose road really changed (a PATCH of {} or of the same values is no
    -- change: docs/design.md, "Limits").
    SELECT count(*) INTO changed
    FROM new_routes n JOIN old_routes o ON o.id = n.id
    WHERE (n.from_node, n.to_node, n.distance_m, n.two_way)
          IS DISTINCT FROM (o.from_node, o.to_node, o.distance_m, o.two_way);
    IF changed = 0 THEN
        RETURN NULL;
    END IF;
    before := route_changes_advance(changed);
    IF before IS NOT NULL THEN
        INSERT INTO route_changes (version, route_id, op, from_organization_id, from_storage_id,
                                   to_organization_id, to_storage_id, distance_m, two_way,
                                   old_distance_m, old_two_way)
        SELECT before + row_number() OVER (ORDER BY n.id), n.id, 'update',
               n.from_organization_id, n.from_storage_id, n.to_organization_id, n.to_storage_id,
               n.distance_m, n.two_way, o.distance_m, o.two_way
        FROM new_routes n JOIN old_routes o ON o.id = n.id
        WHERE (n.from_node, n.to_node, n.distance_m, n.two_way)
              IS DISTINCT FROM (o.from_node, o.to_node, o.distance_m, o.two_way);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION route_changes_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bigint;
    before bigint;
BEGIN
    SELECT count(*) INTO changed FROM old_routes;
    IF changed = 0 THEN
        RETURN NULL;
    END IF;
    before := route_changes_advance(changed);
    IF before IS NOT NULL THEN
        INSERT INTO route_changes (version, route_id, op, from_organization_id, from_storage_id,
                                   to_organization_id, to_storage_id, distance_m, two_way)
        SELECT before + row_number() OVER (ORDER BY o.id), o.id, 'delete',
               o.from_organization_id, o.from_storage_id, o.to_organization_id, o.to_storage_id,
               o.distance_m, o.two_way
        FROM old_routes o;
    END IF;
    RETURN NULL;
END
$$;

-- TRUNCATE names no rows: the version moves with no row, which every instance reads as a gap.
CREATE FUNCTION route_changes_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM route_changes_advance(100001);
    RETURN NULL;
END
$$;

-- One trigger per event: a trigger with transition tables may have only one.
CREATE TRIGGER routes_logged_insert AFTER INSERT ON routes
    REFERENCING NEW TABLE AS new_routes
    FOR EACH STATEMENT EXECUTE FUNCTION route_changes_inserted();
CREATE TRIGGER routes_logged_update AFTER UPDATE ON routes
    REFERENCING OLD TABLE AS old_routes NEW TABLE AS new_routes
    FOR EACH STATEMENT EXECUTE FUNCTION route_changes_updated();
CREATE TRIGGER routes_logged_delete AFTER DELETE ON routes
    REFERENCING OLD TABLE AS old_routes
    FOR EACH STATEMENT EXECUTE FUNCTION route_changes_deleted();
CREATE TRIGGER routes_logged_truncate AFTER TRUNCATE ON routes
    FOR EACH STATEMENT EXECUTE FUNCTION route_changes_truncated();
