package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// BenchmarkVerifyAudit measures a full `audit verify` over
// LEDGER_BENCH_EVENTS events (default 1,000,000): half submissions, half
// approvals, each hashed and chained as the event store records them and
// appended 10 to a transaction (1,000,000 events: 100,000 transaction
// ids), and signed checkpoints over batches of 100 in commit order, as the
// checkpoint subscriber writes them. The verify must pass. Run with:
//
//	go tool task bench:verify
func BenchmarkVerifyAudit(b *testing.B) {
	n, db := benchDB(b)
	ctx := context.Background()
	start := time.Now()
	seedLog(b, db, benchLog{reimbursements: n / 2, lag: 100}, 10)
	signHeads(b, db)
	b.Logf("seeded %d hashed events and their tree in %s", n, time.Since(start).Round(time.Millisecond))

	b.ResetTimer()
	var events int64
	pg, proc := pgCPU(b, db), processCPU()
	for range b.N {
		report, err := db.Audit.Verify(ctx, postgrestest.AuditKeys, nil)
		if err != nil {
			b.Fatal(err)
		}
		if !report.OK() || report.Events != int64(n) {
			b.Fatalf("verify: %+v, want %d events and no problem", report, n)
		}
		events += report.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.StopTimer()
	// Where the time goes: this process (reading rows, hashing, the tree,
	// the heads' signatures) and the database's backends.
	perEvent := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 / float64(events) }
	b.ReportMetric(perEvent(processCPU()-proc), "go-cpu-µs/event")
	b.ReportMetric(perEvent(pgCPU(b, db)-pg), "pg-cpu-µs/event")
	measureProofs(b, db, n, 2000)
}

// signHeads adds every stored event to the tree in commit order, with a
// signed head per batch of 100, as the audit.tree subscriber writes them.
func signHeads(b *testing.B, db *postgres.DB) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	events := eventsInCommitOrder(b, db)
	const batch, perTx = 100, 10_000
	for len(events) > 0 {
		chunk := events[:min(perTx, len(events))]
		events = events[len(chunk):]
		err := func() error {
			tx, err := db.SQL().BeginTx(ctx, &sql.TxOptions{})
			if err != nil {
				return err
			}
			defer tx.Rollback()
			for len(chunk) > 0 {
				n := min(batch, len(chunk))
				if err := db.BindTx(tx).AuditTree.AppendLeaves(ctx, postgrestest.AuditSigner, chunk[:n]); err != nil {
					return err
				}
				chunk = chunk[n:]
			}
			return tx.Commit()
		}()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built the tree and signed its heads in %s", time.Since(start).Round(time.Millisecond))
}
