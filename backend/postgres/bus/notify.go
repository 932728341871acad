package bus

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/lib/pq"
)

// eventsChannel is the channel committed events are announced on.
const eventsChannel = "ledger_events"

// announceSpacing is the shortest time between two announcements: under load
// one notification stands for every commit of the last few milliseconds.
// maxPayload keeps a list of types well inside a notification's 8000 bytes.
const (
	announceSpacing = 5 * time.Millisecond
	maxPayload      = 4000
)

// AnnounceCommits notifies the events channel after transactions that
// appended events commit, until ctx ends, so that subscribers of every
// process wake (see Listen). Commits are coalesced into at most one
// notification every announceSpacing, each sent with synchronous_commit
// off: a notification carries nothing to keep, and its commit need not wait
// for the disk while it holds the lock below.
//
// The append transactions themselves do not notify: PostgreSQL holds one
// lock for the whole server from a notifying transaction's pre-commit until
// its commit is flushed, so notifying transactions commit one at a time. A
// notification lost to a crash between commit and announcement costs a poll
// interval of latency, never an event.
func (s *Subscriptions) AnnounceCommits(ctx context.Context, logger *slog.Logger) {
	spacing := time.NewTimer(0)
	defer spacing.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.commits.Pending():
		}
		wait := announceSpacing
		// The payload names the types committed, so that a subscriber of
		// other types sleeps on; an empty one (or one too long for a
		// notification) wakes every subscriber. Sent with no arguments, the
		// two statements go in one simple query: one implicit transaction,
		// one round trip, and the setting ends with it instead of staying
		// on a connection of the pool.
		types := s.commits.Take()
		payload := strings.Join(types, ",")
		if len(payload) > maxPayload {
			payload = ""
		}
		_, err := s.pool.ExecContext(ctx, `SET LOCAL synchronous_commit = off; SELECT pg_notify('`+eventsChannel+`', `+pq.QuoteLiteral(payload)+`)`)
		if err != nil && ctx.Err() == nil {
			logger.Warn("cannot announce committed events; subscribers of other processes fall back to polling", "error", err)
			wait = time.Second
			s.commits.Again(types) // once the database answers
		}
		spacing.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-spacing.C:
		}
	}
}

// Notifier tells subscribers that events committed, so they poll at once
// instead of sleeping out their poll interval. A notification may name the
// types committed; a subscriber of other types sleeps on.
type Notifier struct {
	mu   sync.Mutex
	seq  uint64
	wake chan struct{}
	// all is the newest notification that named no types (any may have
	// committed); byType the newest naming each type.
	all    uint64
	byType map[string]uint64
}

// NewNotifier returns a Notifier with no listener yet; see Listen.
func NewNotifier() *Notifier {
	return &Notifier{wake: make(chan struct{}), byType: map[string]uint64{}}
}

// Notify wakes every waiting subscriber.
func (n *Notifier) Notify() { n.NotifyTypes(nil) }

// NotifyTypes wakes the subscribers of any of the given event types, and
// those of every type; with no types, every subscriber.
func (n *Notifier) NotifyTypes(types []string) {
	n.mu.Lock()
	n.seq++
	if len(types) == 0 {
		n.all = n.seq
	}
	for _, t := range types {
		n.byType[t] = n.seq
	}
	close(n.wake)
	n.wake = make(chan struct{})
	n.mu.Unlock()
}

// since returns the newest notification, whether one after seen concerns
// types (any notification, when types is empty), and the channel the next
// notification closes.
func (n *Notifier) since(seen uint64, types []string) (seq uint64, concerns bool, wake <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	concerns = n.all > seen || (len(types) == 0 && n.seq > seen)
	for _, t := range types {
		concerns = concerns || n.byType[t] > seen
	}
	return n.seq, concerns, n.wake
}

// Listen relays PostgreSQL notifications of committed events to n until ctx
// ends. After a reconnect it wakes everyone, since notifications may have
// been missed meanwhile.
func (s *Subscriptions) Listen(ctx context.Context, n *Notifier, logger *slog.Logger) error {
	listener := pq.NewListener(s.url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventConnectionAttemptFailed, pq.ListenerEventDisconnected:
			logger.Warn("event notifications interrupted; subscribers fall back to polling", "error", err)
		case pq.ListenerEventReconnected:
			n.Notify()
		}
	})
	defer listener.Close()
	if err := listener.Listen(eventsChannel); err != nil {
		return err
	}
	n.Notify() // events may have committed before the listener was ready
	for {
		select {
		case <-ctx.Done():
			return nil
		case note := <-listener.Notify: // nil after a reconnect: wake everyone anyway
			if note == nil || note.Extra == "" {
				n.Notify()
			} else {
				n.NotifyTypes(strings.Split(note.Extra, ","))
			}
		case <-time.After(time.Minute):
			go listener.Ping()
		}
	}
}

// wakingBackoff is a Watermill backoff manager that, after an empty poll,
// waits for a notification or the poll interval, whichever comes first,
// and lets events gather after a wake-up and after a batch that emptied the
// backlog. A
// notification that arrived while the last query ran ends the wait at once.
// A notified event may still be held back by an older transaction that is
// running (subscribers read only what every running transaction is newer
// than), so after a wake-up that found nothing it polls again soon, a few
// times, before waiting for the next notification.
type wakingBackoff struct {
	notifier      *Notifier
	stop          <-chan struct{}
	pollInterval  time.Duration
	retryInterval time.Duration
	fallback      wsql.BackoffManager
	// types are the event types its subscriber reads; all when empty.
	types []string
	seen  uint64
	// heldBack counts quick polls left after a wake-up found nothing.
	heldBack int
	quick    time.Duration
	// full, once the subscriber is made (watchBatches), says whether its
	// last batch was full.
	full func() bool
}

// watchBatches lets the backoff tell a full batch from one that emptied
// the backlog (see HandleError).
func (b *wakingBackoff) watchBatches(full func() bool) { b.full = full }

// Quick polls after a wake-up that found nothing: 5 ms, doubling, up to 500 ms.
//
// gather is how long a subscriber lets events accumulate before it reads,
// when woken and after a batch that emptied the backlog: under load every
// commit notifies and the next one is a few milliseconds away, and reading
// each commit's few events in a batch transaction of their own (begin,
// read, handle, acknowledge, commit, for each consumer group) would cost
// more than the events themselves. Measured in docs/benchmarks.md: 0, 5
// and 10 ms after a batch.
const (
	gather        = 10 * time.Millisecond
	heldBackPolls = 10
	firstQuick    = 5 * time.Millisecond
	maxQuick      = 500 * time.Millisecond
)

// NewWakingBackoff returns a backoff manager for one subscriber, woken by
// notifications of commits of the given event types (of any type when none
// is given). Closing stop ends any wait at once, so that the subscriber can
// close.
func NewWakingBackoff(n *Notifier, pollInterval, retryInterval time.Duration, stop <-chan struct{}, types ...string) wsql.BackoffManager {
	b := &wakingBackoff{notifier: n, stop: stop, pollInterval: pollInterval, retryInterval: retryInterval,
		fallback: wsql.NewDefaultBackoffManager(pollInterval, retryInterval), types: slices.Clone(types)}
	b.seen, _, _ = n.since(0, nil)
	return b
}

func (b *wakingBackoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil || !noMsg {
		// Watermill polls again at once after a full batch, and after one
		// that emptied the backlog once events have had gather to come. A
		// notification that came meanwhile stays unseen, so that an empty
		// next poll (its event still held back) polls again soon instead of
		// waiting.
		if err == nil && b.full != nil && !b.full() {
			return gather
		}
		return b.fallback.HandleError(logger, noMsg, err)
	}
	seq, concerns, wake := b.notifier.since(b.seen, b.types)
	b.seen = seq
	if concerns { // notified while the query ran
		b.heldBack, b.quick = heldBackPolls, firstQuick
		return gather
	}
	wait := b.pollInterval
	if b.heldBack > 0 {
		wait = min(b.quick, b.pollInterval)
		b.heldBack--
		b.quick = min(2*b.quick, maxQuick)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-wake:
			seq, concerns, wake = b.notifier.since(b.seen, b.types)
			b.seen = seq
			if !concerns {
				continue // other types committed: sleep on
			}
			b.heldBack, b.quick = heldBackPolls, firstQuick
			return gather
		case <-timer.C:
		case <-b.stop:
		}
		b.seen, _, _ = b.notifier.since(b.seen, nil)
		return 0
	}
}
