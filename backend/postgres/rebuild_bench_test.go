package postgres_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// BenchmarkRebuildReimbursements measures a full rebuild of the
// reimbursements read model over LEDGER_BENCH_EVENTS events (default
// 1,000,000): half submissions, half decisions, each decision trailing its
// submission by 7,000 reimbursements so that most decisions patch rows
// written by an earlier batch. Run with:
//
//	go tool task bench:rebuild
func BenchmarkRebuildReimbursements(b *testing.B) {
	n, db := benchDB(b)
	ctx := context.Background()
	start := time.Now()
	seedEvents(b, db, n/2)
	b.Logf("seeded %d events in %s", n, time.Since(start).Round(time.Millisecond))

	b.ResetTimer()
	var events int64
	for range b.N {
		res, err := db.Rebuilds.Run(ctx, postgres.ReimbursementsProjection, postgres.RebuildOptions{Restart: true})
		if err != nil {
			b.Fatal(err)
		}
		if res.Rows != int64(n/2) {
			b.Fatalf("rebuilt %d rows, want %d", res.Rows, n/2)
		}
		events += res.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// benchDB returns the number of events a benchmark of the log writes,
// LEDGER_BENCH_EVENTS or 1,000,000, and a fresh database for them.
func benchDB(b *testing.B) (int, *postgres.DB) {
	b.Helper()
	n := 1_000_000
	if raw := os.Getenv("LEDGER_BENCH_EVENTS"); raw != "" {
		var err error
		if n, err = strconv.Atoi(raw); err != nil || n < 2 {
			b.Fatalf("LEDGER_BENCH_EVENTS=%q", raw)
		}
	}
	return n, postgrestest.NewDBWith(b, postgres.Options{MaxConns: 4})
}

// seedEvents writes reimbursements submitted and decided, straight into the
// events table: valid event data, one transaction.
func seedEvents(b *testing.B, db *postgres.DB, reimbursements int) {
	b.Helper()
	_, err := db.SQL().Exec(`
		INSERT INTO events (event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash)
		SELECT md5('e' || i || '-' || k)::uuid, md5('r' || i)::uuid, 'reimbursement', k,
			CASE WHEN k = 1 THEN 'ReimbursementSubmitted' WHEN i % 2 = 0 THEN 'ReimbursementApproved' ELSE 'ReimbursementDenied' END,
			CASE WHEN k = 1 THEN json_build_object(
					'reimbursement_id', md5('r' || i)::uuid, 'bank_id', md5('b' || (i % 50))::uuid,
					'bank_member_id', md5('m' || (i % 5000))::uuid, 'bank_account_id', md5('a' || (i % 5000))::uuid,
					'amount', ((i % 100000) / 100.0)::text, 'currency', 'USD', 'description', 'Expense ' || i,
					'submitted_at', now())
				WHEN i % 2 = 0 THEN json_build_object('reimbursement_id', md5('r' || i)::uuid,
					'administrator_id', md5('admin')::uuid, 'approved_at', now())
				ELSE json_build_object('reimbursement_id', md5('r' || i)::uuid,
					'administrator_id', md5('admin')::uuid, 'reason', 'No receipt', 'denied_at', now())
			END,
			'{"correlation_id":"bench","causation_id":"bench","actor":"bench"}', now(),
			sha256(('e' || i || '-' || k)::bytea)
		FROM generate_series(1, $1) AS i, (VALUES (1), (2)) AS v(k)
		ORDER BY i + CASE WHEN k = 2 THEN 7000 ELSE 0 END, k`, reimbursements)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.SQL().Exec(`ANALYZE events`); err != nil {
		b.Fatal(err)
	}
}
