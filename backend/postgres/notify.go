package postgres

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/lib/pq"
)

// eventsChannel is the channel the events table notifies on commit.
const eventsChannel = "ledger_events"

// Notifier tells subscribers that events committed, so they poll at once
// instead of sleeping out their poll interval.
type Notifier struct {
	mu   sync.Mutex
	seq  uint64
	wake chan struct{}
}

// NewNotifier returns a Notifier with no listener yet; see Listen.
func NewNotifier() *Notifier { return &Notifier{wake: make(chan struct{})} }

// Notify wakes every waiting subscriber.
func (n *Notifier) Notify() {
	n.mu.Lock()
	n.seq++
	close(n.wake)
	n.wake = make(chan struct{})
	n.mu.Unlock()
}

func (n *Notifier) current() (uint64, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.seq, n.wake
}

// Listen relays PostgreSQL notifications of committed events to n until ctx
// ends. After a reconnect it wakes everyone, since notifications may have
// been missed meanwhile.
func (db *DB) Listen(ctx context.Context, n *Notifier, logger *slog.Logger) error {
	listener := pq.NewListener(db.url, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
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
		case <-listener.Notify: // nil after a reconnect: wake everyone anyway
			n.Notify()
		case <-time.After(time.Minute):
			go listener.Ping()
		}
	}
}

// wakingBackoff is a Watermill backoff manager that, after an empty poll,
// waits for a notification or the poll interval, whichever comes first. A
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
	seen          uint64
	// heldBack counts quick polls left after a wake-up found nothing.
	heldBack int
	quick    time.Duration
}

// Quick polls after a wake-up that found nothing: 5 ms, doubling, up to 500 ms.
//
// gather is how long a woken subscriber lets events accumulate before it
// reads: under load every commit notifies, and reading each event in its own
// batch transaction would cost more than the events themselves.
const (
	gather        = 10 * time.Millisecond
	heldBackPolls = 10
	firstQuick    = 5 * time.Millisecond
	maxQuick      = 500 * time.Millisecond
)

// NewWakingBackoff returns a backoff manager for one subscriber. Closing
// stop ends any wait at once, so that the subscriber can close.
func NewWakingBackoff(n *Notifier, pollInterval, retryInterval time.Duration, stop <-chan struct{}) wsql.BackoffManager {
	b := &wakingBackoff{notifier: n, stop: stop, pollInterval: pollInterval, retryInterval: retryInterval,
		fallback: wsql.NewDefaultBackoffManager(pollInterval, retryInterval)}
	b.seen, _ = n.current()
	return b
}

func (b *wakingBackoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil || !noMsg {
		// Watermill polls again at once after messages. A notification that
		// came meanwhile stays unseen, so that an empty next poll (its event
		// still held back) polls again soon instead of waiting.
		return b.fallback.HandleError(logger, noMsg, err)
	}
	seq, wake := b.notifier.current()
	if seq != b.seen { // notified while the query ran
		b.seen = seq
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
	select {
	case <-wake:
		b.heldBack, b.quick = heldBackPolls, firstQuick
		timer.Stop()
		b.seen, _ = b.notifier.current()
		return gather
	case <-timer.C:
	case <-b.stop:
	}
	timer.Stop()
	b.seen, _ = b.notifier.current()
	return 0
}
