-- +goose Up
-- The lists' filters, measured with EXPLAIN (ANALYZE, BUFFERS) on the
-- benchmark's read model (scripts/bench-readmodel.sql: 1,045,000 rows, the
-- bank queried 65,000 of them, 51,666 pending). A bank's list is read in
-- submission order with a LIMIT, so a filter that keeps few rows, or keeps
-- only old ones, walks the bank's index until it has a page: 33 ms for the
-- pending over 999.90, 77 ms for failed payouts (none), 6 ms for pending
-- before a day five days back. With these, 0.1, 0.01 and 1.7 ms; the
-- unfiltered pending list keeps its plan (0.3 ms). Each new row pays two
-- more index entries (about 40% more time to insert into this table alone).
--
-- Pending (or any one status) within submission times, and within amounts;
-- the second also counts an export's rows from the index alone.
CREATE INDEX reimbursements_view_bank_status_submitted_idx ON reimbursements_view (bank_id, status, submitted_at);
CREATE INDEX reimbursements_view_bank_status_amount_idx ON reimbursements_view (bank_id, status, amount);
-- Payouts in flight or failed: few at any time, and the list an
-- administrator retries from. Rows with no payment or a settled one, the
-- bulk, are left out, so a new submission pays nothing for this index.
CREATE INDEX reimbursements_view_bank_payment_idx ON reimbursements_view (bank_id, payment_status, submitted_position DESC)
    WHERE payment_status NOT IN ('none', 'settled');

-- The directory's lists, oldest first.
CREATE INDEX banks_created_idx ON banks (created_at, id);
CREATE INDEX administrators_bank_created_idx ON administrators (bank_id, created_at, id);
CREATE INDEX accounts_bank_created_idx ON accounts (bank_id, created_at, id);
CREATE INDEX members_created_idx ON members (created_at, id);

-- +goose Down
DROP INDEX members_created_idx;
DROP INDEX accounts_bank_created_idx;
DROP INDEX administrators_bank_created_idx;
DROP INDEX banks_created_idx;
DROP INDEX reimbursements_view_bank_payment_idx;
DROP INDEX reimbursements_view_bank_status_amount_idx;
DROP INDEX reimbursements_view_bank_status_submitted_idx;
