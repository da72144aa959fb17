-- wasteflow v3: what the storage view needs to know of the storages without reading them,
-- kept in one row by triggers and read with the graph version (ST_VIEW_HEAD):
--   storages       how many there are: when an organization's search has reached that
--                  many, none is unreachable, and the view sends no statement to find out
--                  (a count(*) would read the whole table on every view);
--   types_version  moves whenever a storage starts or stops accepting a type (a storage
--                  created or deleted, a type added or removed): a view filtered by a type
--                  few storages accept keeps that type's storages between requests and
--                  reads them again only when this moved.
--
-- Statement-level triggers with transition tables: a seed of 100,000 storages updates the
-- row once. Creating or deleting storages takes the row's lock until commit, so such
-- transactions run one after another (they are admin work, never on a transfer's path:
-- stock and capacity changes are UPDATEs of storage_waste and touch nothing here).
CREATE TABLE storage_census (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    storages      bigint NOT NULL CHECK (storages >= 0),
    types_version bigint NOT NULL DEFAULT 1
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

-- storage_waste rows come and go with the types a storage accepts; its UPDATEs of stock and
-- capacity (every transfer's) name neither column and fire nothing here.
CREATE FUNCTION storage_census_types_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE storage_census SET types_version = types_version + 1;
    RETURN NULL;
END
$$;
CREATE FUNCTION storage_census_types_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM census_new) THEN
        UPDATE storage_census SET types_version = types_version + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION storage_census_types_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM census_old) THEN
        UPDATE storage_census SET types_version = types_version + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER storage_waste_census_insert AFTER INSERT ON storage_waste
    REFERENCING NEW TABLE AS census_new
    FOR EACH STATEMENT EXECUTE FUNCTION storage_census_types_inserted();
CREATE TRIGGER storage_waste_census_delete AFTER DELETE ON storage_waste
    REFERENCING OLD TABLE AS census_old
    FOR EACH STATEMENT EXECUTE FUNCTION storage_census_types_deleted();
CREATE TRIGGER storage_waste_census_update AFTER UPDATE OF storage_id, waste_type ON storage_waste
    FOR EACH STATEMENT EXECUTE FUNCTION storage_census_types_changed();
CREATE TRIGGER storage_waste_census_truncate AFTER TRUNCATE ON storage_waste
    FOR EACH STATEMENT EXECUTE FUNCTION storage_census_types_changed();
