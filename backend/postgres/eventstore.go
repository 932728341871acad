package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
)

// EventStore appends and reads the events table: over the pool, or bound to
// one transaction (DB.Transact).
type EventStore struct {
	q  querier
	db *DB
	// shared appends events appended alone together (group commit); set
	// outside a transaction only.
	shared *sharedAppends
	// appended collects the types of the events appended in a transaction,
	// reported once it commits; nil outside one.
	appended *[]string
	// locked is set once the transaction holds the appenders' lock.
	locked bool
}

var (
	_ app.EventStore = (*EventStore)(nil)
	_ app.Feed       = (*EventStore)(nil)
)

// Append records events decided on their streams' current versions. In a
// transaction they are inserted there. Outside one, an event appended alone
// (a submission's, a decision's) shares its INSERT and commit with
// concurrent ones (sharedAppends), and several events are appended in a
// transaction of their own.
func (s *EventStore) Append(ctx context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) (recorded []ledger.RecordedEvent, err error) {
	defer ledger.Wrap(&err, "EventStore.Append")
	ctx, span := startAppendSpan(ctx, meta.CorrelationID, len(events))
	defer func() { endSpan(span, err) }()
	if s.appended == nil {
		if len(events) == 1 && s.shared != nil {
			return s.shared.append(ctx, meta, events[0], s.db.now())
		}
		err = s.db.transact(ctx, func(tx *sql.Tx, appended *[]string) error {
			if err := bus.LockAppenders(ctx, tx); err != nil {
				return err
			}
			recorded, err = appendEvents(ctx, tx, s.db.now(), meta, events...)
			*appended = append(*appended, eventTypes(recorded)...)
			return err
		})
		return recorded, err
	}
	// The transaction must hold the appenders' lock before its first write
	// (see bus/horizon.go); the use cases read before they append.
	if !s.locked {
		if err := bus.LockAppenders(ctx, s.q); err != nil {
			return nil, err
		}
		s.locked = true
	}
	recorded, err = appendEvents(ctx, s.q, s.db.now(), meta, events...)
	if err != nil {
		return nil, err
	}
	*s.appended = append(*s.appended, eventTypes(recorded)...)
	return recorded, nil
}

func eventTypes(recorded []ledger.RecordedEvent) []string {
	types := make([]string, len(recorded))
	for i, r := range recorded {
		types[i] = r.Type
	}
	return types
}

// Load returns every event of the given streams, in position order.
func (s *EventStore) Load(ctx context.Context, streamIDs ...uuid.UUID) (_ []ledger.RecordedEvent, err error) {
	defer ledger.Wrap(&err, "EventStore.Load")
	return loadStreams(ctx, s.q, streamIDs...)
}

// ReimbursementBanks returns the bank of each of the reimbursements, read
// from its submission, the first event of its stream. A reimbursement
// without one is an error.
func (s *EventStore) ReimbursementBanks(ctx context.Context, ids []uuid.UUID) (_ map[uuid.UUID]uuid.UUID, err error) {
	defer ledger.Wrap(&err, "EventStore.ReimbursementBanks")
	text := make([]string, len(ids))
	for i, id := range ids {
		text[i] = id.String()
	}
	rows, err := s.q.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE stream_id = ANY($1::uuid[]) AND stream_version = 1`, pq.Array(text))
	if err != nil {
		return nil, err
	}
	firsts, err := scanEvents(rows)
	if err != nil {
		return nil, err
	}
	banks := make(map[uuid.UUID]uuid.UUID, len(firsts))
	for _, rec := range firsts {
		if e, err := rec.Decode(); err != nil {
			return nil, err
		} else if sub, ok := e.(ledger.ReimbursementSubmitted); ok && rec.StreamType == ledger.StreamReimbursement {
			banks[rec.StreamID] = sub.BankID
		}
	}
	for _, id := range ids {
		if _, ok := banks[id]; !ok {
			return nil, fmt.Errorf("reimbursement %s has no submission", id)
		}
	}
	return banks, nil
}

// StreamVersion returns the version of a stream, 0 when it has no events.
// Outside a transaction it runs a statement prepared once for the pool:
// every submission reads its bank's approval policy's version this way, and
// planning was most of that read's cost.
func (s *EventStore) StreamVersion(ctx context.Context, streamID uuid.UUID) (v int64, err error) {
	defer ledger.Wrap(&err, "EventStore.StreamVersion(%s)", streamID)
	if s.appended == nil && s.db != nil {
		if stmt := s.db.streamVersionStmt(ctx); stmt != nil {
			err = stmt.QueryRowContext(ctx, streamID).Scan(&v)
			return v, err
		}
	}
	err = s.q.QueryRowContext(ctx, streamVersionQuery, streamID).Scan(&v)
	return v, err
}

const streamVersionQuery = `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`

// streamVersionStmt is streamVersionQuery prepared for the pool (database/sql
// prepares it on each connection as it is first used there); nil when it
// could not be prepared, and then the plain query serves.
func (db *DB) streamVersionStmt(ctx context.Context) *sql.Stmt {
	db.prepared.Do(func() {
		stmt, err := db.pool.PrepareContext(context.WithoutCancel(ctx), streamVersionQuery)
		if err == nil {
			db.versionStmt = stmt
		}
	})
	return db.versionStmt
}

const eventColumns = `position, event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, prev_hash`

// appendEvents appends decided events in tx. Each event's version must be the
// next one of its stream: if another transaction took it first, the UNIQUE
// (stream_id, stream_version) constraint refuses the insert and appendEvents
// returns ledger.ErrVersionConflict. Each event is hashed over its content
// and its stream's previous hash (see package audit).
func appendEvents(ctx context.Context, tx querier, now time.Time, meta ledger.Metadata, events ...ledger.PendingEvent) ([]ledger.RecordedEvent, error) {
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	erased, err := lockSubjects(ctx, tx, personalSubjects(events...))
	if err != nil {
		return nil, err
	}
	if err := checkGiven(ctx, tx, events); err != nil {
		return nil, err
	}
	recorded := make([]ledger.RecordedEvent, 0, len(events))
	for _, e := range events {
		if erased[e.Subject] {
			return nil, erasedSubject(e.Subject)
		}
		prevHash, err := previousHash(ctx, tx, recorded, e)
		if err != nil {
			return nil, err
		}
		rec, err := audit.Record(meta, metaJSON, e, prevHash, now)
		if err != nil {
			return nil, err
		}
		if err := insertEvent(ctx, tx, &rec, string(metaJSON)); err != nil {
			return nil, err
		}
		recorded = append(recorded, rec)
	}
	return recorded, nil
}

// checkGiven fails with ledger.ErrStaleRead when a stream an event was
// decided on (PendingEvent.Given) is no longer at the version it was read at.
func checkGiven(ctx context.Context, q querier, events []ledger.PendingEvent) error {
	for _, e := range events {
		if e.Given == nil {
			continue
		}
		var v int64
		if err := q.QueryRowContext(ctx, streamVersionQuery, e.Given.StreamID).Scan(&v); err != nil {
			return err
		}
		if v != e.Given.Version {
			return ledger.ErrStaleRead
		}
	}
	return nil
}

// insertEvent inserts one recorded event and sets its position. A taken
// (stream, version) is ledger.ErrVersionConflict.
func insertEvent(ctx context.Context, q querier, rec *ledger.RecordedEvent, metaJSON string) error {
	err := q.QueryRowContext(ctx, `
		INSERT INTO events (event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, prev_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING position`,
		rec.EventID, rec.StreamID, rec.StreamType, rec.StreamVersion, rec.Type, string(rec.Data), metaJSON, rec.RecordedAt, rec.Hash, rec.PrevHash,
	).Scan(&rec.Position)
	if constraintViolated(err, "events_stream_version_key") {
		return ledger.ErrVersionConflict
	}
	if err != nil {
		return fmt.Errorf("append %s to %s: %w", rec.Type, rec.StreamID, err)
	}
	return nil
}

// previousHash is the hash of the event before e in its stream: none for a
// first event, one appended earlier in this call, or the stored one.
func previousHash(ctx context.Context, tx querier, batch []ledger.RecordedEvent, e ledger.PendingEvent) ([]byte, error) {
	if e.Version == 1 {
		return nil, nil
	}
	for i := len(batch) - 1; i >= 0; i-- {
		if batch[i].StreamID == e.StreamID && batch[i].StreamVersion == e.Version-1 {
			return batch[i].Hash, nil
		}
	}
	var prev []byte
	err := tx.QueryRowContext(ctx, `SELECT hash FROM events WHERE stream_id = $1 AND stream_version = $2`, e.StreamID, e.Version-1).Scan(&prev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("append to %s at version %d: version %d is missing", e.StreamID, e.Version, e.Version-1)
	}
	return prev, err
}

// loadStreams returns every event of the given streams, in position order.
func loadStreams(ctx context.Context, q querier, streamIDs ...uuid.UUID) ([]ledger.RecordedEvent, error) {
	ids := make([]string, len(streamIDs))
	for i, id := range streamIDs {
		ids[i] = id.String()
	}
	rows, err := q.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE stream_id = ANY($1::uuid[]) ORDER BY position`, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}

type rowsScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

func scanEvents(rows rowsScanner) ([]ledger.RecordedEvent, error) {
	defer rows.Close()
	var out []ledger.RecordedEvent
	for rows.Next() {
		var rec ledger.RecordedEvent
		var data, meta []byte
		if err := rows.Scan(&rec.Position, &rec.EventID, &rec.StreamID, &rec.StreamType, &rec.StreamVersion, &rec.Type, &data, &meta, &rec.RecordedAt, &rec.Hash, &rec.PrevHash); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		rec.Data = json.RawMessage(data)
		if err := json.Unmarshal(meta, &rec.Metadata); err != nil {
			return nil, fmt.Errorf("event %d metadata: %w", rec.Position, err)
		}
		rec.RecordedAt = rec.RecordedAt.UTC()
		out = append(out, rec)
	}
	return out, rows.Err()
}

// Feed returns committed events in commit order: by transaction id, then
// position, and only events of transactions older than every transaction
// still running. A reader who pages with After therefore never misses an
// event whose transaction committed late, even when its position is lower
// than one already read. This is the order the subscribers use.
func (s *EventStore) Feed(ctx context.Context, q app.FeedQuery) (_ []ledger.RecordedEvent, err error) {
	defer ledger.Wrap(&err, "EventStore.Feed")
	var where []string
	args := []any{q.Limit}
	if q.After > 0 {
		var exists bool
		if err := s.q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE position = $1)`, q.After).Scan(&exists); err != nil {
			return nil, err
		}
		if !exists {
			return nil, &ledger.Error{Code: ledger.EInvalid, Message: "after must be the position of an event you have read",
				Fields: []ledger.FieldError{{Field: "after", Message: fmt.Sprintf("no event has position %d", q.After)}}}
		}
		args = append(args, q.After)
		where = append(where, fmt.Sprintf(`(transaction_id, position) > (SELECT transaction_id, position FROM events WHERE position = $%d)`, len(args)))
	}
	if len(q.Types) > 0 {
		args = append(args, pq.Array(q.Types))
		where = append(where, fmt.Sprintf(`type = ANY($%d)`, len(args)))
	}
	if q.StreamID != uuid.Nil {
		args = append(args, q.StreamID)
		where = append(where, fmt.Sprintf(`stream_id = $%d`, len(args)))
	}
	if !q.From.IsZero() {
		args = append(args, q.From)
		where = append(where, fmt.Sprintf(`recorded_at >= $%d`, len(args)))
	}
	if !q.To.IsZero() {
		args = append(args, q.To)
		where = append(where, fmt.Sprintf(`recorded_at < $%d`, len(args)))
	}
	// The horizon is read in a statement of its own, before the one that
	// reads the page (see bus/horizon.go).
	horizon, err := bus.ReadHorizon(ctx, s.q)
	if err != nil {
		return nil, err
	}
	args = append(args, horizon)
	where = append(where, fmt.Sprintf(`transaction_id < $%d::xid8`, len(args)))
	rows, err := s.q.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE `+strings.Join(where, " AND ")+
		` ORDER BY transaction_id, position LIMIT $1`, args...)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}
