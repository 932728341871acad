package postgres_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// What the webhooks group reads before it folds anything: which banks
// listen to which types (enabled endpoints only), and the bank of each
// reimbursement, from its submission.
func TestWebhookListenersAndReimbursementBanks(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	a := postgrestest.App(db)
	ctx := context.Background()
	register := func(p app.Principal, bank uuid.UUID, types ...string) app.WebhookEndpoint {
		t.Helper()
		e, err := a.CreateWebhookEndpoint(ctx, p, app.CreateWebhookEndpointCommand{BankID: bank, URL: "https://203.0.113.10/hooks", EventTypes: types})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	admin, otherAdmin := app.Administrator(d.Admin.ID, d.Bank.ID), app.Administrator(d.OtherAdmin.ID, d.OtherBank.ID)
	register(admin, d.Bank.ID, "reimbursement.approved", "reimbursement.denied")
	register(admin, d.Bank.ID, "reimbursement.approved")
	register(otherAdmin, d.OtherBank.ID, "reimbursement.submitted")
	disabled := register(otherAdmin, d.OtherBank.ID, "reimbursement.approved")
	if _, err := db.SQL().Exec(`UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = 'failed' WHERE id = $1`, disabled.ID); err != nil {
		t.Fatal(err)
	}
	r, err := a.Submit(ctx, app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "5.00", Description: "Bus"})
	if err != nil {
		t.Fatal(err)
	}
	stray := uuid.New()
	if _, err := db.Events.Append(ctx, ledger.Metadata{}, ledger.PendingEvent{StreamID: stray, StreamType: ledger.StreamReimbursement, Version: 1,
		Event: ledger.ReimbursementWithdrawn{ReimbursementID: stray, BankMemberID: d.Member.ID, WithdrawnAt: time.Now().UTC()}}); err != nil {
		t.Fatal(err)
	}

	tx, err := db.SQL().BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	l, err := db.BindTx(tx).Deliveries.Listeners(ctx, []string{"reimbursement.approved", "reimbursement.submitted", "reimbursement.withdrawn"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bank uuid.UUID
		typ  string
		want bool
	}{
		{d.Bank.ID, "reimbursement.approved", true},
		{d.OtherBank.ID, "reimbursement.approved", false}, // its endpoint is disabled
		{d.OtherBank.ID, "reimbursement.submitted", true},
		{d.Bank.ID, "reimbursement.submitted", false},
		{d.Bank.ID, "reimbursement.denied", false}, // not asked about
	} {
		if got := l.Bank(tc.bank, tc.typ); got != tc.want {
			t.Errorf("does %v listen to %s: %v, want %v", tc.bank, tc.typ, got, tc.want)
		}
	}
	if l.Type("reimbursement.withdrawn") || !l.Type("reimbursement.approved") || len(l) != 2 {
		t.Errorf("listeners %v", l)
	}

	banks, err := db.BindTx(tx).Events.ReimbursementBanks(ctx, []uuid.UUID{r.ID, r.ID})
	if err != nil || len(banks) != 1 || banks[r.ID] != d.Bank.ID {
		t.Fatalf("banks %v, %v; want %s's bank", banks, err, r.ID)
	}
	if _, err := db.BindTx(tx).Events.ReimbursementBanks(ctx, []uuid.UUID{r.ID, stray}); err == nil {
		t.Fatal("a reimbursement with no submission was given a bank")
	}
}

// A member's erasure finds the deliveries about their claims through an
// index: it runs holding the appenders' lock, so a scan that parses every
// payload ever queued would hold delivery back for as long.
func TestErasureFindsDeliveriesByIndex(t *testing.T) {
	db := postgrestest.NewDB(t)
	plan, err := db.PlanOfErasePayloads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "webhook_deliveries_reimbursement") {
		t.Fatalf("the erasure's lookup does not use webhook_deliveries_reimbursement:\n%s", plan)
	}
}
