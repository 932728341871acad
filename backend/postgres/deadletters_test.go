package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// An event parked again (a failed retry, a replay) stays one dead letter
// with its attempts added up; a retry is claimed by one worker at a time.
func TestDeadLettersParkAgainAndClaimRetries(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	r := mustSubmit(t, db, d, "10.00")
	story, err := db.Events.Load(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec := story[0]

	id := postgrestest.MustPark(t, db, "saga.payments", rec, "rail down\x00 \xff", 3)
	if again := postgrestest.MustPark(t, db, "saga.payments", rec, "still down", 2); again != id {
		t.Fatalf("parked again as %d, want the same dead letter %d", again, id)
	}
	other := postgrestest.MustPark(t, db, "saga.notifications", rec, "mailer down", 1)
	dl, err := db.DeadLetters.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if dl.Group != "saga.payments" || dl.Position != rec.Position || dl.EventID != rec.EventID || dl.EventType != rec.Type ||
		dl.Error != "still down" || dl.Attempts != 5 || dl.Status != app.DeadLetterParked || !dl.LastFailedAt.After(dl.FirstFailedAt) {
		t.Fatalf("dead letter %+v", dl)
	}
	if _, err := db.DeadLetters.Get(ctx, 999); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("unknown dead letter: %v", err)
	}
	long := postgrestest.MustPark(t, db, "saga.other", rec, strings.Repeat("é", 5000), 1)
	if dl, _ := db.DeadLetters.Get(ctx, long); len([]rune(dl.Error)) > 2001 {
		t.Fatalf("kept %d characters of an error", len([]rune(dl.Error)))
	}

	now := time.Now()
	if _, _, ok, err := db.DeadLetters.ClaimRetry(ctx, []string{"saga.payments"}, now); ok || err != nil {
		t.Fatalf("claimed a retry nobody asked for: %v %v", ok, err)
	}
	for _, dlID := range []int64{id, other} {
		if err := db.DeadLetters.SetStatus(ctx, dlID, app.DeadLetterRetrying, "", now); err != nil {
			t.Fatal(err)
		}
	}
	claimed, event, ok, err := db.DeadLetters.ClaimRetry(ctx, []string{"saga.payments"}, now)
	if err != nil || !ok || claimed.ID != id || event.EventID != rec.EventID || event.Metadata.CorrelationID != "test" {
		t.Fatalf("claim = %+v, %+v, %v, %v", claimed, event, ok, err)
	}
	if _, _, ok, _ := db.DeadLetters.ClaimRetry(ctx, []string{"saga.payments"}, now); ok {
		t.Fatal("a claimed retry was claimed again")
	}
	if _, _, ok, _ := db.DeadLetters.ClaimRetry(ctx, []string{"saga.payments"}, now.Add(10*time.Minute)); !ok {
		t.Fatal("the claim of a worker gone for ten minutes was not taken up again")
	}
	if err := db.DeadLetters.RetryFailed(ctx, id, "down again", now); err != nil {
		t.Fatal(err)
	}
	if dl, _ := db.DeadLetters.Get(ctx, id); dl.Status != app.DeadLetterParked || dl.Attempts != 6 || dl.Error != "down again" {
		t.Fatalf("after a failed retry: %+v", dl)
	}
	if _, _, _, err := db.DeadLetters.ClaimRetry(ctx, []string{"saga.notifications"}, now); err != nil {
		t.Fatal(err)
	}
	if err := db.DeadLetters.Resolve(ctx, other, now); err != nil {
		t.Fatal(err)
	}
	waiting, err := db.DeadLetters.Waiting(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []app.DeadLetterCount{{Group: "saga.other", Status: app.DeadLetterParked, Count: 1}, {Group: "saga.payments", Status: app.DeadLetterParked, Count: 1}}
	if len(waiting) != len(want) || waiting[0] != want[0] || waiting[1] != want[1] {
		t.Fatalf("waiting = %+v, want %+v", waiting, want)
	}
}
