package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// The use cases over PostgreSQL. (The contract test in app/storetest holds
// the in-memory stores to the same behaviour.)

func newApp(t *testing.T) (*app.App, postgrestest.Directory) {
	t.Helper()
	db := postgrestest.NewDB(t)
	return postgrestest.App(db), postgrestest.MustDirectory(t, db)
}

func mustSubmit(t *testing.T, a *app.App, d postgrestest.Directory, amount string) *ledger.Reimbursement {
	t.Helper()
	r, err := a.Submit(context.Background(), app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: amount, Description: "Taxi", Meta: ledger.Metadata{CorrelationID: "test"}})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return r
}

func TestSubmitAndDecideRecordEvents(t *testing.T) {
	a, d := newApp(t)
	ctx := context.Background()

	r := mustSubmit(t, a, d, "125.50")
	if r.MemberID != d.Member.ID || r.BankID != d.Bank.ID || r.Version != 1 {
		t.Fatalf("submitted %+v", r)
	}
	approved, err := a.Approve(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: r.ID, Meta: ledger.Metadata{CorrelationID: "c-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if approved.Status != ledger.StatusApproved || approved.Version != 2 {
		t.Fatalf("approved %+v", approved)
	}
	story, err := a.Story(ctx, postgrestest.Auditor, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(story) != 2 || story[0].Type != ledger.TypeReimbursementSubmitted || story[1].Type != ledger.TypeReimbursementApproved {
		t.Fatalf("story = %+v", story)
	}
	if m := story[1].Metadata; m.CorrelationID != "c-1" || m.Actor != "administrator:"+d.Admin.ID.String() {
		t.Fatalf("approval metadata = %+v", m)
	}
	got, err := a.Reimbursement(ctx, postgrestest.Auditor, r.ID)
	if err != nil || got.Status != ledger.StatusApproved || got.Version != 2 {
		t.Fatalf("read back %+v, %v", got, err)
	}
}

func TestDecisionErrors(t *testing.T) {
	a, d := newApp(t)
	ctx := context.Background()
	r := mustSubmit(t, a, d, "10.00")

	tests := []struct {
		name string
		by   app.Principal
		cmd  app.DecideCommand
		want ledger.Code
	}{
		{"unknown reimbursement", app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: uuid.New()}, ledger.ENotFound},
		// Another bank's reimbursement answers as if it did not exist.
		{"another bank's administrator", app.Administrator(d.OtherAdmin.ID, d.OtherBank.ID), app.DecideCommand{ReimbursementID: r.ID}, ledger.ENotFound},
		{"another bank's administrator with a stale If-Match", app.Administrator(d.OtherAdmin.ID, d.OtherBank.ID), app.DecideCommand{ReimbursementID: r.ID, IfMatch: []int64{7}}, ledger.ENotFound},
		{"not an administrator", app.Member(d.Member.ID), app.DecideCommand{ReimbursementID: r.ID}, ledger.EForbidden},
		{"stale expected version", app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: r.ID, IfMatch: []int64{7}}, ledger.EPreconditionFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Approve(ctx, tt.by, tt.cmd)
			if ledger.ErrorCode(err) != tt.want {
				t.Fatalf("Approve error = %v, want %s", err, tt.want)
			}
		})
	}
	story, _ := a.Story(ctx, postgrestest.Auditor, r.ID)
	if len(story) != 1 {
		t.Fatalf("failed decisions appended events: %d in the story", len(story))
	}
}

func TestConcurrentDecisionsOneWins(t *testing.T) {
	a, d := newApp(t)
	r := mustSubmit(t, a, d, "10.00")

	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd, admin := app.DecideCommand{ReimbursementID: r.ID, Reason: "duplicate claim"}, app.Administrator(d.Admin.ID, d.Bank.ID)
			if i%2 == 0 {
				_, errs[i] = a.Approve(context.Background(), admin, cmd)
			} else {
				_, errs[i] = a.Deny(context.Background(), admin, cmd)
			}
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch ledger.ErrorCode(err) {
		case "":
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			wins++
		case ledger.EConflict:
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	story, _ := a.Story(context.Background(), postgrestest.Auditor, r.ID)
	if wins != 1 || len(story) != 2 {
		t.Fatalf("%d decisions won and the story has %d events; want exactly one decision", wins, len(story))
	}
}

func TestDirectoryConflictsAndLookups(t *testing.T) {
	a, d := newApp(t)
	ctx := context.Background()
	admin := app.Administrator(d.Admin.ID, d.Bank.ID)
	_, err := a.CreateMember(ctx, admin, ledger.Member{ID: uuid.New(), FirstName: "A", LastName: "B", Email: d.Member.Email})
	if ledger.ErrorCode(err) != ledger.EConflict {
		t.Fatalf("duplicate e-mail: %v, want conflict", err)
	}
	_, err = a.OpenAccount(ctx, admin, ledger.Account{ID: uuid.New(), BankID: uuid.New(), MemberID: d.Member.ID}, ledger.BankDetails{})
	if ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("account at an unknown bank: %v, want not found", err)
	}
	_, err = a.OpenAccount(ctx, admin, ledger.Account{ID: uuid.New(), BankID: d.OtherBank.ID, MemberID: d.Member.ID}, ledger.BankDetails{})
	if ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("account at another administrator's bank: %v, want not found", err)
	}
	acct, err := a.OpenAccount(ctx, admin, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID}, ledger.BankDetails{})
	if err != nil || acct.Currency != "USD" {
		t.Fatalf("account without currency: %+v, %v; want USD", acct, err)
	}
	accounts, err := a.MemberAccounts(ctx, app.Member(d.Member.ID), d.Member.ID)
	if err != nil || len(accounts) != 2 || accounts[0].ID != d.Account.ID {
		t.Fatalf("member accounts = %+v, %v", accounts, err)
	}
}

// Each principal sees its own: another member's or another bank's
// reimbursement answers as if it did not exist, and a role that may not
// act is refused.
func TestTenancy(t *testing.T) {
	a, d := newApp(t)
	ctx := context.Background()
	r := mustSubmit(t, a, d, "10.00")
	stranger := app.Member(uuid.New())
	otherAdmin := app.Administrator(d.OtherAdmin.ID, d.OtherBank.ID)
	for _, p := range []app.Principal{stranger, otherAdmin} {
		if _, err := a.Reimbursement(ctx, p, r.ID); ledger.ErrorCode(err) != ledger.ENotFound {
			t.Errorf("%s reads another's reimbursement: %v, want not found", p.Actor(), err)
		}
		if _, err := a.Story(ctx, p, r.ID); ledger.ErrorCode(err) != ledger.ENotFound {
			t.Errorf("%s reads another's story: %v, want not found", p.Actor(), err)
		}
		if _, err := a.ListReimbursements(ctx, p, app.ListQuery{MemberID: d.Member.ID, Limit: 5}); ledger.ErrorCode(err) != ledger.ENotFound {
			t.Errorf("%s lists another's reimbursements: %v, want not found", p.Actor(), err)
		}
		if _, err := a.Member(ctx, p, d.Member.ID); ledger.ErrorCode(err) != ledger.ENotFound {
			t.Errorf("%s reads another member: %v, want not found", p.Actor(), err)
		}
	}
	if _, err := a.Submit(ctx, stranger, app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "1.00", Description: "not mine"}); ledger.ErrorCode(err) != ledger.EInvalid {
		t.Errorf("submitting on another member's account: %v, want the answer for an unknown account", err)
	}
	if _, err := a.ListReimbursements(ctx, otherAdmin, app.ListQuery{BankID: d.Bank.ID, Limit: 5}); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Errorf("listing another bank: %v, want not found", err)
	}
	for _, p := range []app.Principal{postgrestest.Auditor, app.Member(d.Member.ID), app.Administrator(d.Admin.ID, d.Bank.ID)} {
		if got, err := a.Reimbursement(ctx, p, r.ID); err != nil || got.ID != r.ID {
			t.Errorf("%s reads the reimbursement: %v", p.Actor(), err)
		}
	}
	if _, err := a.Feed(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.FeedQuery{Limit: 5}); ledger.ErrorCode(err) != ledger.EForbidden {
		t.Errorf("an administrator reads the feed: %v, want forbidden", err)
	}
	if _, err := a.CreateBank(ctx, postgrestest.Auditor, ledger.Bank{ID: uuid.New(), Name: "X", Location: "Y"}); ledger.ErrorCode(err) != ledger.EForbidden {
		t.Errorf("an auditor creates a bank: %v, want forbidden", err)
	}
}

// TestNestedIdempotentlyIsRefused: Idempotently inside another's run would
// join the outer transaction and record its key with a command it does not
// describe; it is refused, and the outer run's error rolls back both.
func TestNestedIdempotentlyIsRefused(t *testing.T) {
	a, d := newApp(t)
	ctx := context.Background()
	member := app.Member(d.Member.ID)
	var inner error
	_, _, err := a.Idempotently(ctx, member, "outer", []byte("outer"), func(ctx context.Context, bound *app.App) (app.StoredResponse, error) {
		_, _, inner = bound.Idempotently(ctx, member, "inner", []byte("inner"), func(context.Context, *app.App) (app.StoredResponse, error) {
			t.Error("the nested run ran")
			return app.StoredResponse{Status: 201}, nil
		})
		return app.StoredResponse{}, inner
	})
	if !errors.Is(inner, app.ErrNestedTransaction) || !errors.Is(err, app.ErrNestedTransaction) {
		t.Fatalf("nested Idempotently: %v; the outer: %v", inner, err)
	}
	// Neither key was taken: both run afresh.
	for _, key := range []string{"outer", "inner"} {
		ran := false
		if _, replayed, err := a.Idempotently(ctx, member, key, []byte(key), func(context.Context, *app.App) (app.StoredResponse, error) {
			ran = true
			return app.StoredResponse{Status: 201, Body: []byte("{}")}, nil
		}); err != nil || replayed || !ran {
			t.Fatalf("key %s afterwards: replayed %v, ran %v, %v", key, replayed, ran, err)
		}
	}
}
