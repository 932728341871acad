package app

import (
	"context"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The operators' use cases for dead letters: events a saga gave up on after
// repeated failures. The worker parks them so that the saga's consumer group
// moves on, and runs the retries asked for here.

// DefaultDeadLetterLimit is how many dead letters a list returns unless asked.
const DefaultDeadLetterLimit = 100

// DeadLetters lists dead letters in the order they were first parked;
// operators only. EInvalid names status when it is not a known status.
func (a *App) DeadLetters(ctx context.Context, p Principal, q DeadLetterQuery) ([]DeadLetter, error) {
	if err := p.must(RoleOperator); err != nil {
		return nil, err
	}
	switch q.Status {
	case "", DeadLetterParked, DeadLetterRetrying, DeadLetterResolved, DeadLetterDiscarded:
	default:
		return nil, &ledger.Error{Code: ledger.EInvalid, Message: "unknown dead-letter status",
			Fields: []ledger.FieldError{{Field: "status", Message: "must be parked, retrying, resolved or discarded"}}}
	}
	if q.Limit <= 0 {
		q.Limit = DefaultDeadLetterLimit
	}
	return a.stores.DeadLetters.List(ctx, q)
}

// DeadLetter returns one dead letter; ENotFound for an unknown id.
func (a *App) DeadLetter(ctx context.Context, p Principal, id int64) (DeadLetter, error) {
	if err := p.must(RoleOperator); err != nil {
		return DeadLetter{}, err
	}
	return a.stores.DeadLetters.Get(ctx, id)
}

// RetryDeadLetter asks the worker to handle a parked event again with its
// saga's handler: the dead letter is retrying until a worker has run it,
// then resolved, or parked again with the new error. ENotFound for an
// unknown id; EConflict unless it is parked.
func (a *App) RetryDeadLetter(ctx context.Context, p Principal, id int64) (dl DeadLetter, err error) {
	defer ledger.Wrap(&err, "App.RetryDeadLetter(%d)", id)
	if err := p.must(RoleOperator); err != nil {
		return DeadLetter{}, err
	}
	err = a.transact(ctx, func(tx Tx) (err error) {
		if dl, err = lockParked(ctx, tx, id, "retried"); err != nil {
			return err
		}
		dl.Status, dl.UpdatedAt = DeadLetterRetrying, a.now()
		return tx.DeadLetters.SetStatus(ctx, id, dl.Status, "", dl.UpdatedAt)
	})
	return dl, err
}

// DiscardDeadLetterCommand gives up on a parked event for good.
type DiscardDeadLetterCommand struct {
	ID     int64
	Reason string
	Meta   ledger.Metadata
}

// DiscardDeadLetter gives up on a parked event for good: the saga will never
// act on it. The discard is recorded as a DeadLetterDiscarded event with p
// as its actor, in the same transaction, so the auditors' feed shows who
// gave up on what and why. Operators only, named (Subject): EInvalid without
// a name or a reason, ENotFound for an unknown id, EConflict unless parked.
func (a *App) DiscardDeadLetter(ctx context.Context, p Principal, cmd DiscardDeadLetterCommand) (dl DeadLetter, err error) {
	defer ledger.Wrap(&err, "App.DiscardDeadLetter(%d)", cmd.ID)
	if err := p.must(RoleOperator); err != nil {
		return DeadLetter{}, err
	}
	if p.Subject == "" {
		return DeadLetter{}, ledger.Errorf(ledger.EInvalid, "the operator who discards a dead letter must be named")
	}
	err = a.transact(ctx, func(tx Tx) (err error) {
		if dl, err = lockParked(ctx, tx, cmd.ID, "discarded"); err != nil {
			return err
		}
		stream := ledger.DeadLetterStreamID(dl.Group, dl.EventID)
		version, err := tx.Events.StreamVersion(ctx, stream)
		if err != nil {
			return err
		}
		now := a.now()
		event, err := ledger.DiscardDeadLetter(ledger.DeadLetterDiscarded{
			DeadLetterID: dl.ID, ConsumerGroup: dl.Group, EventID: dl.EventID, EventPosition: dl.Position,
			EventTypeName: dl.EventType, Error: dl.Error, Attempts: dl.Attempts, Reason: cmd.Reason,
		}, version, now)
		if err != nil {
			return err
		}
		if _, err := tx.Events.Append(ctx, p.metadata(cmd.Meta), event); err != nil {
			return err
		}
		dl.Status, dl.Reason, dl.UpdatedAt = DeadLetterDiscarded, cmd.Reason, now
		return tx.DeadLetters.SetStatus(ctx, dl.ID, dl.Status, dl.Reason, now)
	})
	return dl, err
}

// lockParked locks a dead letter for the rest of tx: EConflict unless it is
// parked (one being retried has its outcome coming, a resolved or discarded
// one is done).
func lockParked(ctx context.Context, tx Tx, id int64, doing string) (DeadLetter, error) {
	dl, err := tx.DeadLetters.Lock(ctx, id)
	if err != nil {
		return DeadLetter{}, err
	}
	if dl.Status != DeadLetterParked {
		return DeadLetter{}, ledger.Errorf(ledger.EConflict, "dead letter %d is %s: only a parked one can be %s", id, dl.Status, doing)
	}
	return dl, nil
}
