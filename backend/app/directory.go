package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The directory's tenancy: operators create banks and their
// administrators; an administrator creates members and opens accounts at
// their own bank, and sees the members who bank there; a member sees
// themselves. Anything else answers ENotFound, as if it did not exist.

// CreateBank validates and stores a new bank; operators only.
func (a *App) CreateBank(ctx context.Context, p Principal, b ledger.Bank) (_ ledger.Bank, err error) {
	defer ledger.Wrap(&err, "CreateBank")
	if err := p.must(RoleOperator); err != nil {
		return ledger.Bank{}, err
	}
	if err := b.Validate(); err != nil {
		return ledger.Bank{}, err
	}
	b.CreatedAt = a.now()
	if err := a.directory().AddBank(ctx, b); err != nil {
		return ledger.Bank{}, err
	}
	return b, nil
}

// Bank returns a bank to an operator, or to its own administrators.
func (a *App) Bank(ctx context.Context, p Principal, id uuid.UUID) (ledger.Bank, error) {
	if err := p.must(RoleOperator, RoleAdministrator); err != nil {
		return ledger.Bank{}, err
	}
	if p.is(RoleAdministrator) && id != p.BankID {
		return ledger.Bank{}, ledger.Errorf(ledger.ENotFound, "bank %s not found", id)
	}
	return a.directory().Bank(ctx, id)
}

// CreateMember validates and stores a new member; administrators only.
// E-mail addresses are unique.
func (a *App) CreateMember(ctx context.Context, p Principal, m ledger.Member) (_ ledger.Member, err error) {
	defer ledger.Wrap(&err, "CreateMember")
	if err := p.must(RoleAdministrator); err != nil {
		return ledger.Member{}, err
	}
	if err := m.Validate(); err != nil {
		return ledger.Member{}, err
	}
	m.CreatedAt = a.now()
	if err := a.directory().AddMember(ctx, m); err != nil {
		return ledger.Member{}, err
	}
	return m, nil
}

// Member returns a member to themselves, or to an administrator of a bank
// where they have an account.
func (a *App) Member(ctx context.Context, p Principal, id uuid.UUID) (ledger.Member, error) {
	if err := a.memberOfBank(ctx, p, id); err != nil {
		return ledger.Member{}, err
	}
	return a.directory().Member(ctx, id)
}

// memberOfBank returns nil when p may see the member: p is the member, or
// an administrator of a bank where the member has an account.
func (a *App) memberOfBank(ctx context.Context, p Principal, memberID uuid.UUID) error {
	switch {
	case p.is(RoleMember) && memberID == p.ID:
		return nil
	case p.is(RoleAdministrator):
		accounts, err := a.directory().MemberAccounts(ctx, memberID)
		if err != nil {
			return err
		}
		for _, acct := range accounts {
			if acct.BankID == p.BankID {
				return nil
			}
		}
	case !p.is(RoleMember):
		return p.must(RoleMember, RoleAdministrator)
	}
	return ledger.Errorf(ledger.ENotFound, "member %s not found", memberID)
}

// CreateAdministrator validates and stores a new administrator of an
// existing bank; operators only.
func (a *App) CreateAdministrator(ctx context.Context, p Principal, admin ledger.Administrator) (_ ledger.Administrator, err error) {
	defer ledger.Wrap(&err, "CreateAdministrator(bank %s)", admin.BankID)
	if err := p.must(RoleOperator); err != nil {
		return ledger.Administrator{}, err
	}
	if err := admin.Validate(); err != nil {
		return ledger.Administrator{}, err
	}
	admin.CreatedAt = a.now()
	if err := a.directory().AddAdministrator(ctx, admin); err != nil {
		return ledger.Administrator{}, err
	}
	return admin, nil
}

// OpenAccount validates and stores a member's account at the bank of the
// administrator p; another bank answers ENotFound. An empty currency
// defaults to ledger.DefaultCurrency.
func (a *App) OpenAccount(ctx context.Context, p Principal, acct ledger.Account) (_ ledger.Account, err error) {
	defer ledger.Wrap(&err, "OpenAccount(bank %s)", acct.BankID)
	if err := p.must(RoleAdministrator); err != nil {
		return ledger.Account{}, err
	}
	if acct.BankID != p.BankID {
		return ledger.Account{}, ledger.Errorf(ledger.ENotFound, "bank %s not found", acct.BankID)
	}
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

// MemberAccounts lists a member's accounts, oldest first: all of them to
// the member, those at their bank to an administrator. ENotFound when the
// member does not exist or is not p's to see.
func (a *App) MemberAccounts(ctx context.Context, p Principal, memberID uuid.UUID) (_ []ledger.Account, err error) {
	defer ledger.Wrap(&err, "MemberAccounts(%s)", memberID)
	if err := a.memberOfBank(ctx, p, memberID); err != nil {
		return nil, err
	}
	accounts, err := a.directory().MemberAccounts(ctx, memberID)
	if err != nil || p.is(RoleMember) {
		return accounts, err
	}
	atBank := []ledger.Account{}
	for _, acct := range accounts {
		if acct.BankID == p.BankID {
			atBank = append(atBank, acct)
		}
	}
	return atBank, nil
}
