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

// The directory caches members, administrators and accounts once found,
// since none is ever changed or removed. An entry read inside a
// transaction that then rolls back was never stored: it must not be
// cached, or the caller it names would be let in.
func TestARolledBackDirectoryEntryIsNotCached(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	member := ledger.Member{ID: uuid.New(), FirstName: "Grace", LastName: "Hopper", Email: "grace@example.com", CreatedAt: now}
	admin := ledger.Administrator{ID: uuid.New(), BankID: d.Bank.ID, FirstName: "Alan", LastName: "Turing", Email: "alan@example.com", CreatedAt: now}
	account := ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID, Currency: "USD", Nickname: "savings", CreatedAt: now}
	rollback := errors.New("roll back")
	err := db.Transact(ctx, func(tx app.Tx) error {
		if err := tx.Directory.AddMember(ctx, member); err != nil {
			return err
		}
		if err := tx.Directory.AddAdministrator(ctx, admin); err != nil {
			return err
		}
		if err := tx.Directory.AddAccount(ctx, account); err != nil {
			return err
		}
		// Seen inside the transaction...
		if _, err := tx.Directory.Member(ctx, member.ID); err != nil {
			return err
		}
		if _, err := tx.Directory.Administrator(ctx, admin.ID); err != nil {
			return err
		}
		if _, err := tx.Directory.Account(ctx, account.ID); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("Transact: %v, want the rollback", err)
	}
	// ...and gone with it.
	if _, err := db.Directory.Member(ctx, member.ID); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Errorf("member after the rollback: %v, want not found", err)
	}
	if _, err := db.Directory.Administrator(ctx, admin.ID); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Errorf("administrator after the rollback: %v, want not found", err)
	}
	if _, err := db.Directory.Account(ctx, account.ID); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Errorf("account after the rollback: %v, want not found", err)
	}
	// A stored entry is found, and found again from the cache.
	for range 2 {
		got, err := db.Directory.Member(ctx, d.Member.ID)
		if err != nil || got.ID != d.Member.ID || got.Email != d.Member.Email {
			t.Fatalf("member: %+v, %v; want %+v", got, err, d.Member)
		}
		a, err := db.Directory.Administrator(ctx, d.Admin.ID)
		if err != nil || a.BankID != d.Bank.ID {
			t.Fatalf("administrator: %+v, %v; want one of bank %s", a, err, d.Bank.ID)
		}
	}
}
