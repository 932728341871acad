package inmem

import (
	"cmp"
	"context"
	"slices"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// AuditLog verifies the log. It builds no tree and records no checkpoints
// (PostgreSQL's audit.tree subscriber does that), so Verify checks the
// stream chains, and the commit order against an auditor's checkpoints when
// given some.
type AuditLog struct {
	db *DB
}

var _ app.AuditLog = (*AuditLog)(nil)

// Checkpoints returns none: no checkpoint is recorded in memory.
func (c *AuditLog) Checkpoints(ctx context.Context, after int64, limit int) ([]audit.Checkpoint, error) {
	return []audit.Checkpoint{}, ctx.Err()
}

// Heads returns none: no head is signed in memory.
func (c *AuditLog) Heads(ctx context.Context, after int64, limit int) ([]audit.Head, error) {
	return []audit.Head{}, ctx.Err()
}

// LatestHead returns nil: no head is signed in memory.
func (c *AuditLog) LatestHead(ctx context.Context) (*audit.Head, error) { return nil, ctx.Err() }

// InclusionProof finds the event, which is in no tree.
func (c *AuditLog) InclusionProof(ctx context.Context, position, treeSize int64) (audit.InclusionProof, error) {
	var found bool
	err := c.db.read(ctx, nil, func() error {
		for _, e := range c.db.log {
			found = found || e.Position == position
		}
		return nil
	})
	if err != nil {
		return audit.InclusionProof{}, err
	}
	if !found {
		return audit.InclusionProof{}, ledger.Errorf(ledger.ENotFound, "no event has position %d", position)
	}
	return audit.InclusionProof{}, ledger.Errorf(ledger.ENotFound, "the event at position %d is not in the tree yet", position)
}

// ConsistencyProof refuses every range: the tree is empty.
func (c *AuditLog) ConsistencyProof(ctx context.Context, from, to int64) ([]tlog.Hash, error) {
	return nil, &ledger.Error{Code: ledger.EInvalid, Message: "to: the tree has 0 leaves",
		Fields: []ledger.FieldError{{Field: "to", Message: "the tree has 0 leaves"}}}
}

// Verify checks every stream chain, and every checkpoint of exported, over
// the events committed when it starts.
func (c *AuditLog) Verify(ctx context.Context, keys audit.Keys, exported audit.Checkpoints) (audit.Report, error) {
	events, err := c.stored(ctx)
	if err != nil {
		return audit.Report{}, err
	}
	return audit.Verify(ctx, snapshot(events), keys, audit.Sources{Checkpoints: exported})
}

// stored reads the events committed when it starts.
func (c *AuditLog) stored(ctx context.Context) ([]audit.StoredEvent, error) {
	var events []audit.StoredEvent
	err := c.db.read(ctx, nil, func() error {
		for _, e := range c.db.log {
			events = append(events, audit.StoredEvent{
				Content: audit.Content{
					EventID: e.EventID, StreamID: e.StreamID, StreamType: e.StreamType, StreamVersion: e.StreamVersion,
					Type: e.Type, Data: e.Data, Metadata: e.metaJSON, RecordedAt: e.RecordedAt,
				},
				Position: e.Position, TransactionID: e.TransactionID, Hash: e.Hash, PrevHash: e.PrevHash,
			})
		}
		return nil
	})
	return events, err
}

// Export calls events for every event in commit order; there are no heads.
func (c *AuditLog) Export(ctx context.Context, events func(audit.StoredEvent) error, heads func(audit.Head) error) error {
	stored, err := c.stored(ctx)
	if err != nil {
		return err
	}
	return snapshot(stored).EachEventInCommitOrder(ctx, events)
}

// VerifySince checks the whole log: with no head signed in memory, there is
// nothing to start from.
func (c *AuditLog) VerifySince(ctx context.Context, keys audit.Keys) (audit.Report, error) {
	return c.Verify(ctx, keys, nil)
}

// snapshot is the events committed at one moment, read as audit.Verify needs.
type snapshot []audit.StoredEvent

func (s snapshot) EachEventInCommitOrder(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return s.each(func(a, b audit.StoredEvent) int {
		return cmp.Or(cmp.Compare(a.TransactionID, b.TransactionID), cmp.Compare(a.Position, b.Position))
	}, fn)
}

func (s snapshot) each(order func(a, b audit.StoredEvent) int, fn func(audit.StoredEvent) error) error {
	for _, e := range slices.SortedFunc(slices.Values(s), order) {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
