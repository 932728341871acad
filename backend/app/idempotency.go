package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Errors of Idempotently.
var (
	ErrIdempotencyInProgress = ledger.Errorf(ledger.EConflict, "a request with this Idempotency-Key is still being processed; retry shortly")
	ErrIdempotencyMismatch   = &ledger.Error{Code: ledger.EInvalid, Message: "this Idempotency-Key was used for a different request",
		Fields: []ledger.FieldError{{Field: "Idempotency-Key", Message: "was used with another method, path or body"}}}
	// ErrNestedTransaction is Idempotently called with use cases already
	// bound to a transaction: it would join that one, and its key would
	// be recorded, or not, with a command it does not describe.
	ErrNestedTransaction = errors.New("Idempotently: the use cases are bound to a transaction already")
)

// Idempotently runs a command once per key and principal: keys are scoped
// to the principal's credential, so two callers' keys never collide and
// one's replay never shows another's answer. In one transaction it takes the
// key (ErrIdempotencyInProgress while a request with the key runs), then
// either replays the stored answer (replayed is true; a different
// fingerprint is ErrIdempotencyMismatch) or calls run with the use cases
// bound to that transaction and stores its answer, so the key is recorded
// together with the command's events or not at all. Only successful answers
// (below 300) are stored, so a refused request may be sent again with the
// same key. The transaction still commits after an answer of 300 or more:
// run refuses by returning an error, which rolls back what it wrote, and
// an answer it returns without one is kept as it wrote it, only not
// replayed. Called on use cases already bound to a transaction (inside
// another Idempotently's run) it refuses with ErrNestedTransaction rather
// than join that transaction.
func (a *App) Idempotently(ctx context.Context, p Principal, key string, fingerprint []byte,
	run func(ctx context.Context, bound *App) (StoredResponse, error)) (resp StoredResponse, replayed bool, err error) {
	defer ledger.Wrap(&err, "Idempotently")
	if a.tx != nil {
		return StoredResponse{}, false, ErrNestedTransaction
	}
	key = ScopedIdempotencyKey(p, key)
	err = a.transact(ctx, func(tx Tx) error {
		locked, err := tx.Idempotency.Lock(ctx, key)
		if err != nil {
			return err
		}
		if !locked {
			return ErrIdempotencyInProgress
		}
		stored, found, err := tx.Idempotency.Find(ctx, key, a.now().Add(-a.idempotencyTTL))
		if err != nil {
			return err
		}
		if found {
			if !bytes.Equal(stored.Fingerprint, fingerprint) {
				return ErrIdempotencyMismatch
			}
			resp, replayed = stored, true
			return nil
		}
		if resp, err = run(ctx, a.bind(tx)); err != nil {
			return err
		}
		if resp.Status >= 300 {
			return nil
		}
		resp.Fingerprint = fingerprint
		return tx.Idempotency.Save(ctx, key, resp, a.now())
	})
	return resp, replayed, err
}

// ScopedIdempotencyKey is key within p's scope, length-prefixed so that no two
// (issuer, subject, key) triples give the same string.
func ScopedIdempotencyKey(p Principal, key string) string {
	return fmt.Sprintf("%d:%s%d:%s%s", len(p.Issuer), p.Issuer, len(p.Subject), p.Subject, key)
}

// PruneIdempotencyKeys deletes the answers of keys past their time to live
// and reports how many.
func (a *App) PruneIdempotencyKeys(ctx context.Context) (int64, error) {
	return a.stores.Idempotency.Prune(ctx, a.now().Add(-a.idempotencyTTL))
}
