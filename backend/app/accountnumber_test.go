package app_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

var accountNumberKey = bytes.Repeat([]byte{42}, app.AccountNumberKeySize)

// An account opened with bank details keeps the number sealed in its row:
// the row holds none of its digits, the account answered shows its last
// four, and only AccountNumber, with the same key, opens it.
func TestAccountNumberIsSealedAtRest(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	a := app.New(app.Config{Stores: db.Stores(), AuditKeys: postgrestest.AuditKeys, AccountNumberKey: accountNumberKey})
	admin := app.Administrator(d.Admin.ID, d.Bank.ID)
	const number = "98765432101234567" // 17 digits
	opened, err := a.OpenAccount(ctx, admin, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID},
		ledger.BankDetails{RoutingNumber: "021000021", AccountNumber: number, AccountType: ledger.AccountSavings})
	if err != nil {
		t.Fatal(err)
	}
	if opened.RoutingNumber != "021000021" || opened.AccountType != "savings" || opened.AccountNumberLast4 != "4567" {
		t.Fatalf("opened: %+v", opened)
	}

	var row []byte
	if err := db.SQL().QueryRowContext(ctx, `SELECT convert_to(a::text, 'UTF8') FROM accounts a WHERE id = $1`, opened.ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	var ciphertext, wrapped []byte
	if err := db.SQL().QueryRowContext(ctx, `SELECT account_number_ciphertext, account_number_wrapped_key FROM accounts WHERE id = $1`, opened.ID).Scan(&ciphertext, &wrapped); err != nil {
		t.Fatal(err)
	}
	for _, stored := range [][]byte{row, ciphertext, wrapped} {
		if bytes.Contains(stored, []byte(number)) || bytes.Contains(stored, []byte(number[:13])) {
			t.Fatalf("the stored row holds the account number: %s", stored)
		}
	}

	if got, err := a.AccountNumber(ctx, opened.ID); err != nil || got != number {
		t.Fatalf("AccountNumber: %q, %v; want %q", got, err, number)
	}
	other := app.New(app.Config{Stores: db.Stores(), AuditKeys: postgrestest.AuditKeys, AccountNumberKey: bytes.Repeat([]byte{43}, app.AccountNumberKeySize)})
	if _, err := other.AccountNumber(ctx, opened.ID); !errors.Is(err, app.ErrAccountNumberSealed) {
		t.Fatalf("another key opened the number: %v", err)
	}
	// The sealed number copied onto another account does not open there.
	if _, err := db.SQL().ExecContext(ctx, `UPDATE accounts SET (routing_number, account_type, account_number_last4, account_number_ciphertext,
		account_number_wrapped_key, account_number_key_id) = (SELECT routing_number, account_type, account_number_last4, account_number_ciphertext,
		account_number_wrapped_key, account_number_key_id FROM accounts WHERE id = $1) WHERE id = $2`, opened.ID, d.Account.ID); err != nil {
		t.Fatal(err)
	}
	fresh := app.New(app.Config{Stores: db.Stores(), AuditKeys: postgrestest.AuditKeys, AccountNumberKey: accountNumberKey}) // no cached row
	if _, err := fresh.AccountNumber(ctx, d.Account.ID); !errors.Is(err, app.ErrAccountNumberSealed) {
		t.Fatalf("a number swapped onto another account opened: %v", err)
	}
	if _, err := fresh.AccountNumber(ctx, opened.ID); err != nil {
		t.Fatalf("a fresh App with the key: %v", err)
	}
	var plain ledger.Account
	if plain, err = a.OpenAccount(ctx, admin, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID}, ledger.BankDetails{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AccountNumber(ctx, plain.ID); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("AccountNumber of an account without details: %v, want ENotFound", err)
	}
}

// With the ACH rail every account needs its bank details; with the stub
// they are optional, but all three or none.
func TestPaymentRailACHRequiresBankDetails(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	admin := app.Administrator(d.Admin.ID, d.Bank.ID)
	ach := app.New(app.Config{Stores: db.Stores(), AuditKeys: postgrestest.AuditKeys, AccountNumberKey: accountNumberKey, PaymentRail: ledger.PaymentRailACH})
	_, err := ach.OpenAccount(ctx, admin, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID}, ledger.BankDetails{})
	if fields := fieldsOf(err); fields["routing_number"] != "is required" || fields["account_number"] != "is required" || fields["account_type"] != "is required" {
		t.Fatalf("an ACH account without details: %v, want each field required", err)
	}
	details := ledger.BankDetails{RoutingNumber: "011000015", AccountNumber: "4321", AccountType: ledger.AccountChecking}
	if _, err := ach.OpenAccount(ctx, admin, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID}, details); err != nil {
		t.Fatalf("an ACH account with details: %v", err)
	}
	stub := app.New(app.Config{Stores: db.Stores(), AuditKeys: postgrestest.AuditKeys})
	_, err = stub.OpenAccount(ctx, admin, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID, Nickname: "x"},
		ledger.BankDetails{RoutingNumber: "011000016", AccountType: ledger.AccountChecking})
	if fields := fieldsOf(err); fields["routing_number"] == "" || fields["account_number"] != "is required" || len(fields) != 2 {
		t.Fatalf("a stub account with a bad routing number and no account number: %v", err)
	}
}

func fieldsOf(err error) map[string]string {
	var e *ledger.Error
	out := map[string]string{}
	if errors.As(err, &e) {
		for _, f := range e.Fields {
			out[f.Field] = f.Message
		}
	}
	return out
}
