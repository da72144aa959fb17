-- wasteflow v3: daily checkpoints of the balance, so that a report's cost is bounded by its
-- period, not by the ledger (docs/webhooks.md, "What a report costs").
--
-- One row per UTC day and waste type: what happened within the day (the report's period
-- figures: generated, accepted, rejected, unloaded, variance) and the state at the day's
-- end (pending, in_transit), exactly as GET /v1/reports/balance computes them for
-- [day 00:00 UTC, next day 00:00 UTC). Written by every instance's filler
-- (lib/engine/balance_days.c), one day per transaction, each day from the previous day's
-- row and that day's ledger rows; never updated: rows are exact, so two instances filling
-- the same day write the same values and the second one's INSERT ... ON CONFLICT DO NOTHING
-- writes nothing. The app role may only read and append (lib/db/migrate.c); the schema's
-- owner may empty it (TRUNCATE) after writing ledger rows into the past by hand, and the
-- fillers write it again from the ledger's first day.
--
-- Exact despite late commits: every ledger row is dated now(), its transaction's start
-- (transfers and unloads: 007, receipts: 020; a movement is its transfer's), so a
-- transaction that started before midnight may commit after it with rows dated the day
-- before. A day is filled only once no transaction that started before its end is still
-- running (wf_xacts_ended_before, below, asked in a transaction of its own before the
-- filling one takes its snapshot): every row dated within the day is then committed and in
-- the snapshot, or never will be.
CREATE TABLE balance_days (
    day        date NOT NULL,
    waste_type text NOT NULL,
    generated  bigint NOT NULL,
    accepted   bigint NOT NULL,
    rejected   bigint NOT NULL,
    unloaded   bigint NOT NULL,
    variance   bigint NOT NULL,
    pending    bigint NOT NULL,
    in_transit bigint NOT NULL,
    PRIMARY KEY (day, waste_type)
);

-- The oldest start of a transaction still running in this database, among the sessions the
-- schema's owner may see (SECURITY DEFINER: pg_stat_activity shows a session's xact_start
-- only to its own role, members of pg_read_all_stats and superusers, so the app role alone
-- would not see the owner's sessions, which may write the ledger too). Only that one
-- timestamp comes out.
CREATE FUNCTION wf_owner_oldest_xact() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT min(xact_start) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND backend_type <> 'autovacuum worker'
$$;
REVOKE EXECUTE ON FUNCTION wf_owner_oldest_xact() FROM PUBLIC;

-- Whether every transaction of this database that started before t has ended (committed or
-- rolled back), as far as the caller's role and the schema's owner can see: none of the
-- sessions either may see is in a transaction that started before t, and no transaction is
-- prepared (two-phase commit: it may have started at any time and commit later). A session
-- reports its transaction's start (xact_start = now() of its rows) as the transaction
-- starts and clears it only after the commit is visible to new snapshots, so once this is
-- true, a snapshot taken afterwards holds every row dated before t that will ever be
-- committed; callers also keep t a minute in the past, far beyond the instant between a
-- transaction's start and its report. Autovacuum's transactions write no ledger rows.
-- pg_stat_activity is read once per transaction: ask in a transaction of its own.
CREATE FUNCTION wf_xacts_ended_before(t timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
                       WHERE datname = current_database() AND pid <> pg_backend_pid()
                         AND backend_type <> 'autovacuum worker' AND xact_start < t)
       AND coalesce(wf_owner_oldest_xact() >= t, true)
       AND NOT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database())
$$;
