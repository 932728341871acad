package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

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

// A frozen worker's batch transaction holds its consumer group only until
// the idle-in-transaction bound ends its session; another worker then
// carries the group on. Other groups never wait for it.
func TestAFrozenWorkerHoldsOnlyItsOwnGroupForTheBound(t *testing.T) {
	url := postgrestest.NewDatabaseURL(t)
	ctx := context.Background()
	frozen, err := postgres.Open(ctx, url, postgres.Options{Timeouts: postgres.Timeouts{IdleInTransaction: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	var idle string
	if err := frozen.SQL().QueryRow(`SHOW idle_in_transaction_session_timeout`).Scan(&idle); err != nil || idle != "500ms" {
		t.Fatalf("idle_in_transaction_session_timeout = %s, %v; want 500ms", idle, err)
	}
	// The frozen worker is inside a batch of group g: it holds g's row.
	if _, err := frozen.SQL().Exec(`INSERT INTO subscription_offsets (consumer_group, offset_acked, last_processed_transaction_id) VALUES ('g', 0, '0')`); err != nil {
		t.Fatal(err)
	}
	tx, err := frozen.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT 1 FROM subscription_offsets WHERE consumer_group = 'g' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	other, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	id := uuid.New()
	if err := postgrestest.Streams(other).Append(ctx, ledger.Metadata{}, pendingSubmission(id)); err != nil {
		t.Fatal(err)
	}
	// Group h is not held: it delivers while g still waits.
	held, free := subscribe(t, other, "g"), subscribe(t, other, "h")
	if got := next(t, free, "another group's event"); got != id {
		t.Fatalf("group h delivered %s", got)
	}
	select {
	case got := <-held:
		t.Fatalf("group g delivered %s while its row was held", got)
	default:
	}
	if got := next(t, held, "the frozen group's event, once the bound ends the frozen session"); got != id {
		t.Fatalf("group g delivered %s", got)
	}
	if _, err := tx.Exec(`SELECT 1`); err == nil {
		t.Fatal("the frozen session was not ended")
	}
}
