-- wasteflow v3: a transfer's stock changes reach the live feed through its shipments.
--
-- Every transfer updates storage_waste, and the statement trigger of 005_events.sql then
-- logged the storages it changed in event_log: a plpgsql call, an aggregate over the
-- transition table and one more INSERT, about 100 us of PostgreSQL's CPU per transfer,
-- a sixth of all a transfer costs it. The feed already reads every transfer with its
-- shipments (lib/engine/events_feed.c), and they name exactly the storages whose stock the
-- transfer changed; so the service's transfer statement marks its transaction
-- (set_config('wasteflow.storages_by_shipments', 'on', true), next to the totals' mark of
-- 009_transfer_cost.sql) and the trigger stays idle for it. Every other writer of
-- storage_waste (a storage created or edited, an unload, a receipt, psql) is logged as
-- before. The mark is transaction-local: a pooled session never carries it further.
DROP TRIGGER storage_waste_events_update ON storage_waste;
CREATE TRIGGER storage_waste_events_update AFTER UPDATE ON storage_waste
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    WHEN (current_setting('wasteflow.storages_by_shipments', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION wf_events_by_storage('s');
