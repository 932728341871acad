package audit

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// The tree is stored in tlog's layout (golang.org/x/mod/sumdb/tlog): leaf n
// stores, from StoredHashIndex(0, n) on, its leaf hash and the hash of
// every perfect subtree it completes. Proofs and root hashes are read from
// there. The verifier recomputes roots independently, with compact ranges
// (github.com/transparency-dev/merkle).

// FrontierIndexes returns the stored-hash indexes of the perfect subtrees
// that cover a tree of n leaves, largest first: all that appending to the
// tree and hashing it read.
func FrontierIndexes(n int64) []int64 {
	var out []int64
	for level := 62; level >= 0; level-- {
		if n&(1<<level) != 0 {
			out = append(out, tlog.StoredHashIndex(level, n>>level-1))
		}
	}
	return out
}

// Appended is what appending leaves to a tree gives: for each leaf, the
// hashes to store from tlog.StoredHashIndex(0, leaf) on, the new root, and
// the new tree's frontier (the hashes at FrontierIndexes of its size).
type Appended struct {
	Stored   [][]tlog.Hash
	Root     tlog.Hash
	Frontier []tlog.Hash
}

// Append appends leaves to a tree of size n whose frontier hashes
// (FrontierIndexes(n), in that order) are given.
func Append(n int64, frontier []tlog.Hash, leaves []tlog.Hash) (Appended, error) {
	indexes := FrontierIndexes(n)
	if len(frontier) != len(indexes) {
		return Appended{}, fmt.Errorf("append to a tree of %d leaves: %d frontier hashes, want %d", n, len(frontier), len(indexes))
	}
	known := make(map[int64]tlog.Hash, len(indexes)+2*len(leaves))
	for i, idx := range indexes {
		known[idx] = frontier[i]
	}
	read := tlog.HashReaderFunc(func(want []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(want))
		for i, idx := range want {
			h, ok := known[idx]
			if !ok {
				return nil, fmt.Errorf("stored hash %d is not on the tree's frontier", idx)
			}
			out[i] = h
		}
		return out, nil
	})
	out := Appended{Stored: make([][]tlog.Hash, len(leaves))}
	for i, leaf := range leaves {
		hashes, err := tlog.StoredHashesForRecordHash(n+int64(i), leaf, read)
		if err != nil {
			return Appended{}, err
		}
		base := tlog.StoredHashIndex(0, n+int64(i))
		for k, h := range hashes {
			known[base+int64(k)] = h
		}
		out.Stored[i] = hashes
	}
	size := n + int64(len(leaves))
	root, err := tlog.TreeHash(size, read)
	if err != nil {
		return Appended{}, err
	}
	out.Root = root
	if out.Frontier, err = read.ReadHashes(FrontierIndexes(size)); err != nil {
		return Appended{}, err
	}
	return out, nil
}

// StoredAt says where the hash with a stored index is kept: in the hashes
// stored with leaf, at offset.
func StoredAt(index int64) (leaf int64, offset int) {
	level, n := tlog.SplitStoredHashIndex(index)
	leaf = (n+1)<<level - 1
	return leaf, int(index - tlog.StoredHashIndex(0, leaf))
}

// Heads yields signed heads in increasing tree size; Next returns nil when
// there are no more.
type Heads interface {
	Next(ctx context.Context) (*Head, error)
}

// HeadList yields heads from a slice.
type HeadList struct{ items []Head }

// NewHeadList returns Heads over heads, in their order.
func NewHeadList(heads []Head) *HeadList { return &HeadList{items: heads} }

// Next returns the next head, nil at the end.
func (l *HeadList) Next(context.Context) (*Head, error) {
	if len(l.items) == 0 {
		return nil, nil
	}
	h := l.items[0]
	l.items = l.items[1:]
	return &h, nil
}

// StoredLeaf is a leaf as the tree stores it: the event it was made from,
// and its hash.
type StoredLeaf struct {
	Index    int64
	Position int64
	Hash     tlog.Hash
}

// StoredLeaves yields the stored tree's leaves by index; Next returns nil
// when there are no more.
type StoredLeaves interface {
	Next(ctx context.Context) (*StoredLeaf, error)
}

var hasher = rfc6962.DefaultHasher

// treeChecker recomputes the tree over the events in commit order and
// checks every head against it as the walk reaches the head's size.
type treeChecker struct {
	keys   PublicKeys
	source Heads
	// stored, when set, are the stored tree's leaves: each is checked
	// against the event the walk is at, which names the first event that
	// differs from the tree (the heads alone say only that one does), and
	// covers the events' positions, which their hashes do not.
	stored StoredLeaves
	rng    *compact.Range
	next   *Head
	peeked bool
	last   *Head
	report *Report
}

func newTreeChecker(keys PublicKeys, source Heads, report *Report) *treeChecker {
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	return &treeChecker{keys: keys, source: source, rng: rf.NewEmptyRange(0), report: report}
}

// peek returns the next head, its signature and fields checked.
func (c *treeChecker) peek(ctx context.Context) (*Head, *Problem, error) {
	if c.peeked {
		return c.next, nil, nil
	}
	h, err := c.source.Next(ctx)
	if err != nil || h == nil {
		c.next, c.peeked = nil, err == nil
		return nil, nil, err
	}
	problem := func(format string, args ...any) *Problem {
		return &Problem{Position: 0, Detail: fmt.Sprintf(format, args...)}
	}
	signed, err := c.keys.Open(h.Note)
	if err != nil {
		return nil, problem("the head of tree size %d does not verify: %v", h.TreeSize, err), nil
	}
	if !SameHead(signed, *h) {
		return nil, problem("the head stored for tree size %d says size %d, root %s in its signed note: it was altered",
			h.TreeSize, signed.TreeSize, base64.StdEncoding.EncodeToString(signed.RootHash[:])), nil
	}
	if c.last != nil && h.TreeSize <= c.last.TreeSize {
		if h.TreeSize == c.last.TreeSize && !SameHead(*h, *c.last) {
			return nil, problem("two signed heads of tree size %d have different root hashes: the log was forked", h.TreeSize), nil
		}
		if h.TreeSize < c.last.TreeSize {
			return nil, problem("the head of tree size %d follows one of size %d: the heads are out of order", h.TreeSize, c.last.TreeSize), nil
		}
	}
	c.next, c.peeked = h, true
	return h, nil, nil
}

// leaf adds the event's leaf and checks the heads of the tree's new size.
func (c *treeChecker) leaf(ctx context.Context, e StoredEvent) (*Problem, error) {
	leaf := LeafHash(e.Hash)
	if c.stored != nil {
		s, err := c.stored.Next(ctx)
		if err != nil {
			return nil, err
		}
		if s == nil {
			c.stored = nil // the tree is behind the log: the subscriber is adding the newest events
		} else if p := c.compare(e, leaf, s); p != nil {
			return p, nil
		}
	}
	if err := c.rng.Append(leaf[:], nil); err != nil {
		return nil, err
	}
	size := int64(c.rng.End())
	for {
		h, p, err := c.peek(ctx)
		if p != nil {
			p.Position, p.StreamID = e.Position, e.StreamID
		}
		if err != nil || p != nil || h == nil || h.TreeSize > size {
			return p, err
		}
		if h.TreeSize < size { // a head of size 0: nothing to compare
			c.consume()
			continue
		}
		root, err := c.rng.GetRootHash(nil)
		if err != nil {
			return nil, err
		}
		if string(root) != string(h.RootHash[:]) {
			return &Problem{Position: e.Position, StreamID: e.StreamID, Detail: fmt.Sprintf(
				"the tree of the first %d events in commit order has another root than the signed head of that size: an event up to here was altered, removed, inserted or reordered", size)}, nil
		}
		c.report.Heads++
		c.consume()
	}
}

// compare checks the stored leaf the walk is at against the event.
func (c *treeChecker) compare(e StoredEvent, leaf tlog.Hash, s *StoredLeaf) *Problem {
	problem := func(format string, args ...any) *Problem {
		return &Problem{Position: e.Position, StreamID: e.StreamID, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case s.Index != int64(c.rng.End()):
		return problem("the stored tree has no leaf %d: the tree was altered", c.rng.End())
	case s.Position != e.Position:
		// Named by the position the tree holds: the event that is gone or
		// was moved.
		return &Problem{Position: s.Position, Detail: fmt.Sprintf("leaf %d of the tree is the event at position %d, but the event at position %d stands there: "+
			"the event at position %d was removed, or events were inserted or reordered", s.Index, s.Position, e.Position, s.Position)}
	case s.Hash != leaf:
		return problem("the event differs from leaf %d of the tree: the %s event at version %d was altered after the tree took it in",
			s.Index, e.Type, e.StreamVersion)
	}
	return nil
}

func (c *treeChecker) consume() {
	c.last, c.next, c.peeked = c.next, nil, false
}

// finish reports a stored leaf or a head left over once the events ran out.
func (c *treeChecker) finish(ctx context.Context) (*Problem, error) {
	if c.stored != nil {
		s, err := c.stored.Next(ctx)
		if err != nil {
			return nil, err
		}
		if s != nil {
			return &Problem{Position: s.Position, Detail: fmt.Sprintf(
				"leaf %d of the tree is the event at position %d, and the log ends before it: the newest events were removed",
				s.Index, s.Position)}, nil
		}
	}
	h, p, err := c.peek(ctx)
	if err != nil || p != nil || h == nil {
		return p, err
	}
	return &Problem{Detail: fmt.Sprintf("a signed head covers %d events, but the log ends after %d: the newest events were removed",
		h.TreeSize, c.rng.End())}, nil
}

// ErrProof is returned for a proof that does not check.
var ErrProof = errors.New("the proof does not verify")

// CheckInclusion checks that leaf is leaf number index of the tree head.
func CheckInclusion(head Head, index int64, leaf tlog.Hash, proof []tlog.Hash) error {
	if err := tlog.CheckRecord(tlog.RecordProof(proof), head.TreeSize, head.RootHash, index, leaf); err != nil {
		return fmt.Errorf("%w: %v", ErrProof, err)
	}
	return nil
}

// CheckConsistency checks that the tree of head older is a prefix of the
// tree of head newer.
func CheckConsistency(older, newer Head, proof []tlog.Hash) error {
	if older.TreeSize == 0 {
		return nil // the empty tree is a prefix of every tree
	}
	if older.TreeSize == newer.TreeSize {
		if SameHead(older, newer) {
			return nil
		}
		return fmt.Errorf("%w: two heads of tree size %d differ", ErrProof, older.TreeSize)
	}
	if older.TreeSize > newer.TreeSize {
		return fmt.Errorf("%w: the tree shrank from %d to %d", ErrProof, older.TreeSize, newer.TreeSize)
	}
	if err := tlog.CheckTree(tlog.TreeProof(proof), newer.TreeSize, newer.RootHash, older.TreeSize, older.RootHash); err != nil {
		return fmt.Errorf("%w: %v", ErrProof, err)
	}
	return nil
}

// InclusionProof proves that a leaf is in a tree of a given size (RFC 9162
// section 2.1.3).
type InclusionProof struct {
	LeafIndex int64
	TreeSize  int64
	LeafHash  tlog.Hash
	Hashes    []tlog.Hash
}

type inclusionJSON struct {
	LeafIndex int64    `json:"leaf_index"`
	TreeSize  int64    `json:"tree_size"`
	LeafHash  string   `json:"leaf_hash"`
	Hashes    []string `json:"hashes"`
}

// MarshalJSON writes hashes in base64.
func (p InclusionProof) MarshalJSON() ([]byte, error) {
	return json.Marshal(inclusionJSON{LeafIndex: p.LeafIndex, TreeSize: p.TreeSize,
		LeafHash: base64.StdEncoding.EncodeToString(p.LeafHash[:]), Hashes: EncodeHashes(p.Hashes)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *InclusionProof) UnmarshalJSON(b []byte) error {
	var j inclusionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	leaf, err := DecodeHashes([]string{j.LeafHash})
	if err != nil {
		return fmt.Errorf("leaf_hash: %w", err)
	}
	hashes, err := DecodeHashes(j.Hashes)
	if err != nil {
		return fmt.Errorf("hashes: %w", err)
	}
	*p = InclusionProof{LeafIndex: j.LeafIndex, TreeSize: j.TreeSize, LeafHash: leaf[0], Hashes: hashes}
	return nil
}

// EncodeHashes writes hashes in base64, as proofs carry them.
func EncodeHashes(hashes []tlog.Hash) []string {
	out := make([]string, len(hashes))
	for i, h := range hashes {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// DecodeHashes reads base64 hashes of 32 bytes.
func DecodeHashes(in []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(b) != len(out[i]) {
			return nil, fmt.Errorf("%q is not a base64 SHA-256 hash", s)
		}
		copy(out[i][:], b)
	}
	return out, nil
}
