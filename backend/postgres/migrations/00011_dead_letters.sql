-- +goose Up
-- Events a saga gave up on after repeated failures, parked so that its
-- consumer group moves on (backend/worker). Operators list them, ask the
-- worker to retry one (status retrying until it has run) or discard one,
-- which is also recorded as a DeadLetterDiscarded event. Projectors never
-- park an event: they halt and report instead.
CREATE TABLE dead_letters (
    id               bigserial PRIMARY KEY,
    consumer_group   text NOT NULL,
    position         bigint NOT NULL,
    -- No foreign key to events: it would change how the append-only events
    -- table refuses TRUNCATE, and events are never deleted anyway.
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    error            text NOT NULL,
    attempts         integer NOT NULL CHECK (attempts > 0),
    first_failed_at  timestamptz NOT NULL,
    last_failed_at   timestamptz NOT NULL,
    status           text NOT NULL CHECK (status IN ('parked', 'retrying', 'resolved', 'discarded')),
    discard_reason   text,
    updated_at       timestamptz NOT NULL,
    -- When a worker took up the retry; a claim older than a few minutes (the
    -- worker died) is taken up again.
    retry_claimed_at timestamptz,
    CONSTRAINT dead_letters_group_event_key UNIQUE (consumer_group, event_id)
);
-- The workers look for retries every poll interval.
CREATE INDEX dead_letters_retrying_idx ON dead_letters (id) WHERE status = 'retrying';

-- +goose Down
DROP TABLE dead_letters;
