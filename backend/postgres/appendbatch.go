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

// Concurrent commands share commits. An event appended alone, outside any
// transaction (a submission's first event, a decision's), is appended by
// one of a few appenders; an appender takes every event waiting when it is
// free and inserts them with one statement, in one transaction holding the
// appenders' lock once. Under no load a batch is one event and costs what
// its own INSERT would; under load, one commit (and its flush to disk)
// stands for many commands. Each submitter still waits for the commit that
// holds its event, so nothing is acknowledged before it is durable, and an
// event that cannot be stored (a stream version another command took first,
// an erased member) fails alone: the rest of its batch commits.
//
// Two appenders: with four, most batches held one event (2.3 on average in
// go tool task bench's step 2, 16 clients); with two, 4.2, and PostgreSQL's
// CPU per submission fell from 0.34 to 0.28 ms (docs/benchmarks.md).
const (
	appenders      = 2
	maxAppendBatch = 128
	// appendTimeout bounds one batch's statement; a batch is shared, so it
	// does not end with any one submitter's context.
	appendTimeout = 10 * time.Second
)

// sharedAppend is an event waiting for an appender.
type sharedAppend struct {
	// rec is the event as recorded. A first event is recorded (hashed) by
	// its submitter; a later one (later set) by the appender, which reads
	// the hash of the event before it in the batch's transaction.
	rec   ledger.RecordedEvent
	later *ledger.PendingEvent
	// given is the stream the event was decided on, if any
	// (PendingEvent.Given): the INSERT checks its version.
	given    *ledger.StreamAt
	meta     ledger.Metadata
	metaJSON string
	now      time.Time
	// subject is the member whose personal data the event carries: its
	// key row is held while the event is inserted (see lockSubjects).
	subject uuid.UUID
	done    chan error // buffered: the appender never waits for the submitter
	// span is the submitter's span, which the batch's span descends from
	// or links to (see startBatchSpan).
	span trace.SpanContext
}

// stream and version are the stream version a's event takes.
func (a *sharedAppend) stream() uuid.UUID {
	if a.later != nil {
		return a.later.StreamID
	}
	return a.rec.StreamID
}

func (a *sharedAppend) version() int64 {
	if a.later != nil {
		return a.later.Version
	}
	return a.rec.StreamVersion
}

// record hashes a later event over the hash of the event before it.
func (a *sharedAppend) record(prevHash []byte) error {
	rec, err := audit.Record(a.meta, []byte(a.metaJSON), *a.later, prevHash, a.now)
	if err != nil {
		return err
	}
	a.rec = rec
	return nil
}

// sharedAppends runs the appenders over the pool.
type sharedAppends struct {
	pool    *sql.DB
	commits *commits
	in      chan *sharedAppend
	stop    chan struct{}
	running sync.WaitGroup
	closing sync.Once
	// beforeCommit, when set (tests), runs in an appender's transaction
	// after its INSERT, before its commit (runBeforeCommit).
	beforeCommit func(ctx context.Context, tx *sql.Tx) error
}

// newSharedAppends starts the appenders; they end at close, once their
// batch is done.
func newSharedAppends(pool *sql.DB, c *commits) *sharedAppends {
	s := &sharedAppends{pool: pool, commits: c, in: make(chan *sharedAppend), stop: make(chan struct{})}
	for range appenders {
		s.running.Go(func() {
			for {
				var batch []*sharedAppend
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

// append appends e, decided on its stream's current version, outside any
// transaction, sharing the INSERT and the commit with concurrent commands'
// events. Another command that took e's version first makes it
// ledger.ErrVersionConflict, as in a transaction of its own.
func (s *sharedAppends) append(ctx context.Context, meta ledger.Metadata, e ledger.PendingEvent, now time.Time) ([]ledger.RecordedEvent, error) {
	if e.Version < 1 {
		return nil, fmt.Errorf("append to %s: version %d", e.StreamID, e.Version)
	}
	a, err := newSharedAppend(meta, e, now)
	if err != nil {
		return nil, err
	}
	a.span = trace.SpanContextFromContext(ctx)
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

// newSharedAppend is e as it waits for an appender: a first event
// recorded (hashed) already, a later one recorded by the appender.
func newSharedAppend(meta ledger.Metadata, e ledger.PendingEvent, now time.Time) (*sharedAppend, error) {
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	a := &sharedAppend{meta: meta, metaJSON: string(metaJSON), now: now, given: e.Given, done: make(chan error, 1)}
	if e.Version == 1 {
		if a.rec, err = audit.Record(meta, metaJSON, e, nil, now); err != nil {
			return nil, err
		}
	} else {
		a.later = &e
	}
	if subjects := personalSubjects(e); len(subjects) > 0 {
		a.subject = subjects[0]
	}
	return a, nil
}

// appendBatch inserts the batch and tells each submitter its outcome.
// What fails one event alone (an erased member, a stream version already
// taken or taken twice in the batch) is found before the INSERT, and the
// rest is inserted. If the shared statement still breaks a constraint (a
// version taken meanwhile by a transaction outside the appenders; nothing
// of the batch is stored then), each event is appended on its own. Any
// other failure is every submitter's.
func (s *sharedAppends) appendBatch(batch []*sharedAppend) {
	ctx, cancel := context.WithTimeout(context.Background(), appendTimeout)
	defer cancel()
	ctx, span := startBatchSpan(ctx, batch)
	var err error
	defer func() { endSpan(span, err) }()
	if len(batch) == 1 {
		s.appendEach(ctx, span, batch)
		return
	}
	var failed map[*sharedAppend]error
	var inserted []*sharedAppend
	err = s.inTx(ctx, func(tx *sql.Tx) (err error) {
		if inserted, failed, err = insertBatch(ctx, tx, batch); err != nil {
			return err
		}
		return s.runBeforeCommit(ctx, tx)
	})
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code.Class() == "23" { // integrity_constraint_violation
		s.appendEach(ctx, span, batch)
		return
	}
	if err != nil {
		err = fmt.Errorf("append %d events: %w", len(batch), err)
	} else {
		s.commits.committed(eventTypesOf(inserted))
	}
	for _, a := range batch {
		if err == nil && failed[a] != nil {
			span.RecordError(failed[a], trace.WithAttributes(attrCorrelationID.String(a.meta.CorrelationID)))
			a.done <- failed[a]
			continue
		}
		a.done <- err
	}
}

// runBeforeCommit runs the beforeCommit hook of tests, if one is set.
func (s *sharedAppends) runBeforeCommit(ctx context.Context, tx *sql.Tx) error {
	if s.beforeCommit == nil {
		return nil
	}
	return s.beforeCommit(ctx, tx)
}

// appendEach appends each event of batch in a transaction of its own.
func (s *sharedAppends) appendEach(ctx context.Context, span trace.Span, batch []*sharedAppend) {
	for _, a := range batch {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			_, failed, err := insertBatch(ctx, tx, []*sharedAppend{a})
			switch {
			case constraintViolated(err, "events_stream_version_key"):
				return ledger.ErrVersionConflict
			case err != nil:
				return fmt.Errorf("append %s to %s: %w", a.rec.Type, a.rec.StreamID, err)
			case failed[a] != nil:
				return failed[a]
			}
			return s.runBeforeCommit(ctx, tx)
		})
		if err == nil {
			s.commits.committed([]string{a.rec.Type})
		} else {
			span.RecordError(err, trace.WithAttributes(attrCorrelationID.String(a.meta.CorrelationID)))
		}
		a.done <- err
	}
}

// insertBatch appends batch in tx: it holds the members' key rows, records
// the later events over their previous hashes, and inserts every event
// nothing failed with one statement. It returns the events inserted and,
// for each of the others, why it failed alone (an erased member, a version
// taken, a stream it was decided on that moved on); an error fails them
// all.
func insertBatch(ctx context.Context, tx *sql.Tx, batch []*sharedAppend) (inserted []*sharedAppend, failed map[*sharedAppend]error, err error) {
	failed = make(map[*sharedAppend]error)
	if err := refuseErased(ctx, tx, batch, failed); err != nil {
		return nil, nil, err
	}
	if err := recordLater(ctx, tx, batch, failed); err != nil {
		return nil, nil, err
	}
	for _, a := range batch {
		if failed[a] == nil {
			inserted = append(inserted, a)
		}
	}
	if len(inserted) == 0 {
		return nil, failed, nil
	}
	stale, err := insertEvents(ctx, tx, inserted)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range stale {
		failed[a] = ledger.ErrStaleRead
	}
	inserted = slices.DeleteFunc(inserted, func(a *sharedAppend) bool { return failed[a] != nil })
	return inserted, failed, nil
}

func eventTypesOf(batch []*sharedAppend) []string {
	types := make([]string, len(batch))
	for i, a := range batch {
		types[i] = a.rec.Type
	}
	return types
}

// refuseErased holds the key rows of the members whose personal data the
// batch's events carry (see lockSubjects), and fails the events of members
// whose data was erased.
func refuseErased(ctx context.Context, tx *sql.Tx, batch []*sharedAppend, failed map[*sharedAppend]error) error {
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
	for _, a := range batch {
		if erased[a.subject] {
			failed[a] = erasedSubject(a.subject)
		}
	}
	return nil
}

// recordLater records the batch's later events (those not failed yet) over
// the stored hashes of the events before them, with one statement. An
// event whose stream is already at its version, or whose version an
// earlier event of the batch takes, fails with ledger.ErrVersionConflict;
// one whose previous version is missing fails with an error. A command
// decides on committed state, so the event before a later one is always
// stored, never in the same batch.
func recordLater(ctx context.Context, tx *sql.Tx, batch []*sharedAppend, failed map[*sharedAppend]error) error {
	type key struct {
		stream  uuid.UUID
		version int64
	}
	taken := make(map[key]bool, len(batch))
	var later []*sharedAppend
	for _, a := range batch {
		if failed[a] != nil {
			continue
		}
		k := key{a.stream(), a.version()}
		if taken[k] {
			failed[a] = ledger.ErrVersionConflict
			continue
		}
		taken[k] = true
		if a.later != nil {
			later = append(later, a)
		}
	}
	if len(later) == 0 {
		return nil
	}
	streams, versions := make([]string, len(later)), make([]int64, len(later))
	for i, a := range later {
		streams[i], versions[i] = a.later.StreamID.String(), a.later.Version
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT u.n, p.hash, (SELECT max(h.stream_version) FROM events h WHERE h.stream_id = u.stream_id)
		FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS u(stream_id, version, n)
		LEFT JOIN events p ON p.stream_id = u.stream_id AND p.stream_version = u.version - 1`,
		pq.Array(streams), pq.Array(versions))
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var n int
		var prev []byte
		var head sql.NullInt64
		if err := rows.Scan(&n, &prev, &head); err != nil {
			return err
		}
		if n < 1 || n > len(later) {
			return fmt.Errorf("previous hashes: row %d of %d", n, len(later))
		}
		a := later[n-1]
		seen++
		switch {
		case head.Int64 >= a.later.Version:
			failed[a] = ledger.ErrVersionConflict
		case prev == nil:
			failed[a] = fmt.Errorf("append to %s at version %d: version %d is missing", a.later.StreamID, a.later.Version, a.later.Version-1)
		default:
			if err := a.record(prev); err != nil {
				failed[a] = err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if seen != len(later) {
		return fmt.Errorf("previous hashes: %d rows for %d events", seen, len(later))
	}
	return nil
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

// insertEvents inserts the batch's recorded events with one statement and
// sets their positions, in the batch's order. An event whose given stream
// (PendingEvent.Given) is no longer at the version it was decided on is
// not inserted: it is returned among stale.
func insertEvents(ctx context.Context, tx *sql.Tx, batch []*sharedAppend) (stale []*sharedAppend, err error) {
	n := len(batch)
	ids, streams, streamTypes, types := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	data, metas := make([]string, n), make([]string, n)
	versions, recordedAt, hashes, prevHashes := make([]int64, n), make([]time.Time, n), make([][]byte, n), make([][]byte, n)
	givenStreams, givenVersions := make([]string, n), make([]int64, n)
	for i, a := range batch {
		givenStreams[i] = uuid.Nil.String() // none
		if a.given != nil {
			givenStreams[i], givenVersions[i] = a.given.StreamID.String(), a.given.Version
		}
		r := &a.rec
		ids[i], streams[i], streamTypes[i], types[i] = r.EventID.String(), r.StreamID.String(), r.StreamType, r.Type
		data[i], metas[i], versions[i], recordedAt[i], hashes[i] = string(r.Data), a.metaJSON, r.StreamVersion, r.RecordedAt, r.Hash
		prevHashes[i] = r.PrevHash
	}
	// A bytea array cannot carry NULL (a first event's previous hash): it
	// carries an empty value, stored as NULL.
	rows, err := tx.QueryContext(ctx, `
		INSERT INTO events (event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, prev_hash)
		SELECT u.event_id, u.stream_id, u.stream_type, u.stream_version, u.type, u.data, u.metadata, u.recorded_at, u.hash,
			nullif(u.prev_hash, ''::bytea)
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::json[], $7::json[], $8::timestamptz[], $9::bytea[], $10::bytea[],
				$11::uuid[], $12::bigint[])
			WITH ORDINALITY AS u(event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, prev_hash,
				given_stream, given_version, n)
		WHERE CASE WHEN u.given_stream = '00000000-0000-0000-0000-000000000000' THEN true
			ELSE u.given_version = (SELECT coalesce(max(g.stream_version), 0) FROM events g WHERE g.stream_id = u.given_stream) END
		ORDER BY u.n
		RETURNING event_id::text, position`,
		pq.Array(ids), pq.Array(streams), pq.Array(streamTypes), pq.Array(versions), pq.Array(types),
		pq.Array(data), pq.Array(metas), pq.Array(recordedAt), pq.Array(hashes), pq.Array(prevHashes),
		pq.Array(givenStreams), pq.Array(givenVersions))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	positions := make(map[string]int64, n)
	for rows.Next() {
		var id string
		var p int64
		if err := rows.Scan(&id, &p); err != nil {
			return nil, err
		}
		positions[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, a := range batch {
		p, ok := positions[ids[i]]
		switch {
		case ok:
			a.rec.Position = p
		case a.given != nil:
			stale = append(stale, a)
		default:
			return nil, fmt.Errorf("event %s: no position returned", ids[i])
		}
	}
	return stale, nil
}
