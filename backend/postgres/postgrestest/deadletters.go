package postgrestest

import (
	"context"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
)

// MustPark parks rec as a dead letter of group, as the worker does after
// attempts failures, and returns its id.
func MustPark(t testing.TB, db *postgres.DB, group string, rec ledger.RecordedEvent, failure string, attempts int) int64 {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	id, err := app.ParkDeadLetter(context.Background(), db.DeadLetters, app.Parked{Group: group, Event: rec, Error: failure,
		Attempts: attempts, FirstFailedAt: now.Add(-time.Minute), LastFailedAt: now})
	if err != nil {
		t.Fatalf("park: %v", err)
	}
	return id
}
