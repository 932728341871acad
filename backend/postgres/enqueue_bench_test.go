package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// BenchmarkEnqueueWebhooks measures the webhooks group's use case
// (app.EnqueueWebhooks) on one batch of 100 submissions (rolled back each
// time): when no endpoint
// listens, when another bank's does, and when the bank has one that
// subscribes to submissions (each is folded and written).
func BenchmarkEnqueueWebhooks(b *testing.B) {
	db := postgrestest.NewDB(b)
	d := postgrestest.MustDirectory(b, db)
	a := postgrestest.App(db)
	ctx := context.Background()
	var events []ledger.RecordedEvent
	for range 100 {
		r, err := a.Submit(ctx, app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "10.00", Description: "Taxi"})
		if err != nil {
			b.Fatal(err)
		}
		story, err := db.Events.Load(ctx, r.ID)
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, story...)
	}
	rollback := errors.New("rolled back")
	batch := func(b *testing.B) {
		for b.Loop() {
			err := db.Transact(ctx, func(tx app.Tx) error {
				if err := app.EnqueueWebhooks(ctx, tx, app.PersonalData{}, events, time.Now()); err != nil {
					return err
				}
				return rollback
			})
			if err != rollback {
				b.Fatal(err)
			}
		}
	}
	b.Run("nobody listens", batch)
	if _, err := a.CreateWebhookEndpoint(ctx, app.Administrator(d.OtherAdmin.ID, d.OtherBank.ID), app.CreateWebhookEndpointCommand{
		BankID: d.OtherBank.ID, URL: "https://203.0.113.10/hooks", EventTypes: []string{"reimbursement.submitted"}}); err != nil {
		b.Fatal(err)
	}
	b.Run("another bank listens", batch)
	if _, err := a.CreateWebhookEndpoint(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.CreateWebhookEndpointCommand{
		BankID: d.Bank.ID, URL: "https://203.0.113.10/hooks", EventTypes: []string{"reimbursement.submitted"}}); err != nil {
		b.Fatal(err)
	}
	b.Run("the bank listens", batch)
}
