-- +goose Up
-- A NOTIFY inside a transaction takes a lock that PostgreSQL holds from
-- before the commit until the commit is on disk, one for the whole server:
-- transactions that notify commit one at a time. The ledger now announces
-- committed events itself, after the commit, coalesced, on a connection of
-- its own (DB.AnnounceCommits), so appends no longer notify.
DROP TRIGGER events_notify ON events;
DROP FUNCTION events_notify();

-- +goose Down
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
