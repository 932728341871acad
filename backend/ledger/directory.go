package ledger

import (
	"time"

	"github.com/google/uuid"
)

// Bank is a bank whose members claim reimbursements.
type Bank struct {
	ID        uuid.UUID
	Name      string
	Location  string
	CreatedAt time.Time
}

// Validate reports what is wrong with a bank about to be created.
func (b Bank) Validate() error {
	var v validation
	checkText(&v, "name", b.Name, MaxNameLength)
	checkText(&v, "location", b.Location, MaxNameLength)
	return v.err()
}

// Member is a person who banks with one or more banks and submits reimbursements.
type Member struct {
	ID        uuid.UUID
	FirstName string
	LastName  string
	Email     string
	CreatedAt time.Time
	// ErasedAt is when the member's personal data was erased (their names
	// and e-mail address then read Erased); nil while it was not.
	ErasedAt *time.Time
}

// Validate reports what is wrong with a member about to be created.
func (m Member) Validate() error {
	var v validation
	checkText(&v, "first_name", m.FirstName, MaxNameLength)
	checkText(&v, "last_name", m.LastName, MaxNameLength)
	checkEmail(&v, "email", m.Email)
	return v.err()
}

// Administrator decides the reimbursements of one bank.
type Administrator struct {
	ID        uuid.UUID
	BankID    uuid.UUID
	FirstName string
	LastName  string
	Email     string
	CreatedAt time.Time
}

// Validate reports what is wrong with an administrator about to be created.
func (a Administrator) Validate() error {
	var v validation
	checkText(&v, "first_name", a.FirstName, MaxNameLength)
	checkText(&v, "last_name", a.LastName, MaxNameLength)
	checkEmail(&v, "email", a.Email)
	return v.err()
}

// Account is a member's account at a bank; reimbursements are paid into it.
type Account struct {
	ID        uuid.UUID
	BankID    uuid.UUID
	MemberID  uuid.UUID
	Currency  string
	Nickname  string
	CreatedAt time.Time
	// RoutingNumber, AccountType and AccountNumberLast4 are the bank
	// details that may be shown; all empty when the account has none.
	RoutingNumber      string
	AccountType        string
	AccountNumberLast4 string
	// AccountNumber is the number sealed; nil when the account has no
	// bank details.
	AccountNumber *SealedAccountNumber
}

// Validate reports what is wrong with an account about to be opened.
// An empty currency must have been defaulted before.
func (a Account) Validate() error {
	var v validation
	a.check(&v)
	return v.err()
}

func (a Account) check(v *validation) {
	if _, ok := LookupCurrency(a.Currency); !ok {
		v.add("currency", "must be a supported ISO 4217 code such as USD")
	}
	if a.Nickname != "" {
		checkText(v, "nickname", a.Nickname, MaxNameLength)
	}
}
