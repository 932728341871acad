package postgres_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// subscribe delivers the events table to a new consumer group and returns
// the stream ids delivered, in order, as they come.
func subscribe(t *testing.T, db *postgres.DB, group string) <-chan uuid.UUID {
	t.Helper()
	sub, err := db.Subscriptions.NewSubscriber(bus.SubscriberConfig{ConsumerGroup: group, PollInterval: 10 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); sub.Close() })
	msgs, err := sub.Subscribe(ctx, bus.EventsTopic)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan uuid.UUID, 100)
	go func() {
		for msg := range msgs {
			rec, err := bus.EventFromMessage(msg)
			if err != nil {
				t.Error(err)
			}
			msg.Ack()
			out <- rec.StreamID
		}
	}()
	return out
}

func next(t *testing.T, delivered <-chan uuid.UUID, what string) uuid.UUID {
	t.Helper()
	select {
	case id := <-delivered:
		return id
	case <-time.After(20 * time.Second):
		t.Fatalf("nothing delivered: %s", what)
		return uuid.Nil
	}
}

// A transaction that writes but appends no event, open in another database
// of the same server or in the ledger's own, holds no delivery back: the
// feed shows a new event and a subscriber delivers it at once. (Before the
// appenders' lock, any such transaction held every subscriber back until it
// ended.)
func TestWritesOutsideTheLedgerHoldNothingBack(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	elsewhere, err := sql.Open("postgres", postgrestest.NewDatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer elsewhere.Close()
	for _, q := range []*sql.DB{elsewhere, db.SQL()} {
		tx, err := q.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `CREATE TABLE scratch (n int); INSERT INTO scratch VALUES (1)`); err != nil {
			t.Fatal(err)
		}
	}
	delivered := subscribe(t, db, "test")
	id := uuid.New()
	if err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{}, pendingSubmission(id)); err != nil {
		t.Fatal(err)
	}
	if got := next(t, delivered, "an event while other writes stay open"); got != id {
		t.Fatalf("delivered %s, want %s", got, id)
	}
	events, err := db.Events.Feed(ctx, app.FeedQuery{Limit: 10})
	if err != nil || len(events) != 1 || events[0].StreamID != id {
		t.Fatalf("feed while other writes stay open = %v, %v; want the event", streams(events), err)
	}
}

// The horizon is read before the batch's snapshot. An appender that took
// its transaction id before a committed event's, and commits exactly
// between the horizon and the snapshot, is still delivered, and first.
// Read the other way round, the same interleaving skips it for good; the
// second half shows that, so the first half is known to force it.
func TestHorizonIsReadBeforeTheSnapshot(t *testing.T) {
	horizonIsReadBeforeTheSnapshot(t, postgrestest.NewDB(t))
}

// The same, with the late appender's transaction id the last below 1,000,
// 100,000 or 2^32 and the younger ones above it.
func TestHorizonIsReadBeforeTheSnapshotAcrossTransactionIDBoundaries(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		postgrestest.SpendXIDsUntilBoundary(t, db, 1)
		horizonIsReadBeforeTheSnapshot(t, db)
	})
}

func horizonIsReadBeforeTheSnapshot(t *testing.T, db *postgres.DB) {
	t.Helper()
	ctx := context.Background()
	begin := func() (*sql.Tx, uuid.UUID) {
		t.Helper()
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := uuid.New()
		if _, err := db.AppendInTx(ctx, tx, ledger.Metadata{}, pendingSubmission(id)); err != nil {
			t.Fatal(err)
		}
		return tx, id
	}

	// The appender holds its event, with the older transaction id; a
	// younger one commits meanwhile.
	slow, slowID := begin()
	defer slow.Rollback()
	fast := uuid.New()
	if err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{}, pendingSubmission(fast)); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	db.Subscriptions.BeforeSnapshot(func() {
		once.Do(func() {
			if err := slow.Commit(); err != nil {
				t.Error(err)
			}
		})
	})
	delivered := subscribe(t, db, "test")
	if first := next(t, delivered, "the late appender's event"); first != slowID {
		t.Fatalf("delivered %s first, want the late appender's %s", first, slowID)
	}
	if second := next(t, delivered, "the younger event"); second != fast {
		t.Fatalf("delivered %s second, want %s", second, fast)
	}

	// The batch's statement takes the horizon as a value read before it; it
	// reads neither lock holders nor snapshots itself, which would read them
	// after its own snapshot.
	query, args, err := db.Subscriptions.BatchQuery("test")
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []string{"pg_locks", "pg_stat_activity", "pg_current_snapshot", "pg_snapshot_xmin"} {
		if strings.Contains(query, after) {
			t.Fatalf("the batch query reads %s after its snapshot:\n%s", after, query)
		}
	}
	if horizon, ok := args[len(args)-1].(string); !ok || horizon == "0" {
		t.Fatalf("the batch query's last argument %v is no horizon read before it", args[len(args)-1])
	}

	// The same interleaving with the horizon read after the snapshot.
	slow2, slowID2 := begin()
	defer slow2.Rollback()
	fast2 := uuid.New()
	if err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{}, pendingSubmission(fast2)); err != nil {
		t.Fatal(err)
	}
	reader, err := db.SQL().BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback()
	if _, err := reader.ExecContext(ctx, `SELECT 1`); err != nil { // the snapshot
		t.Fatal(err)
	}
	if err := slow2.Commit(); err != nil {
		t.Fatal(err)
	}
	horizon, err := bus.ReadHorizon(ctx, db.SQL())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := reader.QueryContext(ctx, `SELECT stream_id FROM events WHERE stream_id = ANY($1::uuid[]) AND transaction_id < $2::xid8
		ORDER BY transaction_id, position`, "{"+slowID2.String()+","+fast2.String()+"}", horizon)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var batch []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		batch = append(batch, id)
	}
	if len(batch) != 1 || batch[0] != fast2 {
		t.Fatalf("read after its snapshot, the horizon lets through %v; the trap is a batch of only %s, past %s", batch, fast2, slowID2)
	}
}

// After a logical restore into a new cluster the server's transaction ids
// start below the stored ones: stored events are above every horizon the
// server reaches, and new ones would sort before them. The ledger re-bases
// delivery (at migrate or start): the stored events flow, new events
// follow every stored one, and nothing is delivered twice.
func TestRestoreReBasesDelivery(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	// An event "from the old cluster": its transaction id far above this
	// server's.
	old := uuid.New()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.LockAppenders(ctx, tx); err != nil {
		t.Fatal(err)
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO events (event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, transaction_id)
		VALUES ($1, $2, 'reimbursement', 1, 'ReimbursementSubmitted', '{}', '{}', now(), sha256('restored'),
			(pg_current_xact_id()::text::numeric + 1000000000)::text::xid8)`, uuid.New(), old)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Until the ledger re-bases, the restored event is above every horizon
	// this server can reach.
	delivered := subscribe(t, db, "test")
	select {
	case id := <-delivered:
		t.Fatalf("delivered %s before the re-base", id)
	case <-time.After(300 * time.Millisecond):
	}
	if rebased, err := db.Rebase(ctx); err != nil || !rebased {
		t.Fatalf("rebase after a restore: %v, %v; want a rebase", rebased, err)
	}
	if got := next(t, delivered, "the restored event"); got != old {
		t.Fatalf("delivered %s, want the restored event", got)
	}
	if rebased, err := db.Rebase(ctx); err != nil || rebased {
		t.Fatalf("a second rebase: %v, %v; want nothing to do", rebased, err)
	}
	fresh := uuid.New()
	if err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{}, pendingSubmission(fresh)); err != nil {
		t.Fatal(err)
	}
	if got := next(t, delivered, "an event appended after the restore"); got != fresh {
		t.Fatalf("delivered %s after the restore, want the new event %s (and the restored one never again)", got, fresh)
	}
	select {
	case id := <-delivered:
		t.Fatalf("delivered %s again", id)
	case <-time.After(200 * time.Millisecond):
	}
}

// Transaction ids are assigned in one order and completed in another, so an
// appender may hold an id above the snapshot's xmax (the oldest transaction
// not yet completed). The horizon must still stay at or below it. (Widening
// its 32-bit id the wrong way once made the horizon wrap around to the top
// of the xid8 range, holding nothing back.)
func TestHorizonHoldsAnAppenderAboveTheSnapshotsXmax(t *testing.T) {
	horizonHoldsAnAppenderAboveTheSnapshotsXmax(t, postgrestest.NewDB(t))
}

// The same with the older transaction's id the last below 1,000, 100,000
// or 2^32 and the appender's above it:
// at 2^32 the appender's 32-bit id has wrapped to a small number, and its
// widening must still put it above the xmax.
func TestHorizonHoldsAnAppenderAboveTheSnapshotsXmaxAcrossTransactionIDBoundaries(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		postgrestest.SpendXIDsUntilBoundary(t, db, 2)
		if err := postgrestest.Streams(db).Append(context.Background(), ledger.Metadata{}, pendingSubmission(uuid.New())); err != nil {
			t.Fatal(err)
		}
		horizonHoldsAnAppenderAboveTheSnapshotsXmax(t, db)
		// The appender rolled back: an event above the boundary, for the
		// check that the log spans it.
		if err := postgrestest.Streams(db).Append(context.Background(), ledger.Metadata{}, pendingSubmission(uuid.New())); err != nil {
			t.Fatal(err)
		}
	})
}

func horizonHoldsAnAppenderAboveTheSnapshotsXmax(t *testing.T, db *postgres.DB) {
	t.Helper()
	ctx := context.Background()
	// An older transaction writes something and stays open: the snapshot's
	// xmax cannot pass its id.
	older, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer older.Rollback()
	if _, err := older.ExecContext(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	// A younger appender, open too, with an id above that xmax.
	appender, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer appender.Rollback()
	recorded, err := db.AppendInTx(ctx, appender, ledger.Metadata{}, pendingSubmission(uuid.New()))
	if err != nil {
		t.Fatal(err)
	}
	var appenderID string
	if err := appender.QueryRowContext(ctx, `SELECT transaction_id::text FROM events WHERE event_id = $1`, recorded[0].EventID).Scan(&appenderID); err != nil {
		t.Fatal(err)
	}
	horizon, err := bus.ReadHorizon(ctx, db.SQL())
	if err != nil {
		t.Fatal(err)
	}
	var below bool
	if err := db.SQL().QueryRowContext(ctx, `SELECT $1::xid8 <= $2::xid8`, horizon, appenderID).Scan(&below); err != nil {
		t.Fatal(err)
	}
	if !below {
		t.Fatalf("horizon %s is above the open appender's transaction %s: its events could be skipped", horizon, appenderID)
	}
}

// An appender that took its transaction id just below 2^32 and then wrote
// in a subtransaction (a handler's savepoint) after younger transactions
// crossed 2^32 holds two ids in pg_locks, 32 bits each: its own, near the
// top, and its subtransaction's, wrapped to a small number. The horizon
// must stay at its own id: taken past it, the younger events would be
// delivered and the offset moved past the appender's events for good.
func TestHorizonHoldsAnAppenderWhoseSubtransactionCrossesTheBoundary(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		ctx := context.Background()
		postgrestest.SpendXIDsUntilBoundary(t, db, 2)
		if err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{}, pendingSubmission(uuid.New())); err != nil {
			t.Fatal(err)
		}
		appender, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer appender.Rollback()
		if err := bus.LockAppenders(ctx, appender); err != nil {
			t.Fatal(err)
		}
		var own string
		if err := appender.QueryRowContext(ctx, `SELECT pg_current_xact_id()::text`).Scan(&own); err != nil {
			t.Fatal(err)
		}
		for range 3 { // younger appenders commit, across the boundary
			if err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{}, pendingSubmission(uuid.New())); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := appender.ExecContext(ctx, `SAVEPOINT handler`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AppendInTx(ctx, appender, ledger.Metadata{}, pendingSubmission(uuid.New())); err != nil {
			t.Fatal(err)
		}
		horizon, err := bus.ReadHorizon(ctx, db.SQL())
		if err != nil {
			t.Fatal(err)
		}
		var below bool
		if err := db.SQL().QueryRowContext(ctx, `SELECT $1::xid8 <= $2::xid8`, horizon, own).Scan(&below); err != nil {
			t.Fatal(err)
		}
		if !below {
			t.Fatalf("horizon %s is above the open appender's transaction %s: its events could be skipped", horizon, own)
		}
	})
}
