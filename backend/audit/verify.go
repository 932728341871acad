package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/tlog"
)

// StoredEvent is an event as the verifier reads it back.
type StoredEvent struct {
	Content
	Position      int64
	TransactionID uint64
	Hash          []byte
	PrevHash      []byte
}

// Problem is the first thing found wrong, naming the event where it shows.
type Problem struct {
	Position int64     `json:"position"`
	StreamID uuid.UUID `json:"stream_id"`
	Detail   string    `json:"detail"`
}

func (p Problem) String() string {
	if p.StreamID == uuid.Nil {
		return fmt.Sprintf("position %d: %s", p.Position, p.Detail)
	}
	return fmt.Sprintf("position %d, stream %s: %s", p.Position, p.StreamID, p.Detail)
}

// Report is the outcome of a verification.
type Report struct {
	Events      int64    `json:"events_checked"`
	Streams     int64    `json:"streams_checked"`
	Checkpoints int64    `json:"checkpoints_checked"`
	Heads       int64    `json:"heads_checked"`
	Problem     *Problem `json:"problem"`
	// Since is the head an incremental verification started from; nil
	// when the whole log was checked.
	Since *Head `json:"since_head,omitempty"`
}

// OK reports whether nothing was found wrong.
func (r Report) OK() bool { return r.Problem == nil }

// Store reads the event log for verification.
type Store interface {
	// EachEventInCommitOrder calls fn for every event, with its content,
	// by transaction id, then position.
	EachEventInCommitOrder(ctx context.Context, fn func(StoredEvent) error) error
}

// Checkpoints yields checkpoints in the order they were recorded; Next
// returns nil when there are no more.
type Checkpoints interface {
	Next(ctx context.Context) (*Checkpoint, error)
}

var errStop = errors.New("stop at the first problem")

// Keys check what the log carries.
type Keys struct {
	// Public are the keys its tree heads may be signed with.
	Public PublicKeys
	// HMAC is AUDIT_KEY, which signed the checkpoints recorded before tree
	// heads; nil leaves those checkpoints unchecked.
	HMAC Key
}

// Sources are what the events are checked against.
type Sources struct {
	// Heads are the signed tree heads, in increasing size.
	Heads Heads
	// Checkpoints are the HMAC checkpoints recorded before tree heads; nil
	// when there are none or no HMAC key to check them with.
	Checkpoints Checkpoints
	// Leaves, when set, are the stored tree's leaves, checked one by one
	// against the events.
	Leaves StoredLeaves
}

// Verify reads the log once, in commit order, and checks as it goes: that
// the order is the commit order, every stream's hash chain (keeping each
// stream's last version, position and hash), the Merkle tree against every
// signed head, the stored tree's leaves, and every HMAC checkpoint. It stops
// at the first problem in commit order and names the event.
func Verify(ctx context.Context, store Store, keys Keys, src Sources) (Report, error) {
	var r Report
	heads := src.Heads
	if heads == nil {
		heads = NewHeadList(nil)
	}
	tree := newTreeChecker(keys.Public, heads, &r)
	tree.stored = src.Leaves
	commits := commitChecker{key: keys.HMAC, source: src.Checkpoints, running: GenesisHash, report: &r}
	// The last event of each stream, as little of it as the next is
	// checked against.
	type last struct {
		version, position int64
		hash              [HashSize]byte
	}
	streams := map[uuid.UUID]last{}
	var prevTx uint64
	var prevPos int64
	err := store.EachEventInCommitOrder(ctx, func(e StoredEvent) error {
		if r.Events > 0 && (e.TransactionID < prevTx || (e.TransactionID == prevTx && e.Position <= prevPos)) {
			r.Problem = &Problem{Position: e.Position, StreamID: e.StreamID, Detail: fmt.Sprintf(
				"it follows the event at position %d (transaction %d) but is not after it in commit order: events were reordered",
				prevPos, prevTx)}
			return errStop
		}
		prevTx, prevPos = e.TransactionID, e.Position
		chain := streamChecker{report: &r}
		if l, ok := streams[e.StreamID]; ok {
			chain.prev = &StoredEvent{Content: Content{StreamID: e.StreamID, StreamVersion: l.version}, Position: l.position, Hash: l.hash[:]}
		}
		if p := chain.check(e); p != nil {
			r.Problem = p
			return errStop
		}
		var l last
		l.version, l.position = e.StreamVersion, e.Position
		copy(l.hash[:], e.Hash)
		streams[e.StreamID] = l
		p, err := tree.leaf(ctx, e)
		if err == nil && p == nil && src.Checkpoints != nil {
			p, err = commits.check(ctx, e)
		}
		if err != nil {
			return err
		}
		if p != nil {
			r.Problem = p
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return r, err
	}
	if r.Problem != nil {
		return r, nil
	}
	if r.Problem, err = tree.finish(ctx); err != nil || r.Problem != nil {
		return r, err
	}
	if src.Checkpoints != nil {
		r.Problem, err = commits.finish(ctx)
	}
	return r, err
}

// streamChecker walks events by stream and version.
type streamChecker struct {
	prev   *StoredEvent
	report *Report
}

func (c *streamChecker) check(e StoredEvent) *Problem {
	return c.checkAfter(e, false)
}

// checkAfter checks e; anchor marks the last event of its stream at or
// before the checkpoint an incremental verification starts from. An anchor
// starts its stream's walk: its hash is checked against its own content and
// stored previous hash, and the events after it chain from it.
func (c *streamChecker) checkAfter(e StoredEvent, anchor bool) *Problem {
	problem := func(format string, args ...any) *Problem {
		return &Problem{Position: e.Position, StreamID: e.StreamID, Detail: fmt.Sprintf(format, args...)}
	}
	var prevHash []byte
	first := c.prev == nil || c.prev.StreamID != e.StreamID
	if anchor {
		if !first {
			return problem("version %d is covered by the checkpoint but follows version %d, which is not: events were reordered", e.StreamVersion, c.prev.StreamVersion)
		}
		c.report.Streams++
		if len(e.Hash) == 0 || !equal(e.Hash, EventHash(e.Content, e.PrevHash)) {
			return problem("its content does not match its hash: the %s event at version %d was altered", e.Type, e.StreamVersion)
		}
		ev := e
		c.prev = &ev
		return nil
	}
	if first {
		c.report.Streams++
		if e.StreamVersion != 1 {
			return problem("the stream starts at version %d: its earlier events are missing", e.StreamVersion)
		}
	} else {
		switch {
		case e.StreamVersion != c.prev.StreamVersion+1:
			return problem("version %d follows version %d: an event of the stream is missing", e.StreamVersion, c.prev.StreamVersion)
		case e.Position <= c.prev.Position:
			return problem("version %d has position %d, before version %d at position %d: events were reordered",
				e.StreamVersion, e.Position, c.prev.StreamVersion, c.prev.Position)
		}
		prevHash = c.prev.Hash
	}
	c.report.Events++
	if len(e.Hash) == 0 {
		return problem("the event has no hash: it was recorded before the log was chained (migration 00004), or its hash was removed")
	}
	if !equal(e.PrevHash, prevHash) {
		return problem("its previous-event hash does not match the stream's previous event (version %d)", e.StreamVersion)
	}
	if !equal(e.Hash, EventHash(e.Content, prevHash)) {
		return problem("its content does not match its hash: the %s event at version %d was altered", e.Type, e.StreamVersion)
	}
	ev := e
	c.prev = &ev
	return nil
}

// commitChecker walks events in commit order alongside the checkpoints.
type commitChecker struct {
	key     Key
	source  Checkpoints
	next    *Checkpoint
	started bool
	running []byte
	count   int64
	report  *Report
}

func (c *commitChecker) peek(ctx context.Context) (*Checkpoint, error) {
	if !c.started || c.next == nil {
		cp, err := c.source.Next(ctx)
		if err != nil {
			return nil, err
		}
		c.started, c.next = true, cp
	}
	return c.next, nil
}

func (c *commitChecker) check(ctx context.Context, e StoredEvent) (*Problem, error) {
	c.running = RunningHash(c.running, e.Hash)
	c.count++
	cp, err := c.peek(ctx)
	if err != nil || cp == nil {
		return nil, err // events newer than the last checkpoint: covered by their stream chains only
	}
	problem := func(format string, args ...any) *Problem {
		return &Problem{Position: e.Position, StreamID: e.StreamID, Detail: fmt.Sprintf(format, args...)}
	}
	if !c.key.Valid(*cp) {
		return problem("checkpoint #%d (position %d) has an invalid signature: the checkpoint was altered or signed with another key", cp.ID, cp.Position), nil
	}
	if cp.Position != e.Position {
		if cp.Position < e.Position {
			return problem("checkpoint #%d expects the event at position %d before this one, and it is gone: an event was removed or reordered", cp.ID, cp.Position), nil
		}
		return problem("this event is not where checkpoint #%d expects it (position %d comes next): an event was inserted or reordered", cp.ID, cp.Position), nil
	}
	c.report.Checkpoints++
	c.next = nil
	switch {
	case cp.TransactionID != e.TransactionID:
		return problem("its transaction id %d differs from the checkpoint's %d: the commit order was changed", e.TransactionID, cp.TransactionID), nil
	case cp.EventCount != c.count:
		return problem("it is event %d in commit order, checkpoint #%d says %d: events before it were removed or inserted", c.count, cp.ID, cp.EventCount), nil
	case !equal(cp.RunningHash, c.running):
		return problem("the running hash up to here differs from checkpoint #%d: an earlier event was altered, removed or reordered", cp.ID), nil
	}
	return nil, nil
}

// finish reports checkpoints left over once the events ran out: the newest
// events were removed.
func (c *commitChecker) finish(ctx context.Context) (*Problem, error) {
	cp, err := c.peek(ctx)
	if err != nil || cp == nil {
		return nil, err
	}
	return &Problem{Position: cp.Position, Detail: fmt.Sprintf(
		"checkpoint #%d records %d events up to position %d, but the log ends after %d: the newest events were removed",
		cp.ID, cp.EventCount, cp.Position, c.count)}, nil
}

// SinceStore reads the part of the log that follows a tree head.
type SinceStore interface {
	// EventAt returns the event at position, nil when there is none.
	EventAt(ctx context.Context, position int64) (*StoredEvent, error)
	// StoredTree returns the root of the stored tree of size leaves, and
	// the position and leaf hash stored for its last leaf.
	StoredTree(ctx context.Context, size int64) (root tlog.Hash, lastPosition int64, lastLeaf tlog.Hash, err error)
	// EachEventByStreamAfter calls fn, by stream then version, for every
	// event after the event e (TransactionID and Position set) in commit
	// order, each stream preceded by its last event at or before e (anchor
	// true) when it has one.
	EachEventByStreamAfter(ctx context.Context, e StoredEvent, fn func(e StoredEvent, anchor bool) error) error
}

// VerifySince checks only what the newest head does not settle: that the
// head is signed, that the stored tree has its root and ends with the event
// its last leaf names, unaltered, and the stream chains of the events after
// it in commit order, each from its stream's last hash before. Its cost is
// proportional to the events after the head; the events before it are not
// looked at (Verify does that).
func VerifySince(ctx context.Context, store SinceStore, keys PublicKeys, head Head) (Report, error) {
	r := Report{Since: &head}
	headProblem := func(format string, args ...any) (Report, error) {
		r.Problem = &Problem{Detail: fmt.Sprintf(format, args...)}
		return r, nil
	}
	signed, err := keys.Open(head.Note)
	if err != nil {
		return headProblem("the newest head (tree size %d) does not verify: %v", head.TreeSize, err)
	}
	if !SameHead(signed, head) {
		return headProblem("the newest head's columns differ from its signed note (tree size %d): it was altered", head.TreeSize)
	}
	r.Heads++
	root, position, leaf, err := store.StoredTree(ctx, head.TreeSize)
	if err != nil {
		return r, err
	}
	if root != head.RootHash {
		return headProblem("the stored tree of %d leaves has another root than its signed head: the stored tree was altered", head.TreeSize)
	}
	e, err := store.EventAt(ctx, position)
	if err != nil {
		return r, err
	}
	switch {
	case e == nil:
		r.Problem = &Problem{Position: position, Detail: fmt.Sprintf(
			"the newest head's last leaf is the event at position %d, and it is gone: an event was removed", position)}
		return r, nil
	case LeafHash(e.Hash) != leaf || !equal(e.Hash, EventHash(e.Content, e.PrevHash)):
		r.Problem = &Problem{Position: e.Position, StreamID: e.StreamID, Detail: fmt.Sprintf(
			"the newest head's last leaf does not match this event: the %s event at version %d was altered", e.Type, e.StreamVersion)}
		return r, nil
	}

	streams := streamChecker{report: &r}
	err = store.EachEventByStreamAfter(ctx, *e, func(e StoredEvent, anchor bool) error {
		if p := streams.checkAfter(e, anchor); p != nil {
			r.Problem = p
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return r, err
	}
	return r, nil
}
