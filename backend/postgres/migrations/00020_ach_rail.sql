-- +goose Up
-- The ACH rail's state (app/ach.go). Payment attempts accepted for their
-- bank's next file wait in ach_accepted; each file is kept whole, with its
-- entries by trace number, so that a file is written again byte for byte
-- after a crash and a return finds its payout. The trace sequences are
-- counted per ODFI, never reused. Return files are recorded by the SHA-256
-- of their content, so each is applied once; notifications of change are
-- kept per account for its administrators.
CREATE TABLE ach_accepted (
    payment_id  uuid        NOT NULL,
    attempt     integer     NOT NULL,
    bank_id     uuid        NOT NULL,
    accepted_at timestamptz NOT NULL,
    PRIMARY KEY (payment_id, attempt)
);
CREATE INDEX ach_accepted_order ON ach_accepted (accepted_at, payment_id, attempt);

CREATE TABLE ach_trace_sequences (
    odfi_routing text    PRIMARY KEY,
    next         integer NOT NULL
);

CREATE TABLE ach_files (
    id           uuid        PRIMARY KEY,
    bank_id      uuid        NOT NULL REFERENCES banks (id),
    name         text        NOT NULL UNIQUE,
    content      bytea       NOT NULL,
    total_cents  bigint      NOT NULL,
    state        text        NOT NULL CHECK (state IN ('built', 'staged', 'published')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX ach_files_created ON ach_files (created_at);
CREATE INDEX ach_files_unpublished ON ach_files (created_at, id) WHERE state <> 'published';

CREATE TABLE ach_entries (
    trace_number text        PRIMARY KEY,
    file_id      uuid        NOT NULL REFERENCES ach_files (id),
    payment_id   uuid        NOT NULL,
    attempt      integer     NOT NULL,
    account_id   uuid        NOT NULL,
    cents        bigint      NOT NULL,
    sent_at      timestamptz NOT NULL,
    outcome      text        NOT NULL DEFAULT '',
    outcome_at   timestamptz,
    UNIQUE (payment_id, attempt)
);
CREATE INDEX ach_entries_unsettled ON ach_entries (sent_at, trace_number) WHERE outcome = '';

CREATE TABLE ach_return_files (
    sha256      text        PRIMARY KEY,
    name        text        NOT NULL,
    read_at     timestamptz NOT NULL,
    rejected    boolean     NOT NULL,
    error       text        NOT NULL,
    returns     integer     NOT NULL,
    corrections integer     NOT NULL,
    problems    text[]      NOT NULL
);
CREATE INDEX ach_return_files_read ON ach_return_files (read_at DESC);

CREATE TABLE account_corrections (
    account_id           uuid        NOT NULL REFERENCES accounts (id),
    bank_id              uuid        NOT NULL,
    trace_number         text        NOT NULL,
    code                 text        NOT NULL,
    reason               text        NOT NULL,
    routing_number       text        NOT NULL,
    account_number_last4 text        NOT NULL,
    account_type         text        NOT NULL,
    name                 text        NOT NULL,
    return_file          text        NOT NULL,
    received_at          timestamptz NOT NULL,
    PRIMARY KEY (trace_number, code)
);
CREATE INDEX account_corrections_account ON account_corrections (account_id, received_at);

-- +goose Down
DROP TABLE account_corrections;
DROP TABLE ach_return_files;
DROP TABLE ach_entries;
DROP TABLE ach_files;
DROP TABLE ach_trace_sequences;
DROP TABLE ach_accepted;
