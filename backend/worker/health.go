package worker

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// A handler that keeps failing on one event must neither block its group
// forever in silence nor skip the event unseen:
//
//   - a saga's group parks the event as a dead letter after MaxAttempts
//     failures in a row and moves on; an operator retries or discards it;
//   - a projector's group (the read models, the audit checkpoints) never
//     skips an event: after MaxAttempts failures it halts, reports (an ERROR
//     line naming the event, a metric, Ready), and tries again only every
//     HaltedRetryInterval, so it resumes by itself once the fault is fixed.
//
// Independently, a watch reads every group's position: a group whose
// position has not moved for StallAfter while events wait behind it is
// stalled, whatever the cause (a failing handler, a frozen worker, a long
// transaction holding delivery back).

// Refusals answer deliveries the worker holds back without calling the
// handler. They are not failures: not counted, and not logged (quietWaits).
var (
	errRefused = errors.New("event held back")
	// errWaiting: a halted group waits to try the event again.
	errWaiting = fmt.Errorf("%w: halted, waiting to try it again", errRefused)
	// errBatchGone: the transaction of the delivered batch has ended (a
	// session bound, DB_IDLE_IN_TRANSACTION_TIMEOUT), so a projector could
	// not write in it; the event waits for the next batch.
	errBatchGone = fmt.Errorf("%w: the transaction of its batch has ended", errRefused)
)

// parkTimeout bounds the writing of one dead letter.
const parkTimeout = 10 * time.Second

// group is what the worker knows of one consumer group's health.
type group struct {
	name string
	// park parks the event a saga's group gives up on and returns the dead
	// letter's id; nil for a projector's group, which halts instead.
	park func(ctx context.Context, f failure) (int64, error)

	mu sync.Mutex
	// failing is the event the handler fails on; its id is "" when none.
	failing failure
	// parked are the ids of the events this worker parked last: one
	// delivered again (its acknowledgement did not commit) is acknowledged
	// at once.
	parked  []string
	halted  bool
	nextTry time.Time // when a halted group tries its event again

	// From the watch.
	seen     bool
	position int64
	lag      int64
	// since is when the position last moved, or the group last had no lag.
	since   time.Time
	stalled bool
}

// failure is the event a handler keeps failing on.
type failure struct {
	id          string // the message's id, the event id
	event       ledger.RecordedEvent
	attempts    int
	first, last time.Time
	err         error
}

// guarded counts fn's failures on each event of g and applies the policy
// above. It runs inside Watermill's Retry middleware, so that every attempt
// counts; the middleware's retries of a refused delivery are refused again
// at no cost. It tells the observer of each retry.
func (w *Worker) guarded(g *group, fn message.NoPublishHandlerFunc) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		switch g.next(msg.UUID, w.now()) {
		case acknowledge:
			return nil
		case hold:
			// Keep the batch's transaction from being ended as idle, so
			// that the next try can write in it.
			_ = w.bus.TouchDelivery(msg)
			return errWaiting
		case retry:
			// A projector writes in the batch's transaction: a try in one
			// that a session bound has ended would fail for that reason,
			// not the event's.
			if g.park == nil && w.bus.TouchDelivery(msg) != nil {
				return errBatchGone
			}
			w.obs.HandlerRetried(g.name)
		}
		err := fn(msg)
		if err == nil {
			w.succeeded(g, msg.UUID)
			return nil
		}
		return w.failed(g, msg, err)
	}
}

// What to do with a delivery.
type step int

const (
	attempt     step = iota // handle it
	retry                   // handle the event that failed last again
	hold                    // refuse it: the group is halted on it until its next try
	acknowledge             // acknowledge it unhandled: this worker parked it
)

func (g *group) next(id string, now time.Time) step {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case slices.Contains(g.parked, id):
		return acknowledge
	case g.failing.id != id:
		return attempt
	case g.halted && now.Before(g.nextTry):
		return hold
	}
	return retry
}

func (w *Worker) succeeded(g *group, id string) {
	g.mu.Lock()
	f, halted := g.failing, g.halted
	if f.id == "" {
		g.mu.Unlock()
		return
	}
	g.failing, g.halted = failure{}, false
	g.mu.Unlock()
	if f.id == id {
		w.logger.Info("subscriber handled the event it had failed on", eventAttrs(g.name, f)...)
	}
	if halted {
		w.resumed(g.name, f)
	}
}

func (w *Worker) failed(g *group, msg *message.Message, err error) error {
	now := w.now()
	g.mu.Lock()
	var resumed failure
	if g.failing.id != msg.UUID {
		// Another event: the one this group halted on, if any, was
		// handled (by another worker of the group).
		if g.halted {
			resumed, g.halted = g.failing, false
		}
		rec, _ := w.bus.EventFromMessage(msg)
		g.failing = failure{id: msg.UUID, event: rec, first: now}
	}
	g.failing.attempts++
	g.failing.last, g.failing.err = now, err
	f := g.failing
	if f.attempts < w.maxAttempts {
		g.mu.Unlock()
		if resumed.id != "" {
			w.resumed(g.name, resumed)
		}
		return err
	}
	if g.park != nil {
		g.mu.Unlock()
		// On its own, not in the batch's transaction: a session bound may
		// have ended that while the saga kept failing. Should the
		// acknowledgement not commit, the event comes again and is
		// acknowledged at once (parked); after a restart it is tried and
		// parked again, the same dead letter.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(msg.Context()), parkTimeout)
		id, perr := g.park(ctx, f)
		cancel()
		if perr != nil {
			w.logger.Error("cannot park the event; trying it again", append(eventAttrs(g.name, f), "park_error", perr)...)
			return err
		}
		g.mu.Lock()
		g.failing = failure{}
		g.parked = append(g.parked, msg.UUID)
		if len(g.parked) > maxParkedRemembered {
			g.parked = slices.Delete(g.parked, 0, len(g.parked)-maxParkedRemembered)
		}
		g.mu.Unlock()
		w.logger.Error("event parked as a dead letter after repeated failures; the saga moves on",
			append(eventAttrs(g.name, f), "dead_letter_id", id)...)
		w.obs.EventParked(g.name)
		return nil
	}
	first := !g.halted
	g.halted, g.nextTry = true, now.Add(w.haltedRetry)
	g.mu.Unlock()
	if resumed.id != "" {
		w.resumed(g.name, resumed)
	}
	if first {
		w.logger.Error("subscriber halted: it keeps failing on an event and never skips one; it tries again every "+w.haltedRetry.String(),
			eventAttrs(g.name, f)...)
		w.obs.SubscriberHalted(g.name, true)
	} else {
		w.logger.Warn("subscriber still halted", eventAttrs(g.name, f)...)
	}
	return err
}

func (w *Worker) resumed(name string, f failure) {
	w.logger.Info("subscriber resumed", eventAttrs(name, f)...)
	w.obs.SubscriberHalted(name, false)
}

func eventAttrs(name string, f failure) []any {
	return []any{"group", name, "position", f.event.Position, "event_id", f.id, "event_type", f.event.Type,
		"attempts", f.attempts, "error", f.err}
}

// watch reads every group's position until ctx ends and marks the groups
// stalled whose position stays put while events wait.
func (w *Worker) watch(ctx context.Context) {
	names := make([]string, len(w.groups))
	for i, g := range w.groups {
		names[i] = g.name
	}
	tick := time.NewTicker(min(max(w.stallAfter/4, 10*time.Millisecond), 5*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		statuses, err := w.bus.Statuses(ctx, names, GroupTypes)
		if err != nil {
			if ctx.Err() == nil {
				w.logger.Warn("cannot read the subscribers' positions", "error", err)
			}
			continue
		}
		now := w.now()
		for i, st := range statuses {
			w.sample(w.groups[i], st, now)
		}
	}
}

// sample takes in one reading of g's position and lag.
func (w *Worker) sample(g *group, st app.SubscriberStatus, now time.Time) {
	g.mu.Lock()
	moved := g.seen && st.Position != g.position
	if !g.seen || moved || st.Lag == 0 {
		g.since = now
	}
	g.seen, g.position, g.lag = true, st.Position, st.Lag
	var resumed failure
	if moved && g.halted {
		// Acknowledged: by another worker of the group, since this one
		// waits to try it again.
		resumed, g.failing, g.halted = g.failing, failure{}, false
	}
	stalled := st.Lag > 0 && now.Sub(g.since) >= w.stallAfter
	changed := stalled != g.stalled
	g.stalled = stalled
	since := now.Sub(g.since)
	g.mu.Unlock()

	if resumed.id != "" {
		w.resumed(g.name, resumed)
	}
	if !changed {
		return
	}
	if stalled {
		w.logger.Warn("subscriber stalled: its position has not moved while events wait",
			"group", g.name, "position", st.Position, "lag_events", st.Lag, "for", since.Round(time.Second).String())
	} else {
		w.logger.Info("subscriber moving again", "group", g.name, "position", st.Position, "lag_events", st.Lag)
	}
	w.obs.SubscriberStalled(g.name, stalled)
}

// Ready reports nil while every consumer group can move, and otherwise an
// error naming each halted projector and each stalled group (with no error
// text: /readyz shows it to anyone).
func (w *Worker) Ready() error {
	now := w.now()
	var problems []string
	for _, g := range w.groups {
		g.mu.Lock()
		if g.halted {
			problems = append(problems, fmt.Sprintf("%s is halted on the event at position %d after %d failed attempts",
				g.name, g.failing.event.Position, g.failing.attempts))
		}
		if g.stalled {
			problems = append(problems, fmt.Sprintf("%s has not moved from position %d for %s while %d events wait",
				g.name, g.position, now.Sub(g.since).Round(time.Second), g.lag))
		}
		g.mu.Unlock()
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// maxParkedRemembered bounds the ids of parked events a group remembers:
// a redelivery comes with the next batch.
const maxParkedRemembered = 32

// quietWaits is Watermill's logger without the error lines of refused
// deliveries (errRefused): a halt is reported by the worker, once. Nor,
// once the worker is stopping, those of the statements its stop cancelled:
// a poll cut short leaves its connection unusable (driver.ErrBadConn), and
// its rollback says so; nothing was lost, the batch was not acknowledged.
type quietWaits struct {
	watermill.LoggerAdapter
	stop <-chan struct{}
}

func (l quietWaits) Error(msg string, err error, fields watermill.LogFields) {
	if errors.Is(err, errRefused) || l.stopping() && (errors.Is(err, context.Canceled) || errors.Is(err, driver.ErrBadConn)) {
		l.LoggerAdapter.Debug(msg, fields.Add(watermill.LogFields{"err": err.Error()}))
		return
	}
	l.LoggerAdapter.Error(msg, err, fields)
}

// stopping reports whether the worker was asked to stop.
func (l quietWaits) stopping() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

func (l quietWaits) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return quietWaits{LoggerAdapter: l.LoggerAdapter.With(fields), stop: l.stop}
}
