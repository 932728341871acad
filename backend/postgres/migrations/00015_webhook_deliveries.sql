-- +goose Up
-- One row per event and matching endpoint, written by the webhooks consumer
-- group in its batch transaction; the worker's delivery loop sends the due
-- ones. The id is the message's webhook-id, the same on every attempt.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    -- No foreign key: the consumer group's batch transaction (REPEATABLE
    -- READ) would fail on an endpoint deleted since its snapshot, and halt.
    -- Deleting an endpoint deletes its deliveries; a row written by a batch
    -- that raced the deletion is never sent (the loop joins the endpoint).
    endpoint_id      uuid NOT NULL,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    payload          text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    -- When the schedule started: the window is counted from here.
    first_attempt_at timestamptz,
    next_attempt_at  timestamptz,
    -- A worker sending it holds it until then; a worker that died lets it
    -- go, and another sends it again (at least once).
    claimed_until    timestamptz,
    created_at       timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_endpoint_event_key UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at, id);

CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL,
    status_code  integer NOT NULL,   -- 0 when no answer came
    latency_us   bigint NOT NULL,
    answer       text NOT NULL,      -- its first bytes
    error        text NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
