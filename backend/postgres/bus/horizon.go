package bus

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Delivery never skips an event, and waits only for the ledger's own
// appends.
//
// Every transaction that appends events takes the appenders' lock, shared,
// as its first statement: before it writes anything, so before it has a
// transaction id. A subscriber reads a batch only below a horizon: the
// smallest transaction id among the sessions holding that lock, or, when
// none does, the next transaction id to be assigned. The horizon is read
// before the snapshot the batch is read with, in a statement of its own:
// an appender that commits between the two is then either below the
// horizon and visible to the snapshot, or still counted in the horizon.
// Read the other way round, an appender committing in between would be gone
// from pg_locks and invisible to the snapshot, and the offset would move past
// its events for good. Inside the horizon statement the next id is read
// (with the statement's snapshot) before the lock holders, so an appender
// that gets its id meanwhile gets one above it.
//
// Transactions that append nothing (an operator's session, a migration,
// another application's work, a subscriber's own batch) hold nothing back.

// The appenders' lock, as the two-int4 key pg_locks shows (objsubid 2).
const (
	appendLockClass = 1279607879 // "LEDG"
	appendLockID    = 1
)

// LockAppenders takes the appenders' lock, shared, in the transaction q:
// every transaction that appends events takes it before it writes. Sent
// without arguments, it costs one round trip.
func LockAppenders(ctx context.Context, q Querier) error {
	_, err := q.ExecContext(ctx, fmt.Sprintf(`SELECT pg_advisory_xact_lock_shared(%d, %d)`, appendLockClass, appendLockID))
	if err != nil {
		return fmt.Errorf("take the appenders' lock: %w", err)
	}
	return nil
}

// LockAppendersExclusively takes the appenders' lock alone in the
// transaction q: no transaction appends until it ends (postgres.DB.Rebase).
func LockAppendersExclusively(ctx context.Context, q Querier) error {
	_, err := q.ExecContext(ctx, fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, %d)`, appendLockClass, appendLockID))
	if err != nil {
		return fmt.Errorf("take the appenders' lock alone: %w", err)
	}
	return nil
}

// Querier runs statements: a connection pool or a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// horizonQuery returns the delivery horizon as the text of an xid8: events
// of transactions below it have all committed or rolled back. Stored
// transaction ids are the server's plus the delivery base (see postgres.DB.Rebase).
//
// s.nxt is the statement snapshot's xmax: every transaction below it had
// completed when the statement began. It is no "next id": a transaction
// still running may hold an id above it (ids are assigned in one order and
// completed in another), and an appender's transaction id (32 bits in
// pg_locks) is widened to 64 bits by its signed distance from s.nxt,
// whichever side it is on. Each id is widened before the smallest of a
// session's is taken: a subtransaction's id is above its parent's, but its
// 32 bits may have wrapped past 2^32 to a small number.
//
// The appenders and their ids both come from pg_locks, which copies the
// lock table in one consistent step: a session holds the appenders' lock,
// and, once it has a transaction id, an exclusive lock on that id (on its
// subtransactions' ids too, all higher). Shared locks on transaction ids
// are other sessions waiting for one to end, not their own, and are left
// out. (pg_stat_activity's backend_xid would give the same ids, but read
// at another moment than the lock table, and dearer to build.)
//
// The subscribers' connection keeps the statement prepared (horizons):
// parsed and planned at every call it took 0.8 ms of the server's time,
// prepared 0.14 ms (pgbench, idle server). Its plan depends on the size of
// no table.
const horizonQuery = `
	SELECT (greatest(0, least(s.nxt, coalesce(min(x.xid), s.nxt))) + b.base)::text
	FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS nxt) s
	CROSS JOIN delivery_base b
	LEFT JOIN LATERAL (
		SELECT min(s.nxt + ((transactionid::text::bigint - s.nxt % 4294967296) % 4294967296 + 4294967296 + 2147483648) % 4294967296 - 2147483648)
			FILTER (WHERE locktype = 'transactionid') AS xid
		FROM pg_locks
		WHERE (locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted)
		   OR (locktype = 'advisory' AND classid = $1::int8::oid AND objid = $2::int8::oid AND objsubid = 2
		       AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))
		GROUP BY pid
		HAVING bool_or(locktype = 'advisory')
	) x ON true
	GROUP BY s.nxt, b.base`

// ReadHorizon reads the delivery horizon in a statement of its own: call
// it before the statement or transaction that reads up to it.
func ReadHorizon(ctx context.Context, q Querier) (horizon string, err error) {
	defer ledger.Wrap(&err, "read the delivery horizon")
	err = q.QueryRowContext(ctx, horizonQuery, appendLockClass, appendLockID).Scan(&horizon)
	return horizon, err
}

// horizons reads horizons for the subscribers of a process on a connection
// of their own: a subscriber reads its horizon while it holds a pool
// connection for its batch transaction, so reading it through the pool
// could wait for a connection that the other subscribers hold.
type horizons struct {
	conn *sql.DB // at most one connection
	// stmt is horizonQuery, prepared on conn (database/sql prepares it
	// again if the connection is replaced).
	stmt *sql.Stmt
	mu   sync.Mutex
	// last is the newest horizon read, and when its reading started. A
	// caller may take a horizon whose reading started after its own call:
	// the horizon only grows, and that one was still read before the
	// caller's snapshot.
	last struct {
		started time.Time
		value   string
	}
	logger *slog.Logger
}

func newHorizons(url string, logger *slog.Logger) (*horizons, error) {
	conn, err := sql.Open("postgres", url)
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stmt, err := conn.PrepareContext(ctx, horizonQuery)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("prepare the delivery horizon: %w", err)
	}
	return &horizons{conn: conn, stmt: stmt, logger: logger}, nil
}

// read returns a horizon read after read was called. On an error it
// returns "0", below every event: the batch is empty and the next poll
// tries again.
func (h *horizons) read() string {
	called := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last.started.After(called) {
		return h.last.value
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var value string
	err := h.stmt.QueryRowContext(ctx, appendLockClass, appendLockID).Scan(&value)
	if err != nil {
		h.logger.Warn("cannot read the delivery horizon; delivering nothing until it can", "error", err)
		return "0"
	}
	h.last.started, h.last.value = started, value
	return value
}

func (h *horizons) close() error {
	h.stmt.Close()
	return h.conn.Close()
}
