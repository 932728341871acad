package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// CreateBank validates and stores a new bank.
func (a *App) CreateBank(ctx context.Context, p Principal, b ledger.Bank) (_ ledger.Bank, err error) {
	defer ledger.Wrap(&err, "CreateBank")
	if err := b.Validate(); err != nil {
		return ledger.Bank{}, err
	}
	b.CreatedAt = a.now()
	if err := a.directory().AddBank(ctx, b); err != nil {
		return ledger.Bank{}, err
	}
	return b, nil
}

// Bank returns the bank with the given id.
func (a *App) Bank(ctx context.Context, p Principal, id uuid.UUID) (ledger.Bank, error) {
	return a.directory().Bank(ctx, id)
}

// CreateMember validates and stores a new member. E-mail addresses are unique.
func (a *App) CreateMember(ctx context.Context, p Principal, m ledger.Member) (_ ledger.Member, err error) {
	defer ledger.Wrap(&err, "CreateMember")
	if err := m.Validate(); err != nil {
		return ledger.Member{}, err
	}
	m.CreatedAt = a.now()
	if err := a.directory().AddMember(ctx, m); err != nil {
		return ledger.Member{}, err
	}
	return m, nil
}

// Member returns the member with the given id.
func (a *App) Member(ctx context.Context, p Principal, id uuid.UUID) (ledger.Member, error) {
	return a.directory().Member(ctx, id)
}

// CreateAdministrator validates and stores a new administrator of an existing bank.
func (a *App) CreateAdministrator(ctx context.Context, p Principal, admin ledger.Administrator) (_ ledger.Administrator, err error) {
	defer ledger.Wrap(&err, "CreateAdministrator(bank %s)", admin.BankID)
	if err := admin.Validate(); err != nil {
		return ledger.Administrator{}, err
	}
	admin.CreatedAt = a.now()
	if err := a.directory().AddAdministrator(ctx, admin); err != nil {
		return ledger.Administrator{}, err
	}
	return admin, nil
}

// OpenAccount validates and stores a member's account at an existing bank.
// An empty currency defaults to ledger.DefaultCurrency.
func (a *App) OpenAccount(ctx context.Context, p Principal, acct ledger.Account) (_ ledger.Account, err error) {
	defer ledger.Wrap(&err, "OpenAccount(bank %s)", acct.BankID)
	if acct.Currency == "" {
		acct.Currency = ledger.DefaultCurrency
	}
	if err := acct.Validate(); err != nil {
		return ledger.Account{}, err
	}
	acct.CreatedAt = a.now()
	if err := a.directory().AddAccount(ctx, acct); err != nil {
		return ledger.Account{}, err
	}
	return acct, nil
}

// MemberAccounts lists a member's accounts, oldest first; ENotFound when the
// member does not exist.
func (a *App) MemberAccounts(ctx context.Context, p Principal, memberID uuid.UUID) (_ []ledger.Account, err error) {
	defer ledger.Wrap(&err, "MemberAccounts(%s)", memberID)
	if _, err := a.directory().Member(ctx, memberID); err != nil {
		return nil, err
	}
	return a.directory().MemberAccounts(ctx, memberID)
}
