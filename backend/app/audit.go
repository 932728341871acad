package app

import (
	"context"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The auditors' use cases: the whole ledger, read only.

// Feed returns a page of the global event feed, in commit order.
func (a *App) Feed(ctx context.Context, p Principal, q FeedQuery) ([]ledger.RecordedEvent, error) {
	if err := p.must(RoleAuditor); err != nil {
		return nil, err
	}
	return a.stores.Feed.Feed(ctx, q)
}

// Checkpoints lists the signed audit checkpoints after the one with id after.
func (a *App) Checkpoints(ctx context.Context, p Principal, after int64, limit int) ([]audit.Checkpoint, error) {
	if err := p.must(RoleAuditor); err != nil {
		return nil, err
	}
	return a.stores.Checkpoints.Checkpoints(ctx, after, limit)
}

// Verify recomputes every hash chain and checkpoint: against the stored
// checkpoints when exported is nil, otherwise against an auditor's copy.
func (a *App) Verify(ctx context.Context, p Principal, exported audit.Checkpoints) (audit.Report, error) {
	if err := p.must(RoleAuditor); err != nil {
		return audit.Report{}, err
	}
	return a.stores.Checkpoints.Verify(ctx, a.auditKey, exported)
}

// VerifySince checks only what follows the newest stored checkpoint, in time
// proportional to the events after it.
func (a *App) VerifySince(ctx context.Context, p Principal) (audit.Report, error) {
	if err := p.must(RoleAuditor); err != nil {
		return audit.Report{}, err
	}
	return a.stores.Checkpoints.VerifySince(ctx, a.auditKey)
}
