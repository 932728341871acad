package app

import (
	"bytes"
	"context"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The directory's tenancy: operators create banks and their
// administrators, and see every bank and administrator; an administrator
// creates members and opens accounts at their own bank, and sees their
// bank, its administrators, its accounts and the members who bank there; a
// member sees themselves and their accounts. Anything else answers
// ENotFound, as if it did not exist.

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
// defaults to ledger.DefaultCurrency. The bank details are optional with
// the stub rail and required with ACH (EInvalid naming the fields); the
// account number is stored sealed, and the account answered shows only its
// last four digits.
func (a *App) OpenAccount(ctx context.Context, p Principal, acct ledger.Account, details ledger.BankDetails) (_ ledger.Account, err error) {
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
	if err := acct.ValidateOpening(details, a.paymentRail == ledger.PaymentRailACH); err != nil {
		return ledger.Account{}, err
	}
	if details.Given() {
		sealed, err := a.accountNumbers.seal(acct.ID, details.AccountNumber)
		if err != nil {
			return ledger.Account{}, err
		}
		acct.RoutingNumber, acct.AccountType = details.RoutingNumber, details.AccountType
		acct.AccountNumberLast4, acct.AccountNumber = ledger.Last4(details.AccountNumber), sealed
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

// Page is a page of a list paged by PageKey: the directory's lists, oldest
// first, and an endpoint's delivery log, newest first.
type Page[T any] struct {
	Items []T
	// Next is the cursor of the next page; the zero key when this is the last.
	Next PageKey
}

// These lists ask their store for one item more than the page holds: its
// presence says there is a next page.
func pageOf[T any](items []T, limit int, key func(T) PageKey) Page[T] {
	if limit > 0 && len(items) > limit {
		items = items[:limit]
		return Page[T]{Items: items, Next: key(items[limit-1])}
	}
	return Page[T]{Items: items}
}

func bankKey(b ledger.Bank) PageKey { return PageKey{b.CreatedAt, b.ID} }
func administratorKey(a ledger.Administrator) PageKey {
	return PageKey{a.CreatedAt, a.ID}
}
func accountKey(a ledger.Account) PageKey { return PageKey{a.CreatedAt, a.ID} }
func memberKey(m ledger.Member) PageKey   { return PageKey{m.CreatedAt, m.ID} }

// Banks lists the banks: every bank to an operator, their own to an
// administrator.
func (a *App) Banks(ctx context.Context, p Principal, q PageQuery) (_ Page[ledger.Bank], err error) {
	defer ledger.Wrap(&err, "Banks")
	if err := p.must(RoleOperator, RoleAdministrator); err != nil {
		return Page[ledger.Bank]{}, err
	}
	if p.is(RoleAdministrator) {
		own, err := a.directory().Bank(ctx, p.BankID)
		if err != nil {
			return Page[ledger.Bank]{}, err
		}
		if !q.After.IsZero() && !after(bankKey(own), q.After) {
			return Page[ledger.Bank]{Items: []ledger.Bank{}}, nil
		}
		return Page[ledger.Bank]{Items: []ledger.Bank{own}}, nil
	}
	q.Limit++
	banks, err := a.directory().Banks(ctx, q)
	return pageOf(banks, q.Limit-1, bankKey), err
}

// after reports whether key k comes after cursor c in a directory list.
func after(k, c PageKey) bool {
	if !k.CreatedAt.Equal(c.CreatedAt) {
		return k.CreatedAt.After(c.CreatedAt)
	}
	return bytes.Compare(k.ID[:], c.ID[:]) > 0
}

// bankOf returns nil when p may list the bank's directory: an operator
// (who creates banks and their administrators) when operators may, or an
// administrator of the bank. Another bank, or one that does not exist, is
// ENotFound.
func (a *App) bankOf(ctx context.Context, p Principal, bankID uuid.UUID, operators bool) error {
	roles := []Role{RoleAdministrator}
	if operators {
		roles = append(roles, RoleOperator)
	}
	if err := p.must(roles...); err != nil {
		return err
	}
	if p.is(RoleAdministrator) {
		if bankID != p.BankID {
			return ledger.Errorf(ledger.ENotFound, "bank %s not found", bankID)
		}
		return nil
	}
	_, err := a.directory().Bank(ctx, bankID)
	return err
}

// BankAdministrators lists a bank's administrators to an operator, or to
// the bank's own administrators.
func (a *App) BankAdministrators(ctx context.Context, p Principal, q PageQuery) (_ Page[ledger.Administrator], err error) {
	defer ledger.Wrap(&err, "BankAdministrators(%s)", q.BankID)
	if err := a.bankOf(ctx, p, q.BankID, true); err != nil {
		return Page[ledger.Administrator]{}, err
	}
	q.Limit++
	admins, err := a.directory().BankAdministrators(ctx, q)
	return pageOf(admins, q.Limit-1, administratorKey), err
}

// BankAccounts lists the accounts at a bank to its administrators.
func (a *App) BankAccounts(ctx context.Context, p Principal, q PageQuery) (_ Page[ledger.Account], err error) {
	defer ledger.Wrap(&err, "BankAccounts(%s)", q.BankID)
	if err := a.bankOf(ctx, p, q.BankID, false); err != nil {
		return Page[ledger.Account]{}, err
	}
	q.Limit++
	accounts, err := a.directory().BankAccounts(ctx, q)
	return pageOf(accounts, q.Limit-1, accountKey), err
}

// BankMembers lists the members with an account at a bank to its
// administrators.
func (a *App) BankMembers(ctx context.Context, p Principal, q PageQuery) (_ Page[ledger.Member], err error) {
	defer ledger.Wrap(&err, "BankMembers(%s)", q.BankID)
	if err := a.bankOf(ctx, p, q.BankID, false); err != nil {
		return Page[ledger.Member]{}, err
	}
	q.Limit++
	members, err := a.directory().BankMembers(ctx, q)
	return pageOf(members, q.Limit-1, memberKey), err
}

// Administrator returns an administrator to an operator, or to an
// administrator of the same bank.
func (a *App) Administrator(ctx context.Context, p Principal, id uuid.UUID) (ledger.Administrator, error) {
	if err := p.must(RoleOperator, RoleAdministrator); err != nil {
		return ledger.Administrator{}, err
	}
	admin, err := a.directory().Administrator(ctx, id)
	if err == nil && p.is(RoleAdministrator) && admin.BankID != p.BankID {
		return ledger.Administrator{}, ledger.Errorf(ledger.ENotFound, "administrator %s not found", id)
	}
	return admin, err
}

// Account returns an account to its member, or to an administrator of its
// bank.
func (a *App) Account(ctx context.Context, p Principal, id uuid.UUID) (ledger.Account, error) {
	if err := p.must(RoleMember, RoleAdministrator); err != nil {
		return ledger.Account{}, err
	}
	acct, err := a.directory().Account(ctx, id)
	if err == nil && (p.is(RoleMember) && acct.MemberID != p.ID || p.is(RoleAdministrator) && acct.BankID != p.BankID) {
		return ledger.Account{}, ledger.Errorf(ledger.ENotFound, "account %s not found", id)
	}
	return acct, err
}
