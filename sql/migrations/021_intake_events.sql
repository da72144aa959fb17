-- wasteflow v3: switching a storage's intake is a change of the storage the live feed
-- announces (the console's weighbridge and admin views follow it), like a rename.
CREATE TRIGGER storages_events_intake AFTER UPDATE OF intake ON storages FOR EACH ROW
    WHEN (OLD.intake IS DISTINCT FROM NEW.intake) EXECUTE FUNCTION wf_events_renamed('s');
