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

// listPage returns the rows of committed and own (a transaction's writes)
// that keep selects, after q.After, oldest first (by creation time, then
// id byte by byte, as PostgreSQL orders them), at most q.Limit.
func listPage[V any](q app.PageQuery, key func(V) app.PageKey, keep func(V) bool, committed, own map[uuid.UUID]V) []V {
	out := []V{}
	for _, m := range []map[uuid.UUID]V{committed, own} {
		for _, v := range m {
			if keep(v) && (q.After.IsZero() || compareKeys(key(v), q.After) > 0) {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, func(x, y V) int { return compareKeys(key(x), key(y)) })
	return out[:min(len(out), max(q.Limit, 0))]
}

func compareKeys(x, y app.PageKey) int {
	if c := x.CreatedAt.Compare(y.CreatedAt); c != 0 {
		return c
	}
	return bytes.Compare(x.ID[:], y.ID[:])
}

// Banks lists banks after q.After, oldest first.
func (d *Directory) Banks(ctx context.Context, q app.PageQuery) (banks []ledger.Bank, err error) {
	defer ledger.Wrap(&err, "Directory.Banks")
	err = d.db.read(ctx, d.tx, func() error {
		banks = listPage(q, func(b ledger.Bank) app.PageKey { return app.PageKey{CreatedAt: b.CreatedAt, ID: b.ID} },
			func(ledger.Bank) bool { return true }, d.db.banks, d.own().banks)
		return nil
	})
	return banks, err
}

// BankAdministrators lists a bank's administrators after q.After, oldest first.
func (d *Directory) BankAdministrators(ctx context.Context, q app.PageQuery) (admins []ledger.Administrator, err error) {
	defer ledger.Wrap(&err, "Directory.BankAdministrators(%s)", q.BankID)
	err = d.db.read(ctx, d.tx, func() error {
		admins = listPage(q, func(a ledger.Administrator) app.PageKey { return app.PageKey{CreatedAt: a.CreatedAt, ID: a.ID} },
			func(a ledger.Administrator) bool { return a.BankID == q.BankID }, d.db.admins, d.own().admins)
		return nil
	})
	return admins, err
}

// BankAccounts lists the accounts at a bank after q.After, oldest first.
func (d *Directory) BankAccounts(ctx context.Context, q app.PageQuery) (accounts []ledger.Account, err error) {
	defer ledger.Wrap(&err, "Directory.BankAccounts(%s)", q.BankID)
	err = d.db.read(ctx, d.tx, func() error {
		accounts = listPage(q, func(a ledger.Account) app.PageKey { return app.PageKey{CreatedAt: a.CreatedAt, ID: a.ID} },
			func(a ledger.Account) bool { return a.BankID == q.BankID }, d.db.accounts, d.own().accounts)
		return nil
	})
	return accounts, err
}

// BankMembers lists the members with an account at a bank after q.After,
// oldest first.
func (d *Directory) BankMembers(ctx context.Context, q app.PageQuery) (members []ledger.Member, err error) {
	defer ledger.Wrap(&err, "Directory.BankMembers(%s)", q.BankID)
	err = d.db.read(ctx, d.tx, func() error {
		banking := map[uuid.UUID]bool{}
		for _, accounts := range []map[uuid.UUID]ledger.Account{d.db.accounts, d.own().accounts} {
			for _, a := range accounts {
				if a.BankID == q.BankID {
					banking[a.MemberID] = true
				}
			}
		}
		members = listPage(q, func(m ledger.Member) app.PageKey { return app.PageKey{CreatedAt: m.CreatedAt, ID: m.ID} },
			func(m ledger.Member) bool { return banking[m.ID] }, d.db.members, d.own().members)
		return nil
	})
	return members, err
}
