-- pgbench script of the baseline (scripts/bench): one event-shaped row per
-- transaction, a new stream at version 1, with a payload the size of a
-- ReimbursementSubmitted event.
INSERT INTO bench_events (stream_id, stream_version, type, payload)
VALUES (gen_random_uuid(), 1, 'ReimbursementSubmitted',
    '{"reimbursement_id":"01a2104b-6223-79c9-8d50-9d67ce0f8318","bank_id":"0193a000-0000-7000-8000-000000000001","bank_member_id":"0193a000-0000-7000-8000-000000000101","bank_account_id":"0193a000-0000-7000-8000-000000000301","amount":"12.34","currency":"USD","description":"bench","submitted_at":"2026-11-25T01:21:45.508628944Z"}');
