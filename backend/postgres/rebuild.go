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
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
)

// RebuildProgress is told how many events are done and how many there are.
type RebuildProgress func(done, total int64)

// RebuildOptions tunes a rebuild.
type RebuildOptions struct {
	// Restart discards an interrupted rebuild instead of resuming it.
	Restart bool
	// BatchSize is how many events one query reads (default 50,000).
	BatchSize int
	// ChunkSize is how many events are folded in memory before their rows
	// are written, with the rebuild's cursor, in one transaction (default
	// 10 × BatchSize). Rows submitted within a chunk are folded from
	// nothing and bulk-loaded with COPY; only rows an earlier chunk wrote
	// are read back and patched. An interrupted rebuild resumes after the
	// last chunk written. Memory grows with it: about one folded row per
	// submission in the chunk.
	ChunkSize int
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

// Rebuilds rebuilds projections from the event log.
type Rebuilds struct {
	db *DB
}

// rebuild is one projection's rebuild under way.
type rebuild struct {
	db   *DB
	p    *Projection
	opts RebuildOptions
	// table is the table the rebuild fills, beside the live p.Table.
	table string
	// keyed is set once table has its primary key.
	keyed bool
}

// Run builds a projection's table again from the first event into a new
// table while the live one keeps serving, catches up with the live
// projector and swaps the tables in one transaction. Until that swap the live
// table is untouched, so an interrupted rebuild changes nothing; run again,
// it resumes where it stopped.
func (r *Rebuilds) Run(ctx context.Context, p *Projection, opts RebuildOptions) (res RebuildResult, err error) {
	defer ledger.Wrap(&err, "rebuild %s", p.Name)
	defer func() {
		// A statement the context interrupted may fail with the server's
		// "canceling statement due to user request" instead of the
		// context's error, depending on which lib/pq sees first; either
		// way the caller's context ended, and the caller looks for that.
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %v", ctx.Err(), err)
		}
	}()
	db := r.db
	if opts.BatchSize <= 0 {
		opts.BatchSize = 50000
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 10 * opts.BatchSize
	}
	if opts.Progress == nil {
		opts.Progress = func(int64, int64) {}
	}
	// A session advisory lock on a dedicated connection keeps one rebuild at a time.
	conn, err := db.pool.Conn(ctx)
	if err != nil {
		return RebuildResult{}, err
	}
	defer conn.Close()
	var locked bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock(hashtext('ledger.rebuild.' || $1))`, p.Name).Scan(&locked); err != nil {
		return RebuildResult{}, err
	}
	if !locked {
		return RebuildResult{}, ErrRebuildRunning
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('ledger.rebuild.' || $1))`, p.Name)

	rb := &rebuild{db: db, p: p, opts: opts, table: p.Table + "_rebuild"}
	if res.Resumed, err = rb.prepare(ctx, opts.Restart); err != nil {
		return res, err
	}
	if !p.CopiesNewRows {
		if err := rb.withKey(ctx); err != nil {
			return res, err
		}
	}
	total, err := rb.remainingEvents(ctx)
	if err != nil {
		return res, err
	}
	// Catch up while the live projector runs on. Reading and decoding the
	// next batch overlaps with folding and writing the previous ones.
	if err := rb.load(ctx, &res, total); err != nil {
		return res, err
	}
	// The live projector may have moved on while the rebuild read; catch up
	// with it, so that the swap does not take the lists back in time.
	if err := rb.catchUpWithLive(ctx, &res, total); err != nil {
		return res, err
	}
	if err := rb.index(ctx); err != nil {
		return res, err
	}
	// Swap, in one transaction: lock the live projector's offset row (its
	// current batch finishes first), move its offset to the rebuild's cursor,
	// and replace the live table. A projector that was behind re-applies
	// events the new table already has and one that was ahead skips to the
	// cursor; the version guards make both harmless. Updating the row also
	// makes the projector's waiting poll fail on serialisation and retry with
	// a fresh snapshot, so it never writes the new table from an old one.
	group := p.Group
	err = db.transact(ctx, func(tx *sql.Tx, _ *[]string) error {
		if _, err := tx.ExecContext(ctx, `SELECT 1 FROM subscription_offsets WHERE consumer_group = $1 FOR UPDATE`, group); err != nil {
			return fmt.Errorf("pause %s: %w", group, err)
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO subscription_offsets (consumer_group, offset_acked, last_processed_transaction_id)
			SELECT $1, position, transaction_id FROM projection_rebuilds WHERE name = $2
			ON CONFLICT (consumer_group) DO UPDATE
				SET offset_acked = excluded.offset_acked, last_processed_transaction_id = excluded.last_processed_transaction_id`,
			group, p.Table)
		if err != nil {
			return fmt.Errorf("move %s to the rebuild's position: %w", group, err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+rb.table).Scan(&res.Rows); err != nil {
			return err
		}
		return rb.swap(ctx, tx)
	})
	if err == nil {
		opts.Progress(res.Events, max(total, res.Events))
	}
	return res, err
}

// prepare creates the rebuild table and its cursor, or keeps an
// interrupted one to resume; it reports whether it resumed.
func (rb *rebuild) prepare(ctx context.Context, restart bool) (resumed bool, err error) {
	err = rb.db.transact(ctx, func(tx *sql.Tx, _ *[]string) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM projection_rebuilds WHERE name = $1)`, rb.p.Table).Scan(&exists); err != nil {
			return err
		}
		if exists && !restart {
			resumed = true
			return nil
		}
		// No index while loading: rows are bulk-loaded with COPY into a bare
		// table, and its indexes are built once, at the end (index), or the
		// primary key earlier when a later chunk must patch rows (withKey).
		for _, stmt := range []string{
			`DROP TABLE IF EXISTS ` + rb.table,
			`DELETE FROM projection_rebuilds WHERE name = '` + rb.p.Table + `'`,
			// Unlogged while loading (made logged before the swap), with room on
			// each page so that later decisions update rows in place (HOT).
			`CREATE UNLOGGED TABLE ` + rb.table + ` (LIKE ` + rb.p.Table + ` INCLUDING DEFAULTS INCLUDING CONSTRAINTS) WITH (fillfactor = 80)`,
			`INSERT INTO projection_rebuilds (name, transaction_id, position, started_at) VALUES ('` + rb.p.Table + `', '0', 0, now())`,
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("prepare rebuild: %w", err)
			}
		}
		return nil
	})
	return resumed, err
}

func (rb *rebuild) remainingEvents(ctx context.Context) (int64, error) {
	cursorTx, cursorPos, err := rb.cursor(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	err = rb.db.pool.QueryRowContext(ctx, `SELECT count(*) FROM events WHERE (transaction_id, position) > ($1::xid8, $2)`, cursorTx, cursorPos).Scan(&n)
	return n, err
}

// cursor returns the commit-order position the rebuild has reached.
func (rb *rebuild) cursor(ctx context.Context) (txid string, position int64, err error) {
	err = rb.db.pool.QueryRowContext(ctx, `SELECT transaction_id::text, position FROM projection_rebuilds WHERE name = $1`, rb.p.Table).Scan(&txid, &position)
	if err != nil {
		return "", 0, fmt.Errorf("rebuild cursor: %w", err)
	}
	return txid, position, nil
}

// catchUpWithLive loads more batches while the live projector is ahead of
// the rebuild's cursor, a few rounds at most: the swap handles what is left.
func (rb *rebuild) catchUpWithLive(ctx context.Context, res *RebuildResult, total int64) error {
	for range 5 {
		var behind bool
		err := rb.db.pool.QueryRowContext(ctx, `
			SELECT coalesce((SELECT (o.last_processed_transaction_id, o.offset_acked) > (r.transaction_id, r.position)
				FROM subscription_offsets o, projection_rebuilds r
				WHERE o.consumer_group = $1 AND r.name = $2), false)`, rb.p.Group, rb.p.Table).Scan(&behind)
		if err != nil {
			return fmt.Errorf("compare with the live projector: %w", err)
		}
		if !behind {
			return nil
		}
		if err := rb.load(ctx, res, total); err != nil {
			return err
		}
	}
	return nil
}

// readBatch is a batch of events read, and where it ends.
type readBatch struct {
	recs     []ledger.RecordedEvent // the events the projection folds, not decoded yet
	events   int64                  // every event read, folded or not
	lastTx   string
	lastPos  int64
	finished bool // fewer events than a full batch: the rebuild reached the head
}

// foldedChunk is a chunk's rows, folded, and where its events end.
type foldedChunk struct {
	rows    ProjectionBatch
	lastTx  string
	lastPos int64
}

// load rebuilds from the cursor on in three stages that overlap: one
// goroutine reads batches of opts.BatchSize events after the cursor, this
// one decodes them (on every core) and folds them in commit order into
// chunks of opts.ChunkSize events, and a third writes each chunk's rows
// with the cursor in one transaction, new rows with COPY, while the next
// chunk is read and folded.
func (rb *rebuild) load(ctx context.Context, res *RebuildResult, total int64) error {
	opts := rb.opts
	cursorTx, cursorPos, err := rb.cursor(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan readBatch, 1)
	chunks := make(chan foldedChunk)
	var readErr, writeErr, foldErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(batches)
		for {
			b, err := rb.readBatch(ctx, cursorTx, cursorPos, opts.BatchSize)
			if err != nil {
				readErr = err
				cancel()
				return
			}
			select {
			case batches <- b:
			case <-ctx.Done():
				return
			}
			if b.finished {
				return
			}
			cursorTx, cursorPos = b.lastTx, b.lastPos
		}
	}()
	go func() {
		defer wg.Done()
		for c := range chunks {
			if writeErr != nil {
				continue
			}
			if err := rb.write(ctx, c.rows, c.lastTx, c.lastPos); err != nil {
				writeErr = err
				cancel()
			}
		}
	}()
	chunk := foldedChunk{rows: rb.p.Fold(true)}
	var inChunk int64
	for b := range batches {
		if ctx.Err() != nil {
			continue // an error stopped the other stages: drain
		}
		events, err := decodeAll(b.recs)
		if err != nil {
			foldErr = err
			cancel()
			continue
		}
		for i, rec := range b.recs {
			chunk.rows.Add(rec, events[i])
		}
		if b.events > 0 {
			inChunk += b.events
			chunk.lastTx, chunk.lastPos = b.lastTx, b.lastPos
		}
		res.Events += b.events
		opts.Progress(res.Events, max(total, res.Events))
		if inChunk == 0 || (inChunk < int64(opts.ChunkSize) && !b.finished) {
			continue
		}
		select {
		case chunks <- chunk:
		case <-ctx.Done():
		}
		chunk, inChunk = foldedChunk{rows: rb.p.Fold(true)}, 0
	}
	close(chunks)
	wg.Wait()
	switch {
	case writeErr != nil:
		return writeErr
	case readErr != nil:
		return readErr
	case foldErr != nil:
		return foldErr
	}
	return ctx.Err()
}

// write writes a chunk's rows and moves the cursor past its events, in one
// transaction. Into an empty table the rows are only copied in; into one
// that holds rows already, some may be patched, and the primary key is
// built first so that they are found.
func (rb *rebuild) write(ctx context.Context, chunk ProjectionBatch, lastTx string, lastPos int64) error {
	if !rb.keyed {
		var stored bool
		if err := rb.db.pool.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+rb.table+`)`).Scan(&stored); err != nil {
			return err
		}
		if stored {
			if err := rb.withKey(ctx); err != nil {
				return err
			}
		}
	}
	return rb.db.transact(ctx, func(tx *sql.Tx, _ *[]string) error {
		if err := chunk.Apply(ctx, tx, rb.table); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE projection_rebuilds SET transaction_id = $2::xid8, position = $3 WHERE name = $1`,
			rb.p.Table, lastTx, lastPos)
		return err
	})
}

// withKey gives the rebuild table the live table's primary key unless it
// has it already (a resumed rebuild may have built it).
func (rb *rebuild) withKey(ctx context.Context) error {
	var has bool
	err := rb.db.pool.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = $1::regclass AND indisprimary)`, rb.table).Scan(&has)
	if err != nil {
		return fmt.Errorf("primary key of %s: %w", rb.table, err)
	}
	if !has {
		var key string
		err := rb.db.pool.QueryRowContext(ctx, `
			SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY array_position(i.indkey, a.attnum))
			FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
			WHERE i.indrelid = $1::regclass AND i.indisprimary`, rb.p.Table).Scan(&key)
		if err != nil {
			return fmt.Errorf("primary key of %s: %w", rb.p.Table, err)
		}
		if _, err := rb.db.pool.ExecContext(ctx, `ALTER TABLE `+rb.table+` ADD PRIMARY KEY (`+key+`)`); err != nil {
			return fmt.Errorf("primary key of %s: %w", rb.table, err)
		}
	}
	rb.keyed = true
	return nil
}

// readBatch reads the events after the cursor. Like the
// subscribers, it reads only events of transactions older than every
// transaction still running. The cursor goes in as parameters so that the
// index scan starts at it.
func (rb *rebuild) readBatch(ctx context.Context, cursorTx string, cursorPos int64, size int) (_ readBatch, err error) {
	defer ledger.Wrap(&err, "read after %s/%d", cursorTx, cursorPos)
	// Like the subscribers, read only below the delivery horizon, read first
	// (see bus/horizon.go).
	horizon, err := bus.ReadHorizon(ctx, rb.db.pool)
	if err != nil {
		return readBatch{}, err
	}
	rows, err := rb.db.pool.QueryContext(ctx, `
		SELECT position, transaction_id::text AS txid, event_id, stream_id, stream_type, stream_version, type, data, recorded_at FROM events
		WHERE (transaction_id, position) > ($1::xid8, $2)
			AND transaction_id < $4::xid8
		ORDER BY transaction_id, position LIMIT $3`, cursorTx, cursorPos, size, horizon)
	if err != nil {
		return readBatch{}, err
	}
	defer rows.Close()
	var b readBatch
	for rows.Next() {
		var rec ledger.RecordedEvent
		var data []byte
		if err := rows.Scan(&rec.Position, &b.lastTx, &rec.EventID, &rec.StreamID, &rec.StreamType, &rec.StreamVersion, &rec.Type, &data, &rec.RecordedAt); err != nil {
			return readBatch{}, err
		}
		b.events++
		b.lastPos = rec.Position
		if rb.p.handles(rec.Type) {
			rec.Data = data
			b.recs = append(b.recs, rec)
		}
	}
	if err := rows.Err(); err != nil {
		return readBatch{}, err
	}
	b.finished = b.events < int64(size)
	return b, nil
}

// index gives the rebuild table the live table's indexes, under temporary
// names, before the swap so that the swap itself is short.
func (rb *rebuild) index(ctx context.Context) error {
	// Logged before the primary key is built, so that setting it logged
	// rewrites the table alone.
	if _, err := rb.db.pool.ExecContext(ctx, `ALTER TABLE `+rb.table+` SET LOGGED`); err != nil {
		return fmt.Errorf("log the rebuild table: %w", err)
	}
	if err := rb.withKey(ctx); err != nil {
		return err
	}
	defs, err := rb.liveIndexes(ctx, rb.db.pool)
	if err != nil {
		return err
	}
	for name, def := range defs {
		tmp := "rebuild_" + name
		stmt := strings.Replace(def, "INDEX "+name+" ON public."+rb.p.Table+" ", "INDEX IF NOT EXISTS "+tmp+" ON public."+rb.table+" ", 1)
		if stmt == def {
			return fmt.Errorf("cannot adapt index definition %q", def)
		}
		if _, err := rb.db.pool.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("index rebuild: %w", err)
		}
	}
	return nil
}

// liveIndexes returns the live table's secondary index definitions by name.
func (rb *rebuild) liveIndexes(ctx context.Context, q querier) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = 'public' AND tablename = $1 AND indexname <> $1 || '_pkey'`, rb.p.Table)
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

// swap replaces the live table with the rebuilt one and gives its indexes
// the live names, in tx.
func (rb *rebuild) swap(ctx context.Context, tx *sql.Tx) error {
	defs, err := rb.liveIndexes(ctx, tx)
	if err != nil {
		return err
	}
	live := rb.p.Table
	stmts := []string{
		`LOCK TABLE ` + live + ` IN ACCESS EXCLUSIVE MODE`,
		`DROP TABLE ` + live,
		`ALTER TABLE ` + rb.table + ` RENAME TO ` + live,
		`ALTER TABLE ` + live + ` RENAME CONSTRAINT ` + rb.table + `_pkey TO ` + live + `_pkey`,
	}
	for name := range defs {
		stmts = append(stmts, `ALTER INDEX rebuild_`+name+` RENAME TO `+name)
	}
	stmts = append(stmts, `DELETE FROM projection_rebuilds WHERE name = '`+live+`'`)
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("swap: %s: %w", stmt, err)
		}
	}
	return nil
}

// decodeAll decodes every event's data, in parallel: decoding is most of
// a rebuild's Go work and independent per event.
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
