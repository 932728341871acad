package inmem

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// DeadLetters keeps the events a consumer group gave up on. As the worker
// writes them in PostgreSQL outside the ledger's transactions, they are
// kept outside them here: a write is seen at once.
type DeadLetters struct {
	db *DB

	mu      sync.Mutex
	letters []*deadLetter // by id, from 1
}

type deadLetter struct {
	app.DeadLetter
	retryClaimedAt time.Time
}

var _ app.DeadLetters = (*DeadLetters)(nil)

// List returns dead letters in the order they were first parked.
func (d *DeadLetters) List(ctx context.Context, q app.DeadLetterQuery) ([]app.DeadLetter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []app.DeadLetter
	for _, dl := range d.letters {
		if dl.ID > q.After && (q.Status == "" || dl.Status == q.Status) && len(out) < q.Limit {
			out = append(out, dl.DeadLetter)
		}
	}
	return out, ctx.Err()
}

// Get returns ENotFound for an unknown id.
func (d *DeadLetters) Get(ctx context.Context, id int64) (app.DeadLetter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.find(id)
	if err != nil {
		return app.DeadLetter{}, err
	}
	return dl.DeadLetter, ctx.Err()
}

// Lock is Get. The dead letters are kept outside the transactions, so
// nothing is held: a write is atomic and seen at once.
func (d *DeadLetters) Lock(ctx context.Context, id int64) (app.DeadLetter, error) {
	return d.Get(ctx, id)
}

func (d *DeadLetters) find(id int64) (*deadLetter, error) {
	if id < 1 || id > int64(len(d.letters)) {
		return nil, ledger.Errorf(ledger.ENotFound, "no dead letter %d", id)
	}
	return d.letters[id-1], nil
}

// SetStatus moves a dead letter to status.
func (d *DeadLetters) SetStatus(ctx context.Context, id int64, status app.DeadLetterStatus, reason string, at time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.find(id)
	if err != nil {
		return err
	}
	dl.Status, dl.Reason, dl.UpdatedAt, dl.retryClaimedAt = status, reason, timestamptz(at), time.Time{}
	return ctx.Err()
}

// Park records p as a parked dead letter; the same group's event parked
// again is the same dead letter, with the attempts added up.
func (d *DeadLetters) Park(ctx context.Context, p app.Parked) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	first, last := timestamptz(p.FirstFailedAt), timestamptz(p.LastFailedAt)
	i := slices.IndexFunc(d.letters, func(dl *deadLetter) bool { return dl.Group == p.Group && dl.EventID == p.Event.EventID })
	if i >= 0 {
		dl := d.letters[i]
		dl.Error, dl.Attempts, dl.LastFailedAt = validText(p.Error), dl.Attempts+max(p.Attempts, 1), last
		dl.Status, dl.Reason, dl.UpdatedAt, dl.retryClaimedAt = app.DeadLetterParked, "", last, time.Time{}
		return dl.ID, ctx.Err()
	}
	dl := &deadLetter{DeadLetter: app.DeadLetter{ID: int64(len(d.letters)) + 1, Group: p.Group, Position: p.Event.Position,
		EventID: p.Event.EventID, EventType: p.Event.Type, Error: validText(p.Error), Attempts: max(p.Attempts, 1),
		FirstFailedAt: first, LastFailedAt: last, Status: app.DeadLetterParked, UpdatedAt: last}}
	d.letters = append(d.letters, dl)
	return dl.ID, ctx.Err()
}

// ClaimRetry takes up the oldest retry asked for of one of groups that no
// live worker has taken up, with its event.
func (d *DeadLetters) ClaimRetry(ctx context.Context, groups []string, now time.Time) (app.DeadLetter, ledger.RecordedEvent, bool, error) {
	d.mu.Lock()
	var claimed *deadLetter
	for _, dl := range d.letters {
		if dl.Status == app.DeadLetterRetrying && slices.Contains(groups, dl.Group) &&
			(dl.retryClaimedAt.IsZero() || dl.retryClaimedAt.Before(now.Add(-app.RetryClaimTimeout))) {
			dl.retryClaimedAt = now
			claimed = dl
			break
		}
	}
	d.mu.Unlock()
	if claimed == nil {
		return app.DeadLetter{}, ledger.RecordedEvent{}, false, ctx.Err()
	}
	rec, err := d.db.eventByID(ctx, claimed.EventID)
	if err != nil {
		return app.DeadLetter{}, ledger.RecordedEvent{}, false, err
	}
	return claimed.DeadLetter, rec, true, nil
}

// Resolve marks a retrying dead letter resolved.
func (d *DeadLetters) Resolve(ctx context.Context, id int64, at time.Time) error {
	return d.finishRetry(ctx, id, func(dl *deadLetter) {
		dl.Status, dl.UpdatedAt = app.DeadLetterResolved, timestamptz(at)
	})
}

// RetryFailed parks a retrying dead letter again with the retry's error.
func (d *DeadLetters) RetryFailed(ctx context.Context, id int64, failure string, at time.Time) error {
	return d.finishRetry(ctx, id, func(dl *deadLetter) {
		at = timestamptz(at)
		dl.Status, dl.Error, dl.Attempts, dl.LastFailedAt, dl.UpdatedAt = app.DeadLetterParked, validText(failure), dl.Attempts+1, at, at
	})
}

// finishRetry changes a retrying dead letter, and releases its claim; it
// leaves one in another status as it is.
func (d *DeadLetters) finishRetry(ctx context.Context, id int64, change func(*deadLetter)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, err := d.find(id)
	if err != nil {
		return nil // as an UPDATE of no row
	}
	if dl.Status == app.DeadLetterRetrying {
		change(dl)
		dl.retryClaimedAt = time.Time{}
	}
	return ctx.Err()
}

// Waiting counts the dead letters parked or retrying, by group and status.
func (d *DeadLetters) Waiting(ctx context.Context) ([]app.DeadLetterCount, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	counts := map[[2]string]int64{}
	for _, dl := range d.letters {
		if dl.Status == app.DeadLetterParked || dl.Status == app.DeadLetterRetrying {
			counts[[2]string{dl.Group, string(dl.Status)}]++
		}
	}
	var out []app.DeadLetterCount
	for key, n := range counts {
		out = append(out, app.DeadLetterCount{Group: key[0], Status: app.DeadLetterStatus(key[1]), Count: n})
	}
	slices.SortFunc(out, func(a, b app.DeadLetterCount) int {
		return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Status, b.Status))
	})
	return out, ctx.Err()
}
