package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/pressly/goose/v3"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// AppendInTx appends in a transaction the test controls, to hold it open.
func (db *DB) AppendInTx(ctx context.Context, tx *sql.Tx, meta ledger.Metadata, events ...ledger.PendingEvent) ([]ledger.RecordedEvent, error) {
	return (&EventStore{q: tx, db: db, appended: new([]string)}).Append(ctx, meta, events...)
}

// BindTx returns the stores bound to a transaction the test controls, as a
// subscriber's batch handler gets them.
func (db *DB) BindTx(tx *sql.Tx) app.Tx { return db.bind(tx, new([]string)) }

// SQLTx returns the transaction stores bound by BindTx or a subscriber run in.
func SQLTx(tx app.Tx) *sql.Tx { return tx.Projections.(projectionWriter).tx.(*sql.Tx) }

// AllEvents returns every committed event in position order, whatever else
// is running (the feed holds back events while older transactions run).
func (db *DB) AllEvents(ctx context.Context) ([]ledger.RecordedEvent, error) {
	rows, err := db.pool.QueryContext(ctx, `SELECT `+eventColumns+` FROM events ORDER BY position`)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}

// EventTransactions returns the transaction each event was committed in.
func (db *DB) EventTransactions(ctx context.Context) (map[uuid.UUID]uint64, error) {
	rows, err := db.pool.QueryContext(ctx, `SELECT event_id, transaction_id::text FROM events`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID]uint64{}
	for rows.Next() {
		var id uuid.UUID
		var tx string
		if err := rows.Scan(&id, &tx); err != nil {
			return nil, err
		}
		n, err := strconv.ParseUint(tx, 10, 64)
		if err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// TreeAll adds every event to the audit tree, in commit order, as the
// audit.tree subscriber does, in batches of three, each with its signed
// head.
func (db *DB) TreeAll(ctx context.Context, signer *audit.Signer) error {
	events, err := db.eventsInCommitOrder(ctx)
	if err != nil {
		return err
	}
	return db.transact(ctx, func(tx *sql.Tx, _ *[]string) error {
		for len(events) > 0 {
			n := min(3, len(events))
			if err := db.Audit.append(ctx, tx, signer, events[:n]); err != nil {
				return err
			}
			events = events[n:]
		}
		return nil
	})
}

// LegacyCheckpointAll records an HMAC checkpoint for every event, in commit
// order, as the ledger did before tree heads: the log of an upgraded ledger.
func (db *DB) LegacyCheckpointAll(ctx context.Context, key audit.Key) error {
	events, err := db.eventsInCommitOrder(ctx)
	if err != nil {
		return err
	}
	var prev *audit.Checkpoint
	for _, e := range events {
		cp := key.Next(prev, e.Position, e.TransactionID, e.Hash, db.now())
		_, err := db.pool.ExecContext(ctx, `INSERT INTO audit_checkpoints (position, transaction_id, event_count, running_hash, signature, recorded_at)
			VALUES ($1, $2::text::xid8, $3, $4, $5, $6)`, cp.Position, strconv.FormatUint(cp.TransactionID, 10), cp.EventCount, cp.RunningHash, cp.Signature, cp.RecordedAt)
		if err != nil {
			return err
		}
		prev = &cp
	}
	return nil
}

// eventsInCommitOrder returns each event's position, transaction id and
// hash, in commit order.
func (db *DB) eventsInCommitOrder(ctx context.Context) ([]ledger.RecordedEvent, error) {
	rows, err := db.pool.QueryContext(ctx, `SELECT position, transaction_id::text, hash FROM events ORDER BY events.transaction_id, events.position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ledger.RecordedEvent
	for rows.Next() {
		var e ledger.RecordedEvent
		if err := rows.Scan(&e.Position, &e.TransactionID, &e.Hash); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AppendTogether appends events as one batch of the appenders, as
// concurrent commands' events would be, and returns each one's outcome.
func (db *DB) AppendTogether(meta ledger.Metadata, events ...ledger.PendingEvent) ([]ledger.RecordedEvent, []error) {
	batch := make([]*sharedAppend, len(events))
	for i, e := range events {
		a, err := newSharedAppend(meta, e, db.now())
		if err != nil {
			panic(err)
		}
		batch[i] = a
	}
	db.Events.shared.appendBatch(batch)
	recs, errs := make([]ledger.RecordedEvent, len(events)), make([]error, len(events))
	for i, a := range batch {
		errs[i] = <-a.done
		if errs[i] == nil {
			recs[i] = a.rec
		}
	}
	return recs, errs
}

// BeforeSharedCommit sets a function the appenders run in a shared batch's
// transaction after its INSERT, before its commit.
func (db *DB) BeforeSharedCommit(fn func(ctx context.Context, tx *sql.Tx) error) {
	db.Events.shared.beforeCommit = fn
}

// AckAll stores group's offset at the last committed event in commit order,
// as its subscriber does once it has handled every event.
func (db *DB) AckAll(ctx context.Context, group string) error {
	_, err := db.pool.ExecContext(ctx, `
		INSERT INTO subscription_offsets (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT $1, position, transaction_id FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1
		ON CONFLICT (consumer_group) DO UPDATE
			SET offset_acked = excluded.offset_acked, last_processed_transaction_id = excluded.last_processed_transaction_id`, group)
	return err
}

// InsertStored inserts an event exactly as another version of the ledger
// stored it: its data, metadata text and hashes as given.
func (db *DB) InsertStored(ctx context.Context, rec ledger.RecordedEvent, metaJSON string) error {
	_, err := db.pool.ExecContext(ctx, `
		INSERT INTO events (event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, prev_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		rec.EventID, rec.StreamID, rec.StreamType, rec.StreamVersion, rec.Type, string(rec.Data), metaJSON, rec.RecordedAt, rec.Hash, rec.PrevHash)
	return err
}

// MigrateTo migrates the schema up or down to version.
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	provider, err := goose.NewProvider(goose.DialectPostgres, db.pool, Migrations())
	if err != nil {
		return err
	}
	current, err := provider.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	if current > version {
		_, err = provider.DownTo(ctx, version)
	} else {
		_, err = provider.UpTo(ctx, version)
	}
	return err
}

// LegacyCheckpoints is the per-event HMAC checkpoint writer the audit.tree
// subscriber replaced, kept here as the baseline its benchmark measures
// signed heads against (BenchmarkAuditPerEvent). It is the code as it was.
type LegacyCheckpoints struct {
	now    func() time.Time
	newest atomic.Pointer[audit.Checkpoint]
}

// NewLegacyCheckpoints returns the former checkpoint writer over db.
func (db *DB) NewLegacyCheckpoints() *LegacyCheckpoints { return &LegacyCheckpoints{now: db.now} }

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
func (c *LegacyCheckpoints) Record(ctx context.Context, tx *sql.Tx, key audit.Key, events []ledger.RecordedEvent) (err error) {
	defer ledger.Wrap(&err, "LegacyCheckpoints.Record")
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
func (c *LegacyCheckpoints) last(ctx context.Context, tx *sql.Tx, reload bool) (*audit.Checkpoint, error) {
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

// PlanOfErasePayloads returns the plan of the erasure's lookup of the
// deliveries about a reimbursement, with sequential scans discouraged: an
// index that serves it shows in the plan.
func (db *DB) PlanOfErasePayloads(ctx context.Context) (string, error) {
	tx, err := db.pool.BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		return "", err
	}
	rows, err := tx.QueryContext(ctx, `EXPLAIN `+erasePayloadsQuery, pq.Array([]string{uuid.NewString()}))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		plan = append(plan, line)
	}
	return strings.Join(plan, "\n"), rows.Err()
}
