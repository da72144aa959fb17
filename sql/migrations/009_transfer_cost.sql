-- wasteflow v3: what a transfer costs PostgreSQL.
--
-- The running totals of what transfers received (waste_totals.generated) were kept by a
-- plpgsql trigger, one call per ledger row with its own INSERT ... ON CONFLICT: 20-50 us
-- of PostgreSQL's CPU per transfer. The service's transfer statement now adds the
-- totals itself, in the same statement as the ledger rows (lib/engine/statements.c,
-- ST_TR_RECORD), and marks its transaction (set_config('wasteflow.totals_counted', 'on',
-- true), before each of its rows is inserted). The trigger stays for every other writer
-- (psql, a restore, a test's fixture): a transaction that did not mark itself is counted
-- row by row as before, on its backend's shard. The mark is transaction-local, so a
-- pooled session never carries it into its next transaction.
--
-- The WHEN clause is evaluated as each row is inserted, so the service's rows never call
-- the function at all. Anyone who can insert into the ledger could set the mark and skip
-- the totals, as they could update waste_totals directly: sql/audit.sql compares the
-- totals with the ledger either way.
DROP TRIGGER transfers_totals ON transfers;
CREATE TRIGGER transfers_totals AFTER INSERT ON transfers
    FOR EACH ROW WHEN (NEW.received <> '{}'::jsonb
                       AND current_setting('wasteflow.totals_counted', true)
                           IS DISTINCT FROM 'on')
    EXECUTE FUNCTION waste_totals_received();
