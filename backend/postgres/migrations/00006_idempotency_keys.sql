-- +goose Up
-- Responses to POST requests sent with an Idempotency-Key, stored in the same
-- transaction as the command's effect: a key is recorded with its effect or
-- not at all. Pruned after their time to live.
CREATE TABLE idempotency_keys (
    key         text PRIMARY KEY,
    fingerprint bytea NOT NULL,
    status      integer NOT NULL,
    headers     json NOT NULL,
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
