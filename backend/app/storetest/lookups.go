package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The directory's lists: oldest first, by creation time and then id byte
// by byte, paged by the key of the last item.
func testDirectoryLists(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Stores.Directory
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)
	// Two banks created at the same instant: the id decides their order.
	low := ledger.Bank{ID: uuid.MustParse("00000000-0000-4000-8000-000000000001"), Name: "Low", Location: "Springfield", CreatedAt: at}
	high := ledger.Bank{ID: uuid.MustParse("f0000000-0000-4000-8000-000000000001"), Name: "High", Location: "Springfield", CreatedAt: at}
	early := ledger.Bank{ID: uuid.MustParse("ff000000-0000-4000-8000-000000000001"), Name: "Early", Location: "Shelbyville", CreatedAt: at.Add(-time.Hour)}
	for _, b := range []ledger.Bank{high, low, early} {
		must(t, d.AddBank(ctx, b))
	}
	banks, err := d.Banks(ctx, app.PageQuery{Limit: 10})
	must(t, err)
	if !slices.Equal(banks, []ledger.Bank{early, low, high}) {
		t.Fatalf("banks %+v, want early, low, high", banks)
	}
	banks, err = d.Banks(ctx, app.PageQuery{Limit: 1, After: app.PageKey{CreatedAt: low.CreatedAt, ID: low.ID}})
	must(t, err)
	if !slices.Equal(banks, []ledger.Bank{high}) {
		t.Fatalf("banks after low %+v, want high", banks)
	}

	admin := func(bank ledger.Bank, email string, created time.Time) ledger.Administrator {
		a := ledger.Administrator{ID: uuid.New(), BankID: bank.ID, FirstName: "Grace", LastName: "Hopper", Email: email, CreatedAt: created}
		must(t, d.AddAdministrator(ctx, a))
		return a
	}
	second := admin(low, "second@low.example", at.Add(time.Minute))
	first := admin(low, "first@low.example", at)
	admin(high, "first@high.example", at)
	admins, err := d.BankAdministrators(ctx, app.PageQuery{BankID: low.ID, Limit: 10})
	must(t, err)
	if !slices.Equal(admins, []ledger.Administrator{first, second}) {
		t.Fatalf("administrators %+v, want the bank's two, oldest first", admins)
	}
	admins, err = d.BankAdministrators(ctx, app.PageQuery{BankID: low.ID, Limit: 10, After: app.PageKey{CreatedAt: first.CreatedAt, ID: first.ID}})
	must(t, err)
	if !slices.Equal(admins, []ledger.Administrator{second}) {
		t.Fatalf("administrators after the first %+v", admins)
	}

	member := func(email string, created time.Time) ledger.Member {
		m := ledger.Member{ID: uuid.New(), FirstName: "Ada", LastName: "Lovelace", Email: email, CreatedAt: created}
		must(t, d.AddMember(ctx, m))
		return m
	}
	account := func(bank ledger.Bank, m ledger.Member, created time.Time) ledger.Account {
		a := ledger.Account{ID: uuid.New(), BankID: bank.ID, MemberID: m.ID, Currency: "USD", CreatedAt: created}
		must(t, d.AddAccount(ctx, a))
		return a
	}
	ada, alan, grace := member("ada@example.com", at), member("alan@example.com", at.Add(time.Second)), member("grace@example.com", at.Add(-time.Second))
	checking := account(low, ada, at)
	savings := account(low, ada, at.Add(time.Hour)) // a second account: Ada is listed once
	account(high, alan, at)
	account(high, grace, at)
	graceAtLow := account(low, grace, at.Add(time.Minute))
	accounts, err := d.BankAccounts(ctx, app.PageQuery{BankID: low.ID, Limit: 10})
	must(t, err)
	if !slices.Equal(accounts, []ledger.Account{checking, graceAtLow, savings}) {
		t.Fatalf("accounts %+v, want the bank's three, oldest first", accounts)
	}
	accounts, err = d.BankAccounts(ctx, app.PageQuery{BankID: low.ID, Limit: 1, After: app.PageKey{CreatedAt: checking.CreatedAt, ID: checking.ID}})
	must(t, err)
	if !slices.Equal(accounts, []ledger.Account{graceAtLow}) {
		t.Fatalf("one account after the first %+v", accounts)
	}
	members, err := d.BankMembers(ctx, app.PageQuery{BankID: low.ID, Limit: 10})
	must(t, err)
	if !slices.Equal(members, []ledger.Member{grace, ada}) {
		t.Fatalf("members %+v, want Grace then Ada, once each, and not Alan", members)
	}
	members, err = d.BankMembers(ctx, app.PageQuery{BankID: low.ID, Limit: 10, After: app.PageKey{CreatedAt: grace.CreatedAt, ID: grace.ID}})
	must(t, err)
	if !slices.Equal(members, []ledger.Member{ada}) {
		t.Fatalf("members after Grace %+v", members)
	}

	unknown := app.PageQuery{BankID: uuid.New(), Limit: 10}
	admins, errA := d.BankAdministrators(ctx, unknown)
	accounts, errB := d.BankAccounts(ctx, unknown)
	members, errC := d.BankMembers(ctx, unknown)
	if errA != nil || errB != nil || errC != nil || admins == nil || accounts == nil || members == nil ||
		len(admins)+len(accounts)+len(members) != 0 {
		t.Fatalf("an unknown bank lists %v, %v, %v (%v, %v, %v); want empty lists", admins, accounts, members, errA, errB, errC)
	}
}
