package worker_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
)

func mustSecondAdmin(t *testing.T, db *postgres.DB, d postgrestest.Directory) app.Principal {
	t.Helper()
	admin, err := postgrestest.App(db).CreateAdministrator(context.Background(), app.Principal{Role: app.RoleOperator, Subject: "ops"},
		ledger.Administrator{ID: uuid.New(), BankID: d.Bank.ID, FirstName: "Frances", LastName: "Allen", Email: "frances@bank.example"})
	if err != nil {
		t.Fatal(err)
	}
	return app.Administrator(admin.ID, admin.BankID)
}

// at runs fns at once and returns how many succeeded.
func at(fns ...func() error) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for _, fn := range fns {
		wg.Go(func() {
			if fn() == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return won
}

// A payout the rail refuses is recorded with its reason and e-mailed;
// retries sent at once start one new attempt, which the rail sees under its
// own key and which settles; the member gets one e-mail per outcome.
func TestFailedPayoutRetriedOnceAndSettlesOnce(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	gw := &sagatest.Gateway{Reject: "account closed", RejectAttempts: 1}
	mailer := &sagatest.Mailer{}
	startWorker(t, db, gw, mailer)
	ctx := context.Background()
	a := postgrestest.App(db)
	admins := []app.Principal{app.Administrator(d.Admin.ID, d.Bank.ID), mustSecondAdmin(t, db, d)}

	id := submit(t, db, d)
	decide(t, db, d, id, false)
	postgrestest.Eventually(t, "the failure e-mailed", func() bool { return count(storyTypes(t, db, id), ledger.TypeMemberNotified) == 1 })
	postgrestest.Eventually(t, "the projector caught up", func() bool { return caughtUp(t, db) })
	row := listAll(t, db, d)[0]
	if row.PaymentStatus != ledger.PaymentStatusFailed || row.PaymentAttempt != 1 || row.PaymentFailureReason != "account closed" {
		t.Fatalf("the list shows the failed payout as %s attempt %d %q", row.PaymentStatus, row.PaymentAttempt, row.PaymentFailureReason)
	}

	var retries []func() error
	for i := range 6 {
		retries = append(retries, func() error {
			_, err := a.RetryPayout(ctx, admins[i%2], app.RetryPayoutCommand{ReimbursementID: id, Meta: ledger.Metadata{CorrelationID: "retry"}})
			return err
		})
	}
	if won := at(retries...); won != 1 {
		t.Fatalf("%d of 6 retries sent at once were accepted, want 1", won)
	}
	postgrestest.Eventually(t, "the retry e-mailed", func() bool { return count(storyTypes(t, db, id), ledger.TypeMemberNotified) == 2 })
	// Retrying a settled payout is refused.
	if _, err := a.RetryPayout(ctx, admins[0], app.RetryPayoutCommand{ReimbursementID: id}); ledger.ErrorCode(err) != ledger.EConflict {
		t.Fatalf("retrying a settled payout: %v, want a conflict", err)
	}
	postgrestest.Eventually(t, "every subscriber caught up", func() bool { return caughtUp(t, db) })

	want := []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementApproved, ledger.TypePaymentRequested, ledger.TypePaymentFailed,
		ledger.TypeMemberNotified, ledger.TypePaymentRequested, ledger.TypePaymentSettled, ledger.TypeMemberNotified}
	if got := storyTypes(t, db, id); !slices.Equal(got, want) {
		t.Fatalf("story = %v, want %v", got, want)
	}
	paymentID := ledger.PaymentID(id)
	calls, paid := gw.Calls(), gw.Paid()
	if len(calls) != 2 || calls[0].IdempotencyKey != paymentID || calls[1].IdempotencyKey != ledger.PaymentAttemptKey(paymentID, 2) ||
		len(paid) != 1 || paid[0].Attempt != 2 {
		t.Fatalf("rail calls %+v, transfers %+v: want attempt 1 refused, attempt 2 paid under its own key", calls, paid)
	}
	sent := mailer.Sent()
	if len(sent) != 2 || !strings.Contains(sent[0].Body, "account closed") || !strings.Contains(sent[1].Subject, "approved and paid") ||
		sent[0].ID == sent[1].ID {
		t.Fatalf("e-mails %+v: want the failure, then the payment, each with its own id", sent)
	}
	row = listAll(t, db, d)[0]
	if row.PaymentStatus != ledger.PaymentStatusSettled || row.PaymentAttempt != 2 || row.PaymentFailureReason != "" {
		t.Fatalf("the list shows the retried payout as %s attempt %d %q", row.PaymentStatus, row.PaymentAttempt, row.PaymentFailureReason)
	}
}

// Two administrators approving a claim above the threshold at the same
// moment: one first approval, one final approval, and one payout.
func TestDualApprovalsAtOnceNeverPayTwice(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	gw := &sagatest.Gateway{}
	startWorker(t, db, gw, &sagatest.Mailer{})
	ctx := context.Background()
	a := postgrestest.App(db)
	if _, err := a.SetApprovalPolicy(ctx, app.Principal{Role: app.RoleOperator, Subject: "ops"},
		app.SetApprovalPolicyCommand{BankID: d.Bank.ID, SecondApprovalAbove: "50.00", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	admins := []app.Principal{app.Administrator(d.Admin.ID, d.Bank.ID), mustSecondAdmin(t, db, d)}
	var ids []uuid.UUID
	for range 8 {
		id := submit(t, db, d) // 80.25: above the threshold
		ids = append(ids, id)
		approve := func(p app.Principal) func() error {
			return func() error {
				_, err := a.Approve(ctx, p, app.DecideCommand{ReimbursementID: id})
				return err
			}
		}
		if won := at(approve(admins[0]), approve(admins[1]), approve(admins[0]), approve(admins[1])); won != 2 {
			t.Fatalf("%d of 4 approvals at once were accepted, want 2: one by each administrator", won)
		}
	}
	postgrestest.Eventually(t, "every subscriber caught up", func() bool { return caughtUp(t, db) })
	for _, id := range ids {
		types := storyTypes(t, db, id)
		if count(types, ledger.TypeReimbursementApprovalRecorded) != 1 || count(types, ledger.TypeReimbursementApproved) != 1 ||
			count(types, ledger.TypePaymentRequested) != 1 || count(types, ledger.TypePaymentSettled) != 1 {
			t.Fatalf("story %v: want one first approval, one final approval, one payment", types)
		}
	}
	if len(gw.Paid()) != len(ids) || len(gw.Calls()) != len(ids) {
		t.Fatalf("%d transfers in %d rail calls for %d approved claims", len(gw.Paid()), len(gw.Calls()), len(ids))
	}
	for _, row := range listAll(t, db, d) {
		if row.Status != ledger.StatusApproved || len(row.Approvals) != 2 || row.Approvals[0].AdministratorID == row.Approvals[1].AdministratorID {
			t.Fatalf("listed as %s with approvals %+v", row.Status, row.Approvals)
		}
	}
}

// A withdrawal is the member's own doing: no payment, no e-mail.
func TestWithdrawalPaysAndEmailsNothing(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	gw, mailer := &sagatest.Gateway{}, &sagatest.Mailer{}
	startWorker(t, db, gw, mailer)
	id := submit(t, db, d)
	if _, err := postgrestest.App(db).Withdraw(context.Background(), app.Member(d.Member.ID), app.WithdrawCommand{ReimbursementID: id}); err != nil {
		t.Fatal(err)
	}
	postgrestest.Eventually(t, "every subscriber caught up", func() bool { return caughtUp(t, db) })
	if types := storyTypes(t, db, id); !slices.Equal(types, []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementWithdrawn}) {
		t.Fatalf("story %v", types)
	}
	if len(gw.Calls()) != 0 || mailer.Attempts() != 0 {
		t.Fatalf("a withdrawal called the rail %d times and the mailer %d times", len(gw.Calls()), mailer.Attempts())
	}
	if row := listAll(t, db, d)[0]; row.Status != ledger.StatusWithdrawn || row.WithdrawnAt == nil {
		t.Fatalf("listed as %+v", row)
	}
}
