package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Directory stores banks, members, administrators and accounts: over the
// pool, or bound to one transaction (DB.Transact).
type Directory struct {
	q querier
	// cache holds the entries that requests look up on every call;
	// shared by every Directory of one DB.
	cache *directoryCache
	// inTx is set on a Directory bound to a transaction: what it reads may
	// be rolled back, so it reads the cache but never fills it.
	inTx bool
}

var _ app.Directory = (*Directory)(nil)

// AddBank stores a bank.
func (d *Directory) AddBank(ctx context.Context, b ledger.Bank) (err error) {
	defer ledger.Wrap(&err, "Directory.AddBank")
	_, err = d.q.ExecContext(ctx, `INSERT INTO banks (id, name, location, created_at) VALUES ($1, $2, $3, $4)`,
		b.ID, b.Name, b.Location, b.CreatedAt)
	return err
}

// Bank returns the bank with the given id.
func (d *Directory) Bank(ctx context.Context, id uuid.UUID) (ledger.Bank, error) {
	b, err := scanBank(d.q.QueryRowContext(ctx, `SELECT `+bankColumns+` FROM banks WHERE id = $1`, id))
	return b, notFound(err, "bank %s not found", id)
}

// AddMember stores a member; e-mail addresses are unique.
func (d *Directory) AddMember(ctx context.Context, m ledger.Member) (err error) {
	defer ledger.Wrap(&err, "Directory.AddMember")
	_, err = d.q.ExecContext(ctx, `INSERT INTO members (id, first_name, last_name, email, created_at) VALUES ($1, $2, $3, $4, $5)`,
		m.ID, m.FirstName, m.LastName, m.Email, m.CreatedAt)
	if constraintViolated(err, "members_email_key") {
		return ledger.Errorf(ledger.EConflict, "a member with e-mail %s already exists", m.Email)
	}
	return err
}

// Member returns the member with the given id.
func (d *Directory) Member(ctx context.Context, id uuid.UUID) (ledger.Member, error) {
	m, err := cached(d, &d.cache.members, id, func() (ledger.Member, error) {
		return scanMember(d.q.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM members WHERE id = $1`, id))
	})
	return m, notFound(err, "member %s not found", id)
}

// AddAdministrator stores an administrator of an existing bank.
func (d *Directory) AddAdministrator(ctx context.Context, a ledger.Administrator) (err error) {
	defer ledger.Wrap(&err, "Directory.AddAdministrator")
	_, err = d.q.ExecContext(ctx, `
		INSERT INTO administrators (id, bank_id, first_name, last_name, email, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, a.BankID, a.FirstName, a.LastName, a.Email, a.CreatedAt)
	switch {
	case constraintViolated(err, "administrators_bank_id_fkey"):
		return ledger.Errorf(ledger.ENotFound, "bank %s not found", a.BankID)
	case constraintViolated(err, "administrators_bank_email_key"):
		return ledger.Errorf(ledger.EConflict, "bank %s already has an administrator with e-mail %s", a.BankID, a.Email)
	}
	return err
}

// Administrator returns the administrator with the given id.
func (d *Directory) Administrator(ctx context.Context, id uuid.UUID) (ledger.Administrator, error) {
	a, err := cached(d, &d.cache.administrators, id, func() (ledger.Administrator, error) {
		return scanAdministrator(d.q.QueryRowContext(ctx, `SELECT `+administratorColumns+` FROM administrators WHERE id = $1`, id))
	})
	return a, notFound(err, "administrator %s not found", id)
}

// AddAccount stores a member's account at an existing bank.
func (d *Directory) AddAccount(ctx context.Context, a ledger.Account) (err error) {
	defer ledger.Wrap(&err, "Directory.AddAccount")
	var sealed ledger.SealedAccountNumber
	if a.AccountNumber != nil {
		sealed = *a.AccountNumber
	}
	_, err = d.q.ExecContext(ctx, `
		INSERT INTO accounts (id, bank_id, member_id, currency, nickname, created_at, routing_number, account_type,
			account_number_last4, account_number_ciphertext, account_number_wrapped_key, account_number_key_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		a.ID, a.BankID, a.MemberID, a.Currency, a.Nickname, a.CreatedAt,
		nullable(a.RoutingNumber), nullable(a.AccountType), nullable(a.AccountNumberLast4), nullBytes(sealed.Ciphertext), nullBytes(sealed.WrappedKey), nullable(sealed.KeyID))
	switch {
	case constraintViolated(err, "accounts_bank_id_fkey"):
		return ledger.Errorf(ledger.ENotFound, "bank %s not found", a.BankID)
	case constraintViolated(err, "accounts_member_id_fkey"):
		return &ledger.Error{Code: ledger.EInvalid, Message: "the request names a member that does not exist",
			Fields: []ledger.FieldError{{Field: "bank_member_id", Message: fmt.Sprintf("no member has id %s", a.MemberID)}}}
	}
	return err
}

// Account returns the account with the given id.
func (d *Directory) Account(ctx context.Context, id uuid.UUID) (ledger.Account, error) {
	a, err := cached(d, &d.cache.accounts, id, func() (ledger.Account, error) {
		return scanAccount(d.q.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
	})
	return a, notFound(err, "account %s not found", id)
}

// MemberAccounts lists a member's accounts, oldest first.
func (d *Directory) MemberAccounts(ctx context.Context, memberID uuid.UUID) (_ []ledger.Account, err error) {
	defer ledger.Wrap(&err, "Directory.MemberAccounts(%s)", memberID)
	rows, err := d.q.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts
		WHERE member_id = $1 ORDER BY created_at, id`, memberID)
	return collect(rows, err, scanAccount)
}

// pageAfter returns the condition and arguments that select a directory
// list's rows after q.After (column prefix p), numbering the arguments
// after n taken ones; no condition for the first page.
func pageAfter(q app.PageQuery, p string, n int) (string, []any) {
	if q.After.IsZero() {
		return "true", nil
	}
	return fmt.Sprintf("(%[1]screated_at, %[1]sid) > ($%d, $%d)", p, n+1, n+2), []any{q.After.CreatedAt, q.After.ID}
}

// Banks lists banks after q.After, oldest first.
func (d *Directory) Banks(ctx context.Context, q app.PageQuery) (_ []ledger.Bank, err error) {
	defer ledger.Wrap(&err, "Directory.Banks")
	cond, args := pageAfter(q, "", 1)
	rows, err := d.q.QueryContext(ctx, `SELECT `+bankColumns+` FROM banks
		WHERE `+cond+` ORDER BY created_at, id LIMIT $1`, append([]any{q.Limit}, args...)...)
	return collect(rows, err, scanBank)
}

// BankAdministrators lists a bank's administrators after q.After, oldest first.
func (d *Directory) BankAdministrators(ctx context.Context, q app.PageQuery) (_ []ledger.Administrator, err error) {
	defer ledger.Wrap(&err, "Directory.BankAdministrators(%s)", q.BankID)
	cond, args := pageAfter(q, "", 2)
	rows, err := d.q.QueryContext(ctx, `SELECT `+administratorColumns+` FROM administrators
		WHERE bank_id = $2 AND `+cond+` ORDER BY created_at, id LIMIT $1`, append([]any{q.Limit, q.BankID}, args...)...)
	return collect(rows, err, scanAdministrator)
}

// BankAccounts lists the accounts at a bank after q.After, oldest first.
func (d *Directory) BankAccounts(ctx context.Context, q app.PageQuery) (_ []ledger.Account, err error) {
	defer ledger.Wrap(&err, "Directory.BankAccounts(%s)", q.BankID)
	cond, args := pageAfter(q, "", 2)
	rows, err := d.q.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts
		WHERE bank_id = $2 AND `+cond+` ORDER BY created_at, id LIMIT $1`, append([]any{q.Limit, q.BankID}, args...)...)
	return collect(rows, err, scanAccount)
}

// BankMembers lists the members with an account at a bank after q.After,
// oldest first.
func (d *Directory) BankMembers(ctx context.Context, q app.PageQuery) (_ []ledger.Member, err error) {
	defer ledger.Wrap(&err, "Directory.BankMembers(%s)", q.BankID)
	cond, args := pageAfter(q, "m.", 2)
	rows, err := d.q.QueryContext(ctx, `SELECT m.id, m.first_name, m.last_name, m.email, m.created_at, m.erased_at FROM members m
		WHERE EXISTS (SELECT FROM accounts a WHERE a.member_id = m.id AND a.bank_id = $2) AND `+cond+`
		ORDER BY m.created_at, m.id LIMIT $1`, append([]any{q.Limit, q.BankID}, args...)...)
	return collect(rows, err, scanMember)
}

// The directory's rows: the columns each table is read with, and the
// function that scans one row of them.
const (
	bankColumns          = `id, name, location, created_at`
	memberColumns        = `id, first_name, last_name, email, created_at, erased_at`
	administratorColumns = `id, bank_id, first_name, last_name, email, created_at`
	accountColumns       = `id, bank_id, member_id, currency, nickname, created_at, coalesce(routing_number, ''), coalesce(account_type, ''),
		coalesce(account_number_last4, ''), account_number_ciphertext, account_number_wrapped_key, coalesce(account_number_key_id, '')`
)

type row interface{ Scan(dest ...any) error }

func scanBank(r row) (b ledger.Bank, err error) {
	err = r.Scan(&b.ID, &b.Name, &b.Location, &b.CreatedAt)
	b.CreatedAt = b.CreatedAt.UTC()
	return b, err
}

func scanMember(r row) (m ledger.Member, err error) {
	var erased sql.NullTime
	err = r.Scan(&m.ID, &m.FirstName, &m.LastName, &m.Email, &m.CreatedAt, &erased)
	m.CreatedAt = m.CreatedAt.UTC()
	if erased.Valid {
		at := erased.Time.UTC()
		m.ErasedAt, m.FirstName, m.LastName, m.Email = &at, ledger.Erased, ledger.Erased, ledger.Erased
	}
	return m, err
}

func scanAdministrator(r row) (a ledger.Administrator, err error) {
	err = r.Scan(&a.ID, &a.BankID, &a.FirstName, &a.LastName, &a.Email, &a.CreatedAt)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, err
}

func scanAccount(r row) (a ledger.Account, err error) {
	var sealed ledger.SealedAccountNumber
	err = r.Scan(&a.ID, &a.BankID, &a.MemberID, &a.Currency, &a.Nickname, &a.CreatedAt, &a.RoutingNumber, &a.AccountType,
		&a.AccountNumberLast4, &sealed.Ciphertext, &sealed.WrappedKey, &sealed.KeyID)
	if sealed.Ciphertext != nil {
		a.AccountNumber = &sealed
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return a, err
}

// collect reads every row of a query's answer (rows and err, as
// QueryContext returned them) with scan, into a list that is empty rather
// than nil when there is none.
func collect[T any](rows *sql.Rows, err error, scan func(row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// directoryCache holds the directory's entries that every request looks
// up: a member or an administrator naming the caller, the account of a
// submission. Once stored they are never changed or removed (the directory
// has no such command), so a cached entry is never stale, in any process:
// only entries found are cached, never an absence.
//
// A member is the one exception: erasing their personal data overwrites
// their entry. The process that erases forgets it at once; the others
// keep a member for at most memberCacheTTL.
type directoryCache struct {
	accounts       entryCache[ledger.Account]
	members        entryCache[ledger.Member]
	administrators entryCache[ledger.Administrator]
}

// memberCacheTTL bounds how long another process shows an erased member's
// personal data: as long as it keeps their personal data key
// (app/personaldata.go).
const memberCacheTTL = 10 * time.Second

// entryCache keeps up to entryCacheSize entries of one kind; entries older
// than ttl are read again (none expire when ttl is 0).
type entryCache[T any] struct {
	mu    sync.RWMutex
	items map[uuid.UUID]cachedEntry[T]
	ttl   time.Duration
}

type cachedEntry[T any] struct {
	v  T
	at time.Time
}

// forget drops an entry.
func (c *entryCache[T]) forget(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.items, id)
}

const entryCacheSize = 100_000

// cached returns the entry id from c, or loads it and, outside a
// transaction, keeps it.
func cached[T any](d *Directory, c *entryCache[T], id uuid.UUID, load func() (T, error)) (T, error) {
	c.mu.RLock()
	e, ok := c.items[id]
	c.mu.RUnlock()
	if ok && (c.ttl == 0 || time.Since(e.at) < c.ttl) {
		return e.v, nil
	}
	v, err := load()
	if err != nil || d.inTx {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil || len(c.items) >= entryCacheSize {
		c.items = make(map[uuid.UUID]cachedEntry[T]) // start over rather than grow without bound
	}
	c.items[id] = cachedEntry[T]{v: v, at: time.Now()}
	return v, nil
}

// nullable stores an empty string as NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes stores a nil slice as NULL.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
