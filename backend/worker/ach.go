package worker

import (
	"context"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/saga"
)

// ACHConfig runs the ACH rail (PAYMENT_RAIL=ach) in the worker.
type ACHConfig struct {
	Rail *app.ACHRail
	// Cutoff is how often the files are written (ACH_CUTOFF):
	// DefaultACHCutoff unless set.
	Cutoff time.Duration
	// ReturnsPoll is how often the returns folder is read: a minute, or
	// Cutoff when that is shorter, unless set.
	ReturnsPoll time.Duration
}

// DefaultACHCutoff is how often the ACH files are written unless set.
const DefaultACHCutoff = 15 * time.Minute

// ACHGateway is the payment saga's rail when payouts go by ACH credit: it
// hands each attempt to the ACH rail for its bank's next file, and the
// rail records the outcome.
type ACHGateway struct{ Rail *app.ACHRail }

var _ saga.PaymentGateway = ACHGateway{}

// Pay accepts the attempt for the next file; it returns saga.ErrPending.
func (g ACHGateway) Pay(ctx context.Context, order saga.PaymentOrder) (string, error) {
	if err := g.Rail.Accept(ctx, order.PaymentID, order.Attempt, order.BankID); err != nil {
		return "", err
	}
	return "", saga.ErrPending
}

// runACH runs the cutoffs and reads the returns folder until ctx ends. A
// run cut short by a stop is taken up where it stopped by the next one,
// here or in another worker.
func (w *Worker) runACH(ctx context.Context) {
	cfg := w.ach
	cutoff := time.NewTicker(cfg.Cutoff)
	defer cutoff.Stop()
	returns := time.NewTicker(cfg.ReturnsPoll)
	defer returns.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cutoff.C:
			w.achCutoff(ctx)
		case <-returns.C:
			w.achReturns(ctx)
		}
	}
}

func (w *Worker) achCutoff(ctx context.Context) {
	rep, err := w.ach.Rail.Cutoff(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.logger.ErrorContext(ctx, "ACH cutoff failed; the next one takes it up", "error", err, "files", rep.Files)
		}
		w.obs.ACHCutoff(len(rep.Files), rep.Entries, rep.Settled, err)
		return
	}
	if rep.Skipped {
		return
	}
	w.obs.ACHCutoff(len(rep.Files), rep.Entries, rep.Settled, nil)
	if len(rep.Files) > 0 || rep.Settled > 0 || rep.Failed > 0 {
		w.logger.InfoContext(ctx, "ACH cutoff", "files", rep.Files, "entries", rep.Entries, "settled", rep.Settled, "refused", rep.Failed)
	}
}

func (w *Worker) achReturns(ctx context.Context) {
	rep, err := w.ach.Rail.ReadReturns(ctx)
	for _, f := range rep.Files {
		log := w.logger.With("return_file", f.Name, "sha256", f.SHA256)
		switch {
		case f.Rejected:
			log.ErrorContext(ctx, "ACH return file rejected: nothing of it applied; moved into rejected", "error", f.Error)
		case len(f.Problems) > 0:
			log.ErrorContext(ctx, "ACH return file read with entries that could not be applied", "returns", f.Returns,
				"corrections", f.Corrections, "problems", f.Problems)
		default:
			log.InfoContext(ctx, "ACH return file read", "returns", f.Returns, "corrections", f.Corrections)
		}
	}
	w.obs.ACHReturns(rep.Returns, rep.Problems, rep.Rejected, err)
	if err != nil && ctx.Err() == nil {
		w.logger.ErrorContext(ctx, "reading the ACH return files failed; the next read takes it up", "error", err)
	}
}
