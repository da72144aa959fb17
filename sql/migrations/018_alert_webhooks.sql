-- wasteflow v3: a threshold alert that fires reaches the webhooks subscribed to alert.fired.
--
-- The alert evaluator (lib/engine/alerts.c) records each firing in alert_firings; this trigger
-- writes the outbox rows in the same statement, so a firing and its deliveries commit together
-- (at least once, like every other webhook). Nobody subscribed: one EXISTS on a tiny table.
CREATE FUNCTION wf_webhook_alerts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks WHERE 'alert.fired' = ANY (events)) THEN
        PERFORM wf_webhook_enqueue_many('alert.fired',
                                        (SELECT array_agg(id ORDER BY id) FROM new_rows));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER alert_firings_webhooks AFTER INSERT ON alert_firings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wf_webhook_alerts();
