-- +goose Up
-- The banks' webhook endpoints (backend/webhook signs and sends). The secret
-- is kept readable because every delivery is signed with it; the previous
-- one signs too until previous_secret_expires_at, after a rotation.
CREATE TABLE webhook_endpoints (
    id                         uuid PRIMARY KEY,
    bank_id                    uuid NOT NULL REFERENCES banks (id),
    url                        text NOT NULL,
    event_types                text[] NOT NULL CHECK (cardinality(event_types) > 0),
    description                text NOT NULL,
    secret                     text NOT NULL,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    -- Set when deliveries failed for the whole retry schedule.
    disabled_at                timestamptz,
    disabled_reason            text,
    created_at                 timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_bank_idx ON webhook_endpoints (bank_id, created_at, id);

-- +goose Down
DROP TABLE webhook_endpoints;
