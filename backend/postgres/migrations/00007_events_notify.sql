-- +goose Up
-- Wake waiting subscribers when events commit. The notification is sent at
-- commit (never for a transaction that rolls back), once per statement, on
-- the channel the worker listens to. Polling stays as the fallback: a lost
-- notification costs latency, never an event.
-- +goose StatementBegin
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledger_events', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- +goose Down
DROP TRIGGER events_notify ON events;
DROP FUNCTION events_notify();
