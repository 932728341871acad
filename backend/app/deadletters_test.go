package app_test

import (
	"context"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

var alice = app.Principal{Role: app.RoleOperator, Subject: "alice"}

func TestDeadLettersListRetryAndDiscard(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	a := postgrestest.App(db)
	ctx := context.Background()
	r := mustSubmit(t, a, d, "10.00")
	story, err := db.Events.Load(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	toRetry := postgrestest.MustPark(t, db, "saga.payments", story[0], "rail down", 10)
	toDiscard := postgrestest.MustPark(t, db, "saga.notifications", story[0], "mailer down", 10)

	all, err := a.DeadLetters(ctx, alice, app.DeadLetterQuery{})
	if err != nil || len(all) != 2 || all[0].ID != toRetry || all[1].ID != toDiscard || all[0].Status != app.DeadLetterParked {
		t.Fatalf("list = %+v, %v", all, err)
	}
	if page, _ := a.DeadLetters(ctx, alice, app.DeadLetterQuery{After: toRetry}); len(page) != 1 || page[0].ID != toDiscard {
		t.Fatalf("list after %d = %+v", toRetry, page)
	}

	retrying, err := a.RetryDeadLetter(ctx, alice, toRetry)
	if err != nil || retrying.Status != app.DeadLetterRetrying {
		t.Fatalf("retry = %+v, %v", retrying, err)
	}
	if got, _ := a.DeadLetters(ctx, alice, app.DeadLetterQuery{Status: app.DeadLetterRetrying}); len(got) != 1 || got[0].ID != toRetry {
		t.Fatalf("retrying = %+v", got)
	}

	discarded, err := a.DiscardDeadLetter(ctx, alice, app.DiscardDeadLetterCommand{ID: toDiscard, Reason: "member told by phone",
		Meta: ledger.Metadata{CorrelationID: "ops-1", CausationID: "request:ops-1"}})
	if err != nil || discarded.Status != app.DeadLetterDiscarded || discarded.Reason != "member told by phone" {
		t.Fatalf("discard = %+v, %v", discarded, err)
	}
	if got, _ := a.DeadLetter(ctx, alice, toDiscard); got.Status != app.DeadLetterDiscarded || got.Reason != "member told by phone" {
		t.Fatalf("stored after the discard: %+v", got)
	}
	// The auditor sees who gave up on what, and why.
	feed, err := a.Feed(ctx, postgrestest.Auditor, app.FeedQuery{Types: []string{ledger.TypeDeadLetterDiscarded}, Limit: 10})
	if err != nil || len(feed) != 1 {
		t.Fatalf("feed = %+v, %v", feed, err)
	}
	e, err := feed[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	got := e.(ledger.DeadLetterDiscarded)
	if got.DeadLetterID != toDiscard || got.ConsumerGroup != "saga.notifications" || got.EventID != story[0].EventID ||
		got.EventPosition != story[0].Position || got.EventTypeName != story[0].Type || got.Error != "mailer down" ||
		got.Attempts != 10 || got.Reason != "member told by phone" {
		t.Fatalf("DeadLetterDiscarded = %+v", got)
	}
	if m := feed[0].Metadata; m.Actor != "operator:alice" || m.CorrelationID != "ops-1" ||
		feed[0].StreamType != ledger.StreamDeadLetter || feed[0].StreamID != ledger.DeadLetterStreamID("saga.notifications", story[0].EventID) {
		t.Fatalf("discard recorded as %+v", feed[0])
	}

	tests := []struct {
		name string
		err  error
		want ledger.Code
	}{
		{"a member lists", func() error { _, err := a.DeadLetters(ctx, app.Member(d.Member.ID), app.DeadLetterQuery{}); return err }(), ledger.EForbidden},
		{"an auditor retries", func() error { _, err := a.RetryDeadLetter(ctx, postgrestest.Auditor, toRetry); return err }(), ledger.EForbidden},
		{"an unknown status", func() error { _, err := a.DeadLetters(ctx, alice, app.DeadLetterQuery{Status: "lost"}); return err }(), ledger.EInvalid},
		{"an unknown id", func() error { _, err := a.RetryDeadLetter(ctx, alice, 999); return err }(), ledger.ENotFound},
		{"a retry asked twice", func() error { _, err := a.RetryDeadLetter(ctx, alice, toRetry); return err }(), ledger.EConflict},
		{"a discard while it is retried", func() error {
			_, err := a.DiscardDeadLetter(ctx, alice, app.DiscardDeadLetterCommand{ID: toRetry, Reason: "x"})
			return err
		}(), ledger.EConflict},
		{"a discard twice", func() error {
			_, err := a.DiscardDeadLetter(ctx, alice, app.DiscardDeadLetterCommand{ID: toDiscard, Reason: "x"})
			return err
		}(), ledger.EConflict},
		{"a discard without a reason", func() error {
			id := postgrestest.MustPark(t, db, "saga.other", story[0], "x", 1)
			_, err := a.DiscardDeadLetter(ctx, alice, app.DiscardDeadLetterCommand{ID: id, Reason: " "})
			return err
		}(), ledger.EInvalid},
		{"a discard by an unnamed operator", func() error {
			_, err := a.DiscardDeadLetter(ctx, app.Principal{Role: app.RoleOperator}, app.DiscardDeadLetterCommand{ID: toDiscard, Reason: "x"})
			return err
		}(), ledger.EInvalid},
	}
	for _, tt := range tests {
		if code := ledger.ErrorCode(tt.err); code != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, tt.err, tt.want)
		}
	}
	if feed, _ := a.Feed(ctx, postgrestest.Auditor, app.FeedQuery{Types: []string{ledger.TypeDeadLetterDiscarded}, Limit: 10}); len(feed) != 1 {
		t.Fatalf("refused discards recorded %d events", len(feed)-1)
	}
}
