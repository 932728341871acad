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
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

func submission(t *testing.T, d postgrestest.Directory, id uuid.UUID, description string) ledger.PendingEvent {
	t.Helper()
	e, err := ledger.Submit(ledger.Submission{ID: id, Account: d.Account, Amount: "10.01", Description: description, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// First events appended together share one transaction, keep the batch's
// order, and store every byte they were hashed over: the audit verifies.
func TestFirstEventsAppendedTogetherShareOneCommit(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	descriptions := []string{`quote " backslash \ brace { } comma , `, "émoji 🚕 and\nnewline", `{"json": [1, "2"]}`, "NULL", "tab\there"}
	var events []ledger.PendingEvent
	for _, desc := range descriptions {
		events = append(events, submission(t, d, uuid.New(), desc))
	}
	recs, errs := db.AppendFirstTogether(ledger.Metadata{CorrelationID: `c "1"`, Actor: "member:x"}, events...)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	stored := allEvents(t, db)
	if len(stored) != len(events) {
		t.Fatalf("%d events stored, want %d", len(stored), len(events))
	}
	for i, s := range stored {
		if s.EventID != recs[i].EventID || s.Position != recs[i].Position {
			t.Fatalf("stored #%d is %s at %d, want %s at %d", i, s.EventID, s.Position, recs[i].EventID, recs[i].Position)
		}
		if s.TransactionID != stored[0].TransactionID {
			t.Fatalf("event %d committed in transaction %d, the first in %d", i, s.TransactionID, stored[0].TransactionID)
		}
		e, err := s.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if got := e.(ledger.ReimbursementSubmitted).Description; got != descriptions[i] {
			t.Fatalf("description %q read back as %q", descriptions[i], got)
		}
	}
	if err := db.TreeAll(context.Background(), postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	if report := mustVerify(t, db, nil); !report.OK() || report.Events != int64(len(events)) {
		t.Fatalf("verify: %+v, problem %v", report, report.Problem)
	}
}

// One event that cannot be stored fails alone: the others of its batch are
// appended.
func TestAFailedFirstEventDoesNotFailItsBatch(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	taken := mustSubmit(t, db, d, "1.00")
	events := []ledger.PendingEvent{
		submission(t, d, uuid.New(), "first"),
		submission(t, d, taken.ID, "a second first event"),
		submission(t, d, uuid.New(), "third"),
	}
	_, errs := db.AppendFirstTogether(ledger.Metadata{}, events...)
	if errs[0] != nil || !errors.Is(errs[1], ledger.ErrVersionConflict) || errs[2] != nil {
		t.Fatalf("outcomes %v, want nil, a version conflict, nil", errs)
	}
	for _, i := range []int{0, 2} {
		story, err := postgrestest.App(db).Story(context.Background(), postgrestest.Auditor, events[i].StreamID)
		if err != nil || len(story) != 1 {
			t.Fatalf("event %d: story %v, %v", i, story, err)
		}
	}
	if n := len(allEvents(t, db)); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
}

// Concurrent submissions all succeed, each answered with its own stored
// event, whichever batches they were appended in.
func TestConcurrentSubmissionsEachGetTheirOwnEvent(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	const n = 64
	var wg sync.WaitGroup
	results := make([]*ledger.Reimbursement, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = postgrestest.App(db).Submit(context.Background(), app.Member(d.Member.ID), app.SubmitCommand{
				ID: uuid.New(), AccountID: d.Account.ID, Amount: "2.00", Description: "concurrent"})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("submission %d: %v", i, errs[i])
		}
		story, err := postgrestest.App(db).Story(context.Background(), postgrestest.Auditor, results[i].ID)
		if err != nil || len(story) != 1 || story[0].StreamID != results[i].ID {
			t.Fatalf("submission %d: story %v, %v", i, story, err)
		}
	}
	if got := len(allEvents(t, db)); got != n {
		t.Fatalf("%d events stored, want %d", got, n)
	}
	if err := db.TreeAll(context.Background(), postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	if report := mustVerify(t, db, nil); !report.OK() {
		t.Fatalf("verify: %+v, problem %v", report, report.Problem)
	}
}

// A submission after the database is closed fails instead of waiting for an
// appender that has stopped; closing twice is harmless.
func TestSubmitAfterCloseFails(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	mustSubmit(t, db, d, "1.00") // the account is cached: the next submission goes straight to the appenders
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := postgrestest.App(db).Submit(context.Background(), app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "1.00", Description: "late"})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a submission to a closed database succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a submission to a closed database is still waiting")
	}
}
