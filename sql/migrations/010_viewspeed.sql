-- wasteflow v3: how many storages there are, kept in one row by triggers, so that the
-- storage view knows without counting when an organization's search has reached every
-- storage (then none is unreachable, and the view sends no statement to find out). A
-- count(*) would read the whole table on every view; this is one row read with the graph
-- version (ST_VIEW_HEAD).
--
-- Statement-level triggers with transition tables: a seed of 100,000 storages updates the
-- row once. Creating or deleting storages takes the row's lock until commit, so such
-- transactions run one after another (they are admin work, never on a transfer's path:
-- stock and capacity changes are UPDATEs of storage_waste and touch nothing here).
CREATE TABLE storage_census (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    storages bigint NOT NULL CHECK (storages >= 0)
);
INSERT INTO storage_census (storages) SELECT count(*) FROM storages;

CREATE FUNCTION storage_census_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added bigint := (SELECT count(*) FROM census_new);
BEGIN
    IF added > 0 THEN
        UPDATE storage_census SET storages = storages + added;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER storages_census_insert AFTER INSERT ON storages
    REFERENCING NEW TABLE AS census_new
    FOR EACH STATEMENT EXECUTE FUNCTION storage_census_inserted();

CREATE FUNCTION storage_census_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    removed bigint := (SELECT count(*) FROM census_old);
BEGIN
    IF removed > 0 THEN
        UPDATE storage_census SET storages = storages - removed;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER storages_census_delete AFTER DELETE ON storages
    REFERENCING OLD TABLE AS census_old
    FOR EACH STATEMENT EXECUTE FUNCTION storage_census_deleted();

CREATE FUNCTION storage_census_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE storage_census SET storages = 0;
    RETURN NULL;
END
$$;
CREATE TRIGGER storages_census_truncate AFTER TRUNCATE ON storages
    FOR EACH STATEMENT EXECUTE FUNCTION storage_census_truncated();
