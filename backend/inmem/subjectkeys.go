package inmem

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// SubjectKeys keeps the members' personal data keys. Its rows are written
// at once, outside the transactions: a key that outlives a rolled-back
// append wraps nothing and harms nothing, and an erasure in a transaction
// that rolls back is undone by the transaction's end (see Erase).
type SubjectKeys struct {
	db *DB
	tx *txn
}

var _ app.SubjectKeys = (*SubjectKeys)(nil)

type subjectKeyRow struct {
	key      app.WrappedKey
	erasedAt time.Time
}

// Ensure stores key as the subject's key unless it has one or was erased.
func (s *SubjectKeys) Ensure(ctx context.Context, subject uuid.UUID, key app.WrappedKey, at time.Time) (app.WrappedKey, bool, error) {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	row := s.db.subjectKeyRow(subject, key)
	return row.key, !row.erasedAt.IsZero(), ctx.Err()
}

// subjectKeyRow returns the subject's row, created with key when missing;
// the caller holds db.mu.
func (db *DB) subjectKeyRow(subject uuid.UUID, key app.WrappedKey) *subjectKeyRow {
	row, ok := db.subjectKeys[subject]
	if !ok {
		row = &subjectKeyRow{key: key}
		db.subjectKeys[subject] = row
	}
	return row
}

// Keys returns the wrapped keys of the subjects that have one.
func (s *SubjectKeys) Keys(ctx context.Context, subjects []uuid.UUID) (map[uuid.UUID]app.WrappedKey, error) {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	out := map[uuid.UUID]app.WrappedKey{}
	for _, id := range subjects {
		if row, ok := s.db.subjectKeys[id]; ok && row.erasedAt.IsZero() && row.key.Key != nil {
			out[id] = row.key
		}
	}
	return out, ctx.Err()
}

// Lock creates the subject's row when missing and reports its erasure.
// (The appends this store's DB runs check the erasure under its lock.)
func (s *SubjectKeys) Lock(ctx context.Context, subject uuid.UUID, at time.Time) (time.Time, error) {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	row := s.db.subjectKeyRow(subject, app.WrappedKey{})
	return row.erasedAt, ctx.Err()
}

// Erase destroys the subject's key.
func (s *SubjectKeys) Erase(ctx context.Context, subject uuid.UUID, at time.Time) error {
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	row := s.db.subjectKeyRow(subject, app.WrappedKey{})
	row.key, row.erasedAt = app.WrappedKey{}, at
	return ctx.Err()
}

// erased reports whether one of the events carries the personal data of
// an erased member; the caller holds db.mu.
func (db *DB) erased(events []ledger.PendingEvent) (uuid.UUID, bool) {
	for _, e := range events {
		if e.Subject == uuid.Nil || len(ledger.PersonalFieldsOf(e.Event.EventType())) == 0 {
			continue
		}
		if row, ok := db.subjectKeys[e.Subject]; ok && !row.erasedAt.IsZero() {
			return e.Subject, true
		}
	}
	return uuid.Nil, false
}

// MemberReimbursements lists the reimbursements a member submitted, oldest first.
func (s *EventStore) MemberReimbursements(ctx context.Context, memberID uuid.UUID) (out []uuid.UUID, err error) {
	defer ledger.Wrap(&err, "EventStore.MemberReimbursements(%s)", memberID)
	err = s.db.read(ctx, s.tx, func() error {
		for _, e := range s.db.log {
			if e.Type != ledger.TypeReimbursementSubmitted {
				continue
			}
			ev, err := e.Decode()
			if err != nil {
				return err
			}
			if ev.(ledger.ReimbursementSubmitted).BankMemberID == memberID {
				out = append(out, e.StreamID)
			}
		}
		return nil
	})
	return out, err
}

// EraseMember overwrites a member's names and e-mail address, at once.
func (d *Directory) EraseMember(ctx context.Context, id uuid.UUID, at time.Time) (err error) {
	defer ledger.Wrap(&err, "Directory.EraseMember(%s)", id)
	return d.db.write(ctx, d.tx, func(tx *txn) error {
		m, ok := find(tx.members, d.db.members, id)
		if !ok {
			return ledger.Errorf(ledger.ENotFound, "member %s not found", id)
		}
		at := at.UTC()
		m.FirstName, m.LastName, m.Email, m.ErasedAt = ledger.Erased, ledger.Erased, id.String()+"@erased.invalid", &at
		put(&tx.members, id, m)
		return nil
	})
}

// ErasePayloads rewrites the bodies of the deliveries about the reimbursements.
func (w *Webhooks) ErasePayloads(ctx context.Context, reimbursementIDs []uuid.UUID, rewrite func([]byte) ([]byte, error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, payload := range w.payloads {
		var msg struct {
			Data struct {
				Reimbursement struct {
					ID uuid.UUID `json:"id"`
				} `json:"reimbursement"`
			} `json:"data"`
		}
		if json.Unmarshal(payload, &msg) != nil {
			continue
		}
		for _, r := range reimbursementIDs {
			if msg.Data.Reimbursement.ID == r {
				erased, err := rewrite(payload)
				if err != nil {
					return err
				}
				w.payloads[id] = erased
			}
		}
	}
	return ctx.Err()
}
