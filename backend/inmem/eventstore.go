package inmem

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// EventStore appends and reads events: outside any transaction, or bound to
// one (DB.Transact).
type EventStore struct {
	db *DB
	tx *txn
}

var (
	_ app.EventStore = (*EventStore)(nil)
	_ app.Feed       = (*EventStore)(nil)
)

// storedEvent is an event as the events table holds it: with its
// transaction id, and its metadata as the JSON text its hash covers.
type storedEvent struct {
	ledger.RecordedEvent
	metaJSON []byte
}

// out returns the event as PostgreSQL's queries return it: without its
// transaction id, and sharing no memory with the store.
func (e *storedEvent) out() ledger.RecordedEvent {
	r := e.RecordedEvent
	r.TransactionID = 0
	r.Data = bytes.Clone(r.Data)
	r.Hash, r.PrevHash = bytes.Clone(r.Hash), bytes.Clone(r.PrevHash)
	return r
}

// Append records events decided on their streams' current versions, all or
// none. A version taken by a committed append is ledger.ErrVersionConflict,
// a stream an event was decided on (Given) that moved on ledger.ErrStaleRead;
// one taken by a running transaction makes Append wait for its outcome.
func (s *EventStore) Append(ctx context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) (recorded []ledger.RecordedEvent, err error) {
	defer ledger.Wrap(&err, "EventStore.Append")
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	recorded = make([]ledger.RecordedEvent, 0, len(events))
	err = s.db.write(ctx, s.tx, func(tx *txn) error {
		now := s.db.now()
		if subject, erased := s.db.erased(events); erased {
			return ledger.Errorf(ledger.EConflict, "member %s's personal data was erased: nothing more may be recorded about them", subject)
		}
		for _, e := range events {
			if e.Given != nil && int64(len(s.db.stream(tx, e.Given.StreamID))) != e.Given.Version {
				return ledger.ErrStaleRead // a read: the transaction stays usable
			}
		}
		for _, e := range events {
			prevHash, err := s.db.previousHash(tx, e)
			if err != nil {
				return err
			}
			rec, err := audit.Record(meta, metaJSON, e, prevHash, now)
			if err != nil {
				return err
			}
			// Like a bigserial, a position is spent even when the insert fails.
			s.db.lastPosition++
			rec.Position = s.db.lastPosition
			if err := s.db.claim(ctx, tx, fmt.Sprintf("event %s %d", e.StreamID, e.Version)); err != nil {
				return err
			}
			if s.db.event(tx, e.StreamID, e.Version) != nil {
				return tx.abort(ledger.ErrVersionConflict)
			}
			stored := &storedEvent{RecordedEvent: rec, metaJSON: metaJSON}
			stored.TransactionID = tx.xid
			tx.events = append(tx.events, stored)
			recorded = append(recorded, stored.out())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recorded, nil
}

// previousHash is the hash of the event before e in its stream, as tx sees it.
func (db *DB) previousHash(tx *txn, e ledger.PendingEvent) ([]byte, error) {
	if e.Version == 1 {
		return nil, nil
	}
	prev := db.event(tx, e.StreamID, e.Version-1)
	if prev == nil {
		return nil, fmt.Errorf("append to %s at version %d: version %d is missing", e.StreamID, e.Version, e.Version-1)
	}
	return prev.Hash, nil
}

// event returns the event at the version of a stream as tx (nil: none) sees it.
func (db *DB) event(tx *txn, streamID uuid.UUID, version int64) *storedEvent {
	for _, e := range db.stream(tx, streamID) {
		if e.StreamVersion == version {
			return e
		}
	}
	return nil
}

// stream returns a stream's events as tx sees them, by version.
func (db *DB) stream(tx *txn, streamID uuid.UUID) []*storedEvent {
	events := db.streams[streamID]
	if tx != nil {
		for _, e := range tx.events {
			if e.StreamID == streamID {
				events = append(slices.Clip(events), e)
			}
		}
	}
	return events
}

// insertCommitted adds a committed event to the log, which stays in position order.
func (db *DB) insertCommitted(e *storedEvent) {
	i, _ := slices.BinarySearchFunc(db.log, e.Position, func(x *storedEvent, p int64) int { return cmp.Compare(x.Position, p) })
	db.log = slices.Insert(db.log, i, e)
	db.streams[e.StreamID] = append(db.streams[e.StreamID], e)
}

// Load returns every event of the given streams, in position order.
func (s *EventStore) Load(ctx context.Context, streamIDs ...uuid.UUID) (out []ledger.RecordedEvent, err error) {
	defer ledger.Wrap(&err, "EventStore.Load")
	err = s.db.read(ctx, s.tx, func() error {
		var events []*storedEvent
		for _, id := range streamIDs {
			events = append(events, s.db.stream(s.tx, id)...)
		}
		slices.SortFunc(events, func(a, b *storedEvent) int { return cmp.Compare(a.Position, b.Position) })
		// A stream named twice is read once, as WHERE stream_id = ANY(...) does.
		for _, e := range slices.CompactFunc(events, func(a, b *storedEvent) bool { return a == b }) {
			out = append(out, e.out())
		}
		return nil
	})
	return out, err
}

// ReimbursementBanks returns the bank of each of the reimbursements, read
// from its submission; a reimbursement without one is an error.
func (s *EventStore) ReimbursementBanks(ctx context.Context, ids []uuid.UUID) (_ map[uuid.UUID]uuid.UUID, err error) {
	defer ledger.Wrap(&err, "EventStore.ReimbursementBanks")
	banks := make(map[uuid.UUID]uuid.UUID, len(ids))
	err = s.db.read(ctx, s.tx, func() error {
		for _, id := range ids {
			stream := s.db.stream(s.tx, id)
			if len(stream) == 0 || stream[0].StreamType != ledger.StreamReimbursement {
				return fmt.Errorf("reimbursement %s has no submission", id)
			}
			e, err := stream[0].Decode()
			if err != nil {
				return err
			}
			sub, ok := e.(ledger.ReimbursementSubmitted)
			if !ok {
				return fmt.Errorf("reimbursement %s has no submission", id)
			}
			banks[id] = sub.BankID
		}
		return nil
	})
	return banks, err
}

// eventByID returns the committed event with the id.
func (db *DB) eventByID(ctx context.Context, id uuid.UUID) (rec ledger.RecordedEvent, err error) {
	err = db.read(ctx, nil, func() error {
		for _, e := range db.log {
			if e.EventID == id {
				rec = e.out()
				return nil
			}
		}
		return fmt.Errorf("event %s not found", id)
	})
	return rec, err
}

// StreamVersion returns the version of a stream, 0 when it has no events.
func (s *EventStore) StreamVersion(ctx context.Context, streamID uuid.UUID) (v int64, err error) {
	defer ledger.Wrap(&err, "EventStore.StreamVersion(%s)", streamID)
	err = s.db.read(ctx, s.tx, func() error {
		for _, e := range s.db.stream(s.tx, streamID) {
			v = max(v, e.StreamVersion)
		}
		return nil
	})
	return v, err
}

// Feed returns committed events in commit order (transaction id, then
// position), and only those of transactions older than every transaction
// still running, as backend/postgres does.
func (s *EventStore) Feed(ctx context.Context, q app.FeedQuery) (out []ledger.RecordedEvent, err error) {
	defer ledger.Wrap(&err, "EventStore.Feed")
	err = s.db.read(ctx, s.tx, func() error {
		var after *storedEvent
		if q.After > 0 {
			i, found := slices.BinarySearchFunc(s.db.log, q.After, func(x *storedEvent, p int64) int { return cmp.Compare(x.Position, p) })
			if !found {
				return &ledger.Error{Code: ledger.EInvalid, Message: "after must be the position of an event you have read",
					Fields: []ledger.FieldError{{Field: "after", Message: fmt.Sprintf("no event has position %d", q.After)}}}
			}
			after = s.db.log[i]
		}
		xmin := s.db.lastXID + 1
		for t := range s.db.running {
			xmin = min(xmin, t.xid)
		}
		from, to := timestamptz(q.From), timestamptz(q.To)
		var events []*storedEvent
		for _, e := range s.db.log {
			switch {
			case e.TransactionID >= xmin,
				after != nil && commitOrder(e, after) <= 0,
				len(q.Types) > 0 && !slices.Contains(q.Types, e.Type),
				q.StreamID != uuid.Nil && e.StreamID != q.StreamID,
				!q.From.IsZero() && e.RecordedAt.Before(from),
				!q.To.IsZero() && !e.RecordedAt.Before(to):
				continue
			}
			events = append(events, e)
		}
		slices.SortFunc(events, commitOrder)
		for _, e := range events[:min(len(events), max(q.Limit, 0))] {
			out = append(out, e.out())
		}
		return nil
	})
	return out, err
}

// commitOrder orders events by transaction id, then position.
func commitOrder(a, b *storedEvent) int {
	return cmp.Or(cmp.Compare(a.TransactionID, b.TransactionID), cmp.Compare(a.Position, b.Position))
}
