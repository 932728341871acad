package app_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The directory's lookups: operators see every bank and administrator, an
// administrator their own bank's directory, a member their own accounts;
// another's answers as if it did not exist.
func TestDirectoryListsAndLookups(t *testing.T) {
	a, d := newApp(t)
	ctx := context.Background()
	operator := app.Principal{Role: app.RoleOperator, Subject: "op"}
	admin := app.Administrator(d.Admin.ID, d.Bank.ID)
	otherAdmin := app.Administrator(d.OtherAdmin.ID, d.OtherBank.ID)
	member := app.Member(d.Member.ID)
	stranger := app.Member(uuid.New())
	auditor := app.Principal{Role: app.RoleAuditor, Subject: "audit"}

	first, err := a.Banks(ctx, operator, app.PageQuery{Limit: 1})
	if err != nil || len(first.Items) != 1 || first.Items[0].ID != d.Bank.ID || first.Next.IsZero() {
		t.Fatalf("the operator's first page of banks: %+v, %v", first, err)
	}
	rest, err := a.Banks(ctx, operator, app.PageQuery{Limit: 1, After: first.Next})
	if err != nil || len(rest.Items) != 1 || rest.Items[0].ID != d.OtherBank.ID || !rest.Next.IsZero() {
		t.Fatalf("the operator's second page of banks: %+v, %v", rest, err)
	}
	own, err := a.Banks(ctx, admin, app.PageQuery{Limit: 10})
	if err != nil || len(own.Items) != 1 || own.Items[0].ID != d.Bank.ID {
		t.Fatalf("an administrator's banks: %+v, %v; want their own only", own, err)
	}
	if past, err := a.Banks(ctx, admin, app.PageQuery{Limit: 10, After: first.Next}); err != nil || len(past.Items) != 0 {
		t.Fatalf("an administrator's banks after their own: %+v, %v", past, err)
	}

	admins, err := a.BankAdministrators(ctx, operator, app.PageQuery{BankID: d.OtherBank.ID, Limit: 10})
	if err != nil || len(admins.Items) != 1 || admins.Items[0].ID != d.OtherAdmin.ID {
		t.Fatalf("the operator lists a bank's administrators: %+v, %v", admins, err)
	}
	accounts, err := a.BankAccounts(ctx, admin, app.PageQuery{BankID: d.Bank.ID, Limit: 10})
	if err != nil || len(accounts.Items) != 1 || accounts.Items[0].ID != d.Account.ID {
		t.Fatalf("an administrator lists their bank's accounts: %+v, %v", accounts, err)
	}
	members, err := a.BankMembers(ctx, admin, app.PageQuery{BankID: d.Bank.ID, Limit: 10})
	if err != nil || len(members.Items) != 1 || members.Items[0].ID != d.Member.ID {
		t.Fatalf("an administrator lists their bank's members: %+v, %v", members, err)
	}
	if got, err := a.Administrator(ctx, operator, d.OtherAdmin.ID); err != nil || got.ID != d.OtherAdmin.ID {
		t.Fatalf("the operator reads an administrator: %+v, %v", got, err)
	}
	if got, err := a.Administrator(ctx, admin, d.Admin.ID); err != nil || got.BankID != d.Bank.ID {
		t.Fatalf("an administrator reads themselves: %+v, %v", got, err)
	}
	for _, p := range []app.Principal{member, admin} {
		if got, err := a.Account(ctx, p, d.Account.ID); err != nil || got.ID != d.Account.ID {
			t.Fatalf("%s reads the account: %+v, %v", p.Actor(), got, err)
		}
	}

	page := func(bank uuid.UUID) app.PageQuery { return app.PageQuery{BankID: bank, Limit: 10} }
	unknown := uuid.New()
	for _, tt := range []struct {
		name string
		err  error
		want ledger.Code
	}{
		{"a member lists banks", second(a.Banks(ctx, member, page(uuid.Nil))), ledger.EForbidden},
		{"an auditor lists banks", second(a.Banks(ctx, auditor, page(uuid.Nil))), ledger.EForbidden},
		{"another bank's administrators", second(a.BankAdministrators(ctx, otherAdmin, page(d.Bank.ID))), ledger.ENotFound},
		{"an unknown bank's administrators", second(a.BankAdministrators(ctx, operator, page(unknown))), ledger.ENotFound},
		{"a member lists administrators", second(a.BankAdministrators(ctx, member, page(d.Bank.ID))), ledger.EForbidden},
		{"another bank's accounts", second(a.BankAccounts(ctx, otherAdmin, page(d.Bank.ID))), ledger.ENotFound},
		{"the operator lists accounts", second(a.BankAccounts(ctx, operator, page(d.Bank.ID))), ledger.EForbidden},
		{"another bank's members", second(a.BankMembers(ctx, otherAdmin, page(d.Bank.ID))), ledger.ENotFound},
		{"the operator lists members", second(a.BankMembers(ctx, operator, page(d.Bank.ID))), ledger.EForbidden},
		{"another bank's administrator", second(a.Administrator(ctx, otherAdmin, d.Admin.ID)), ledger.ENotFound},
		{"an unknown administrator", second(a.Administrator(ctx, operator, unknown)), ledger.ENotFound},
		{"a member reads an administrator", second(a.Administrator(ctx, member, d.Admin.ID)), ledger.EForbidden},
		{"another member's account", second(a.Account(ctx, stranger, d.Account.ID)), ledger.ENotFound},
		{"another bank's account", second(a.Account(ctx, otherAdmin, d.Account.ID)), ledger.ENotFound},
		{"an unknown account", second(a.Account(ctx, member, unknown)), ledger.ENotFound},
		{"the operator reads an account", second(a.Account(ctx, operator, d.Account.ID)), ledger.EForbidden},
	} {
		if ledger.ErrorCode(tt.err) != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, tt.err, tt.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }
