package worker

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
)

// BenchmarkEnqueueWebhooks measures the webhooks group's handler on one
// batch of 100 submissions (rolled back each time): when no endpoint
// listens, when another bank's does, and when the bank has one that
// subscribes to submissions (each is folded and written).
func BenchmarkEnqueueWebhooks(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
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
	w, err := New(Config{DB: db, Logger: quiet, AuditSigner: postgrestest.AuditSigner,
		Payments:      saga.NewPayments(postgrestest.Streams(db), &sagatest.Gateway{}, quiet, time.Now),
		Notifications: saga.NewNotifications(postgrestest.Streams(db), &sagatest.Mailer{}, quiet, nil)})
	if err != nil {
		b.Fatal(err)
	}
	batch := func(b *testing.B) {
		for b.Loop() {
			tx, err := db.SQL().BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
			if err != nil {
				b.Fatal(err)
			}
			if err := w.enqueueWebhooks(ctx, tx, events); err != nil {
				b.Fatal(err)
			}
			tx.Rollback()
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
