package postgres_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// BenchmarkVerifyAudit measures a full `audit verify` over
// LEDGER_BENCH_EVENTS events (default 1,000,000): half submissions, half
// approvals, each hashed and chained as the event store records them, and
// signed checkpoints over batches of 100 in commit order, as the checkpoint
// subscriber writes them. The verify must pass. Run with:
//
//	go tool task bench:verify
func BenchmarkVerifyAudit(b *testing.B) {
	n, db := benchDB(b)
	ctx := context.Background()
	start := time.Now()
	seedChainedEvents(b, db, n/2)
	b.Logf("seeded %d hashed events and their checkpoints in %s", n, time.Since(start).Round(time.Millisecond))

	b.ResetTimer()
	var events int64
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
}

// seedChainedEvents stores reimbursements submitted and approved, hashed by
// audit.Record, with COPY in one transaction, then signs checkpoints over
// them in commit order.
func seedChainedEvents(b *testing.B, db *postgres.DB, reimbursements int) {
	b.Helper()
	ctx := context.Background()
	meta := ledger.Metadata{CorrelationID: "bench", Actor: "bench"}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	tx, err := db.SQL().Begin()
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.Prepare(`COPY events (event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, prev_hash) FROM STDIN`)
	if err != nil {
		b.Fatal(err)
	}
	put := func(rec ledger.RecordedEvent) {
		if _, err := stmt.Exec(rec.EventID, rec.StreamID, rec.StreamType, rec.StreamVersion, rec.Type,
			string(rec.Data), string(metaJSON), rec.RecordedAt, rec.Hash, rec.PrevHash); err != nil {
			b.Fatal(err)
		}
	}
	bank, admin := uuid.New(), uuid.New()
	usd, _ := ledger.LookupCurrency("USD")
	for i := range reimbursements {
		id := uuid.New()
		submitted, err := audit.Record(meta, metaJSON, ledger.PendingEvent{StreamID: id, StreamType: ledger.StreamReimbursement, Version: 1,
			Event: ledger.ReimbursementSubmitted{ReimbursementID: id, BankID: bank, BankMemberID: uuid.New(), BankAccountID: uuid.New(),
				Amount: ledger.NewAmount(decimal.New(int64(i%100000), -2), usd), Currency: "USD", Description: "Expense",
				SubmittedAt: now, ApprovalsRequired: 1}}, nil, now)
		if err != nil {
			b.Fatal(err)
		}
		approved, err := audit.Record(meta, metaJSON, ledger.PendingEvent{StreamID: id, StreamType: ledger.StreamReimbursement, Version: 2,
			Event: ledger.ReimbursementApproved{ReimbursementID: id, AdministratorID: admin, ApprovedAt: now}}, submitted.Hash, now)
		if err != nil {
			b.Fatal(err)
		}
		put(submitted)
		put(approved)
	}
	if _, err := stmt.Exec(); err != nil {
		b.Fatal(err)
	}
	if err := stmt.Close(); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}

	rows, err := db.SQL().QueryContext(ctx, `SELECT position, transaction_id::text, hash FROM events ORDER BY events.transaction_id, events.position`)
	if err != nil {
		b.Fatal(err)
	}
	var events []ledger.RecordedEvent
	for rows.Next() {
		var rec ledger.RecordedEvent
		if err := rows.Scan(&rec.Position, &rec.TransactionID, &rec.Hash); err != nil {
			b.Fatal(err)
		}
		events = append(events, rec)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
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
				if err := db.Audit.Append(ctx, tx, postgrestest.AuditSigner, chunk[:n]); err != nil {
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
	if _, err := db.SQL().Exec(`VACUUM ANALYZE events`); err != nil {
		b.Fatal(err)
	}
}
