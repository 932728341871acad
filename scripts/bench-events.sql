-- The scratch table of the pgbench baseline (scripts/bench): the shape of an
-- event row, with the uniqueness that gives the ledger its optimistic
-- concurrency.
CREATE TABLE bench_events (
    id             bigserial PRIMARY KEY,
    stream_id      uuid NOT NULL,
    stream_version int NOT NULL,
    type           text NOT NULL,
    payload        json NOT NULL,
    UNIQUE (stream_id, stream_version)
);
