-- +goose Up
-- The cursor of a projection rebuild in progress, committed with each batch
-- written to the rebuild table, so an interrupted rebuild resumes.
CREATE TABLE projection_rebuilds (
    name           text PRIMARY KEY,
    transaction_id xid8 NOT NULL,
    position       bigint NOT NULL,
    started_at     timestamptz NOT NULL
);

-- +goose Down
DROP TABLE projection_rebuilds;
