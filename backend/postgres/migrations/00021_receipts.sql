-- +goose Up
-- Receipts' bytes (postgres/receipts.go): one row per receipt, naming the
-- large object that holds them, written and read in chunks so that no side
-- holds a whole file. What proves them (SHA-256, size, type) is in the
-- ReceiptAttached event, not here. The lists show how many receipts a
-- claim has.
CREATE TABLE receipts (
    id        uuid        PRIMARY KEY,
    blob      oid         NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE reimbursements_view ADD COLUMN receipt_count integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE reimbursements_view DROP COLUMN receipt_count;
SELECT lo_unlink(blob) FROM receipts;
DROP TABLE receipts;
