// Package postgres stores the ledger in PostgreSQL: the event store, the
// reference data, the read models and the Watermill adapter that delivers
// events to subscribers. It is the one place that knows the ledger's SQL.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	neturl "net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded schema migrations.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// DB is the ledger's PostgreSQL database.
type DB struct {
	db  *sql.DB
	url string // for the notification listener's own connection
	now func() time.Time
	// appended holds, per open transaction, the types of the events it
	// appended, reported to onCommit once it commits.
	appended sync.Map // *sql.Tx -> []string
	onCommit func(eventTypes []string)
	// committedEvents holds a signal when events committed since
	// AnnounceCommits last announced.
	committedEvents chan struct{}
	// firstAppends hands new streams' first events to the appenders, and
	// stopAppenders ends them (see appendFirst).
	firstAppends  chan *firstAppend
	stopAppenders chan struct{}
	appending     sync.WaitGroup
	closing       sync.Once
	// accounts caches accounts, which never change once opened, for the
	// submissions' hot path.
	accounts accountCache
	// checkpoint is the newest audit checkpoint this process recorded.
	checkpoint atomic.Pointer[audit.Checkpoint]
}

// OnCommit sets a function told the types of the events each transaction
// appended, once it has committed (for metrics, and to wake the subscribers
// of this process). Set it before the first append.
func (db *DB) OnCommit(fn func(eventTypes []string)) { db.onCommit = fn }

func (db *DB) noteAppended(q querier, types []string) {
	tx, ok := q.(*sql.Tx)
	if !ok { // appended in its own statement: committed already
		db.committed(types)
		return
	}
	prev, _ := db.appended.Load(tx)
	list, _ := prev.([]string)
	db.appended.Store(tx, append(list, types...))
}

// committed is told the types of the events a transaction appended once it
// has committed.
func (db *DB) committed(types []string) {
	if db.onCommit != nil {
		db.onCommit(types)
	}
	db.announcePending()
}

// announcePending asks AnnounceCommits for an announcement; it never blocks.
func (db *DB) announcePending() {
	select {
	case db.committedEvents <- struct{}{}:
	default: // one is pending already
	}
}

// DefaultMaxConns is the pool size when none is set: room for the API's
// requests beside the subscribers, which each hold one for their batch.
const DefaultMaxConns = 20

// Options tunes a DB.
type Options struct {
	// MaxConns caps open connections; replicas x MaxConns must fit the server.
	MaxConns int
	// Now returns the current time; tests may fix it.
	Now func() time.Time
}

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	url, err := withSessionDefaults(url)
	if err != nil {
		return nil, err
	}
	sqlDB, err := sql.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	sqlDB.SetMaxOpenConns(opts.MaxConns)
	sqlDB.SetMaxIdleConns(opts.MaxConns)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	// PostgreSQL keeps microseconds: so does every time the ledger records,
	// so an answer never shows a time that reads back differently.
	now := opts.Now
	db := &DB{db: sqlDB, url: url, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) },
		committedEvents: make(chan struct{}, 1), stopAppenders: make(chan struct{})}
	db.startAppenders(db.stopAppenders)
	return db, nil
}

// Close stops the appenders and closes the connection pool. Appends still
// running finish first: a submitter whose event was handed over learns its
// outcome.
func (db *DB) Close() error {
	db.closing.Do(func() { close(db.stopAppenders) })
	db.appending.Wait()
	return db.db.Close()
}

// SQL returns the underlying pool, for the Watermill subscribers.
func (db *DB) SQL() *sql.DB { return db.db }

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.db.PingContext(ctx) }

// Migrate applies every pending migration. Concurrent callers (replicas
// starting together) are serialised by a PostgreSQL advisory lock.
func (db *DB) Migrate(ctx context.Context) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db.db, Migrations(), goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a short READ COMMITTED transaction and commits when fn
// returns nil. When ctx already carries a transaction (a command run by
// Idempotently), fn joins it and the caller commits.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if tx, ok := ctx.Value(txKey{}).(*sql.Tx); ok {
		return fn(tx)
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			db.appended.Delete(tx)
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		db.appended.Delete(tx)
		return fmt.Errorf("commit: %w", err)
	}
	if types, ok := db.appended.LoadAndDelete(tx); ok {
		db.committed(types.([]string))
	}
	return nil
}

// constraintViolated reports whether err is a unique or foreign key violation
// of the named constraint.
func constraintViolated(err error, constraint string) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	switch pqErr.Code {
	case "23505", "23503": // unique_violation, foreign_key_violation
		return pqErr.Constraint == constraint
	}
	return false
}

// notFound wraps sql.ErrNoRows into a domain ENotFound error.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Errorf(ledger.ENotFound, format, args...)
	}
	return err
}

// idleInTransaction ends a session left idle inside a transaction. Any open
// transaction holds back event delivery to every subscriber on the server,
// so a handler that hangs must not hold one forever; its batch is then
// delivered again, which the handlers' idempotency makes harmless.
const idleInTransaction = "60000" // milliseconds

// withSessionDefaults adds session and driver settings to a connection URL
// that does not set them itself (lib/pq passes parameters it does not know
// to the server).
func withSessionDefaults(raw string) (string, error) {
	u, err := neturl.Parse(raw)
	if err != nil || u.Scheme == "" {
		return raw, nil // a key=value connection string: leave it as it is
	}
	q := u.Query()
	if q.Get("idle_in_transaction_session_timeout") == "" {
		q.Set("idle_in_transaction_session_timeout", idleInTransaction)
	}
	// Without binary parameters lib/pq sends each statement with arguments
	// in two round trips (parse and describe, then bind and execute); with
	// them, in one. []byte arguments then travel as binary, so they must go
	// to bytea columns only: text and JSON are passed as strings.
	if q.Get("binary_parameters") == "" {
		q.Set("binary_parameters", "yes")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
