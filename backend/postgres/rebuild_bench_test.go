package postgres_test

import (
	"context"
	"os"
	"slices"
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
// written by an earlier batch, appended 10 to a transaction as the API
// commits them. Run with:
//
//	go tool task bench:rebuild
func BenchmarkRebuildReimbursements(b *testing.B) {
	n, db := benchDB(b)
	ctx := context.Background()
	start := time.Now()
	seedLog(b, db, benchLog{reimbursements: n / 2, lag: 7000, deny: func(i int) bool { return i%2 == 1 }}, 10)
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
// LEDGER_BENCH_EVENTS or 1,000,000, and a fresh database for them. With
// LEDGER_BENCH_XID set (1000, 100000 or 4294967296), the database is on a
// private cluster (fsync off) whose transaction ids start just below that
// one, so the seeding's transactions cross it.
func benchDB(b *testing.B) (int, *postgres.DB) {
	b.Helper()
	n := 1_000_000
	if raw := os.Getenv("LEDGER_BENCH_EVENTS"); raw != "" {
		var err error
		if n, err = strconv.Atoi(raw); err != nil || n < 2 {
			b.Fatalf("LEDGER_BENCH_EVENTS=%q", raw)
		}
	}
	opts := postgres.Options{MaxConns: 4}
	raw := os.Getenv("LEDGER_BENCH_XID")
	if raw == "" {
		return n, postgrestest.NewDBWith(b, opts)
	}
	boundary, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || !slices.Contains(postgrestest.XIDBoundaries, boundary) {
		b.Fatalf("LEDGER_BENCH_XID=%q, want one of %v", raw, postgrestest.XIDBoundaries)
	}
	db, err := postgres.Open(context.Background(), postgrestest.NewDatabaseURLBelowXID(b, boundary), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return n, db
}
