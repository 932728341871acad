package inmem

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Directory stores banks, members, administrators and accounts: outside any
// transaction, or bound to one (DB.Transact).
type Directory struct {
	db *DB
	tx *txn
}

var _ app.Directory = (*Directory)(nil)

// own is d's transaction, or an empty one outside a transaction, so that
// reads look at one transaction's writes either way.
func (d *Directory) own() *txn {
	if d.tx == nil {
		return &txn{}
	}
	return d.tx
}

// find looks id up in a transaction's writes, then in the committed rows.
func find[V any](own, committed map[uuid.UUID]V, id uuid.UUID) (V, bool) {
	if v, ok := own[id]; ok {
		return v, true
	}
	v, ok := committed[id]
	return v, ok
}

// put stores v under id in *m, making the map on first use.
func put[V any](m *map[uuid.UUID]V, id uuid.UUID, v V) {
	if *m == nil {
		*m = map[uuid.UUID]V{}
	}
	(*m)[id] = v
}

// duplicateKey is the error PostgreSQL gives for a taken primary key, which
// backend/postgres passes on untranslated.
func duplicateKey(constraint string) error {
	return fmt.Errorf("duplicate key value violates unique constraint %q", constraint)
}

// AddBank stores a bank.
func (d *Directory) AddBank(ctx context.Context, b ledger.Bank) (err error) {
	defer ledger.Wrap(&err, "Directory.AddBank")
	return d.db.write(ctx, d.tx, func(tx *txn) error {
		if err := d.db.claim(ctx, tx, "bank "+b.ID.String()); err != nil {
			return err
		}
		if _, ok := find(tx.banks, d.db.banks, b.ID); ok {
			return tx.abort(duplicateKey("banks_pkey"))
		}
		b.CreatedAt = timestamptz(b.CreatedAt)
		put(&tx.banks, b.ID, b)
		return nil
	})
}

// Bank returns the bank with the given id.
func (d *Directory) Bank(ctx context.Context, id uuid.UUID) (b ledger.Bank, err error) {
	err = d.db.read(ctx, d.tx, func() error {
		var ok bool
		if b, ok = find(d.own().banks, d.db.banks, id); !ok {
			return ledger.Errorf(ledger.ENotFound, "bank %s not found", id)
		}
		return nil
	})
	return b, err
}

// AddMember stores a member; e-mail addresses are unique whatever their case.
func (d *Directory) AddMember(ctx context.Context, m ledger.Member) (err error) {
	defer ledger.Wrap(&err, "Directory.AddMember")
	return d.db.write(ctx, d.tx, func(tx *txn) error {
		if err := d.db.claim(ctx, tx, "member "+m.ID.String()); err != nil {
			return err
		}
		if _, ok := find(tx.members, d.db.members, m.ID); ok {
			return tx.abort(duplicateKey("members_pkey"))
		}
		email := strings.ToLower(m.Email)
		if err := d.db.claim(ctx, tx, "member email "+email); err != nil {
			return err
		}
		for _, other := range []map[uuid.UUID]ledger.Member{tx.members, d.db.members} {
			for _, o := range other {
				if strings.ToLower(o.Email) == email {
					return tx.abort(ledger.Errorf(ledger.EConflict, "a member with e-mail %s already exists", m.Email))
				}
			}
		}
		m.CreatedAt = timestamptz(m.CreatedAt)
		put(&tx.members, m.ID, m)
		return nil
	})
}

// Member returns the member with the given id.
func (d *Directory) Member(ctx context.Context, id uuid.UUID) (m ledger.Member, err error) {
	err = d.db.read(ctx, d.tx, func() error {
		var ok bool
		if m, ok = find(d.own().members, d.db.members, id); !ok {
			return ledger.Errorf(ledger.ENotFound, "member %s not found", id)
		}
		return nil
	})
	return m, err
}

// AddAdministrator stores an administrator of an existing bank; a bank's
// administrators have distinct e-mail addresses whatever their case.
func (d *Directory) AddAdministrator(ctx context.Context, a ledger.Administrator) (err error) {
	defer ledger.Wrap(&err, "Directory.AddAdministrator")
	return d.db.write(ctx, d.tx, func(tx *txn) error {
		if err := d.db.claim(ctx, tx, "administrator "+a.ID.String()); err != nil {
			return err
		}
		if _, ok := find(tx.admins, d.db.admins, a.ID); ok {
			return tx.abort(duplicateKey("administrators_pkey"))
		}
		// PostgreSQL checks unique indexes as it inserts, and foreign keys after.
		email := strings.ToLower(a.Email)
		if err := d.db.claim(ctx, tx, "administrator email "+a.BankID.String()+" "+email); err != nil {
			return err
		}
		for _, other := range []map[uuid.UUID]ledger.Administrator{tx.admins, d.db.admins} {
			for _, o := range other {
				if o.BankID == a.BankID && strings.ToLower(o.Email) == email {
					return tx.abort(ledger.Errorf(ledger.EConflict, "bank %s already has an administrator with e-mail %s", a.BankID, a.Email))
				}
			}
		}
		if _, ok := find(tx.banks, d.db.banks, a.BankID); !ok {
			return tx.abort(ledger.Errorf(ledger.ENotFound, "bank %s not found", a.BankID))
		}
		a.CreatedAt = timestamptz(a.CreatedAt)
		put(&tx.admins, a.ID, a)
		return nil
	})
}

// Administrator returns the administrator with the given id.
func (d *Directory) Administrator(ctx context.Context, id uuid.UUID) (a ledger.Administrator, err error) {
	err = d.db.read(ctx, d.tx, func() error {
		var ok bool
		if a, ok = find(d.own().admins, d.db.admins, id); !ok {
			return ledger.Errorf(ledger.ENotFound, "administrator %s not found", id)
		}
		return nil
	})
	return a, err
}

// AddAccount stores a member's account at an existing bank.
func (d *Directory) AddAccount(ctx context.Context, a ledger.Account) (err error) {
	defer ledger.Wrap(&err, "Directory.AddAccount")
	return d.db.write(ctx, d.tx, func(tx *txn) error {
		if err := d.db.claim(ctx, tx, "account "+a.ID.String()); err != nil {
			return err
		}
		if _, ok := find(tx.accounts, d.db.accounts, a.ID); ok {
			return tx.abort(duplicateKey("accounts_pkey"))
		}
		// The foreign keys are checked in the order the table declares them.
		if _, ok := find(tx.banks, d.db.banks, a.BankID); !ok {
			return tx.abort(ledger.Errorf(ledger.ENotFound, "bank %s not found", a.BankID))
		}
		if _, ok := find(tx.members, d.db.members, a.MemberID); !ok {
			return tx.abort(&ledger.Error{Code: ledger.EInvalid, Message: "the request names a member that does not exist",
				Fields: []ledger.FieldError{{Field: "bank_member_id", Message: fmt.Sprintf("no member has id %s", a.MemberID)}}})
		}
		a.CreatedAt = timestamptz(a.CreatedAt)
		put(&tx.accounts, a.ID, a)
		return nil
	})
}

// Account returns the account with the given id.
func (d *Directory) Account(ctx context.Context, id uuid.UUID) (a ledger.Account, err error) {
	err = d.db.read(ctx, d.tx, func() error {
		var ok bool
		if a, ok = find(d.own().accounts, d.db.accounts, id); !ok {
			return ledger.Errorf(ledger.ENotFound, "account %s not found", id)
		}
		return nil
	})
	return a, err
}

// MemberAccounts lists a member's accounts, oldest first.
func (d *Directory) MemberAccounts(ctx context.Context, memberID uuid.UUID) (accounts []ledger.Account, err error) {
	defer ledger.Wrap(&err, "Directory.MemberAccounts(%s)", memberID)
	err = d.db.read(ctx, d.tx, func() error {
		accounts = []ledger.Account{}
		for _, a := range d.db.accounts {
			if a.MemberID == memberID {
				accounts = append(accounts, a)
			}
		}
		for _, a := range d.own().accounts {
			if a.MemberID == memberID {
				accounts = append(accounts, a)
			}
		}
		// ORDER BY created_at, id: PostgreSQL orders uuids byte by byte.
		slices.SortFunc(accounts, func(x, y ledger.Account) int {
			if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
				return c
			}
			return bytes.Compare(x.ID[:], y.ID[:])
		})
		return nil
	})
	return accounts, err
}
