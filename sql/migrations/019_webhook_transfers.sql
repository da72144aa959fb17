-- wasteflow v3: the transfer statement writes its own webhook outbox rows.
--
-- transfers_webhooks (015) is a statement-level plpgsql trigger: 30-40 us of PostgreSQL's
-- CPU on every transfer, subscriptions or not (the call, the transition table, the EXISTS).
-- The service's transfer statement now writes the outbox rows of the subscriptions to
-- transfer.created itself (lib/engine/statements.c, ST_TR_RECORD: the CTE wh, a scan of the
-- small webhooks table) and marks its transaction (set_config('wasteflow.webhooks_written',
-- 'on', true), as each ledger row is written, like the totals' mark of 009). The trigger
-- stays for every other writer of transfers (psql, a restore). The mark is transaction-local.
DROP TRIGGER transfers_webhooks ON transfers;
CREATE TRIGGER transfers_webhooks AFTER INSERT ON transfers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('wasteflow.webhooks_written', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION wf_webhook_transfers();
