-- +goose Up
-- The event store: one append-only table for every stream. It is also the
-- table the Watermill subscribers read: transaction_id orders delivery so that
-- an event whose transaction commits late is never skipped.
CREATE TABLE events (
    position       bigserial PRIMARY KEY,
    event_id       uuid NOT NULL UNIQUE,
    stream_id      uuid NOT NULL,
    stream_type    text NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    type           text NOT NULL,
    data           json NOT NULL,
    metadata       json NOT NULL,
    recorded_at    timestamptz NOT NULL,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_commit_order_idx ON events (transaction_id, position);

-- Where each subscriber (projector, saga) has got to; the layout is the one
-- Watermill's PostgreSQL offsets adapter reads and writes.
CREATE TABLE subscription_offsets (
    consumer_group                varchar(255) PRIMARY KEY,
    offset_acked                  bigint,
    last_processed_transaction_id xid8 NOT NULL
);

-- +goose Down
DROP TABLE subscription_offsets;
DROP TABLE events;
