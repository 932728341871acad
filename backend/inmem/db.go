// Package inmem keeps the ledger's stores in memory, for tests of the layers above them.
package inmem

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// DB holds the ledger's stores in memory and behaves as backend/postgres
// does over one database under READ COMMITTED, so that a test above it
// learns what production would do (app/storetest holds both to the same
// assertions):
//
//   - a transaction sees what others committed and its own writes;
//   - a write of a unique key (a stream version, an e-mail) that another
//     running transaction wrote waits for it to end, as PostgreSQL waits on
//     the index entry, and then fails if that one committed;
//   - a write that breaks a constraint aborts its transaction: later
//     statements and the commit fail;
//   - positions are taken when an event is appended, so commit order and
//     position order may differ, and the feed holds back the events of
//     transactions newer than one still running.
type DB struct {
	now func() time.Time

	mu sync.Mutex
	// The committed state.
	log      []*storedEvent // by position
	streams  map[uuid.UUID][]*storedEvent
	banks    map[uuid.UUID]ledger.Bank
	members  map[uuid.UUID]ledger.Member
	admins   map[uuid.UUID]ledger.Administrator
	accounts map[uuid.UUID]ledger.Account
	keys     map[string]*storedKey
	// lastPosition and lastXID are the sequences of positions and
	// transaction ids; neither goes back on a rollback.
	lastPosition int64
	lastXID      uint64
	// running holds the transactions that have written and not ended.
	running map[*txn]bool
	// claims maps each unique key a running transaction wrote to it.
	claims map[string]*txn
	// locks maps each locked Idempotency-Key to the transaction holding it.
	locks map[string]*txn
	// payouts holds the ACH rail's committed rows; exclusive, the names
	// Payouts.Exclusive holds.
	payouts   payoutRows
	exclusive map[string]bool
	// subjectKeys are the members' personal data keys.
	subjectKeys map[uuid.UUID]*subjectKeyRow

	Events         *EventStore
	Directory      *Directory
	Reimbursements *ReadModel
	Idempotency    *IdempotencyKeys
	Audit          *AuditLog
	Webhooks       *Webhooks
	DeadLetters    *DeadLetters
	Payouts        *Payouts
	SubjectKeys    *SubjectKeys
	Receipts       *ReceiptBlobs
}

// New returns empty stores whose clock is now (time.Now when nil).
func New(now func() time.Time) *DB {
	if now == nil {
		now = time.Now
	}
	db := &DB{
		// PostgreSQL keeps microseconds, and postgres.DB truncates its clock
		// to them: so does this one, so hashes and times read back alike.
		now:     func() time.Time { return now().UTC().Truncate(time.Microsecond) },
		streams: map[uuid.UUID][]*storedEvent{}, banks: map[uuid.UUID]ledger.Bank{}, members: map[uuid.UUID]ledger.Member{},
		admins: map[uuid.UUID]ledger.Administrator{}, accounts: map[uuid.UUID]ledger.Account{}, keys: map[string]*storedKey{},
		running: map[*txn]bool{}, claims: map[string]*txn{}, locks: map[string]*txn{}, exclusive: map[string]bool{},
		subjectKeys: map[uuid.UUID]*subjectKeyRow{},
	}
	db.Events = &EventStore{db: db}
	db.Directory = &Directory{db: db}
	db.Reimbursements = &ReadModel{db: db}
	db.Idempotency = &IdempotencyKeys{db: db}
	db.Audit = &AuditLog{db: db}
	db.Webhooks = newWebhooks()
	db.DeadLetters = &DeadLetters{db: db}
	db.Payouts = &Payouts{db: db}
	db.SubjectKeys = &SubjectKeys{db: db}
	db.Receipts = &ReceiptBlobs{}
	return db
}

var _ app.Transactor = (*DB)(nil)

// Stores returns the stores package app runs its use cases over.
func (db *DB) Stores() app.Stores {
	return app.Stores{Transactor: db, Events: db.Events, Directory: db.Directory, Reimbursements: db.Reimbursements,
		Feed: db.Events, Audit: db.Audit, Idempotency: db.Idempotency, Webhooks: db.Webhooks, Deliveries: db.Webhooks,
		DeadLetters: db.DeadLetters, Payouts: db.Payouts, SubjectKeys: db.SubjectKeys, Receipts: db.Receipts}
}

// Transact runs fn with stores bound to one new transaction, and commits
// when fn returns nil.
func (db *DB) Transact(ctx context.Context, fn func(app.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &txn{done: make(chan struct{})}
	finished := false
	defer func() {
		if !finished { // fn panicked: free what it holds, as a dropped connection would
			db.end(tx, false)
		}
	}()
	// The dead letters, the webhooks' delivery log and the audit tree are
	// kept outside the transactions (see each), and the read model folds
	// the committed log by itself: their writes are seen at once.
	err := fn(app.Tx{Events: &EventStore{db: db, tx: tx}, Directory: &Directory{db: db, tx: tx}, Idempotency: &IdempotencyKeys{db: db, tx: tx},
		DeadLetters: db.DeadLetters, AuditTree: db.Audit, Deliveries: db.Webhooks, Projections: projections{},
		Payouts: &Payouts{db: db, tx: tx}, SubjectKeys: &SubjectKeys{db: db, tx: tx}})
	finished = true
	if err != nil {
		db.end(tx, false)
		return err
	}
	if err := ctx.Err(); err != nil {
		// database/sql rolls back a transaction whose context ends.
		db.end(tx, false)
		return fmt.Errorf("commit: %w", err)
	}
	if err := db.end(tx, true); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// txn is one transaction: its writes, kept apart until it commits, and what
// it holds. Its fields are guarded by DB.mu.
type txn struct {
	xid      uint64 // taken at the first write
	done     chan struct{}
	ended    bool
	aborted  error
	waitsFor *txn

	events   []*storedEvent
	banks    map[uuid.UUID]ledger.Bank
	members  map[uuid.UUID]ledger.Member
	admins   map[uuid.UUID]ledger.Administrator
	accounts map[uuid.UUID]ledger.Account
	keys     map[string]*storedKey // a nil value is a deleted key
	claims   []string
	locks    []string
	payouts  payoutRows
}

// Errors PostgreSQL and lib/pq give for a transaction a failed statement aborted.
var (
	errAborted           = errors.New("current transaction is aborted, commands ignored until end of transaction block")
	errFailedTransaction = errors.New("could not complete operation in a failed transaction")
)

// usable reports why tx (nil outside a transaction) may run no more statements.
func (tx *txn) usable(ctx context.Context) error {
	switch {
	case tx == nil:
		return ctx.Err()
	case tx.ended:
		return sql.ErrTxDone
	case tx.aborted != nil:
		return errAborted
	}
	return ctx.Err()
}

// abort records that a statement of tx failed as a broken constraint does in
// PostgreSQL, and returns err.
func (tx *txn) abort(err error) error {
	tx.aborted = err
	return err
}

// read runs fn, which reads what tx sees, under the lock.
func (db *DB) read(ctx context.Context, tx *txn, fn func() error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := tx.usable(ctx); err != nil {
		return err
	}
	return fn()
}

// write runs fn in tx, or, when tx is nil, in a transaction of its own that
// commits at once, as a statement outside a transaction does. fn runs under
// the lock, which claim releases while it waits.
func (db *DB) write(ctx context.Context, tx *txn, fn func(tx *txn) error) error {
	own := tx == nil
	if own {
		tx = &txn{done: make(chan struct{})}
	}
	db.mu.Lock()
	if err := tx.usable(ctx); err != nil {
		db.mu.Unlock()
		return err
	}
	if tx.xid == 0 {
		db.lastXID++
		tx.xid = db.lastXID
		db.running[tx] = true
	}
	err := fn(tx)
	if err != nil && ctx.Err() != nil {
		tx.abort(err) // a cancelled statement aborts its transaction
	}
	db.mu.Unlock()
	if own {
		if endErr := db.end(tx, err == nil); err == nil {
			err = endErr
		}
	}
	return err
}

// claim makes tx the writer of the unique key. While another running
// transaction wrote it, claim waits for that one to end, as PostgreSQL does;
// the caller then looks at the committed state to see whether the key is
// taken. It is called and returns with db.mu held.
func (db *DB) claim(ctx context.Context, tx *txn, key string) error {
	for {
		holder := db.claims[key]
		if holder == nil || holder == tx {
			if holder == nil {
				db.claims[key] = tx
				tx.claims = append(tx.claims, key)
			}
			return nil
		}
		for t := holder; t != nil; t = t.waitsFor {
			if t == tx {
				return tx.abort(errors.New("deadlock detected"))
			}
		}
		tx.waitsFor = holder
		db.mu.Unlock()
		select {
		case <-holder.done:
		case <-ctx.Done():
		}
		db.mu.Lock()
		tx.waitsFor = nil
		if err := ctx.Err(); err != nil {
			return tx.abort(err)
		}
	}
}

// end commits or rolls back tx and frees what it holds. Committing an
// aborted transaction rolls it back and fails, as lib/pq does.
func (db *DB) end(tx *txn, commit bool) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if tx.ended {
		return sql.ErrTxDone
	}
	var err error
	if commit && tx.aborted != nil {
		commit, err = false, errFailedTransaction
	}
	if commit {
		db.apply(tx)
	}
	for _, key := range tx.claims {
		delete(db.claims, key)
	}
	for _, key := range tx.locks {
		delete(db.locks, key)
	}
	delete(db.running, tx)
	tx.ended = true
	close(tx.done)
	return err
}

// apply makes tx's writes the committed state.
func (db *DB) apply(tx *txn) {
	for _, e := range tx.events {
		db.insertCommitted(e)
	}
	for id, b := range tx.banks {
		db.banks[id] = b
	}
	for id, m := range tx.members {
		db.members[id] = m
	}
	for id, a := range tx.admins {
		db.admins[id] = a
	}
	for id, a := range tx.accounts {
		db.accounts[id] = a
	}
	for key, k := range tx.keys {
		if k == nil {
			delete(db.keys, key)
		} else {
			db.keys[key] = k
		}
	}
	db.applyPayouts(tx)
}

// timestamptz is t as PostgreSQL stores and returns it: to the microsecond, in UTC.
func timestamptz(t time.Time) time.Time { return t.Round(time.Microsecond).UTC() }
