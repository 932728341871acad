package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

func mustSubmit(t *testing.T, db *postgres.DB, d postgrestest.Directory, amount string) *ledger.Reimbursement {
	t.Helper()
	r, err := db.Submit(context.Background(), postgres.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: amount, Description: "Taxi", Meta: ledger.Metadata{CorrelationID: "test"}})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return r
}

func TestSubmitAndDecideRecordEvents(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()

	r := mustSubmit(t, db, d, "125.50")
	if r.MemberID != d.Member.ID || r.BankID != d.Bank.ID || r.Version != 1 {
		t.Fatalf("submitted %+v", r)
	}
	approved, err := db.Approve(ctx, postgres.DecideCommand{ReimbursementID: r.ID, AdministratorID: d.Admin.ID, Meta: ledger.Metadata{CorrelationID: "c-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if approved.Status != ledger.StatusApproved || approved.Version != 2 {
		t.Fatalf("approved %+v", approved)
	}
	story, err := db.Story(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(story) != 2 || story[0].Type != ledger.TypeReimbursementSubmitted || story[1].Type != ledger.TypeReimbursementApproved {
		t.Fatalf("story = %+v", story)
	}
	if m := story[1].Metadata; m.CorrelationID != "c-1" || m.Actor != "administrator:"+d.Admin.ID.String() {
		t.Fatalf("approval metadata = %+v", m)
	}
	got, err := db.Reimbursement(ctx, r.ID)
	if err != nil || got.Status != ledger.StatusApproved || got.Version != 2 {
		t.Fatalf("read back %+v, %v", got, err)
	}
}

func TestDecisionErrors(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	r := mustSubmit(t, db, d, "10.00")

	tests := []struct {
		name string
		cmd  postgres.DecideCommand
		want ledger.Code
	}{
		{"unknown reimbursement", postgres.DecideCommand{ReimbursementID: uuid.New(), AdministratorID: d.Admin.ID}, ledger.ENotFound},
		{"unknown administrator", postgres.DecideCommand{ReimbursementID: r.ID, AdministratorID: uuid.New()}, ledger.EInvalid},
		{"another bank's administrator", postgres.DecideCommand{ReimbursementID: r.ID, AdministratorID: d.OtherAdmin.ID}, ledger.EForbidden},
		{"stale expected version", postgres.DecideCommand{ReimbursementID: r.ID, AdministratorID: d.Admin.ID, IfMatch: []int64{7}}, ledger.EPreconditionFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := db.Approve(ctx, tt.cmd)
			if ledger.ErrorCode(err) != tt.want {
				t.Fatalf("Approve error = %v, want %s", err, tt.want)
			}
		})
	}
	story, _ := db.Story(ctx, r.ID)
	if len(story) != 1 {
		t.Fatalf("failed decisions appended events: %d in the story", len(story))
	}
}

func TestAppendRefusesATakenVersion(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	r := mustSubmit(t, db, d, "10.00")
	dup := ledger.PendingEvent{StreamID: r.ID, StreamType: ledger.StreamReimbursement, Version: 1,
		Event: ledger.ReimbursementApproved{ReimbursementID: r.ID}}
	if err := db.Append(context.Background(), ledger.Metadata{}, dup); !errors.Is(err, ledger.ErrVersionConflict) {
		t.Fatalf("append at a taken version: %v, want ErrVersionConflict", err)
	}
}

func TestConcurrentDecisionsOneWins(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	r := mustSubmit(t, db, d, "10.00")

	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := postgres.DecideCommand{ReimbursementID: r.ID, AdministratorID: d.Admin.ID, Reason: "duplicate claim"}
			if i%2 == 0 {
				_, errs[i] = db.Approve(context.Background(), cmd)
			} else {
				_, errs[i] = db.Deny(context.Background(), cmd)
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
	story, _ := db.Story(context.Background(), r.ID)
	if wins != 1 || len(story) != 2 {
		t.Fatalf("%d decisions won and the story has %d events; want exactly one decision", wins, len(story))
	}
}

func TestDirectoryConflictsAndLookups(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	_, err := db.CreateMember(ctx, ledger.Member{ID: uuid.New(), FirstName: "A", LastName: "B", Email: d.Member.Email})
	if ledger.ErrorCode(err) != ledger.EConflict {
		t.Fatalf("duplicate e-mail: %v, want conflict", err)
	}
	_, err = db.OpenAccount(ctx, ledger.Account{ID: uuid.New(), BankID: uuid.New(), MemberID: d.Member.ID})
	if ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("account at an unknown bank: %v, want not found", err)
	}
	a, err := db.OpenAccount(ctx, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID})
	if err != nil || a.Currency != "USD" {
		t.Fatalf("account without currency: %+v, %v; want USD", a, err)
	}
	accounts, err := db.MemberAccounts(ctx, d.Member.ID)
	if err != nil || len(accounts) != 2 || accounts[0].ID != d.Account.ID {
		t.Fatalf("member accounts = %+v, %v", accounts, err)
	}
}

func TestAppendedEventsAreReportedOnlyOnceCommitted(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	var mu sync.Mutex
	var reported []string
	db.OnCommit(func(types []string) {
		mu.Lock()
		reported = append(reported, types...)
		mu.Unlock()
	})
	r := mustSubmit(t, db, d, "1.00")
	dup := ledger.PendingEvent{StreamID: r.ID, StreamType: ledger.StreamReimbursement, Version: 1, Event: ledger.ReimbursementApproved{ReimbursementID: r.ID}}
	if err := db.Append(context.Background(), ledger.Metadata{}, dup); err == nil {
		t.Fatal("a taken version was appended")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || reported[0] != ledger.TypeReimbursementSubmitted {
		t.Fatalf("reported %v, want only the committed submission", reported)
	}
}

func TestSessionsEndWhenIdleInATransaction(t *testing.T) {
	db := postgrestest.NewDB(t)
	var timeout string
	if err := db.SQL().QueryRow(`SHOW idle_in_transaction_session_timeout`).Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != "1min" {
		t.Fatalf("idle_in_transaction_session_timeout = %s, want 1min", timeout)
	}
}
