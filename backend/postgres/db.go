// Package postgres stores the ledger in PostgreSQL: the event store, the
// directory, the read models and their projections, the audit tree and
// checkpoints, the idempotency keys, the dead letters and the webhooks. With
// its package bus, which delivers the events to the consumer groups, it is
// the one place that knows the ledger's SQL, and it implements the stores
// of package app.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	neturl "net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
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

// DB is the ledger's PostgreSQL database: one connection pool, and the
// stores over it, each with the methods its users need.
type DB struct {
	pool    *sql.DB
	now     func() time.Time
	commits *commits
	// prepared guards versionStmt, prepared on first use (eventstore.go).
	prepared    sync.Once
	versionStmt *sql.Stmt

	Events         *EventStore
	Directory      *Directory
	Reimbursements *ReadModel
	Idempotency    *IdempotencyKeys
	Audit          *AuditLog
	Subscriptions  *bus.Subscriptions
	Rebuilds       *Rebuilds
	DevKeys        *DevKeys
	DeadLetters    *DeadLetters
	Webhooks       *Webhooks
	Receipts       *ReceiptBlobs
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
	// Logger is told what the stores cannot do by themselves; nil means slog.Default().
	Logger *slog.Logger
	// Timeouts bound every session's transactions and statements.
	Timeouts Timeouts
}

// Timeouts bound what one session may hold: a transaction left idle (a hung
// handler's batch), a statement, a wait for a lock. Zero leaves the
// default: one minute idle in a transaction, no statement or lock bound.
type Timeouts struct {
	IdleInTransaction, Statement, Lock time.Duration
}

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string, opts Options) (_ *DB, err error) {
	defer ledger.Wrap(&err, "postgres.Open")
	url, err = withSessionDefaults(url, opts.Timeouts)
	if err != nil {
		return nil, err
	}
	pool, err := sql.Open("postgres", url)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	pool.SetMaxOpenConns(opts.MaxConns)
	pool.SetMaxIdleConns(opts.MaxConns)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.PingContext(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	// PostgreSQL keeps microseconds: so does every time the ledger records,
	// so an answer never shows a time that reads back differently.
	now := opts.Now
	db := &DB{pool: pool, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) },
		commits: &commits{pending: make(chan struct{}, 1)}}
	db.Events = &EventStore{q: pool, db: db, shared: newSharedAppends(pool, db.commits)}
	db.Directory = &Directory{q: pool, cache: &directoryCache{members: entryCache[ledger.Member]{ttl: memberCacheTTL}}}
	db.Reimbursements = &ReadModel{q: pool}
	db.Idempotency = &IdempotencyKeys{q: pool}
	db.Audit = &AuditLog{pool: pool, now: db.now}
	db.Subscriptions = bus.New(bus.Config{Pool: pool, URL: url, Commits: db.commits, Now: db.now, Logger: opts.Logger,
		// A batch handler appends no events: none are announced.
		Bind: func(tx bus.Querier) app.Tx { return db.bind(tx, new([]string)) }})
	db.Rebuilds = &Rebuilds{db: db}
	db.DevKeys = &DevKeys{pool: pool}
	db.DeadLetters = &DeadLetters{q: pool}
	db.Webhooks = &Webhooks{q: pool, pool: pool}
	db.Receipts = &ReceiptBlobs{pool: pool}
	return db, nil
}

// Stores returns the stores package app runs its use cases over.
func (db *DB) Stores() app.Stores {
	return app.Stores{Transactor: db, Events: db.Events, Directory: db.Directory, Reimbursements: db.Reimbursements,
		Feed: db.Events, Audit: db.Audit, Idempotency: db.Idempotency, DeadLetters: db.DeadLetters, Webhooks: db.Webhooks,
		Deliveries: db.Webhooks, Payouts: &Payouts{q: db.pool, pool: db.pool},
		SubjectKeys: &SubjectKeys{q: db.pool, pool: db.pool}, Receipts: db.Receipts}
}

// Close stops the shared appends and closes the connection pool. Appends
// still running finish first: a submitter whose event was handed over
// learns its outcome.
func (db *DB) Close() error {
	db.Events.shared.close()
	db.Subscriptions.Close()
	if db.versionStmt != nil {
		db.versionStmt.Close()
	}
	return db.pool.Close()
}

// SQL returns the underlying pool, for the Watermill subscribers and metrics.
func (db *DB) SQL() *sql.DB { return db.pool }

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.PingContext(ctx) }

// OnCommit sets a function told the types of the events each transaction
// appended, once it has committed (for metrics, and to wake the subscribers
// of this process). Set it before the first append.
func (db *DB) OnCommit(fn func(eventTypes []string)) { db.commits.onCommit = fn }

// Migrate applies every pending migration. Concurrent callers (replicas
// starting together) are serialised by a PostgreSQL advisory lock.
func (db *DB) Migrate(ctx context.Context) (err error) {
	defer ledger.Wrap(&err, "migrate")
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db.pool, Migrations(), goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	if _, err = provider.Up(ctx); err != nil {
		return err
	}
	_, err = db.Rebase(ctx)
	return err
}

// Transact runs fn with stores bound to one short READ COMMITTED
// transaction, and commits when fn returns nil.
func (db *DB) Transact(ctx context.Context, fn func(app.Tx) error) error {
	return db.transact(ctx, func(tx *sql.Tx, appended *[]string) error {
		return fn(db.bind(tx, appended))
	})
}

// bind returns every store bound to tx. appended collects the types of the
// events appended in tx (see commits).
func (db *DB) bind(tx Querier, appended *[]string) app.Tx {
	return app.Tx{
		Events:      &EventStore{q: tx, db: db, appended: appended},
		Directory:   &Directory{q: tx, cache: db.Directory.cache, inTx: true},
		Idempotency: &IdempotencyKeys{q: tx},
		DeadLetters: &DeadLetters{q: tx},
		AuditTree:   auditTree{log: db.Audit, tx: tx},
		Deliveries:  &Webhooks{q: tx, pool: db.pool},
		Projections: projectionWriter{tx: tx},
		Payouts:     &Payouts{q: tx, pool: db.pool},
		SubjectKeys: &SubjectKeys{q: tx, pool: db.pool, inTx: true},
	}
}

// transact runs fn in a new transaction and commits when fn returns nil.
// fn adds the types of the events it appends to appended; once committed,
// they are reported (see commits).
func (db *DB) transact(ctx context.Context, fn func(tx *sql.Tx, appended *[]string) error) (err error) {
	tx, err := db.pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	var appended []string
	if err := fn(tx, &appended); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if len(appended) > 0 {
		db.commits.committed(appended)
	}
	return nil
}

// commits is told the types of the events each transaction appended once it
// has committed.
type commits struct {
	onCommit func(eventTypes []string)
	// pending holds a signal when events committed since
	// bus.Subscriptions.AnnounceCommits last announced.
	pending chan struct{}
	// types are the types of the events committed since, for the
	// announcement; nil when one commit did not say (then it names none,
	// and wakes every subscriber).
	mu    sync.Mutex
	types map[string]bool
	all   bool
}

var _ bus.Commits = (*commits)(nil)

// Pending is signalled when events committed since the last Take.
func (c *commits) Pending() <-chan struct{} { return c.pending }

// Take returns the types committed since the last Take.
func (c *commits) Take() []string { return c.take() }

// Again puts types back for the next announcement, and asks for one.
func (c *commits) Again(types []string) {
	c.add(types)
	c.announce()
}

func (c *commits) committed(types []string) {
	if c.onCommit != nil {
		c.onCommit(types)
	}
	c.add(types)
	c.announce()
}

// add records the types of committed events for the next announcement;
// none means any type.
func (c *commits) add(types []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(types) == 0 {
		c.all = true
	}
	if c.types == nil {
		c.types = map[string]bool{}
	}
	for _, t := range types {
		c.types[t] = true
	}
}

// take returns the types committed since the last take, sorted; empty
// when any type may have been.
func (c *commits) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	types := slices.Sorted(maps.Keys(c.types))
	if c.all {
		types = nil
	}
	c.types, c.all = nil, false
	return types
}

// announce asks bus.Subscriptions.AnnounceCommits for an announcement; it
// never blocks.
func (c *commits) announce() {
	select {
	case c.pending <- struct{}{}:
	default: // one is pending already
	}
}

// Querier runs statements: a connection pool or a transaction, both of
// which offer it.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

type querier = Querier

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

// defaultIdleInTransaction ends a session left idle inside a transaction.
// A subscriber's batch transaction holds its consumer group's row, and an
// append transaction the delivery horizon, so a handler that hangs must not
// hold one forever; its batch is then delivered again, which the handlers'
// idempotency makes harmless.
const defaultIdleInTransaction = time.Minute

// withSessionDefaults adds session and driver settings to a connection URL
// that does not set them itself (lib/pq passes parameters it does not know
// to the server).
func withSessionDefaults(raw string, t Timeouts) (string, error) {
	u, err := neturl.Parse(raw)
	if err != nil || u.Scheme == "" {
		return raw, nil // a key=value connection string: leave it as it is
	}
	q := u.Query()
	if t.IdleInTransaction <= 0 {
		t.IdleInTransaction = defaultIdleInTransaction
	}
	for name, d := range map[string]time.Duration{"idle_in_transaction_session_timeout": t.IdleInTransaction,
		"statement_timeout": t.Statement, "lock_timeout": t.Lock} {
		if q.Get(name) == "" && d > 0 {
			q.Set(name, strconv.FormatInt(d.Milliseconds(), 10))
		}
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
