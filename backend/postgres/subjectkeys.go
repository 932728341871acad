package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
)

// SubjectKeys stores the members' personal data keys (migration 00022).
type SubjectKeys struct {
	q querier
	// pool is where a key is made: outside any transaction, so that a key
	// a process has begun to seal with never rolls back.
	pool querier
	// inTx is set when bound to a transaction, which Lock needs.
	inTx bool
}

var _ app.SubjectKeys = (*SubjectKeys)(nil)

// Ensure stores key as the subject's key unless it has one or was erased.
func (s *SubjectKeys) Ensure(ctx context.Context, subject uuid.UUID, key app.WrappedKey, at time.Time) (stored app.WrappedKey, erased bool, err error) {
	defer ledger.Wrap(&err, "SubjectKeys.Ensure(%s)", subject)
	_, err = s.pool.ExecContext(ctx, `INSERT INTO subject_keys (subject_id, wrapped_key, key_id, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, subject, key.Key, key.KeyID, at)
	if err != nil {
		return app.WrappedKey{}, false, err
	}
	var keyID sql.NullString
	err = s.pool.QueryRowContext(ctx, `SELECT wrapped_key, key_id, erased_at IS NOT NULL FROM subject_keys WHERE subject_id = $1`, subject).
		Scan(&stored.Key, &keyID, &erased)
	stored.KeyID = keyID.String
	return stored, erased, err
}

// Keys returns the wrapped keys of the subjects that have one.
func (s *SubjectKeys) Keys(ctx context.Context, subjects []uuid.UUID) (_ map[uuid.UUID]app.WrappedKey, err error) {
	defer ledger.Wrap(&err, "SubjectKeys.Keys")
	ids := make([]string, len(subjects))
	for i, id := range subjects {
		ids[i] = id.String()
	}
	rows, err := s.q.QueryContext(ctx, `SELECT subject_id, wrapped_key, key_id FROM subject_keys
		WHERE subject_id = ANY($1::uuid[]) AND wrapped_key IS NOT NULL`, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[uuid.UUID]app.WrappedKey, len(subjects))
	for rows.Next() {
		var id uuid.UUID
		var k app.WrappedKey
		if err := rows.Scan(&id, &k.Key, &k.KeyID); err != nil {
			return nil, err
		}
		out[id] = k
	}
	return out, rows.Err()
}

// Lock holds the subject's row for the rest of the transaction. It takes
// the appenders' lock first, in the order every append takes both.
func (s *SubjectKeys) Lock(ctx context.Context, subject uuid.UUID, at time.Time) (erasedAt time.Time, err error) {
	defer ledger.Wrap(&err, "SubjectKeys.Lock(%s)", subject)
	if !s.inTx {
		return time.Time{}, errors.New("a subject's key is locked in a transaction only")
	}
	if err := bus.LockAppenders(ctx, s.q); err != nil {
		return time.Time{}, err
	}
	if _, err := s.q.ExecContext(ctx, `INSERT INTO subject_keys (subject_id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, subject, at); err != nil {
		return time.Time{}, err
	}
	var erased sql.NullTime
	err = s.q.QueryRowContext(ctx, `SELECT erased_at FROM subject_keys WHERE subject_id = $1 FOR UPDATE`, subject).Scan(&erased)
	return erased.Time, err
}

// Erase destroys the subject's key.
func (s *SubjectKeys) Erase(ctx context.Context, subject uuid.UUID, at time.Time) (err error) {
	defer ledger.Wrap(&err, "SubjectKeys.Erase(%s)", subject)
	_, err = s.q.ExecContext(ctx, `UPDATE subject_keys SET wrapped_key = NULL, key_id = NULL, erased_at = $2 WHERE subject_id = $1`, subject, at)
	return err
}

// lockSubjects holds, for the rest of tx, the key rows of the members
// whose personal data events carry, and returns those erased: such an
// event must not be appended. An erasure holds the row exclusively while
// it decides, so an append waits for it, then sees it.
func lockSubjects(ctx context.Context, tx querier, subjects []uuid.UUID) (map[uuid.UUID]bool, error) {
	if len(subjects) == 0 {
		return nil, nil
	}
	ids := make([]string, len(subjects))
	for i, id := range subjects {
		ids[i] = id.String()
	}
	rows, err := tx.QueryContext(ctx, `SELECT subject_id, erased_at IS NOT NULL FROM subject_keys
		WHERE subject_id = ANY($1::uuid[]) ORDER BY subject_id FOR SHARE`, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var erased map[uuid.UUID]bool
	for rows.Next() {
		var id uuid.UUID
		var e bool
		if err := rows.Scan(&id, &e); err != nil {
			return nil, err
		}
		if e {
			if erased == nil {
				erased = map[uuid.UUID]bool{}
			}
			erased[id] = true
		}
	}
	return erased, rows.Err()
}

// personalSubjects lists the members whose personal data the events carry.
func personalSubjects(events ...ledger.PendingEvent) []uuid.UUID {
	var out []uuid.UUID
	for _, e := range events {
		if e.Subject != uuid.Nil && len(ledger.PersonalFieldsOf(e.Event.EventType())) > 0 {
			out = append(out, e.Subject)
		}
	}
	return out
}

func erasedSubject(subject uuid.UUID) error {
	return ledger.Errorf(ledger.EConflict, "member %s's personal data was erased: nothing more may be recorded about them", subject)
}

// MemberReimbursements lists the reimbursements a member submitted,
// oldest first (events_submitted_by_member).
func (s *EventStore) MemberReimbursements(ctx context.Context, memberID uuid.UUID) (_ []uuid.UUID, err error) {
	defer ledger.Wrap(&err, "EventStore.MemberReimbursements(%s)", memberID)
	rows, err := s.q.QueryContext(ctx, `SELECT stream_id FROM events
		WHERE type = 'ReimbursementSubmitted' AND data ->> 'bank_member_id' = $1 ORDER BY position`, memberID.String())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// EraseMember overwrites a member's names and e-mail address. The e-mail
// column keeps an address of the member's id, unique and reaching no one,
// so the address itself may be used again.
func (d *Directory) EraseMember(ctx context.Context, id uuid.UUID, at time.Time) (err error) {
	defer ledger.Wrap(&err, "Directory.EraseMember(%s)", id)
	res, err := d.q.ExecContext(ctx, `UPDATE members SET first_name = $2, last_name = $2, email = id::text || '@erased.invalid', erased_at = $3
		WHERE id = $1`, id, ledger.Erased, at)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.ENotFound, "member %s not found", id)
	}
	d.cache.members.forget(id)
	return nil
}

// erasePayloadsQuery finds the deliveries about some reimbursements
// (webhook_deliveries_reimbursement, migration 00023).
const erasePayloadsQuery = `SELECT id, payload FROM webhook_deliveries
	WHERE payload::jsonb #>> '{data,reimbursement,id}' = ANY($1) FOR UPDATE`

// ErasePayloads rewrites the bodies of the deliveries about the
// reimbursements.
func (w *Webhooks) ErasePayloads(ctx context.Context, reimbursementIDs []uuid.UUID, rewrite func([]byte) ([]byte, error)) (err error) {
	defer ledger.Wrap(&err, "Webhooks.ErasePayloads")
	if len(reimbursementIDs) == 0 {
		return nil
	}
	ids := make([]string, len(reimbursementIDs))
	for i, id := range reimbursementIDs {
		ids[i] = id.String()
	}
	rows, err := w.q.QueryContext(ctx, erasePayloadsQuery, pq.Array(ids))
	if err != nil {
		return err
	}
	type body struct {
		id      uuid.UUID
		payload []byte
	}
	var bodies []body
	for rows.Next() {
		var b body
		if err := rows.Scan(&b.id, &b.payload); err != nil {
			rows.Close()
			return err
		}
		bodies = append(bodies, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, b := range bodies {
		erased, err := rewrite(b.payload)
		if err != nil {
			return err
		}
		if _, err := w.q.ExecContext(ctx, `UPDATE webhook_deliveries SET payload = $2 WHERE id = $1`, b.id, string(erased)); err != nil {
			return err
		}
	}
	return nil
}
