package inmem

import (
	"bytes"
	"cmp"
	"context"
	"slices"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
)

// Checkpoints verifies the log. It records no checkpoints (PostgreSQL's
// checkpoint subscriber does that), so Verify checks the stream chains, and
// the commit order against an auditor's checkpoints when given some.
type Checkpoints struct {
	db *DB
}

var _ app.CheckpointLog = (*Checkpoints)(nil)

// Checkpoints returns none: no checkpoint is recorded in memory.
func (c *Checkpoints) Checkpoints(ctx context.Context, after int64, limit int) ([]audit.Checkpoint, error) {
	return []audit.Checkpoint{}, ctx.Err()
}

// Verify checks every stream chain, and every checkpoint of exported, over
// the events committed when it starts.
func (c *Checkpoints) Verify(ctx context.Context, key audit.Key, exported audit.Checkpoints) (audit.Report, error) {
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
	if err != nil {
		return audit.Report{}, err
	}
	if exported == nil {
		exported = audit.NewCheckpointList(nil)
	}
	return audit.Verify(ctx, snapshot(events), key, exported)
}

// VerifySince checks the whole log: with no checkpoint recorded in memory,
// there is nothing to start from.
func (c *Checkpoints) VerifySince(ctx context.Context, key audit.Key) (audit.Report, error) {
	return c.Verify(ctx, key, nil)
}

// snapshot is the events committed at one moment, read as audit.Verify needs.
type snapshot []audit.StoredEvent

func (s snapshot) EachEventByStream(ctx context.Context, fn func(audit.StoredEvent) error) error {
	return s.each(func(a, b audit.StoredEvent) int {
		return cmp.Or(bytes.Compare(a.StreamID[:], b.StreamID[:]), cmp.Compare(a.StreamVersion, b.StreamVersion))
	}, fn)
}

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
