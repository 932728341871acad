package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// DeadLetters stores the events a saga gave up on (table dead_letters): the
// worker parks them and runs the retries operators ask for; the operators'
// use cases (package app) list, retry and discard them.
type DeadLetters struct {
	q querier
}

var _ app.DeadLetters = (*DeadLetters)(nil)

const deadLetterColumns = `id, consumer_group, position, event_id, event_type, error, attempts,
	first_failed_at, last_failed_at, status, coalesce(discard_reason, ''), updated_at`

// List returns dead letters in the order they were first parked.
func (d *DeadLetters) List(ctx context.Context, q app.DeadLetterQuery) (_ []app.DeadLetter, err error) {
	defer ledger.Wrap(&err, "DeadLetters.List")
	rows, err := d.q.QueryContext(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters
		WHERE ($1 = '' OR status = $1) AND id > $2 ORDER BY id LIMIT $3`, string(q.Status), q.After, q.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.DeadLetter
	for rows.Next() {
		dl, err := scanDeadLetter(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, dl)
	}
	return out, rows.Err()
}

// Get returns ENotFound for an unknown id.
func (d *DeadLetters) Get(ctx context.Context, id int64) (_ app.DeadLetter, err error) {
	defer ledger.Wrap(&err, "DeadLetters.Get(%d)", id)
	dl, err := scanDeadLetter(d.q.QueryRowContext(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE id = $1`, id))
	return dl, notFound(err, "no dead letter %d", id)
}

// Lock is Get that, in a transaction, holds the row until it ends.
func (d *DeadLetters) Lock(ctx context.Context, id int64) (_ app.DeadLetter, err error) {
	defer ledger.Wrap(&err, "DeadLetters.Lock(%d)", id)
	dl, err := scanDeadLetter(d.q.QueryRowContext(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE id = $1 FOR UPDATE`, id))
	return dl, notFound(err, "no dead letter %d", id)
}

// SetStatus moves a dead letter to status; a retry asked for again is
// taken up afresh.
func (d *DeadLetters) SetStatus(ctx context.Context, id int64, status app.DeadLetterStatus, reason string, at time.Time) (err error) {
	defer ledger.Wrap(&err, "DeadLetters.SetStatus(%d, %s)", id, status)
	res, err := d.q.ExecContext(ctx, `UPDATE dead_letters SET status = $2, discard_reason = nullif($3, ''), updated_at = $4,
		retry_claimed_at = NULL WHERE id = $1`, id, string(status), reason, at)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ledger.Errorf(ledger.ENotFound, "no dead letter %d", id)
	}
	return nil
}

// maxErrorLength bounds the error text kept: a handler's error can quote a
// whole answer from the outside world.
const maxErrorLength = 2000

// Park records p as a parked dead letter and returns its id. The same
// group's event parked again (after a replay, a failed retry, or an
// acknowledgement that did not commit) is the same dead letter, parked
// again, with the attempts added up.
func (d *DeadLetters) Park(ctx context.Context, p app.Parked) (id int64, err error) {
	defer ledger.Wrap(&err, "DeadLetters.Park(%s, %d)", p.Group, p.Event.Position)
	err = d.q.QueryRowContext(ctx, `
		INSERT INTO dead_letters (consumer_group, position, event_id, event_type, error, attempts,
			first_failed_at, last_failed_at, status, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'parked', $8)
		ON CONFLICT (consumer_group, event_id) DO UPDATE SET
			error = EXCLUDED.error, attempts = dead_letters.attempts + EXCLUDED.attempts,
			last_failed_at = EXCLUDED.last_failed_at, status = 'parked', discard_reason = NULL,
			updated_at = EXCLUDED.updated_at, retry_claimed_at = NULL
		RETURNING id`,
		p.Group, p.Event.Position, p.Event.EventID, p.Event.Type, errorText(p.Error), max(p.Attempts, 1),
		p.FirstFailedAt, p.LastFailedAt).Scan(&id)
	return id, err
}

// ClaimRetry takes up the oldest retry asked for of a dead letter of one of
// groups that no live worker has taken up, and returns it with its event;
// false when there is none.
func (d *DeadLetters) ClaimRetry(ctx context.Context, groups []string, now time.Time) (_ app.DeadLetter, _ ledger.RecordedEvent, _ bool, err error) {
	defer ledger.Wrap(&err, "DeadLetters.ClaimRetry")
	dl, err := scanDeadLetter(d.q.QueryRowContext(ctx, `
		UPDATE dead_letters SET retry_claimed_at = $2
		WHERE id = (
			SELECT id FROM dead_letters
			WHERE status = 'retrying' AND consumer_group = ANY($1) AND (retry_claimed_at IS NULL OR retry_claimed_at < $3)
			ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+deadLetterColumns, pq.Array(groups), now, now.Add(-app.RetryClaimTimeout)))
	if errors.Is(err, sql.ErrNoRows) {
		return app.DeadLetter{}, ledger.RecordedEvent{}, false, nil
	}
	if err != nil {
		return app.DeadLetter{}, ledger.RecordedEvent{}, false, err
	}
	rows, err := d.q.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE event_id = $1`, dl.EventID)
	if err != nil {
		return app.DeadLetter{}, ledger.RecordedEvent{}, false, err
	}
	events, err := scanEvents(rows)
	if err != nil {
		return app.DeadLetter{}, ledger.RecordedEvent{}, false, err
	}
	if len(events) != 1 {
		return app.DeadLetter{}, ledger.RecordedEvent{}, false, fmt.Errorf("dead letter %d: event %s not found", dl.ID, dl.EventID)
	}
	return dl, events[0], true, nil
}

// Resolve marks a retried dead letter resolved: its saga handled it.
func (d *DeadLetters) Resolve(ctx context.Context, id int64, at time.Time) (err error) {
	defer ledger.Wrap(&err, "DeadLetters.Resolve(%d)", id)
	_, err = d.q.ExecContext(ctx, `UPDATE dead_letters SET status = 'resolved', updated_at = $2, retry_claimed_at = NULL
		WHERE id = $1 AND status = 'retrying'`, id, at)
	return err
}

// RetryFailed parks a retried dead letter again with the retry's error.
func (d *DeadLetters) RetryFailed(ctx context.Context, id int64, failure string, at time.Time) (err error) {
	defer ledger.Wrap(&err, "DeadLetters.RetryFailed(%d)", id)
	_, err = d.q.ExecContext(ctx, `UPDATE dead_letters SET status = 'parked', error = $2, attempts = attempts + 1,
		last_failed_at = $3, updated_at = $3, retry_claimed_at = NULL
		WHERE id = $1 AND status = 'retrying'`, id, errorText(failure), at)
	return err
}

// Waiting counts the dead letters that wait for an operator or a worker
// (parked or retrying), by group and status.
func (d *DeadLetters) Waiting(ctx context.Context) (_ []app.DeadLetterCount, err error) {
	defer ledger.Wrap(&err, "DeadLetters.Waiting")
	rows, err := d.q.QueryContext(ctx, `SELECT consumer_group, status, count(*) FROM dead_letters
		WHERE status IN ('parked', 'retrying') GROUP BY consumer_group, status ORDER BY 1, 2`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.DeadLetterCount
	for rows.Next() {
		var c app.DeadLetterCount
		if err := rows.Scan(&c.Group, &c.Status, &c.Count); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func scanDeadLetter(row interface{ Scan(...any) error }) (app.DeadLetter, error) {
	var dl app.DeadLetter
	err := row.Scan(&dl.ID, &dl.Group, &dl.Position, &dl.EventID, &dl.EventType, &dl.Error, &dl.Attempts,
		&dl.FirstFailedAt, &dl.LastFailedAt, &dl.Status, &dl.Reason, &dl.UpdatedAt)
	dl.FirstFailedAt, dl.LastFailedAt, dl.UpdatedAt = dl.FirstFailedAt.UTC(), dl.LastFailedAt.UTC(), dl.UpdatedAt.UTC()
	return dl, err
}

// errorText is an error message as text PostgreSQL can hold (valid UTF-8,
// no NUL), at most maxErrorLength characters.
func errorText(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if utf8.RuneCountInString(s) > maxErrorLength {
		s = string([]rune(s)[:maxErrorLength]) + "…"
	}
	return s
}
