package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

func mustSubmit(t *testing.T, db *postgres.DB, d postgrestest.Directory, amount string) *ledger.Reimbursement {
	t.Helper()
	r, err := postgrestest.App(db).Submit(context.Background(), app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: amount, Description: "Taxi", Meta: ledger.Metadata{CorrelationID: "test"}})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return r
}

func TestAppendRefusesATakenVersion(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	r := mustSubmit(t, db, d, "10.00")
	dup := ledger.PendingEvent{StreamID: r.ID, StreamType: ledger.StreamReimbursement, Version: 1,
		Event: ledger.ReimbursementApproved{ReimbursementID: r.ID}}
	if err := postgrestest.Streams(db).Append(context.Background(), ledger.Metadata{}, dup); !errors.Is(err, ledger.ErrVersionConflict) {
		t.Fatalf("append at a taken version: %v, want ErrVersionConflict", err)
	}
}

func TestAppendedEventsAreReportedOnlyOnceCommitted(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	var mu sync.Mutex
	var reported []string
	db.OnCommit(func(types []string) {
		mu.Lock()
		reported = append(reported, types...)
		mu.Unlock()
	})
	r := mustSubmit(t, db, d, "1.00")
	dup := ledger.PendingEvent{StreamID: r.ID, StreamType: ledger.StreamReimbursement, Version: 1, Event: ledger.ReimbursementApproved{ReimbursementID: r.ID}}
	if err := postgrestest.Streams(db).Append(context.Background(), ledger.Metadata{}, dup); err == nil {
		t.Fatal("a taken version was appended")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || reported[0] != ledger.TypeReimbursementSubmitted {
		t.Fatalf("reported %v, want only the committed submission", reported)
	}
}

func TestSessionsEndWhenIdleInATransaction(t *testing.T) {
	db := postgrestest.NewDB(t)
	var timeout string
	if err := db.SQL().QueryRow(`SHOW idle_in_transaction_session_timeout`).Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != "1min" {
		t.Fatalf("idle_in_transaction_session_timeout = %s, want 1min", timeout)
	}
}
