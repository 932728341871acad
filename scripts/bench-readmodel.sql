-- Fills the reimbursements read model for the query benchmark (scripts/bench):
-- :rows rows (default run: 1,000,000) straight into reimbursements_view,
-- spread over 50 banks. The first bank is :'bank' (the seeded demo bank); the
-- 49 others are created here. Every bank has 200 members with one account
-- each; statuses alternate pending, approved, denied along each bank's rows,
-- so a third of every bank's list is pending. The seeded rows take
-- submission positions above every live one: they are the newest.
--
--   psql -v bank=<uuid> -v rows=1000000 -f scripts/bench-readmodel.sql
\set ON_ERROR_STOP on

INSERT INTO banks (id, name, location, created_at)
SELECT ('0193b000-0000-7000-8000-' || lpad(to_hex(b), 12, '0'))::uuid, 'Bench bank ' || b, 'Benchville', now()
FROM generate_series(1, 49) AS b
ON CONFLICT (id) DO NOTHING;

SET maintenance_work_mem = '256MB';
BEGIN;
CREATE TEMPORARY TABLE bench_view_indexes ON COMMIT DROP AS
    SELECT indexname, indexdef FROM pg_indexes
    WHERE schemaname = current_schema() AND tablename = 'reimbursements_view' AND indexname <> 'reimbursements_view_pkey';
SELECT format('DROP INDEX %I', indexname) FROM bench_view_indexes \gexec

WITH base AS (SELECT coalesce(max(submitted_position), 0) AS position FROM reimbursements_view),
seq AS (
    SELECT i,
        i % 50 AS bank_no,         -- 0 is the target bank
        (i / 50) % 200 AS member_no,
        (i / 50) % 3 AS status_no  -- along one bank's rows: pending, approved, denied
    FROM generate_series(1::bigint, :rows) AS i
)
INSERT INTO reimbursements_view (id, bank_id, bank_member_id, bank_account_id, amount, currency, description, status,
    submitted_at, submitted_position, decided_at, decided_by, denial_reason, payment_status, version, payment_version)
SELECT
    ('0193c000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
    CASE WHEN bank_no = 0 THEN :'bank'::uuid
         ELSE ('0193b000-0000-7000-8000-' || lpad(to_hex(bank_no), 12, '0'))::uuid END,
    ('0193d000-0000-7000-8000-' || lpad(to_hex(bank_no * 1000 + member_no), 12, '0'))::uuid,
    ('0193e000-0000-7000-8000-' || lpad(to_hex(bank_no * 1000 + member_no), 12, '0'))::uuid,
    round((1 + (i * 7919) % 99999 / 100.0)::numeric, 2),
    'USD',
    'Bench expense ' || i,
    (ARRAY['pending', 'approved', 'denied'])[status_no + 1],
    now() - make_interval(secs => (:rows - i) * 0.5),
    base.position + i,
    CASE WHEN status_no > 0 THEN now() - make_interval(secs => (:rows - i) * 0.5) + interval '1 hour' END,
    CASE WHEN status_no > 0 THEN ('0193f000-0000-7000-8000-' || lpad(to_hex(bank_no), 12, '0'))::uuid END,
    CASE WHEN status_no = 2 THEN 'No receipt' END,
    CASE WHEN status_no = 1 THEN 'settled' ELSE 'none' END,
    CASE WHEN status_no = 0 THEN 1 ELSE 2 END,
    CASE WHEN status_no = 1 THEN 2 ELSE 0 END
FROM seq, base;

SELECT indexdef FROM bench_view_indexes \gexec
COMMIT;

-- Statistics and the visibility map now, so autovacuum does not start on the
-- new rows while the queries are measured.
VACUUM (ANALYZE) reimbursements_view;
