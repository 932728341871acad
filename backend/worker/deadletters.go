package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/logging"
)

// retryTimeout bounds one retry of a dead letter. A retry runs to its end
// even when the worker is asked to stop, so that its outcome is recorded.
const retryTimeout = 20 * time.Second

// retryDeadLetters runs the retries operators ask for (`ledger deadletters
// retry`) with the saga's handler, every poll interval, until ctx ends.
func (w *Worker) retryDeadLetters(ctx context.Context) {
	groups := make([]string, 0, len(w.sagas))
	for name := range w.sagas {
		groups = append(groups, name)
	}
	tick := time.NewTicker(w.pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for ctx.Err() == nil && w.retryOne(ctx, groups) {
		}
	}
}

// retryOne runs one retry asked for, if there is one, and reports whether
// it found one.
func (w *Worker) retryOne(ctx context.Context, groups []string) bool {
	dl, rec, ok, err := w.stores.DeadLetters.ClaimRetry(ctx, groups, w.now())
	if err != nil {
		if ctx.Err() == nil {
			w.logger.Warn("cannot look for dead letters to retry", "error", err)
		}
		return false
	}
	if !ok {
		return false
	}
	rctx, cancel := context.WithTimeout(logging.WithCorrelation(context.WithoutCancel(ctx), rec.Metadata.CorrelationID), retryTimeout)
	defer cancel()
	err = handleSafely(rctx, w.sagas[dl.Group], rec)
	w.obs.HandlerDone(dl.Group, err)
	log := w.logger.With("group", dl.Group, "dead_letter_id", dl.ID, "position", dl.Position, "event_id", dl.EventID, "event_type", dl.EventType)
	if err != nil {
		log.WarnContext(rctx, "dead letter retried and failed again; parked again", "error", err)
		if err := app.FinishDeadLetterRetry(rctx, w.stores.DeadLetters, dl.ID, err, w.now()); err != nil {
			log.ErrorContext(rctx, "cannot record the failed retry of a dead letter", "error", err)
		}
		return true
	}
	if err := app.FinishDeadLetterRetry(rctx, w.stores.DeadLetters, dl.ID, nil, w.now()); err != nil {
		log.ErrorContext(rctx, "cannot record the successful retry of a dead letter", "error", err)
		return true
	}
	log.InfoContext(rctx, "dead letter retried and resolved")
	return true
}

// handleSafely runs a saga's handler, turning a panic into an error as the
// router's Recoverer does for deliveries.
func handleSafely(ctx context.Context, handle func(context.Context, ledger.RecordedEvent) error, rec ledger.RecordedEvent) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return handle(ctx, rec)
}
