-- wasteflow v3: a receipt is dated by the clock, like every other ledger row (007).
--
-- The app role may insert receipts; without this, it could write one received in the past
-- (or the future), and the history, the balance and the forecasts would trust it.
CREATE FUNCTION wf_receipt_dated_now() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.received_at IS DISTINCT FROM now() THEN
        RAISE EXCEPTION 'the receipts ledger is dated now(): received_at % is not now()',
            NEW.received_at USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER receipts_dated_now BEFORE INSERT ON receipts
    FOR EACH ROW EXECUTE FUNCTION wf_receipt_dated_now();
