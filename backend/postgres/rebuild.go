package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// SubscriberStatus is where one consumer group stands.
type SubscriberStatus struct {
	Group    string
	Position int64 // the last event it acknowledged; 0 before the first
	Head     int64 // the newest event's position
	Lag      int64 // events committed after its position
	// LagSeconds is the age of the oldest event it has not handled yet.
	LagSeconds float64
}

// SubscriberStatuses reports every consumer group's position and lag. A group
// that never ran reports position 0 and the whole log as lag.
func (db *DB) SubscriberStatuses(ctx context.Context, groups []string) ([]SubscriberStatus, error) {
	var head int64
	if err := db.db.QueryRowContext(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	out := make([]SubscriberStatus, 0, len(groups))
	for _, g := range groups {
		s := SubscriberStatus{Group: g, Head: head}
		var oldest sql.NullTime
		err := db.db.QueryRowContext(ctx, `
			WITH o AS (
				SELECT coalesce(max(offset_acked), 0) AS pos, coalesce(max(last_processed_transaction_id), '0'::xid8) AS txid
				FROM subscription_offsets WHERE consumer_group = $1
			)
			SELECT o.pos,
				(SELECT count(*) FROM events e WHERE (e.transaction_id, e.position) > (o.txid, o.pos)),
				(SELECT min(e.recorded_at) FROM events e WHERE (e.transaction_id, e.position) > (o.txid, o.pos))
			FROM o`, g).Scan(&s.Position, &s.Lag, &oldest)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", g, err)
		}
		if oldest.Valid {
			s.LagSeconds = db.now().Sub(oldest.Time).Seconds()
		}
		out = append(out, s)
	}
	return out, nil
}

// Projections that can be rebuilt, by name, with the consumer group that
// keeps them live.
var rebuildable = map[string]string{"reimbursements": "projector.reimbursements"}

// RebuildProgress is told how many events are done and how many there are.
type RebuildProgress func(done, total int64)

// RebuildOptions tunes a rebuild.
type RebuildOptions struct {
	// Restart discards an interrupted rebuild instead of resuming it.
	Restart   bool
	BatchSize int
	Progress  RebuildProgress
}

// RebuildResult says what a rebuild did.
type RebuildResult struct {
	Events  int64
	Rows    int64
	Resumed bool
}

// ErrRebuildRunning is returned when another rebuild of the same projection runs.
var ErrRebuildRunning = errors.New("a rebuild of this projection is already running")

const rebuildTable = viewTable + "_rebuild"

// Rebuild builds a projection's read model again from the first event into
// a new table while the live one keeps serving, catches up with the live
// projector and swaps the tables in one transaction. Until that swap the live
// table is untouched, so an interrupted rebuild changes nothing; run again,
// it resumes where it stopped.
func (db *DB) Rebuild(ctx context.Context, name string, opts RebuildOptions) (RebuildResult, error) {
	group, ok := rebuildable[name]
	if !ok {
		return RebuildResult{}, ledger.Errorf(ledger.ENotFound, "no projection named %q (known: reimbursements)", name)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 50000
	}
	if opts.Progress == nil {
		opts.Progress = func(int64, int64) {}
	}
	// A session advisory lock on a dedicated connection keeps one rebuild at a time.
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return RebuildResult{}, err
	}
	defer conn.Close()
	var locked bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext('ledger.rebuild.' || $1))`, name).Scan(&locked); err != nil {
		return RebuildResult{}, err
	}
	if !locked {
		return RebuildResult{}, ErrRebuildRunning
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('ledger.rebuild.' || $1))`, name)

	var res RebuildResult
	if res.Resumed, err = db.prepareRebuild(ctx, opts.Restart); err != nil {
		return res, err
	}
	total, err := db.remainingEvents(ctx)
	if err != nil {
		return res, err
	}
	// Catch up while the live projector runs on. Reading and folding the next
	// batch overlaps with writing the previous one.
	if err := db.loadRebuild(ctx, opts, &res, total); err != nil {
		return res, err
	}
	// The live projector may have moved on while the rebuild read; catch up
	// with it, so that the swap does not take the lists back in time.
	if err := db.catchUpWithLive(ctx, group, opts, &res, total); err != nil {
		return res, err
	}
	if err := db.indexRebuild(ctx); err != nil {
		return res, err
	}
	// Swap, in one transaction: lock the live projector's offset row (its
	// current batch finishes first), move its offset to the rebuild's cursor,
	// and replace the live table. A projector that was behind re-applies
	// events the new table already has and one that was ahead skips to the
	// cursor; the version guards make both harmless. Updating the row also
	// makes the projector's waiting poll fail on serialisation and retry with
	// a fresh snapshot, so it never writes the new table from an old one.
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT 1 FROM subscription_offsets WHERE consumer_group = $1 FOR UPDATE`, group); err != nil {
			return fmt.Errorf("pause %s: %w", group, err)
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO subscription_offsets (consumer_group, offset_acked, last_processed_transaction_id)
			SELECT $1, position, transaction_id FROM projection_rebuilds WHERE name = $2
			ON CONFLICT (consumer_group) DO UPDATE
				SET offset_acked = excluded.offset_acked, last_processed_transaction_id = excluded.last_processed_transaction_id`,
			group, viewTable)
		if err != nil {
			return fmt.Errorf("move %s to the rebuild's position: %w", group, err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+rebuildTable).Scan(&res.Rows); err != nil {
			return err
		}
		return swapTables(ctx, tx)
	})
	if err == nil {
		opts.Progress(res.Events, max(total, res.Events))
	}
	return res, err
}

// prepareRebuild creates the rebuild table and its cursor, or keeps an
// interrupted one to resume; it reports whether it resumed.
func (db *DB) prepareRebuild(ctx context.Context, restart bool) (resumed bool, err error) {
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM projection_rebuilds WHERE name = $1)`, viewTable).Scan(&exists); err != nil {
			return err
		}
		if exists && !restart {
			resumed = true
			return nil
		}
		// Only the primary key while loading: the other indexes are built once, at the end.
		for _, stmt := range []string{
			`DROP TABLE IF EXISTS ` + rebuildTable,
			`DELETE FROM projection_rebuilds WHERE name = '` + viewTable + `'`,
			// Unlogged while loading (made logged before the swap), with room on
			// each page so that later decisions update rows in place (HOT).
			`CREATE UNLOGGED TABLE ` + rebuildTable + ` (LIKE ` + viewTable + ` INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (fillfactor = 80)`,
			`ALTER TABLE ` + rebuildTable + ` ADD PRIMARY KEY (id)`,
			`INSERT INTO projection_rebuilds (name, transaction_id, position, started_at) VALUES ('` + viewTable + `', '0', 0, now())`,
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("prepare rebuild: %w", err)
			}
		}
		return nil
	})
	return resumed, err
}

func (db *DB) remainingEvents(ctx context.Context) (int64, error) {
	cursorTx, cursorPos, err := rebuildCursor(ctx, db.db)
	if err != nil {
		return 0, err
	}
	var n int64
	err = db.db.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE (transaction_id, position) > ($1::xid8, $2)`, cursorTx, cursorPos).Scan(&n)
	return n, err
}

// rebuildCursor returns the commit-order position the rebuild has reached.
func rebuildCursor(ctx context.Context, q querier) (txid string, position int64, err error) {
	err = q.QueryRowContext(ctx, `SELECT transaction_id::text, position FROM projection_rebuilds WHERE name = $1`, viewTable).Scan(&txid, &position)
	if err != nil {
		return "", 0, fmt.Errorf("rebuild cursor: %w", err)
	}
	return txid, position, nil
}

// catchUpWithLive loads more batches while the live projector is ahead of
// the rebuild's cursor, a few rounds at most: the swap handles what is left.
func (db *DB) catchUpWithLive(ctx context.Context, group string, opts RebuildOptions, res *RebuildResult, total int64) error {
	for range 5 {
		var behind bool
		err := db.db.QueryRowContext(ctx, `
			SELECT coalesce((SELECT (o.last_processed_transaction_id, o.offset_acked) > (r.transaction_id, r.position)
				FROM subscription_offsets o, projection_rebuilds r
				WHERE o.consumer_group = $1 AND r.name = $2), false)`, group, viewTable).Scan(&behind)
		if err != nil {
			return fmt.Errorf("compare with the live projector: %w", err)
		}
		if !behind {
			return nil
		}
		if err := db.loadRebuild(ctx, opts, res, total); err != nil {
			return err
		}
	}
	return nil
}

// foldedBatch is a batch of events read and folded, and where it ends.
type foldedBatch struct {
	view     *viewBatch
	events   int64
	lastTx   string
	lastPos  int64
	finished bool // fewer events than a full batch: the rebuild reached the head
}

// loadRebuild reads batches after the rebuild's cursor in one goroutine and
// writes them in another, each batch with the cursor in one transaction.
func (db *DB) loadRebuild(ctx context.Context, opts RebuildOptions, res *RebuildResult, total int64) error {
	cursorTx, cursorPos, err := rebuildCursor(ctx, db.db)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan foldedBatch, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		for {
			b, err := db.readBatch(ctx, cursorTx, cursorPos, opts.BatchSize)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case batches <- b:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
			if b.finished {
				readErr <- nil
				return
			}
			cursorTx, cursorPos = b.lastTx, b.lastPos
		}
	}()
	for b := range batches {
		if b.events > 0 {
			err := db.inTx(ctx, func(tx *sql.Tx) error {
				if err := b.view.apply(ctx, tx, rebuildTable); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `UPDATE projection_rebuilds SET transaction_id = $2::xid8, position = $3 WHERE name = $1`,
					viewTable, b.lastTx, b.lastPos)
				return err
			})
			if err != nil {
				cancel()
				for range batches {
				}
				return err
			}
		}
		res.Events += b.events
		opts.Progress(res.Events, max(total, res.Events))
	}
	return <-readErr
}

// readBatch reads and folds the events after the cursor. Like the
// subscribers, it reads only events of transactions older than every
// transaction still running. The cursor goes in as parameters so that the
// index scan starts at it.
func (db *DB) readBatch(ctx context.Context, cursorTx string, cursorPos int64, size int) (foldedBatch, error) {
	rows, err := db.db.QueryContext(ctx, `
		SELECT position, transaction_id::text AS txid, stream_version, type, data FROM events
		WHERE (transaction_id, position) > ($1::xid8, $2)
			AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY transaction_id, position LIMIT $3`, cursorTx, cursorPos, size)
	if err != nil {
		return foldedBatch{}, fmt.Errorf("rebuild read: %w", err)
	}
	defer rows.Close()
	b := foldedBatch{view: newViewBatch(true)}
	var recs []ledger.RecordedEvent
	for rows.Next() {
		var rec ledger.RecordedEvent
		var data []byte
		if err := rows.Scan(&rec.Position, &b.lastTx, &rec.StreamVersion, &rec.Type, &data); err != nil {
			return foldedBatch{}, fmt.Errorf("rebuild read: %w", err)
		}
		rec.Data = data
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return foldedBatch{}, fmt.Errorf("rebuild read: %w", err)
	}
	// Decoding is most of the work and independent per event: spread it
	// over the cores, then fold in commit order.
	events, err := decodeAll(recs)
	if err != nil {
		return foldedBatch{}, err
	}
	for i, rec := range recs {
		b.view.addDecoded(rec, events[i])
	}
	b.events = int64(len(recs))
	if len(recs) > 0 {
		b.lastPos = recs[len(recs)-1].Position
	}
	b.finished = b.events < int64(size)
	return b, nil
}

// indexRebuild gives the rebuild table the live table's indexes, under
// temporary names, before the swap so that the swap itself is short.
func (db *DB) indexRebuild(ctx context.Context) error {
	if _, err := db.db.ExecContext(ctx, `ALTER TABLE `+rebuildTable+` SET LOGGED`); err != nil {
		return fmt.Errorf("log the rebuild table: %w", err)
	}
	defs, err := liveIndexes(ctx, db.db)
	if err != nil {
		return err
	}
	for name, def := range defs {
		tmp := "rebuild_" + name
		stmt := strings.Replace(def, "INDEX "+name+" ON public."+viewTable+" ", "INDEX IF NOT EXISTS "+tmp+" ON public."+rebuildTable+" ", 1)
		if stmt == def {
			return fmt.Errorf("cannot adapt index definition %q", def)
		}
		if _, err := db.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("index rebuild: %w", err)
		}
	}
	return nil
}

// liveIndexes returns the live table's secondary index definitions by name.
func liveIndexes(ctx context.Context, q querier) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = 'public' AND tablename = $1 AND indexname <> $1 || '_pkey'`, viewTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	defs := map[string]string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, err
		}
		defs[name] = def
	}
	return defs, rows.Err()
}

// swapTables replaces the live table with the rebuilt one and gives its
// indexes the live names, in tx.
func swapTables(ctx context.Context, tx *sql.Tx) error {
	defs, err := liveIndexes(ctx, tx)
	if err != nil {
		return err
	}
	stmts := []string{
		`LOCK TABLE ` + viewTable + ` IN ACCESS EXCLUSIVE MODE`,
		`DROP TABLE ` + viewTable,
		`ALTER TABLE ` + rebuildTable + ` RENAME TO ` + viewTable,
		`ALTER TABLE ` + viewTable + ` RENAME CONSTRAINT ` + rebuildTable + `_pkey TO ` + viewTable + `_pkey`,
	}
	for name := range defs {
		stmts = append(stmts, `ALTER INDEX rebuild_`+name+` RENAME TO `+name)
	}
	stmts = append(stmts, `DELETE FROM projection_rebuilds WHERE name = '`+viewTable+`'`)
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("swap: %s: %w", stmt, err)
		}
	}
	return nil
}

// decodeAll decodes every event's data, in parallel.
func decodeAll(recs []ledger.RecordedEvent) ([]ledger.Event, error) {
	events := make([]ledger.Event, len(recs))
	workers := min(runtime.GOMAXPROCS(0), max(len(recs)/1000, 1))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(recs); i += workers {
				e, err := recs[i].Decode()
				if err != nil {
					errs[w] = fmt.Errorf("event %d: %w", recs[i].Position, err)
					return
				}
				events[i] = e
			}
		}()
	}
	wg.Wait()
	return events, errors.Join(errs...)
}
