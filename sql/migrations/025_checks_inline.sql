-- wasteflow v3: the checks a transfer passes cost nothing while they pass.
--
-- wf_check (001) was a PL/pgSQL function: every call entered the PL/pgSQL interpreter, about
-- 5 us, twice per transfer (the received codes, the guarded stock update) and in most
-- other writes. As a one-expression SQL function PostgreSQL inlines it into the calling
-- statement: a CASE that only calls wf_raise (PL/pgSQL, the one way to raise from SQL) when
-- the condition does not hold. Its meaning is unchanged: anything but true (false or NULL)
-- raises code with message; the message is only computed then.
CREATE FUNCTION wf_raise(code text, message text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
END
$$;

CREATE OR REPLACE FUNCTION wf_check(ok boolean, code text, message text) RETURNS boolean
LANGUAGE sql AS $$
    SELECT CASE WHEN ok THEN true ELSE wf_raise(code, message) END
$$;

-- The ledger's "dated now()" guards (007, 020) ran a PL/pgSQL row trigger for every row the
-- service inserts, each time to find the date right. The same triggers with the test in
-- their WHEN clause call the function only for a row dated otherwise, which it refuses as
-- before.
DROP TRIGGER transfers_dated_now ON transfers;
CREATE TRIGGER transfers_dated_now BEFORE INSERT ON transfers
    FOR EACH ROW WHEN (NEW.created_at IS DISTINCT FROM now())
    EXECUTE FUNCTION wf_ledger_dated_now();
DROP TRIGGER unloads_dated_now ON unloads;
CREATE TRIGGER unloads_dated_now BEFORE INSERT ON unloads
    FOR EACH ROW WHEN (NEW.created_at IS DISTINCT FROM now())
    EXECUTE FUNCTION wf_ledger_dated_now();
DROP TRIGGER receipts_dated_now ON receipts;
CREATE TRIGGER receipts_dated_now BEFORE INSERT ON receipts
    FOR EACH ROW WHEN (NEW.received_at IS DISTINCT FROM now())
    EXECUTE FUNCTION wf_receipt_dated_now();
