package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// CreateBank validates and stores a new bank.
func (db *DB) CreateBank(ctx context.Context, b ledger.Bank) (ledger.Bank, error) {
	if err := b.Validate(); err != nil {
		return ledger.Bank{}, err
	}
	b.CreatedAt = db.now().UTC()
	err := db.exec(ctx, `INSERT INTO banks (id, name, location, created_at) VALUES ($1, $2, $3, $4)`,
		b.ID, b.Name, b.Location, b.CreatedAt)
	if err != nil {
		return ledger.Bank{}, fmt.Errorf("create bank: %w", err)
	}
	return b, nil
}

// Bank returns the bank with the given id.
func (db *DB) Bank(ctx context.Context, id uuid.UUID) (ledger.Bank, error) {
	var b ledger.Bank
	err := db.db.QueryRowContext(ctx, `SELECT id, name, location, created_at FROM banks WHERE id = $1`, id).
		Scan(&b.ID, &b.Name, &b.Location, &b.CreatedAt)
	b.CreatedAt = b.CreatedAt.UTC()
	return b, notFound(err, "bank %s not found", id)
}

// CreateMember validates and stores a new member. E-mail addresses are unique.
func (db *DB) CreateMember(ctx context.Context, m ledger.Member) (ledger.Member, error) {
	if err := m.Validate(); err != nil {
		return ledger.Member{}, err
	}
	m.CreatedAt = db.now().UTC()
	err := db.exec(ctx, `INSERT INTO members (id, first_name, last_name, email, created_at) VALUES ($1, $2, $3, $4, $5)`,
		m.ID, m.FirstName, m.LastName, m.Email, m.CreatedAt)
	if constraintViolated(err, "members_email_key") {
		return ledger.Member{}, ledger.Errorf(ledger.EConflict, "a member with e-mail %s already exists", m.Email)
	}
	if err != nil {
		return ledger.Member{}, fmt.Errorf("create member: %w", err)
	}
	return m, nil
}

// Member returns the member with the given id.
func (db *DB) Member(ctx context.Context, id uuid.UUID) (ledger.Member, error) {
	return member(ctx, db.db, id)
}

func member(ctx context.Context, q querier, id uuid.UUID) (ledger.Member, error) {
	var m ledger.Member
	err := q.QueryRowContext(ctx, `SELECT id, first_name, last_name, email, created_at FROM members WHERE id = $1`, id).
		Scan(&m.ID, &m.FirstName, &m.LastName, &m.Email, &m.CreatedAt)
	m.CreatedAt = m.CreatedAt.UTC()
	return m, notFound(err, "member %s not found", id)
}

// CreateAdministrator validates and stores a new administrator of an existing bank.
func (db *DB) CreateAdministrator(ctx context.Context, a ledger.Administrator) (ledger.Administrator, error) {
	if err := a.Validate(); err != nil {
		return ledger.Administrator{}, err
	}
	a.CreatedAt = db.now().UTC()
	err := db.exec(ctx, `
		INSERT INTO administrators (id, bank_id, first_name, last_name, email, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, a.BankID, a.FirstName, a.LastName, a.Email, a.CreatedAt)
	switch {
	case constraintViolated(err, "administrators_bank_id_fkey"):
		return ledger.Administrator{}, ledger.Errorf(ledger.ENotFound, "bank %s not found", a.BankID)
	case constraintViolated(err, "administrators_bank_email_key"):
		return ledger.Administrator{}, ledger.Errorf(ledger.EConflict, "bank %s already has an administrator with e-mail %s", a.BankID, a.Email)
	case err != nil:
		return ledger.Administrator{}, fmt.Errorf("create administrator: %w", err)
	}
	return a, nil
}

func administrator(ctx context.Context, q querier, id uuid.UUID) (ledger.Administrator, error) {
	var a ledger.Administrator
	err := q.QueryRowContext(ctx, `SELECT id, bank_id, first_name, last_name, email, created_at FROM administrators WHERE id = $1`, id).
		Scan(&a.ID, &a.BankID, &a.FirstName, &a.LastName, &a.Email, &a.CreatedAt)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, notFound(err, "administrator %s not found", id)
}

// OpenAccount validates and stores a member's account at an existing bank.
// An empty currency defaults to ledger.DefaultCurrency.
func (db *DB) OpenAccount(ctx context.Context, a ledger.Account) (ledger.Account, error) {
	if a.Currency == "" {
		a.Currency = ledger.DefaultCurrency
	}
	if err := a.Validate(); err != nil {
		return ledger.Account{}, err
	}
	a.CreatedAt = db.now().UTC()
	err := db.exec(ctx, `
		INSERT INTO accounts (id, bank_id, member_id, currency, nickname, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, a.BankID, a.MemberID, a.Currency, a.Nickname, a.CreatedAt)
	switch {
	case constraintViolated(err, "accounts_bank_id_fkey"):
		return ledger.Account{}, ledger.Errorf(ledger.ENotFound, "bank %s not found", a.BankID)
	case constraintViolated(err, "accounts_member_id_fkey"):
		return ledger.Account{}, &ledger.Error{Code: ledger.EInvalid, Message: "the request names a member that does not exist",
			Fields: []ledger.FieldError{{Field: "bank_member_id", Message: fmt.Sprintf("no member has id %s", a.MemberID)}}}
	case err != nil:
		return ledger.Account{}, fmt.Errorf("open account: %w", err)
	}
	return a, nil
}

func account(ctx context.Context, q querier, id uuid.UUID) (ledger.Account, error) {
	var a ledger.Account
	err := q.QueryRowContext(ctx, `SELECT id, bank_id, member_id, currency, nickname, created_at FROM accounts WHERE id = $1`, id).
		Scan(&a.ID, &a.BankID, &a.MemberID, &a.Currency, &a.Nickname, &a.CreatedAt)
	a.CreatedAt = a.CreatedAt.UTC()
	return a, notFound(err, "account %s not found", id)
}

// MemberAccounts lists a member's accounts, oldest first. It returns
// ENotFound when the member does not exist.
func (db *DB) MemberAccounts(ctx context.Context, memberID uuid.UUID) ([]ledger.Account, error) {
	if _, err := db.Member(ctx, memberID); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `
		SELECT id, bank_id, member_id, currency, nickname, created_at FROM accounts
		WHERE member_id = $1 ORDER BY created_at, id`, memberID)
	if err != nil {
		return nil, fmt.Errorf("member accounts: %w", err)
	}
	defer rows.Close()
	accounts := []ledger.Account{}
	for rows.Next() {
		var a ledger.Account
		if err := rows.Scan(&a.ID, &a.BankID, &a.MemberID, &a.Currency, &a.Nickname, &a.CreatedAt); err != nil {
			return nil, fmt.Errorf("member accounts: %w", err)
		}
		a.CreatedAt = a.CreatedAt.UTC()
		accounts = append(accounts, a)
	}
	return accounts, rows.Err()
}

// Administrator returns the administrator with the given id.
func (db *DB) Administrator(ctx context.Context, id uuid.UUID) (ledger.Administrator, error) {
	return administrator(ctx, db.db, id)
}

// Account returns the account with the given id.
func (db *DB) Account(ctx context.Context, id uuid.UUID) (ledger.Account, error) {
	return account(ctx, db.db, id)
}

// exec runs one statement in its own transaction, or in the one ctx carries.
func (db *DB) exec(ctx context.Context, query string, args ...any) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, query, args...)
		return err
	})
}

// accountCache keeps up to accountCacheSize accounts. Accounts are never
// changed or removed, so a cached one is never stale.
type accountCache struct {
	mu    sync.RWMutex
	items map[uuid.UUID]ledger.Account
}

const accountCacheSize = 100_000

func (c *accountCache) get(id uuid.UUID) (ledger.Account, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.items[id]
	return a, ok
}

func (c *accountCache) put(a ledger.Account) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil || len(c.items) >= accountCacheSize {
		c.items = make(map[uuid.UUID]ledger.Account) // start over rather than grow without bound
	}
	c.items[a.ID] = a
}

// cachedAccount returns an account from the cache, or reads it through q.
func (db *DB) cachedAccount(ctx context.Context, q querier, id uuid.UUID) (ledger.Account, error) {
	if a, ok := db.accounts.get(id); ok {
		return a, nil
	}
	a, err := account(ctx, q, id)
	if err == nil {
		db.accounts.put(a)
	}
	return a, err
}
