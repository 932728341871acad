package postgres_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
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
		}, WebhookLog: webhookLog{db}}
	})
}

// webhookLog writes the delivery log as the worker does: the webhooks
// group enqueues in a transaction of its own (its batch's), the delivery
// loop records attempts.
type webhookLog struct{ db *postgres.DB }

func (l webhookLog) EnqueueDeliveries(ctx context.Context, e app.WebhookEnqueue) error {
	tx, err := l.db.SQL().BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	if err := l.db.BindTx(tx).Deliveries.EnqueueDeliveries(ctx, e); err != nil {
		return err
	}
	return tx.Commit()
}

func (l webhookLog) RecordAttempt(ctx context.Context, deliveryID, endpointID uuid.UUID, o app.WebhookOutcome) error {
	return l.db.Webhooks.RecordAttempt(ctx, deliveryID, endpointID, o)
}
