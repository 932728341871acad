package app

import (
	"context"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The auditors' use cases: the whole ledger, read only.

// Feed returns a page of the global event feed, in commit order.
func (a *App) Feed(ctx context.Context, p Principal, q FeedQuery) ([]ledger.RecordedEvent, error) {
	if err := p.must(RoleAuditor); err != nil {
		return nil, err
	}
	recs, err := a.stores.Feed.Feed(ctx, q)
	if err != nil {
		return nil, err
	}
	return recs, a.personal.openEvents(ctx, a.stores.SubjectKeys, recs)
}

// PublicKey returns the key the ledger signs its tree heads with.
func (a *App) PublicKey(ctx context.Context, p Principal) (audit.PublicKey, error) {
	if err := p.must(RoleAuditor); err != nil {
		return audit.PublicKey{}, err
	}
	if len(a.auditKeys.Public) == 0 {
		return audit.PublicKey{}, ledger.Errorf(ledger.ENotFound, "this ledger is configured with no signing key")
	}
	return a.auditKeys.Public[0], ctx.Err()
}

// LatestHead returns the newest signed tree head. Errors: ENotFound before
// the first.
func (a *App) LatestHead(ctx context.Context, p Principal) (audit.Head, error) {
	if err := p.must(RoleAuditor); err != nil {
		return audit.Head{}, err
	}
	h, err := a.stores.Audit.LatestHead(ctx)
	if err != nil {
		return audit.Head{}, err
	}
	if h == nil {
		return audit.Head{}, ledger.Errorf(ledger.ENotFound, "no tree head is signed yet: the log is empty, or its first events are moments from their head")
	}
	return *h, nil
}

// Heads lists the signed tree heads by increasing size, after size after.
func (a *App) Heads(ctx context.Context, p Principal, after int64, limit int) ([]audit.Head, error) {
	if err := p.must(RoleAuditor); err != nil {
		return nil, err
	}
	return a.stores.Audit.Heads(ctx, after, limit)
}

// InclusionProof proves the event at position is in the tree of treeSize
// leaves (the newest head's when 0): see AuditLog.InclusionProof.
func (a *App) InclusionProof(ctx context.Context, p Principal, position, treeSize int64) (audit.InclusionProof, error) {
	if err := p.must(RoleAuditor); err != nil {
		return audit.InclusionProof{}, err
	}
	return a.stores.Audit.InclusionProof(ctx, position, treeSize)
}

// ConsistencyProof proves the tree of from leaves is a prefix of the tree of
// to leaves: see AuditLog.ConsistencyProof.
func (a *App) ConsistencyProof(ctx context.Context, p Principal, from, to int64) ([]tlog.Hash, error) {
	if err := p.must(RoleAuditor); err != nil {
		return nil, err
	}
	return a.stores.Audit.ConsistencyProof(ctx, from, to)
}

// Checkpoints lists the HMAC checkpoints recorded before tree heads, after
// the one with id after.
func (a *App) Checkpoints(ctx context.Context, p Principal, after int64, limit int) ([]audit.Checkpoint, error) {
	if err := p.must(RoleAuditor); err != nil {
		return nil, err
	}
	return a.stores.Audit.Checkpoints(ctx, after, limit)
}

// Verify recomputes every hash chain, the tree against every signed head,
// and the HMAC checkpoints: the stored ones when exported is nil, otherwise
// an auditor's copy. When the log verifies, it then re-hashes every stored
// receipt against its ReceiptAttached event (receipt.go).
func (a *App) Verify(ctx context.Context, p Principal, exported audit.Checkpoints) (audit.Report, error) {
	if err := p.must(RoleAuditor); err != nil {
		return audit.Report{}, err
	}
	report, err := a.stores.Audit.Verify(ctx, a.auditKeys, exported)
	if err != nil || !report.OK() || a.stores.Receipts == nil {
		return report, err
	}
	report.Problem, err = a.verifyReceipts(ctx)
	return report, err
}

// VerifySince checks only what follows the newest signed head, in time
// proportional to the events after it.
func (a *App) VerifySince(ctx context.Context, p Principal) (audit.Report, error) {
	if err := p.must(RoleAuditor); err != nil {
		return audit.Report{}, err
	}
	return a.stores.Audit.VerifySince(ctx, a.auditKeys)
}

// ExportAudit calls events for every event in commit order, with its content
// as hashed, then heads for every signed head: what an auditor checks
// offline with the public key alone.
func (a *App) ExportAudit(ctx context.Context, p Principal, events func(audit.StoredEvent) error, heads func(audit.Head) error) error {
	if err := p.must(RoleAuditor); err != nil {
		return err
	}
	return a.stores.Audit.Export(ctx, events, heads)
}
