package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Checkpoints signs and stores the audit checkpoints, and verifies the log
// against them.
type Checkpoints struct {
	pool *sql.DB
	now  func() time.Time
	// newest is the newest checkpoint this process recorded.
	newest atomic.Pointer[audit.Checkpoint]
}

var _ app.CheckpointLog = (*Checkpoints)(nil)

// Record signs the checkpoints that extend the running hash by
// each event of events, in order, and stores them with one statement in tx
// (the checkpoint subscriber's batch transaction), so the checkpoints and the
// subscriber's position commit together. Events already covered are skipped,
// which makes redelivery harmless.
//
// The newest checkpoint is kept in memory between batches. The INSERT names
// the checkpoint it extends and writes nothing unless that one is still the
// newest stored, so a stale copy (a rolled-back batch, another replica that
// took over) is reloaded instead of being chained onto.
func (c *Checkpoints) Record(ctx context.Context, tx *sql.Tx, key audit.Key, events []ledger.RecordedEvent) (err error) {
	defer ledger.Wrap(&err, "Checkpoints.Record")
	for i, rec := range events {
		if rec.TransactionID == 0 || len(rec.Hash) == 0 {
			err := tx.QueryRowContext(ctx, `SELECT transaction_id::text, hash FROM events WHERE position = $1`, rec.Position).
				Scan(&events[i].TransactionID, &events[i].Hash)
			if err != nil {
				return fmt.Errorf("checkpoint event %d: %w", rec.Position, err)
			}
		}
	}
	reload := false
	for {
		var last *audit.Checkpoint
		last, err = c.last(ctx, tx, reload)
		if err != nil {
			return err
		}
		pending := events
		for len(pending) > 0 && last != nil && (last.TransactionID > pending[0].TransactionID ||
			(last.TransactionID == pending[0].TransactionID && last.Position >= pending[0].Position)) {
			pending = pending[1:]
		}
		if len(pending) < len(events) && !reload {
			reload = true // only the stored checkpoints can say an event is covered
			continue
		}
		if len(pending) == 0 {
			return nil
		}
		cps := make([]audit.Checkpoint, len(pending))
		positions, counts := make([]int64, len(pending)), make([]int64, len(pending))
		txids, recordedAt := make([]string, len(pending)), make([]time.Time, len(pending))
		running, signatures := make([][]byte, len(pending)), make([][]byte, len(pending))
		prev, now := last, c.now()
		for i, rec := range pending {
			cps[i] = key.Next(prev, rec.Position, rec.TransactionID, rec.Hash, now)
			prev = &cps[i]
			positions[i], txids[i], counts[i] = cps[i].Position, strconv.FormatUint(cps[i].TransactionID, 10), cps[i].EventCount
			running[i], signatures[i], recordedAt[i] = cps[i].RunningHash, cps[i].Signature, cps[i].RecordedAt
		}
		prevCount, prevHash := int64(0), []byte(nil)
		if last != nil {
			prevCount, prevHash = last.EventCount, last.RunningHash
		}
		var newest sql.NullInt64
		var stored int
		err = tx.QueryRowContext(ctx, `
			WITH inserted AS (
				INSERT INTO audit_checkpoints (position, transaction_id, event_count, running_hash, signature, recorded_at)
				SELECT u.position, u.txid::xid8, u.event_count, u.running_hash, u.signature, u.recorded_at
				FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bytea[], $5::bytea[], $6::timestamptz[])
					WITH ORDINALITY AS u(position, txid, event_count, running_hash, signature, recorded_at, n)
				WHERE coalesce((SELECT event_count FROM audit_checkpoints ORDER BY id DESC LIMIT 1), 0) = $7
					AND (SELECT running_hash FROM audit_checkpoints ORDER BY id DESC LIMIT 1) IS NOT DISTINCT FROM $8::bytea
				ORDER BY u.n
				RETURNING id)
			SELECT max(id), count(*) FROM inserted`,
			pq.Array(positions), pq.Array(txids), pq.Array(counts), pq.Array(running), pq.Array(signatures), pq.Array(recordedAt),
			prevCount, prevHash).Scan(&newest, &stored)
		if err == nil && stored == 0 && !reload {
			reload = true
			continue // the copy in memory was stale: reload and try again
		}
		if err == nil && stored != len(cps) {
			err = fmt.Errorf("%d of %d stored", stored, len(cps))
		}
		if err != nil {
			c.newest.Store(nil)
			return fmt.Errorf("record checkpoints for events %d to %d: %w", pending[0].Position, pending[len(pending)-1].Position, err)
		}
		newestCP := cps[len(cps)-1]
		newestCP.ID = newest.Int64
		c.newest.Store(&newestCP)
		return nil
	}
}

// lastCheckpoint returns the newest checkpoint, from memory unless reload.
func (c *Checkpoints) last(ctx context.Context, tx *sql.Tx, reload bool) (*audit.Checkpoint, error) {
	if cp := c.newest.Load(); cp != nil && !reload {
		return cp, nil
	}
	last, err := scanCheckpoint(tx.QueryRowContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY id DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("last checkpoint: %w", err)
	}
	return last, nil
}

const checkpointColumns = `id, position, transaction_id::text AS txid, event_count, running_hash, signature, recorded_at`

func scanCheckpoint(row interface{ Scan(...any) error }) (*audit.Checkpoint, error) {
	var cp audit.Checkpoint
	if err := row.Scan(&cp.ID, &cp.Position, &cp.TransactionID, &cp.EventCount, &cp.RunningHash, &cp.Signature, &cp.RecordedAt); err != nil {
		return nil, err
	}
	cp.RecordedAt = cp.RecordedAt.UTC()
	return &cp, nil
}

// Checkpoints lists checkpoints in the order they were recorded, after the
// one with id after.
func (c *Checkpoints) Checkpoints(ctx context.Context, after int64, limit int) (_ []audit.Checkpoint, err error) {
	defer ledger.Wrap(&err, "Checkpoints.Checkpoints")
	rows, err := c.pool.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []audit.Checkpoint{}
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *cp)
	}
	return out, rows.Err()
}

// Verify checks every stream chain and every checkpoint in one consistent
// snapshot. With exported == nil it checks the database's own checkpoints;
// otherwise the ones given (an auditor's copy), which also catches the
// removal of the newest events together with their checkpoints.
func (c *Checkpoints) Verify(ctx context.Context, key audit.Key, exported audit.Checkpoints) (_ audit.Report, err error) {
	defer ledger.Wrap(&err, "Checkpoints.Verify")
	// A read-only transaction takes no transaction id, so it holds back no
	// subscriber however long it reads. The two walks run at once, each on
	// a connection of its own, in one snapshot: the second transaction
	// imports the first one's.
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	tx, err := c.pool.BeginTx(ctx, opts)
	if err != nil {
		return audit.Report{}, err
	}
	defer tx.Rollback()
	var snapshot string
	if err := tx.QueryRowContext(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
		return audit.Report{}, err
	}
	tx2, err := c.pool.BeginTx(ctx, opts)
	if err != nil {
		return audit.Report{}, err
	}
	defer tx2.Rollback()
	if _, err := tx2.ExecContext(ctx, `SET TRANSACTION SNAPSHOT `+pq.QuoteLiteral(snapshot)); err != nil {
		return audit.Report{}, err
	}
	byStream, inCommitOrder := &verifier{tx: tx}, &verifier{tx: tx2}
	source := exported
	if source == nil {
		source = &checkpointCursor{v: inCommitOrder}
	}
	return audit.Verify(ctx, walks{byStream: byStream, inCommitOrder: inCommitOrder}, key, source)
}

// walks reads the log for audit.Verify's two walks, each on its own
// verifier, so that they can run at once.
type walks struct{ byStream, inCommitOrder *verifier }

func (w walks) EachEventByStream(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return w.byStream.EachEventByStream(ctx, fn)
}

func (w walks) EachEventInCommitOrder(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return w.inCommitOrder.EachEventInCommitOrder(ctx, fn)
}

// VerifySince checks only what follows the newest checkpoint, in one
// consistent snapshot: see audit.VerifySince. With no checkpoint yet it
// checks the whole log.
func (c *Checkpoints) VerifySince(ctx context.Context, key audit.Key) (_ audit.Report, err error) {
	defer ledger.Wrap(&err, "Checkpoints.VerifySince")
	tx, err := c.pool.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return audit.Report{}, err
	}
	defer tx.Rollback()
	v := &verifier{tx: tx}
	rows, err := tx.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY id DESC LIMIT 2`)
	if err != nil {
		return audit.Report{}, err
	}
	var newest []audit.Checkpoint
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			rows.Close()
			return audit.Report{}, err
		}
		newest = append(newest, *cp)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return audit.Report{}, err
	}
	switch len(newest) {
	case 0:
		return audit.Verify(ctx, v, key, &checkpointCursor{v: v})
	case 1:
		return audit.VerifySince(ctx, v, key, newest[0], nil)
	}
	return audit.VerifySince(ctx, v, key, newest[0], &newest[1])
}

// verifier reads the log in chunks through server-side cursors, so one
// connection can interleave events and checkpoints.
type verifier struct {
	tx      *sql.Tx
	cursors int
}

const chunk = 2000

func (v *verifier) declare(ctx context.Context, query string) (string, error) {
	v.cursors++
	name := fmt.Sprintf("verify_%d", v.cursors)
	_, err := v.tx.ExecContext(ctx, `DECLARE `+name+` NO SCROLL CURSOR FOR `+query)
	return name, err
}

// The text form of transaction_id is named txid: unqualified in an ORDER BY,
// the name transaction_id would otherwise sort by the text.
const storedEventColumns = `position, transaction_id::text AS txid, event_id, stream_id, stream_type, stream_version, type, data::text, metadata::text, recorded_at, hash, prev_hash`

func (v *verifier) each(ctx context.Context, order string, fn func(audit.StoredEvent) error) error {
	return v.eachRow(ctx, `SELECT `+storedEventColumns+`, false FROM events ORDER BY `+order, func(e audit.StoredEvent, _ bool) error { return fn(e) })
}

// eachRow runs query, which selects storedEventColumns and a boolean, through
// a cursor.
func (v *verifier) eachRow(ctx context.Context, query string, fn func(audit.StoredEvent, bool) error) error {
	type row struct {
		e    audit.StoredEvent
		flag bool
	}
	return fetchAll(ctx, v, query, func(rows *sql.Rows) (row, error) {
		e, flag, err := scanStoredEvent(rows)
		return row{e, flag}, err
	}, func(r row) error { return fn(r.e, r.flag) })
}

// fetchAll runs query through a cursor, chunk rows at a time. Each chunk is
// read to its end before fn sees its rows, so fn may use the transaction
// (the checkpoints are read on it between events).
func fetchAll[T any](ctx context.Context, v *verifier, query string, scan func(*sql.Rows) (T, error), fn func(T) error) error {
	cursor, err := v.declare(ctx, query)
	if err != nil {
		return err
	}
	for {
		rows, err := v.tx.QueryContext(ctx, `FETCH FORWARD `+strconv.Itoa(chunk)+` FROM `+cursor)
		if err != nil {
			return err
		}
		var batch []T
		for rows.Next() {
			item, err := scan(rows)
			if err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, item)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, item := range batch {
			if err := fn(item); err != nil {
				return err
			}
		}
		if len(batch) < chunk {
			return nil
		}
	}
}

func scanStoredEvent(row interface{ Scan(...any) error }) (audit.StoredEvent, bool, error) {
	var e audit.StoredEvent
	var data, meta string
	var flag bool
	err := row.Scan(&e.Position, &e.TransactionID, &e.EventID, &e.StreamID, &e.StreamType, &e.StreamVersion,
		&e.Type, &data, &meta, &e.RecordedAt, &e.Hash, &e.PrevHash, &flag)
	e.Data, e.Metadata = []byte(data), []byte(meta)
	return e, flag, err
}

func (v *verifier) EachEventByStream(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return v.each(ctx, `stream_id, stream_version`, fn)
}

// EachEventInCommitOrder reads only what the commit-order walk checks (see
// audit.Store): the content was checked against its hash by stream, so
// reading data and metadata a second time would double the work of a
// full verify.
func (v *verifier) EachEventInCommitOrder(ctx context.Context, fn func(audit.StoredEvent) error) error {
	// Ordered by the qualified column: unqualified, transaction_id would name
	// the text output column and sort "1000" before "786".
	return fetchAll(ctx, v, `SELECT position, transaction_id::text, stream_id, hash FROM events ORDER BY events.transaction_id, events.position`,
		func(rows *sql.Rows) (e audit.StoredEvent, err error) {
			err = rows.Scan(&e.Position, &e.TransactionID, &e.StreamID, &e.Hash)
			return e, err
		}, fn)
}

func (v *verifier) EventAt(ctx context.Context, position int64) (*audit.StoredEvent, error) {
	e, _, err := scanStoredEvent(v.tx.QueryRowContext(ctx, `SELECT `+storedEventColumns+`, false FROM events WHERE position = $1`, position))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// EachEventByStreamAfter reads the events after cp in commit order through
// events_commit_order_idx, and each of their streams' last event before
// them through the (stream_id, stream_version) key, so the cost follows the
// new events, not the log. The anchors are joined on the whole key, which
// keeps the plan an index lookup per stream: a range on the version let the
// planner scan the table.
func (v *verifier) EachEventByStreamAfter(ctx context.Context, cp audit.Checkpoint, fn func(audit.StoredEvent, bool) error) error {
	// Literals, not parameters, in a cursor's query: the planner then knows
	// how few events follow the checkpoint.
	txid := strconv.FormatUint(cp.TransactionID, 10)
	pos := strconv.FormatInt(cp.Position, 10)
	return v.eachRow(ctx, `
		WITH after AS MATERIALIZED (
			SELECT * FROM events WHERE (transaction_id, position) > ('`+txid+`'::xid8, `+pos+`)),
		anchors AS (
			SELECT stream_id, min(stream_version) - 1 AS version FROM after GROUP BY stream_id)
		SELECT `+storedEventColumns+`, anchor FROM (
			SELECT after.*, false AS anchor FROM after
			UNION ALL
			SELECT e.*, true FROM anchors a JOIN events e ON e.stream_id = a.stream_id AND e.stream_version = a.version) e
		ORDER BY stream_id, stream_version`, fn)
}

// checkpointCursor yields the database's checkpoints in recording order.
type checkpointCursor struct {
	v      *verifier
	name   string
	buf    []audit.Checkpoint
	done   bool
	opened bool
}

func (c *checkpointCursor) Next(ctx context.Context) (*audit.Checkpoint, error) {
	if !c.opened {
		name, err := c.v.declare(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY id`)
		if err != nil {
			return nil, err
		}
		c.name, c.opened = name, true
	}
	if len(c.buf) == 0 && !c.done {
		rows, err := c.v.tx.QueryContext(ctx, `FETCH FORWARD `+strconv.Itoa(chunk)+` FROM `+c.name)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			cp, err := scanCheckpoint(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			c.buf = append(c.buf, *cp)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		c.done = len(c.buf) < chunk
	}
	if len(c.buf) == 0 {
		return nil, nil
	}
	cp := c.buf[0]
	c.buf = c.buf[1:]
	return &cp, nil
}
