package postgres_test

import (
	"context"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/app/storetest"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// TestContract holds PostgreSQL to the assertions the in-memory fake passes
// (backend/inmem), so that tests over the fake learn what production does.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness {
		db := postgrestest.NewDB(t)
		return storetest.Harness{Stores: db.Stores(), Project: func(t *testing.T) {
			// The projector's work, done at once: every event in one batch,
			// then the group's offset after it.
			mustProject(t, db, allEvents(t, db)...)
			if err := db.AckAll(context.Background(), postgres.ReimbursementsProjection.Group); err != nil {
				t.Fatal(err)
			}
		}}
	})
}
