-- Wakes every listening process (`serve` instances, workers) when events commit: each
-- appending statement sends one notification on channel `scoremate_events`, delivered at
-- commit. Listeners still poll as a fallback, so a lost notification only delays them.
CREATE FUNCTION scoremate_events_notify() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('scoremate_events', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT
EXECUTE FUNCTION scoremate_events_notify();
