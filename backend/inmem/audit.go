package inmem

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// AuditLog keeps the Merkle tree over the commit order that the audit tree's
// consumer group appends to (AppendLeaves), its signed heads and their
// proofs, and verifies the log. It records no HMAC checkpoints, and Verify
// checks the stream chains, and the commit order against an auditor's
// checkpoints when given some, not the heads. Like PostgreSQL's tree
// outside the group's batch, it is written outside the ledger's
// transactions: an append is seen at once.
type AuditLog struct {
	db *DB

	mu     sync.Mutex
	hashes []tlog.Hash      // the tree's stored hashes (tlog.StoredHashIndex)
	leaves map[int64]int64  // event position -> leaf index
	leaf   map[int64][]byte // leaf index -> event hash
	size   int64
	heads  []audit.Head
}

var (
	_ app.AuditLog  = (*AuditLog)(nil)
	_ app.AuditTree = (*AuditLog)(nil)
)

// AppendLeaves adds events, in commit order, as leaves of the tree and
// signs the tree's head; events that are leaves already are skipped.
func (c *AuditLog) AppendLeaves(ctx context.Context, signer *audit.Signer, events []ledger.RecordedEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leaves == nil {
		c.leaves, c.leaf = map[int64]int64{}, map[int64][]byte{}
	}
	added := false
	for _, e := range events {
		if _, ok := c.leaves[e.Position]; ok {
			continue
		}
		stored, err := tlog.StoredHashes(c.size, e.Hash, c.reader())
		if err != nil {
			return err
		}
		c.hashes = append(c.hashes, stored...)
		c.leaves[e.Position], c.leaf[c.size] = c.size, e.Hash
		c.size++
		added = true
	}
	if !added {
		return ctx.Err()
	}
	root, err := tlog.TreeHash(c.size, c.reader())
	if err != nil {
		return err
	}
	head, err := signer.Sign(c.size, root, c.db.now())
	if err != nil {
		return err
	}
	c.heads = append(c.heads, head)
	return ctx.Err()
}

// reader reads the tree's stored hashes; c.mu is held.
func (c *AuditLog) reader() tlog.HashReaderFunc {
	return func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(c.hashes)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = c.hashes[x]
		}
		return out, nil
	}
}

// Checkpoints returns none: no checkpoint is recorded in memory.
func (c *AuditLog) Checkpoints(ctx context.Context, after int64, limit int) ([]audit.Checkpoint, error) {
	return []audit.Checkpoint{}, ctx.Err()
}

// Heads lists signed heads by increasing tree size, after size after.
func (c *AuditLog) Heads(ctx context.Context, after int64, limit int) ([]audit.Head, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []audit.Head{}
	for _, h := range c.heads {
		if h.TreeSize > after && len(out) < limit {
			out = append(out, h)
		}
	}
	return out, ctx.Err()
}

// LatestHead returns the newest signed head, nil before the first.
func (c *AuditLog) LatestHead(ctx context.Context) (*audit.Head, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.heads) == 0 {
		return nil, ctx.Err()
	}
	h := c.heads[len(c.heads)-1]
	return &h, ctx.Err()
}

// InclusionProof proves the event at position is in the tree of treeSize
// leaves (the newest head's when 0).
func (c *AuditLog) InclusionProof(ctx context.Context, position, treeSize int64) (audit.InclusionProof, error) {
	c.mu.Lock()
	leaf, inTree := c.leaves[position]
	if inTree {
		defer c.mu.Unlock()
		size := treeSize
		switch {
		case size == 0 && len(c.heads) == 0:
			return audit.InclusionProof{}, ledger.Errorf(ledger.ENotFound, "no tree head is signed yet")
		case size == 0:
			size = c.heads[len(c.heads)-1].TreeSize
		case size < 0:
			return audit.InclusionProof{}, invalidSize("tree_size", "must be positive")
		case size > c.size:
			return audit.InclusionProof{}, invalidSize("tree_size", fmt.Sprintf("the tree has %d leaves; %d is beyond it", c.size, size))
		}
		if leaf >= size {
			return audit.InclusionProof{}, invalidSize("tree_size", fmt.Sprintf("the event at position %d is leaf %d: a tree of %d leaves does not hold it", position, leaf, size))
		}
		proof, err := tlog.ProveRecord(size, leaf, c.reader())
		if err != nil {
			return audit.InclusionProof{}, err
		}
		return audit.InclusionProof{LeafIndex: leaf, TreeSize: size, LeafHash: audit.LeafHash(c.leaf[leaf]), Hashes: proof}, nil
	}
	c.mu.Unlock()
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

// ConsistencyProof proves the tree of from leaves is a prefix of the tree
// of to leaves; EInvalid naming from or to unless 1 <= from <= to <= the
// tree's size.
func (c *AuditLog) ConsistencyProof(ctx context.Context, from, to int64) ([]tlog.Hash, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case from < 1:
		return nil, invalidSize("from", "must be at least 1: every tree holds the empty one")
	case to < from:
		return nil, invalidSize("to", fmt.Sprintf("must be at least from (%d)", from))
	case to > c.size:
		return nil, invalidSize("to", fmt.Sprintf("the tree has %d leaves; %d is beyond it", c.size, to))
	}
	return tlog.ProveTree(to, from, c.reader())
}

func invalidSize(field, message string) error {
	return &ledger.Error{Code: ledger.EInvalid, Message: field + ": " + message,
		Fields: []ledger.FieldError{{Field: field, Message: message}}}
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
