-- +goose Up
-- The read model shows what the lifecycle added: how many approvals a claim
-- needs and who gave them (with their notes), when its member withdrew it,
-- and its payout's latest attempt and the rail's reason when it failed.
-- approvals holds {administrator_id, approved_at, note, version} objects,
-- oldest first; version is the approval's stream version, which keeps a
-- redelivered approval from being added twice.
ALTER TABLE reimbursements_view
    ADD COLUMN approvals_required     smallint NOT NULL DEFAULT 1,
    ADD COLUMN approvals              jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN withdrawn_at           timestamptz,
    ADD COLUMN payment_attempt        integer NOT NULL DEFAULT 0,
    ADD COLUMN payment_failure_reason text;

-- Rows projected before: every claim needed one approval, every payout had
-- one attempt. The failed ones' reasons are in their events.
UPDATE reimbursements_view
SET approvals = jsonb_build_array(jsonb_build_object(
        'administrator_id', decided_by, 'approved_at', decided_at, 'note', '', 'version', version))
WHERE status = 'approved';
UPDATE reimbursements_view SET payment_attempt = 1 WHERE payment_status <> 'none';
UPDATE reimbursements_view AS v SET payment_failure_reason = e.data->>'reason'
FROM events AS e
WHERE e.type = 'PaymentFailed' AND (e.data->>'reimbursement_id')::uuid = v.id AND v.payment_status = 'failed';

-- +goose Down
ALTER TABLE reimbursements_view
    DROP COLUMN payment_failure_reason,
    DROP COLUMN payment_attempt,
    DROP COLUMN withdrawn_at,
    DROP COLUMN approvals,
    DROP COLUMN approvals_required;
