package storetest

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

func testDirectory(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.Stores.Directory
	at := time.Date(2026, 3, 1, 9, 0, 0, 123456000, time.UTC)
	bank := ledger.Bank{ID: uuid.New(), Name: "First Community Bank", Location: "Springfield", CreatedAt: at}
	other := ledger.Bank{ID: uuid.New(), Name: "Harbor Savings", Location: "Shelbyville", CreatedAt: at}
	must(t, d.AddBank(ctx, bank))
	must(t, d.AddBank(ctx, other))
	if got, err := d.Bank(ctx, bank.ID); err != nil || got != bank {
		t.Fatalf("bank read back as %+v, %v", got, err)
	}
	member := ledger.Member{ID: uuid.New(), FirstName: "Ada", LastName: "Lovelace", Email: "Ada@Example.com", CreatedAt: at}
	must(t, d.AddMember(ctx, member))
	twin := ledger.Member{ID: uuid.New(), FirstName: "Ada", LastName: "King", Email: "ada@example.COM", CreatedAt: at}
	wantCode(t, "a member with an e-mail taken in another case", d.AddMember(ctx, twin), ledger.EConflict)

	admin := ledger.Administrator{ID: uuid.New(), BankID: bank.ID, FirstName: "Grace", LastName: "Hopper", Email: "grace@bank.example", CreatedAt: at}
	must(t, d.AddAdministrator(ctx, admin))
	again := admin
	again.ID, again.Email = uuid.New(), "GRACE@bank.example"
	wantCode(t, "a second administrator of the bank with the e-mail", d.AddAdministrator(ctx, again), ledger.EConflict)
	again.BankID = other.ID
	must(t, d.AddAdministrator(ctx, again))
	again.ID, again.BankID = uuid.New(), uuid.New()
	wantCode(t, "an administrator of an unknown bank", d.AddAdministrator(ctx, again), ledger.ENotFound)

	newer := ledger.Account{ID: uuid.New(), BankID: bank.ID, MemberID: member.ID, Currency: "USD", Nickname: "checking", CreatedAt: at.Add(time.Hour)}
	older := ledger.Account{ID: uuid.New(), BankID: other.ID, MemberID: member.ID, Currency: "EUR", Nickname: "savings", CreatedAt: at}
	must(t, d.AddAccount(ctx, newer))
	must(t, d.AddAccount(ctx, older))
	stray := ledger.Account{ID: uuid.New(), BankID: uuid.New(), MemberID: member.ID, Currency: "USD", CreatedAt: at}
	wantCode(t, "an account at an unknown bank", d.AddAccount(ctx, stray), ledger.ENotFound)
	stray.BankID, stray.MemberID = bank.ID, uuid.New()
	var invalid *ledger.Error
	if err := d.AddAccount(ctx, stray); !errors.As(err, &invalid) || invalid.Code != ledger.EInvalid ||
		len(invalid.Fields) != 1 || invalid.Fields[0].Field != "bank_member_id" {
		t.Fatalf("an account of an unknown member: %v, want invalid naming bank_member_id", err)
	}
	accounts, err := d.MemberAccounts(ctx, member.ID)
	if err != nil || len(accounts) != 2 || accounts[0] != older || accounts[1] != newer {
		t.Fatalf("member accounts %+v, %v; want the older first", accounts, err)
	}
	if got, err := d.Account(ctx, newer.ID); err != nil || got != newer {
		t.Fatalf("account read back as %+v, %v", got, err)
	}
	// An account with bank details keeps them, its number in the sealed
	// form it was given (the stores never see it in clear).
	detailed := ledger.Account{ID: uuid.New(), BankID: bank.ID, MemberID: member.ID, Currency: "USD", CreatedAt: at,
		RoutingNumber: "021000021", AccountType: ledger.AccountChecking, AccountNumberLast4: "6789",
		AccountNumber: &ledger.SealedAccountNumber{Ciphertext: []byte{1, 2, 3}, WrappedKey: []byte{4, 5, 6}, KeyID: "0123456789abcdef"}}
	must(t, d.AddAccount(ctx, detailed))
	if got, err := d.Account(ctx, detailed.ID); err != nil || !reflect.DeepEqual(got, detailed) {
		t.Fatalf("an account with bank details read back as %+v, %v; want %+v", got, err, detailed)
	}

	unknown := uuid.New()
	_, err = d.Bank(ctx, unknown)
	wantCode(t, "unknown bank", err, ledger.ENotFound)
	_, err = d.Member(ctx, unknown)
	wantCode(t, "unknown member", err, ledger.ENotFound)
	_, err = d.Administrator(ctx, unknown)
	wantCode(t, "unknown administrator", err, ledger.ENotFound)
	_, err = d.Account(ctx, unknown)
	wantCode(t, "unknown account", err, ledger.ENotFound)
	if accounts, err := d.MemberAccounts(ctx, unknown); err != nil || len(accounts) != 0 {
		t.Fatalf("accounts of an unknown member: %v, %v", accounts, err)
	}
}
