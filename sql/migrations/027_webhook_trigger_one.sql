-- wasteflow v3: one outbox trigger function for the four tables that announce webhook events.
--
-- wf_webhook_transfers, wf_webhook_unloads, wf_webhook_receipts (015) and wf_webhook_alerts
-- (018) differed only in the event type and in the column that names the event's entity
-- (a receipt announces the movement it received: its shipment_id). wf_webhook_new_rows
-- takes both from the trigger's arguments. The triggers keep their names, their tables,
-- their statement level and their WHEN (019: transfers_webhooks stays idle in a transaction
-- marked wasteflow.webhooks_written, where the transfer statement wrote its own outbox rows).
-- When nobody subscribed to the event, the EXISTS is still the whole cost.

CREATE FUNCTION wf_webhook_new_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks WHERE TG_ARGV[0] = ANY (events)) THEN
        -- The new rows in id order (receipts: their movements, in the receipts' order).
        EXECUTE format('SELECT array_agg(%I ORDER BY id) FROM new_rows', TG_ARGV[1]) INTO ids;
        PERFORM wf_webhook_enqueue_many(TG_ARGV[0], ids);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER transfers_webhooks ON transfers;
CREATE TRIGGER transfers_webhooks AFTER INSERT ON transfers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('wasteflow.webhooks_written', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION wf_webhook_new_rows('transfer.created', 'id');

DROP TRIGGER unloads_webhooks ON unloads;
CREATE TRIGGER unloads_webhooks AFTER INSERT ON unloads
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION wf_webhook_new_rows('unload.created', 'id');

DROP TRIGGER receipts_webhooks ON receipts;
CREATE TRIGGER receipts_webhooks AFTER INSERT ON receipts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION wf_webhook_new_rows('movement.received', 'shipment_id');

DROP TRIGGER alert_firings_webhooks ON alert_firings;
CREATE TRIGGER alert_firings_webhooks AFTER INSERT ON alert_firings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION wf_webhook_new_rows('alert.fired', 'id');

DROP FUNCTION wf_webhook_transfers();
DROP FUNCTION wf_webhook_unloads();
DROP FUNCTION wf_webhook_receipts();
DROP FUNCTION wf_webhook_alerts();
