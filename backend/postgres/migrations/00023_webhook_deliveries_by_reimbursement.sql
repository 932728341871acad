-- +goose Up
-- The deliveries about a reimbursement, for a member's erasure
-- (Webhooks.ErasePayloads). The erasure runs holding the appenders' lock,
-- so its lookup is an index scan rather than a scan that parses every
-- payload the ledger ever queued.
CREATE INDEX webhook_deliveries_reimbursement ON webhook_deliveries ((payload::jsonb #>> '{data,reimbursement,id}'));

-- +goose Down
DROP INDEX webhook_deliveries_reimbursement;
