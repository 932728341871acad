package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

func pendingSubmission(id uuid.UUID) ledger.PendingEvent {
	return ledger.PendingEvent{StreamID: id, StreamType: ledger.StreamReimbursement, Version: 1,
		Event: ledger.ReimbursementSubmitted{ReimbursementID: id, Currency: "USD", Description: "x"}}
}

// An event whose transaction began first but commits last gets a higher
// position than one already committed. Readers of the feed and subscribers
// must still see it: neither skips an event that commits late.
func TestLateCommitIsNeverSkipped(t *testing.T) {
	lateCommitIsNeverSkipped(t, postgrestest.NewDB(t))
}

// The same with the late event's transaction id the last below 1,000,
// 100,000 or 2^32, and the fast one's above it.
func TestLateCommitIsNeverSkippedAcrossTransactionIDBoundaries(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		postgrestest.SpendXIDsUntilBoundary(t, db, 1)
		lateCommitIsNeverSkipped(t, db)
	})
}

func lateCommitIsNeverSkipped(t *testing.T, db *postgres.DB) {
	t.Helper()
	ctx := context.Background()

	// The slow transaction takes its transaction id first: as every
	// appender, after the appenders' lock.
	slow, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback()
	if err := bus.LockAppenders(ctx, slow); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.ExecContext(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	// A fast transaction appends and commits meanwhile.
	fast := uuid.New()
	if err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{}, pendingSubmission(fast)); err != nil {
		t.Fatal(err)
	}
	// While the slow one runs, the feed holds the fast event back: a reader
	// taking it now would page past the slow event's place.
	if events, err := db.Events.Feed(ctx, app.FeedQuery{Limit: 10}); err != nil || len(events) != 0 {
		t.Fatalf("feed while an older transaction runs = %d events, %v; want none yet", len(events), err)
	}
	late := uuid.New()
	if _, err := db.AppendInTx(ctx, slow, ledger.Metadata{}, pendingSubmission(late)); err != nil {
		t.Fatal(err)
	}
	if err := slow.Commit(); err != nil {
		t.Fatal(err)
	}

	// Other transactions on the server (other tests) may hold the feed back
	// for a moment; it shows both events once they end.
	var events []ledger.RecordedEvent
	deadline := time.Now().Add(20 * time.Second)
	for len(events) < 2 && time.Now().Before(deadline) {
		if events, err = db.Events.Feed(ctx, app.FeedQuery{Limit: 10}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(events) != 2 || events[0].StreamID != late || events[1].StreamID != fast {
		t.Fatalf("feed = %v, want the late event (older transaction) then the fast one", streams(events))
	}
	if events[0].Position < events[1].Position {
		t.Fatalf("test premise: the late event should have the higher position")
	}
	// Paging from the first event yields the second: nothing is skipped.
	rest, err := db.Events.Feed(ctx, app.FeedQuery{After: events[0].Position, Limit: 10}) // already visible: both committed
	if err != nil || len(rest) != 1 || rest[0].StreamID != fast {
		t.Fatalf("feed after %d = %v, %v", events[0].Position, streams(rest), err)
	}

	// A subscriber delivers both, in the same order.
	sub, err := db.Subscriptions.NewSubscriber(bus.SubscriberConfig{ConsumerGroup: "test", PollInterval: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, bus.EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []uuid.UUID{late, fast} {
		select {
		case msg := <-msgs:
			rec, err := bus.EventFromMessage(msg)
			if err != nil {
				t.Fatal(err)
			}
			msg.Ack()
			if rec.StreamID != want {
				t.Fatalf("subscriber delivered %s, want %s", rec.StreamID, want)
			}
		case <-ctx.Done():
			t.Fatal("subscriber delivered nothing")
		}
	}
}

func streams(events []ledger.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(events))
	for i, e := range events {
		out[i] = e.StreamID
	}
	return out
}
