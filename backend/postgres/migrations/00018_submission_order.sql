-- +goose Up
-- The reimbursement lists and the export are newest submission first:
-- (submitted_at, id) descending, the id settling equal times. They were
-- read in submitted_position order, which is the order events took their
-- positions, not the order of their submission times: concurrent
-- submissions stamped in one order took positions in another. Each list
-- index now ends with (submitted_at DESC, id DESC), so a page, and the
-- next page after its cursor's key, is read from the index in order with
-- its LIMIT. The status-and-time index of 00013 is one of them now.
DROP INDEX reimbursements_view_bank_idx;
DROP INDEX reimbursements_view_bank_status_idx;
DROP INDEX reimbursements_view_member_idx;
DROP INDEX reimbursements_view_member_status_idx;
DROP INDEX reimbursements_view_bank_payment_idx;
DROP INDEX reimbursements_view_bank_status_submitted_idx;
CREATE INDEX reimbursements_view_bank_idx ON reimbursements_view (bank_id, submitted_at DESC, id DESC);
CREATE INDEX reimbursements_view_bank_status_idx ON reimbursements_view (bank_id, status, submitted_at DESC, id DESC);
CREATE INDEX reimbursements_view_member_idx ON reimbursements_view (bank_member_id, submitted_at DESC, id DESC);
CREATE INDEX reimbursements_view_member_status_idx ON reimbursements_view (bank_member_id, status, submitted_at DESC, id DESC);
CREATE INDEX reimbursements_view_bank_payment_idx ON reimbursements_view (bank_id, payment_status, submitted_at DESC, id DESC)
    WHERE payment_status NOT IN ('none', 'settled');

-- +goose Down
DROP INDEX reimbursements_view_bank_payment_idx;
DROP INDEX reimbursements_view_member_status_idx;
DROP INDEX reimbursements_view_member_idx;
DROP INDEX reimbursements_view_bank_status_idx;
DROP INDEX reimbursements_view_bank_idx;
CREATE INDEX reimbursements_view_bank_status_submitted_idx ON reimbursements_view (bank_id, status, submitted_at);
CREATE INDEX reimbursements_view_bank_payment_idx ON reimbursements_view (bank_id, payment_status, submitted_position DESC)
    WHERE payment_status NOT IN ('none', 'settled');
CREATE INDEX reimbursements_view_member_status_idx ON reimbursements_view (bank_member_id, status, submitted_position DESC);
CREATE INDEX reimbursements_view_member_idx ON reimbursements_view (bank_member_id, submitted_position DESC);
CREATE INDEX reimbursements_view_bank_status_idx ON reimbursements_view (bank_id, status, submitted_position DESC);
CREATE INDEX reimbursements_view_bank_idx ON reimbursements_view (bank_id, submitted_position DESC);
