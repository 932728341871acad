-- +goose Up
-- Tamper evidence. Each event carries the SHA-256 of its canonical content
-- chained to the previous event of its stream (prev_hash). The CHECK is NOT
-- VALID: it binds every event appended from now on without rewriting history.
ALTER TABLE events ADD COLUMN hash bytea, ADD COLUMN prev_hash bytea;
ALTER TABLE events ADD CONSTRAINT events_hash_present CHECK (hash IS NOT NULL AND octet_length(hash) = 32) NOT VALID;

-- Append-only, enforced by the database: no UPDATE, DELETE or TRUNCATE.
-- +goose StatementBegin
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the events table is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

-- Signed checkpoints, one per event in commit order: the running hash over
-- every event up to (transaction_id, position), signed with a key the
-- database does not hold. An exported copy detects later truncation.
CREATE TABLE audit_checkpoints (
    id             bigserial PRIMARY KEY,
    position       bigint NOT NULL,
    transaction_id xid8 NOT NULL,
    event_count    bigint NOT NULL,
    running_hash   bytea NOT NULL,
    signature      bytea NOT NULL,
    recorded_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX audit_checkpoints_position_key ON audit_checkpoints (position);

-- Feed filters.
CREATE INDEX events_type_idx ON events (type, transaction_id, position);
CREATE INDEX events_recorded_at_idx ON events (recorded_at);

-- +goose Down
DROP INDEX events_recorded_at_idx;
DROP INDEX events_type_idx;
DROP TABLE audit_checkpoints;
DROP TRIGGER events_no_truncate ON events;
DROP TRIGGER events_append_only ON events;
DROP FUNCTION events_refuse_change();
ALTER TABLE events DROP CONSTRAINT events_hash_present;
ALTER TABLE events DROP COLUMN prev_hash, DROP COLUMN hash;
