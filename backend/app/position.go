package app

import (
	"context"
	"errors"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Reading your own writes: every command tells its caller the position of
// the last event it appended, and a list asked for that position
// (ListQuery.MinPosition) answers only once the read model shows it, or
// says it cannot yet.

// Errors of a list that waits for a position.
var (
	// ErrUnknownPosition: no committed event has the position asked for.
	ErrUnknownPosition = &ledger.Error{Code: ledger.EInvalid, Message: "min_position must be the position of an event the ledger recorded",
		Fields: []ledger.FieldError{{Field: "min_position", Message: "no event has this position"}}}
	// ErrNotCaughtUp: the read model did not reach the position within the
	// wait; the event is recorded, and a later read will show it.
	ErrNotCaughtUp = errors.New("the lists have not caught up with min_position yet; retry shortly")
)

// Polls of the read model while waiting: soon at first, since the
// projection is usually a few milliseconds behind, then every maxReadPoll.
const (
	firstReadPoll = time.Millisecond
	maxReadPoll   = 10 * time.Millisecond
)

// awaitReadModel returns once the reimbursements read model has reached
// position: ErrUnknownPosition when no event has it, ErrNotCaughtUp when
// the read model is still behind after a's read wait, ctx's error when the
// caller goes first.
func (a *App) awaitReadModel(ctx context.Context, position int64) error {
	bound := time.NewTimer(a.readWait)
	defer bound.Stop()
	expired := false
	for wait := firstReadPoll; ; wait = min(2*wait, maxReadPoll) {
		reached, err := a.stores.Reimbursements.Reached(ctx, position)
		if ledger.ErrorCode(err) == ledger.ENotFound {
			return ErrUnknownPosition
		}
		if err != nil || reached {
			return err
		}
		if expired {
			return ErrNotCaughtUp
		}
		poll := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			poll.Stop()
			return ctx.Err()
		case <-bound.C:
			expired = true // one last look
		case <-poll.C:
		}
		poll.Stop()
	}
}
