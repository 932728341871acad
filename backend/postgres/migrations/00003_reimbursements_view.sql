-- +goose Up
-- The read model behind the list queries, written only by the reimbursements
-- projector. version and payment_version make each update idempotent: an
-- event is applied only when it is newer than what the row already shows.
CREATE TABLE reimbursements_view (
    id                 uuid PRIMARY KEY,
    bank_id            uuid NOT NULL,
    bank_member_id     uuid NOT NULL,
    bank_account_id    uuid NOT NULL,
    amount             numeric NOT NULL,
    currency           char(3) NOT NULL,
    description        text NOT NULL,
    status             text NOT NULL,
    submitted_at       timestamptz NOT NULL,
    submitted_position bigint NOT NULL,
    decided_at         timestamptz,
    decided_by         uuid,
    denial_reason      text,
    payment_status     text NOT NULL,
    version            bigint NOT NULL,
    payment_version    bigint NOT NULL DEFAULT 0
);
CREATE INDEX reimbursements_view_bank_idx ON reimbursements_view (bank_id, submitted_position DESC);
CREATE INDEX reimbursements_view_bank_status_idx ON reimbursements_view (bank_id, status, submitted_position DESC);
CREATE INDEX reimbursements_view_member_idx ON reimbursements_view (bank_member_id, submitted_position DESC);
CREATE INDEX reimbursements_view_member_status_idx ON reimbursements_view (bank_member_id, status, submitted_position DESC);

-- +goose Down
DROP TABLE reimbursements_view;
