package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"
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
	Problem     *Problem `json:"problem"`
	// Since is the checkpoint an incremental verification started from; nil
	// when the whole log was checked.
	Since *Checkpoint `json:"since_checkpoint,omitempty"`
}

// OK reports whether nothing was found wrong.
func (r Report) OK() bool { return r.Problem == nil }

// Store reads the event log for verification.
type Store interface {
	// EachEventByStream calls fn for every event ordered by stream, then version.
	EachEventByStream(ctx context.Context, fn func(StoredEvent) error) error
	// EachEventInCommitOrder calls fn for every event by transaction id,
	// then position. The walk reads only each event's position,
	// transaction id, stream and hash; a store may leave the rest empty.
	EachEventInCommitOrder(ctx context.Context, fn func(StoredEvent) error) error
}

// Checkpoints yields checkpoints in the order they were recorded; Next
// returns nil when there are no more.
type Checkpoints interface {
	Next(ctx context.Context) (*Checkpoint, error)
}

var errStop = errors.New("stop at the first problem")

// Verify recomputes every stream's hash chain and every checkpoint. It stops
// at the first problem and names the event. The two walks run at once (a
// store must allow that; PostgreSQL's gives each its own connection on one
// snapshot); a problem in a stream chain is reported before one in the
// commit order, as if the stream walk had run first.
func Verify(ctx context.Context, store Store, key Key, checkpoints Checkpoints) (Report, error) {
	var streamsReport, commitsReport Report
	var streamsErr, commitsErr error
	commitCtx, cancelCommits := context.WithCancel(ctx)
	defer cancelCommits()
	var walks sync.WaitGroup
	walks.Go(func() {
		streams := streamChecker{report: &streamsReport}
		streamsErr = store.EachEventByStream(ctx, func(e StoredEvent) error {
			if p := streams.check(e); p != nil {
				streamsReport.Problem = p
				return errStop
			}
			return nil
		})
		if streamsReport.Problem != nil || (streamsErr != nil && !errors.Is(streamsErr, errStop)) {
			cancelCommits() // its outcome no longer counts
		}
	})
	walks.Go(func() {
		commits := commitChecker{key: key, source: checkpoints, running: GenesisHash, report: &commitsReport}
		commitsErr = store.EachEventInCommitOrder(commitCtx, func(e StoredEvent) error {
			p, err := commits.check(commitCtx, e)
			if err != nil {
				return err
			}
			if p != nil {
				commitsReport.Problem = p
				return errStop
			}
			return nil
		})
		if commitsErr == nil && commitsReport.Problem == nil {
			commitsReport.Problem, commitsErr = commits.finish(commitCtx)
		}
	})
	walks.Wait()

	r := Report{Events: streamsReport.Events, Streams: streamsReport.Streams}
	if streamsErr != nil && !errors.Is(streamsErr, errStop) {
		return r, streamsErr
	}
	if streamsReport.Problem != nil {
		r.Problem = streamsReport.Problem
		return r, nil
	}
	if commitsErr != nil && !errors.Is(commitsErr, errStop) {
		return r, commitsErr
	}
	r.Checkpoints, r.Problem = commitsReport.Checkpoints, commitsReport.Problem
	return r, nil
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

// SinceStore reads the part of the log that follows a checkpoint.
type SinceStore interface {
	// EventAt returns the event at position, nil when there is none.
	EventAt(ctx context.Context, position int64) (*StoredEvent, error)
	// EachEventByStreamAfter calls fn, by stream then version, for every
	// event after cp in commit order, each stream preceded by its last
	// event at or before cp (anchor true) when it has one.
	EachEventByStreamAfter(ctx context.Context, cp Checkpoint, fn func(e StoredEvent, anchor bool) error) error
}

// VerifySince checks only what follows the checkpoint last (prev is the one
// before it, nil if last is the first): that both are signed, that last
// still extends prev's running hash with the event at its position, and the
// stream chains of the events after last in commit order, each from its
// stream's last hash before. Its cost is proportional to the events after
// last; the events before it are not looked at (Verify does that).
func VerifySince(ctx context.Context, store SinceStore, key Key, last Checkpoint, prev *Checkpoint) (Report, error) {
	r := Report{Since: &last}
	checkpointProblem := func(cp Checkpoint, format string, args ...any) *Problem {
		return &Problem{Position: cp.Position, Detail: fmt.Sprintf(format, args...)}
	}
	running, count := GenesisHash, int64(0)
	if prev != nil {
		if !key.Valid(*prev) {
			r.Problem = checkpointProblem(*prev, "checkpoint #%d (position %d) has an invalid signature: the checkpoint was altered or signed with another key", prev.ID, prev.Position)
			return r, nil
		}
		r.Checkpoints++
		running, count = prev.RunningHash, prev.EventCount
	}
	if !key.Valid(last) {
		r.Problem = checkpointProblem(last, "checkpoint #%d (position %d) has an invalid signature: the checkpoint was altered or signed with another key", last.ID, last.Position)
		return r, nil
	}
	r.Checkpoints++
	e, err := store.EventAt(ctx, last.Position)
	if err != nil {
		return r, err
	}
	switch {
	case e == nil:
		r.Problem = checkpointProblem(last, "checkpoint #%d records the event at position %d, and it is gone: an event was removed", last.ID, last.Position)
		return r, nil
	case e.TransactionID != last.TransactionID:
		r.Problem = &Problem{Position: e.Position, StreamID: e.StreamID, Detail: fmt.Sprintf(
			"its transaction id %d differs from checkpoint #%d's %d: the commit order was changed", e.TransactionID, last.ID, last.TransactionID)}
		return r, nil
	case last.EventCount != count+1 || !equal(last.RunningHash, RunningHash(running, e.Hash)):
		r.Problem = &Problem{Position: e.Position, StreamID: e.StreamID, Detail: fmt.Sprintf(
			"checkpoint #%d does not extend the one before it with this event: the event or the checkpoints were altered", last.ID)}
		return r, nil
	}

	streams := streamChecker{report: &r}
	err = store.EachEventByStreamAfter(ctx, last, func(e StoredEvent, anchor bool) error {
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
