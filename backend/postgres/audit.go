package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// RecordCheckpoint signs the checkpoint that extends the running hash by the
// event rec, in tx (the checkpoint subscriber's batch transaction), so the
// checkpoint and the subscriber's position commit together. An event already
// covered is skipped, which makes redelivery harmless.
//
// The newest checkpoint is kept in memory between events. The INSERT names
// the checkpoint it extends and writes nothing unless that one is still the
// newest stored, so a stale copy (a rolled-back batch, another replica that
// took over) is reloaded instead of being chained onto.
func (db *DB) RecordCheckpoint(ctx context.Context, tx *sql.Tx, key audit.Key, rec ledger.RecordedEvent) error {
	return withSavepoint(ctx, tx, func() error {
		txid, hash := rec.TransactionID, rec.Hash
		if txid == 0 || len(hash) == 0 {
			err := tx.QueryRowContext(ctx, `SELECT transaction_id::text, hash FROM events WHERE position = $1`, rec.Position).Scan(&txid, &hash)
			if err != nil {
				return fmt.Errorf("checkpoint event %d: %w", rec.Position, err)
			}
		}
		reload := false
		for {
			last, err := db.lastCheckpoint(ctx, tx, reload)
			if err != nil {
				return err
			}
			if last != nil && (last.TransactionID > txid || (last.TransactionID == txid && last.Position >= rec.Position)) {
				if !reload { // only the stored checkpoints can say an event is covered
					reload = true
					continue
				}
				return nil
			}
			cp := key.Next(last, rec.Position, txid, hash, db.now())
			prevCount, prevHash := int64(0), []byte(nil)
			if last != nil {
				prevCount, prevHash = last.EventCount, last.RunningHash
			}
			err = tx.QueryRowContext(ctx, `
				INSERT INTO audit_checkpoints (position, transaction_id, event_count, running_hash, signature, recorded_at)
				SELECT $1, $2::text::xid8, $3, $4, $5, $6
				WHERE coalesce((SELECT event_count FROM audit_checkpoints ORDER BY id DESC LIMIT 1), 0) = $7
					AND (SELECT running_hash FROM audit_checkpoints ORDER BY id DESC LIMIT 1) IS NOT DISTINCT FROM $8::bytea
				RETURNING id`,
				cp.Position, strconv.FormatUint(cp.TransactionID, 10), cp.EventCount, cp.RunningHash, cp.Signature, cp.RecordedAt,
				prevCount, prevHash).Scan(&cp.ID)
			if errors.Is(err, sql.ErrNoRows) && !reload {
				reload = true
				continue // the copy in memory was stale: reload and try again
			}
			if err != nil {
				db.checkpoint.Store(nil)
				return fmt.Errorf("record checkpoint for event %d: %w", rec.Position, err)
			}
			db.checkpoint.Store(&cp)
			return nil
		}
	})
}

// lastCheckpoint returns the newest checkpoint, from memory unless reload.
func (db *DB) lastCheckpoint(ctx context.Context, tx *sql.Tx, reload bool) (*audit.Checkpoint, error) {
	if cp := db.checkpoint.Load(); cp != nil && !reload {
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
func (db *DB) Checkpoints(ctx context.Context, after int64, limit int) ([]audit.Checkpoint, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	defer rows.Close()
	out := []audit.Checkpoint{}
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
		out = append(out, *cp)
	}
	return out, rows.Err()
}

// Verify checks every stream chain and every checkpoint in one consistent
// snapshot. With exported == nil it checks the database's own checkpoints;
// otherwise the ones given (an auditor's copy), which also catches the
// removal of the newest events together with their checkpoints.
func (db *DB) Verify(ctx context.Context, key audit.Key, exported audit.Checkpoints) (audit.Report, error) {
	// A read-only transaction takes no transaction id, so it holds back no
	// subscriber however long it reads.
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return audit.Report{}, fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback()
	v := &verifier{tx: tx}
	source := exported
	if source == nil {
		source = &checkpointCursor{v: v}
	}
	return audit.Verify(ctx, v, key, source)
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
	cursor, err := v.declare(ctx, `SELECT `+storedEventColumns+` FROM events ORDER BY `+order)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for {
		rows, err := v.tx.QueryContext(ctx, `FETCH FORWARD `+strconv.Itoa(chunk)+` FROM `+cursor)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		var batch []audit.StoredEvent
		for rows.Next() {
			var e audit.StoredEvent
			var data, meta string
			if err := rows.Scan(&e.Position, &e.TransactionID, &e.EventID, &e.StreamID, &e.StreamType, &e.StreamVersion,
				&e.Type, &data, &meta, &e.RecordedAt, &e.Hash, &e.PrevHash); err != nil {
				rows.Close()
				return fmt.Errorf("verify: %w", err)
			}
			e.Data, e.Metadata = []byte(data), []byte(meta)
			batch = append(batch, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < chunk {
			return nil
		}
	}
}

func (v *verifier) EachEventByStream(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return v.each(ctx, `stream_id, stream_version`, fn)
}

func (v *verifier) EachEventInCommitOrder(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return v.each(ctx, `transaction_id, position`, fn)
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

// withSavepoint runs fn inside a savepoint of tx: a failed write is rolled
// back to it, leaving the subscriber's batch transaction usable for a retry.
func withSavepoint(ctx context.Context, tx *sql.Tx, fn func() error) (err error) {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT handler`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		stmt := `RELEASE SAVEPOINT handler`
		if err != nil {
			stmt = `ROLLBACK TO SAVEPOINT handler`
		}
		if _, spErr := tx.ExecContext(ctx, stmt); spErr != nil && err == nil {
			err = fmt.Errorf("%s: %w", stmt, spErr)
		}
	}()
	return fn()
}
