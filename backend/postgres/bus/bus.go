package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Bus is the events table as the worker subscribes to it (worker.Bus):
// one Watermill subscriber per consumer group, in commit-safe order, each
// woken by the notifier as events commit.
type Bus struct {
	subs     *Subscriptions
	notifier *Notifier
}

// Bus returns the subscriptions as the worker's bus. A subscriber it makes
// waits for notifier's wake-ups, or its poll interval, whichever comes
// first; with a nil notifier it polls only.
func (s *Subscriptions) Bus(notifier *Notifier) *Bus { return &Bus{subs: s, notifier: notifier} }

// Subscribe returns the subscriber of one consumer group. It reads only
// types when some are given; stop ends its waits for notifications.
func (b *Bus) Subscribe(group string, types []string, pollInterval time.Duration, stop <-chan struct{}, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	cfg := SubscriberConfig{ConsumerGroup: group, PollInterval: pollInterval, Types: types}
	if b.notifier != nil {
		cfg.Backoff = NewWakingBackoff(b.notifier, pollInterval, time.Second, stop, types...)
	}
	return b.subs.NewSubscriber(cfg, logger)
}

// ApplyBatch is sub's Subscriber.ApplyBatch: apply gets the stores bound to
// the batch's transaction and every event of the batch, at its first message.
func (b *Bus) ApplyBatch(sub message.Subscriber, msg *message.Message, apply func(app.Tx, []ledger.RecordedEvent) error) error {
	s, ok := sub.(*Subscriber)
	if !ok {
		return fmt.Errorf("a batch handler needs a subscriber of the events table, not %T", sub)
	}
	return s.ApplyBatch(msg, apply)
}

// EventFromMessage reads back the event a subscriber delivered.
func (b *Bus) EventFromMessage(msg *message.Message) (ledger.RecordedEvent, error) {
	return EventFromMessage(msg)
}

// TouchDelivery runs a no-op in the transaction of the batch that
// delivered msg (see the function TouchDelivery).
func (b *Bus) TouchDelivery(msg *message.Message) error { return TouchDelivery(msg) }

// Statuses reports every consumer group's position and lag
// (Subscriptions.Statuses).
func (b *Bus) Statuses(ctx context.Context, groups []string, reads map[string][]string) ([]app.SubscriberStatus, error) {
	return b.subs.Statuses(ctx, groups, reads)
}
