package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"go.opentelemetry.io/otel/trace"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
)

// Concurrent submissions share commits. Each new stream's first event is
// appended by one of a few appenders; an appender takes every first event
// waiting when it is free and inserts them with one statement, in one
// transaction. Under no load a batch is one event and costs what its own
// INSERT would; under load, one commit (and its flush to disk) stands for
// many submissions. Each submitter still waits for the commit that holds its
// event, so nothing is acknowledged before it is durable.
const (
	appenders      = 4
	maxAppendBatch = 128
	// appendTimeout bounds one batch's statement; a batch is shared, so it
	// does not end with any one submitter's context.
	appendTimeout = 10 * time.Second
)

// firstAppend is a first event waiting for an appender.
type firstAppend struct {
	rec      ledger.RecordedEvent
	metaJSON string
	// subject is the member whose personal data the event carries: its
	// key row is held while the event is inserted (see lockSubjects).
	subject uuid.UUID
	done    chan error // buffered: the appender never waits for the submitter
	// span is the submitter's span, which the batch's span descends from
	// or links to (see startBatchSpan).
	span trace.SpanContext
}

// sharedAppends runs the appenders over the pool.
type sharedAppends struct {
	pool    *sql.DB
	commits *commits
	in      chan *firstAppend
	stop    chan struct{}
	running sync.WaitGroup
	closing sync.Once
}

// newSharedAppends starts the appenders; they end at close, once their
// batch is done.
func newSharedAppends(pool *sql.DB, c *commits) *sharedAppends {
	s := &sharedAppends{pool: pool, commits: c, in: make(chan *firstAppend), stop: make(chan struct{})}
	for range appenders {
		s.running.Go(func() {
			for {
				var batch []*firstAppend
				select {
				case <-s.stop:
					return
				case a := <-s.in:
					batch = append(batch, a)
				}
			gather:
				for len(batch) < maxAppendBatch {
					select {
					case a := <-s.in:
						batch = append(batch, a)
					default:
						break gather
					}
				}
				s.appendBatch(batch)
			}
		})
	}
	return s
}

// close stops the appenders once their batches are done; it may run twice.
func (s *sharedAppends) close() {
	s.closing.Do(func() { close(s.stop) })
	s.running.Wait()
}

// append appends e, the first event of a new stream, outside any
// transaction, sharing the INSERT and the commit with the first events of
// concurrent submissions.
func (s *sharedAppends) append(ctx context.Context, meta ledger.Metadata, e ledger.PendingEvent, now time.Time) ([]ledger.RecordedEvent, error) {
	if e.Version != 1 {
		return nil, fmt.Errorf("append to %s: version %d is not a first event", e.StreamID, e.Version)
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	rec, err := audit.Record(meta, metaJSON, e, nil, now)
	if err != nil {
		return nil, err
	}
	a := &firstAppend{rec: rec, metaJSON: string(metaJSON), done: make(chan error, 1), span: trace.SpanContextFromContext(ctx)}
	if subjects := personalSubjects(e); len(subjects) > 0 {
		a.subject = subjects[0]
	}
	select {
	case s.in <- a:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stop:
		return nil, errors.New("append: the database is closed")
	}
	// Once handed over the event may be committed: wait for the outcome
	// whatever the context says, so the answer is never a guess.
	if err := <-a.done; err != nil {
		return nil, err
	}
	return []ledger.RecordedEvent{a.rec}, nil
}

// appendBatch inserts the batch and tells each submitter its outcome. If the
// shared statement breaks a constraint (nothing of it is stored then), each
// event is inserted on its own, so that one event's failure (a taken stream)
// is its submitter's alone. Any other failure is every submitter's.
func (s *sharedAppends) appendBatch(batch []*firstAppend) {
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	ctx, span := startBatchSpan(ctx, batch)
	var err error
	defer func() { endSpan(span, err) }()
	var refused []*firstAppend // their members' personal data was erased
	if len(batch) > 1 {
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			var subjects []uuid.UUID
			for _, a := range batch {
				if a.subject != uuid.Nil {
					subjects = append(subjects, a.subject)
				}
			}
			erased, err := lockSubjects(ctx, tx, subjects)
			if err != nil {
				return err
			}
			insert := batch
			if len(erased) > 0 {
				insert, refused = nil, nil
				for _, a := range batch {
					if erased[a.subject] {
						refused = append(refused, a)
					} else {
						insert = append(insert, a)
					}
				}
			}
			if len(insert) == 0 {
				return nil
			}
			return insertFirstEvents(ctx, tx, insert)
		})
	}
	var pqErr *pq.Error
	if len(batch) == 1 || (errors.As(err, &pqErr) && pqErr.Code.Class() == "23") { // integrity_constraint_violation
		for _, a := range batch {
			err := s.inTx(ctx, func(tx *sql.Tx) error {
				var subjects []uuid.UUID
				if a.subject != uuid.Nil {
					subjects = append(subjects, a.subject)
				}
				if erased, err := lockSubjects(ctx, tx, subjects); err != nil {
					return err
				} else if erased[a.subject] {
					return erasedSubject(a.subject)
				}
				return insertEvent(ctx, tx, &a.rec, a.metaJSON)
			})
			if err == nil {
				s.commits.committed([]string{a.rec.Type})
			} else {
				span.RecordError(err, trace.WithAttributes(attrCorrelationID.String(a.rec.Metadata.CorrelationID)))
			}
			a.done <- err
		}
		return
	}
	if err != nil {
		err = fmt.Errorf("append %d first events: %w", len(batch), err)
	} else {
		var types []string
		for _, a := range batch {
			if !slices.Contains(refused, a) {
				types = append(types, a.rec.Type)
			}
		}
		s.commits.committed(types)
	}
	for _, a := range batch {
		if err == nil && slices.Contains(refused, a) {
			a.done <- erasedSubject(a.subject)
			continue
		}
		a.done <- err
	}
}

// inTx runs fn in a transaction that holds the appenders' lock, and
// commits when fn returns nil.
func (s *sharedAppends) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := bus.LockAppenders(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// insertFirstEvents inserts the batch's events with one statement and sets
// their positions, in the batch's order.
func insertFirstEvents(ctx context.Context, tx *sql.Tx, batch []*firstAppend) error {
	n := len(batch)
	ids, streams, streamTypes, types := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	data, metas := make([]string, n), make([]string, n)
	versions, recordedAt, hashes := make([]int64, n), make([]time.Time, n), make([][]byte, n)
	for i, a := range batch {
		r := &a.rec
		ids[i], streams[i], streamTypes[i], types[i] = r.EventID.String(), r.StreamID.String(), r.StreamType, r.Type
		data[i], metas[i], versions[i], recordedAt[i], hashes[i] = string(r.Data), a.metaJSON, r.StreamVersion, r.RecordedAt, r.Hash
	}
	rows, err := tx.QueryContext(ctx, `
		INSERT INTO events (event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash)
		SELECT u.event_id, u.stream_id, u.stream_type, u.stream_version, u.type, u.data, u.metadata, u.recorded_at, u.hash
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::json[], $7::json[], $8::timestamptz[], $9::bytea[])
			WITH ORDINALITY AS u(event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, n)
		ORDER BY u.n
		RETURNING event_id::text, position`,
		pq.Array(ids), pq.Array(streams), pq.Array(streamTypes), pq.Array(versions), pq.Array(types),
		pq.Array(data), pq.Array(metas), pq.Array(recordedAt), pq.Array(hashes))
	if err != nil {
		return err
	}
	defer rows.Close()
	positions := make(map[string]int64, n)
	for rows.Next() {
		var id string
		var p int64
		if err := rows.Scan(&id, &p); err != nil {
			return err
		}
		positions[id] = p
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i, a := range batch {
		p, ok := positions[ids[i]]
		if !ok {
			return fmt.Errorf("event %s: no position returned", ids[i])
		}
		a.rec.Position = p
	}
	return nil
}
