package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// returnsWithin runs fn and fails the test if it has not returned long
// after it should have: a liveness check, not a measurement.
func returnsWithin(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { fn(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: still waiting", what)
	}
}

func TestWakingBackoff(t *testing.T) {
	n := bus.NewNotifier()
	hour := time.Hour
	stop := make(chan struct{})
	b := bus.NewWakingBackoff(n, hour, time.Second, stop)
	logger := watermill.NopLogger{}

	// A notification that came while the query ran ends the wait at once.
	n.Notify()
	returnsWithin(t, "notified before waiting", func() {
		if d := b.HandleError(logger, true, nil); d > 50*time.Millisecond {
			t.Errorf("backoff %s after a wake-up: it should only gather a moment", d)
		}
	})
	// After a wake-up it polls again soon a few times, in case the notified
	// event is still held back by an older transaction...
	returnsWithin(t, "quick polls after a wake-up", func() {
		for range 10 {
			b.HandleError(logger, true, nil)
		}
	})
	// ...then it waits for the next notification.
	woke := make(chan time.Duration, 1)
	go func() { woke <- b.HandleError(logger, true, nil) }()
	select {
	case <-woke:
		t.Fatal("an empty poll did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	n.Notify()
	returnsWithin(t, "notified while waiting", func() { <-woke })
	// Closing stop ends a wait, so the subscriber can close. A fresh backoff
	// has no quick polls armed: only stop can end its hour-long wait.
	idle := bus.NewWakingBackoff(n, hour, time.Second, stop)
	go func() { woke <- idle.HandleError(logger, true, nil) }()
	select {
	case <-woke:
		t.Fatal("an idle subscriber did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	close(stop)
	returnsWithin(t, "stopped while waiting", func() { <-woke })
	// Errors back off as before, without waiting for notifications.
	if d := b.HandleError(logger, false, errors.New("connection reset")); d != time.Second {
		t.Fatalf("backoff after an error: %s", d)
	}
}

func TestListenRelaysAnnouncedCommits(t *testing.T) {
	db := postgrestest.NewDB(t)
	n := bus.NewNotifier()
	b := bus.NewWakingBackoff(n, time.Hour, time.Second, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go db.Subscriptions.Listen(ctx, n, slog.New(slog.NewTextHandler(io.Discard, nil)))
	returnsWithin(t, "the listener is ready", func() { b.HandleError(watermill.NopLogger{}, true, nil) })
	// A fresh subscriber's backoff: no wake-up pending, no quick polls armed.
	b = bus.NewWakingBackoff(n, time.Hour, time.Second, nil)

	// A rolled-back append notifies nobody.
	tx, err := db.SQL().Begin()
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	event := ledger.PendingEvent{StreamID: id, StreamType: ledger.StreamReimbursement, Version: 1,
		Event: ledger.ReimbursementSubmitted{ReimbursementID: id, Currency: "USD", Description: "x"}}
	if _, err := db.AppendInTx(ctx, tx, ledger.Metadata{}, event); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	woke := make(chan struct{})
	go func() { b.HandleError(watermill.NopLogger{}, true, nil); close(woke) }()
	asleep := func(why string) {
		t.Helper()
		select {
		case <-woke:
			t.Fatal(why)
		case <-time.After(300 * time.Millisecond):
		}
	}
	asleep("a rolled-back append woke the subscriber")

	// The append's own transaction does not notify (that would serialise
	// commits); the announcement after it does.
	if err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{}, event); err != nil {
		t.Fatal(err)
	}
	asleep("an append notified by itself")
	go db.Subscriptions.AnnounceCommits(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	returnsWithin(t, "the commit's announcement wakes the subscriber", func() { <-woke })
}

// A notification that arrives while messages are handled is not lost: the
// next empty poll, whose event may still be held back, polls again soon.
func TestWakingBackoffKeepsNotificationsFromBusyPolls(t *testing.T) {
	n := bus.NewNotifier()
	b := bus.NewWakingBackoff(n, time.Hour, time.Second, nil)
	logger := watermill.NopLogger{}
	n.Notify() // an event commits while a batch is handled
	if d := b.HandleError(logger, false, nil); d != 0 {
		t.Fatalf("backoff %s after messages", d)
	}
	returnsWithin(t, "the empty poll after a busy one", func() {
		for range 5 { // the notified event is held back for a few polls
			b.HandleError(logger, true, nil)
		}
	})
}

// A subscriber of a few types sleeps through notifications of other types
// and wakes for its own, or for one that names no types.
func TestWakingBackoffWakesOnlyForItsTypes(t *testing.T) {
	n := bus.NewNotifier()
	logger := watermill.NopLogger{}
	for _, wakes := range [][]string{{ledger.TypeReimbursementApproved}, nil} {
		b := bus.NewWakingBackoff(n, time.Hour, time.Second, nil, ledger.TypeReimbursementApproved, ledger.TypePaymentRequested)
		woke := make(chan time.Duration, 1)
		go func() { woke <- b.HandleError(logger, true, nil) }()
		n.NotifyTypes([]string{ledger.TypeReimbursementSubmitted})
		select {
		case <-woke:
			t.Fatal("a submission woke the payment saga")
		case <-time.After(100 * time.Millisecond):
		}
		n.NotifyTypes(wakes)
		returnsWithin(t, fmt.Sprintf("notified of %v", wakes), func() { <-woke })
	}
	// A notification of another type that came while the query ran does not
	// cut the next wait short either.
	b := bus.NewWakingBackoff(n, time.Hour, time.Second, nil, ledger.TypeReimbursementApproved)
	n.NotifyTypes([]string{ledger.TypeReimbursementSubmitted})
	woke := make(chan time.Duration, 1)
	go func() { woke <- b.HandleError(logger, true, nil) }()
	select {
	case <-woke:
		t.Fatal("an earlier submission woke the payment saga")
	case <-time.After(100 * time.Millisecond):
	}
	n.NotifyTypes([]string{ledger.TypeReimbursementApproved, ledger.TypeReimbursementSubmitted})
	returnsWithin(t, "notified of an approval among submissions", func() { <-woke })
}

// The announcement names the types committed, and the listener passes
// them on: a subscriber of other types is not woken.
func TestAnnouncementsNameTheCommittedTypes(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	n := bus.NewNotifier()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	go db.Subscriptions.Listen(ctx, n, quiet)
	ready := bus.NewWakingBackoff(n, time.Hour, time.Second, nil)
	returnsWithin(t, "the listener is ready", func() { ready.HandleError(watermill.NopLogger{}, true, nil) })
	go db.Subscriptions.AnnounceCommits(ctx, quiet)

	approvals := bus.NewWakingBackoff(n, time.Hour, time.Second, nil, ledger.TypeReimbursementApproved)
	submissions := bus.NewWakingBackoff(n, time.Hour, time.Second, nil, ledger.TypeReimbursementSubmitted)
	approvalWoke, submissionWoke := make(chan struct{}), make(chan struct{})
	go func() { approvals.HandleError(watermill.NopLogger{}, true, nil); close(approvalWoke) }()
	go func() { submissions.HandleError(watermill.NopLogger{}, true, nil); close(submissionWoke) }()

	id := mustSubmit(t, db, d, "3.00").ID
	returnsWithin(t, "the submission's announcement wakes its subscriber", func() { <-submissionWoke })
	select {
	case <-approvalWoke:
		t.Fatal("a submission woke the subscriber of approvals")
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := postgrestest.App(db).Approve(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: id}); err != nil {
		t.Fatal(err)
	}
	returnsWithin(t, "the approval's announcement wakes its subscriber", func() { <-approvalWoke })
}
