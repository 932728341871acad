// Package worker runs the ledger's subscribers on a Watermill router: the
// projectors that keep the read models, the sagas that pay and e-mail, the
// audit tree and the webhooks' deliveries. Each runs in its own consumer
// group, so each has its own position. It calls package app for what the
// groups write, and reads the events through a Bus (backend/postgres/bus's).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/logging"
	"github.com/reimbursement-ledger/ledger/backend/saga"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
)

// Consumer groups besides the projections' own. Renaming one restarts it
// from the first event.
const (
	GroupPayments      = "saga.payments"
	GroupNotifications = "saga.notifications"
	// GroupAuditTree builds the Merkle tree over the commit order and
	// signs its head once per batch. (It replaced audit.checkpoints, the
	// per-event HMAC checkpoints, and starts from the first event, so the
	// tree of an upgraded ledger covers its whole log.)
	GroupAuditTree = "audit.tree"
)

// GroupTypes names, for each consumer group that reads only some event
// types, those types: the sagas act on a few. The other groups read every
// event.
var GroupTypes = map[string][]string{
	GroupPayments:      saga.PaymentTypes,
	GroupNotifications: saga.NotificationTypes,
}

// Groups lists every consumer group a worker with these projections runs.
func Groups[P app.Projection](projections []P) []string {
	var groups []string
	for _, p := range projections {
		groups = append(groups, p.ConsumerGroup())
	}
	return append(groups, GroupPayments, GroupNotifications, GroupAuditTree, GroupWebhooks)
}

// Bus delivers the committed events to the consumer groups
// (backend/postgres/bus's Bus implements it).
type Bus interface {
	// Subscribe returns the subscriber of one consumer group, which reads
	// only types when some are given, and polls every pollInterval when
	// nothing wakes it sooner; stop ends its waits.
	Subscribe(group string, types []string, pollInterval time.Duration, stop <-chan struct{}, logger watermill.LoggerAdapter) (message.Subscriber, error)
	// ApplyBatch calls apply, at the first message of a batch sub
	// delivered, with the stores bound to the batch's transaction and
	// every event of the batch, so that what apply writes commits with the
	// group's position; at the batch's other messages it does nothing. A
	// failed apply leaves the transaction usable for the retry.
	ApplyBatch(sub message.Subscriber, msg *message.Message, apply func(app.Tx, []ledger.RecordedEvent) error) error
	// EventFromMessage reads back the event a subscriber delivered.
	EventFromMessage(msg *message.Message) (ledger.RecordedEvent, error)
	// TouchDelivery runs a no-op in the transaction of the batch that
	// delivered msg: it fails when a session bound has ended the
	// transaction, and otherwise keeps it from being ended as idle.
	TouchDelivery(msg *message.Message) error
	// Statuses reports every consumer group's position and lag; reads
	// names, for a group that reads only some types, those types.
	Statuses(ctx context.Context, groups []string, reads map[string][]string) ([]app.SubscriberStatus, error)
}

// eventsTopic is the Watermill topic the bus delivers every event on.
const eventsTopic = "events"

// Config is what the worker needs.
type Config struct {
	// Stores are where dead letters are parked and webhooks delivered from.
	Stores app.Stores
	// Bus delivers the events to the consumer groups.
	Bus Bus
	// Projections are the read models the worker keeps live.
	Projections   []app.Projection
	Logger        *slog.Logger
	Payments      saga.Handler
	Notifications saga.Handler
	// AuditSigner signs the tree heads.
	AuditSigner *audit.Signer
	// Observer, when set, is told each handler's outcomes and retries.
	Observer Observer
	// PollInterval is how often an idle subscriber looks for new events when
	// no notification wakes it first.
	PollInterval time.Duration
	// RetryInterval is the first wait before a failed handler is retried; it
	// doubles up to RetryMaxInterval.
	RetryInterval    time.Duration
	RetryMaxInterval time.Duration
	// MaxAttempts is how many times in a row a handler may fail on one
	// event before a saga parks it as a dead letter and a projector halts
	// (see health.go); DefaultMaxAttempts unless set.
	MaxAttempts int
	// HaltedRetryInterval is how often a halted projector tries its event
	// again; 30 s unless set.
	HaltedRetryInterval time.Duration
	// StallAfter is how long a group's position may stay put while events
	// wait behind it before the group is reported stalled; DefaultStallAfter
	// unless set.
	StallAfter time.Duration
	// Webhooks tunes the webhook deliveries.
	Webhooks WebhookConfig
	// ACH, when its Rail is set, runs the ACH rail's cutoffs and reads
	// its returns.
	ACH ACHConfig
	// PersonalData opens the personal data the webhooks carry
	// (App.PersonalData); the zero value uses the process's own key.
	PersonalData app.PersonalData
}

// maxRetries is how many times a delivery is retried at once, with
// backoff, before Watermill delivers it again.
const maxRetries = 5

// Defaults of the worker's settings.
const (
	DefaultMaxAttempts = 10
	DefaultStallAfter  = 30 * time.Second
)

// Observer is told what the subscribers do (metrics implement it).
type Observer interface {
	HandlerDone(group string, err error)
	HandlerRetried(group string)
	// EventParked is told each event a saga parks as a dead letter.
	EventParked(group string)
	// SubscriberHalted is told when a projector's group halts on an event
	// it keeps failing on, and when it resumes.
	SubscriberHalted(group string, halted bool)
	// SubscriberStalled is told when a group's position stops moving while
	// events wait, and when it moves again.
	SubscriberStalled(group string, stalled bool)
	// WebhookDelivered is told each delivery attempt's outcome: succeeded,
	// retrying or failed (for good).
	WebhookDelivered(outcome string)
	// ACHCutoff is told each ACH cutoff's files and entries published and
	// entries settled, and its error.
	ACHCutoff(files, entries, settled int, err error)
	// ACHReturns is told each read of the returns folder: the returns
	// applied, the entries that could not be, the files rejected, and its
	// error.
	ACHReturns(returns, problems, rejected int, err error)
}

type noObserver struct{}

func (noObserver) HandlerDone(string, error)       {}
func (noObserver) HandlerRetried(string)           {}
func (noObserver) EventParked(string)              {}
func (noObserver) SubscriberHalted(string, bool)   {}
func (noObserver) SubscriberStalled(string, bool)  {}
func (noObserver) WebhookDelivered(string)         {}
func (noObserver) ACHCutoff(int, int, int, error)  {}
func (noObserver) ACHReturns(int, int, int, error) {}

// Worker is a configured router, ready to run.
type Worker struct {
	router *message.Router
	// stop ends the subscribers' waits for notifications when Run's context ends.
	stop chan struct{}

	stores app.Stores
	bus    Bus
	logger *slog.Logger
	obs    Observer
	now    func() time.Time
	// groups are every consumer group's health, in the order of Groups.
	groups []*group
	// sagas are the sagas' handlers by group, for the dead letters' retries.
	sagas        map[string]func(context.Context, ledger.RecordedEvent) error
	pollInterval time.Duration
	maxAttempts  int
	haltedRetry  time.Duration
	stallAfter   time.Duration
	webhooks     WebhookConfig
	ach          ACHConfig
}

// New builds the router with the projector and both sagas.
func New(cfg Config) (*Worker, error) {
	if cfg.AuditSigner == nil {
		return nil, errors.New("worker: the audit signing key is required to sign tree heads")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 200 * time.Millisecond
	}
	if cfg.RetryMaxInterval <= 0 {
		cfg.RetryMaxInterval = 5 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.HaltedRetryInterval <= 0 {
		cfg.HaltedRetryInterval = 30 * time.Second
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = DefaultStallAfter
	}
	if cfg.Webhooks.Sender == nil {
		cfg.Webhooks.Sender = webhook.NewSender(webhook.SenderConfig{})
	}
	if cfg.Webhooks.Schedule == (webhook.Schedule{}) {
		cfg.Webhooks.Schedule = webhook.DefaultSchedule
	}
	if err := cfg.Webhooks.Schedule.Validate(); err != nil {
		return nil, fmt.Errorf("worker: the webhooks' retry schedule: %w", err)
	}
	if cfg.Webhooks.PollInterval <= 0 {
		cfg.Webhooks.PollInterval = cfg.PollInterval
	}
	if cfg.Webhooks.Lease <= 0 {
		cfg.Webhooks.Lease = DefaultWebhookLease
	}
	if cfg.Webhooks.Lease <= cfg.Webhooks.Sender.Timeout() {
		return nil, fmt.Errorf("worker: the webhook lease (%s) must be longer than an attempt may take (%s)",
			cfg.Webhooks.Lease, cfg.Webhooks.Sender.Timeout())
	}
	if cfg.ACH.Rail != nil {
		if cfg.ACH.Cutoff <= 0 {
			cfg.ACH.Cutoff = DefaultACHCutoff
		}
		if cfg.ACH.ReturnsPoll <= 0 {
			cfg.ACH.ReturnsPoll = min(time.Minute, cfg.ACH.Cutoff)
		}
	}
	if cfg.Bus == nil {
		return nil, errors.New("worker: a bus to subscribe to is required")
	}
	if cfg.Stores.DeadLetters == nil || cfg.Stores.Deliveries == nil {
		return nil, errors.New("worker: the stores of dead letters and webhook deliveries are required")
	}
	stop := make(chan struct{})
	logger := quietWaits{LoggerAdapter: watermill.NewSlogLoggerWithLevelMapping(cfg.Logger.With("component", "watermill"), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug, // Watermill's per-message info lines are debug detail here
	}), stop: stop}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 30 * time.Second}, logger)
	if err != nil {
		return nil, err
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	router.AddMiddleware(middleware.Recoverer)
	w := &Worker{router: router, stop: stop, stores: cfg.Stores, bus: cfg.Bus, logger: cfg.Logger, obs: cfg.Observer, now: time.Now,
		sagas: map[string]func(context.Context, ledger.RecordedEvent) error{
			GroupPayments: cfg.Payments.Handle, GroupNotifications: cfg.Notifications.Handle,
		},
		pollInterval: cfg.PollInterval, maxAttempts: cfg.MaxAttempts, haltedRetry: cfg.HaltedRetryInterval, stallAfter: cfg.StallAfter, webhooks: cfg.Webhooks, ach: cfg.ACH}
	park := func(name string) func(context.Context, failure) (int64, error) {
		return func(ctx context.Context, f failure) (int64, error) {
			return app.ParkDeadLetter(ctx, cfg.Stores.DeadLetters, app.Parked{Group: name, Event: f.event, Error: f.err.Error(),
				Attempts: f.attempts, FirstFailedAt: f.first, LastFailedAt: f.last})
		}
	}

	// The sagas take one event at a time: each calls the outside world; an
	// event they keep failing on is parked. The projector and the
	// audit tree write a whole delivered batch at once in the subscriber's
	// transaction, and never skip an event.
	// The sagas read a few types and are sent only those (types). The
	// projector and the webhooks read submissions, most of the log, and
	// the audit tree every event: for them the filtered query costs more
	// to plan than it saves.
	type handler struct {
		group string
		types []string
		event func(context.Context, ledger.RecordedEvent) error
		batch func(context.Context, app.Tx, []ledger.RecordedEvent) error
	}
	var handlers []handler
	for _, p := range cfg.Projections {
		handlers = append(handlers, handler{group: p.ConsumerGroup(), batch: func(ctx context.Context, tx app.Tx, events []ledger.RecordedEvent) error {
			return app.Project(ctx, tx, p, events)
		}})
	}
	handlers = append(handlers,
		handler{group: GroupPayments, types: GroupTypes[GroupPayments], event: cfg.Payments.Handle},
		handler{group: GroupNotifications, types: GroupTypes[GroupNotifications], event: cfg.Notifications.Handle},
		handler{group: GroupAuditTree, batch: func(ctx context.Context, tx app.Tx, events []ledger.RecordedEvent) error {
			return app.AppendAuditTree(ctx, tx, cfg.AuditSigner, events)
		}},
		handler{group: GroupWebhooks, batch: func(ctx context.Context, tx app.Tx, events []ledger.RecordedEvent) error {
			return app.EnqueueWebhooks(ctx, tx, cfg.PersonalData, events, w.now())
		}},
	)
	for _, h := range handlers {
		sub, err := cfg.Bus.Subscribe(h.group, h.types, cfg.PollInterval, stop, logger)
		if err != nil {
			return nil, fmt.Errorf("subscriber %s: %w", h.group, err)
		}
		g := &group{name: h.group}
		fn := handleEvent(cfg.Bus, h.group, h.event)
		if h.batch != nil {
			fn = handleBatch(cfg.Bus, h.group, sub, h.batch)
		} else {
			g.park = park(h.group)
		}
		w.groups = append(w.groups, g)
		handler := router.AddConsumerHandler(g.name, eventsTopic, sub, w.guarded(g, observe(g.name, fn, cfg.Observer)))
		// No OnRetryHook nor ShouldRetry: Watermill advances the backoff
		// once more for each, so the waits would grow fourfold (0.2, 0.8,
		// 3.2, 5, 5 s), leaving a failing saga's batch transaction idle
		// past a session bound. The guard tells the observer of retries.
		handler.AddMiddleware(middleware.Retry{
			MaxRetries:      maxRetries,
			InitialInterval: cfg.RetryInterval,
			MaxInterval:     cfg.RetryMaxInterval,
			Multiplier:      2,
			Logger:          logger,
		}.Middleware)
	}
	return w, nil
}

// observe tells obs the outcome of every message handled.
func observe(group string, fn message.NoPublishHandlerFunc, obs Observer) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		err := fn(msg)
		obs.HandlerDone(group, err)
		return err
	}
}

// handleEvent adapts an event handler to a Watermill handler: the event's
// correlation id goes into the context for every log line it causes, and
// the call is a span named for the saga (saga.payments, saga.notifications).
func handleEvent(bus Bus, group string, fn func(context.Context, ledger.RecordedEvent) error) message.NoPublishHandlerFunc {
	return func(msg *message.Message) (err error) {
		rec, err := bus.EventFromMessage(msg)
		if err != nil {
			return err
		}
		ctx, span := startEventSpan(msg.Context(), group, rec)
		defer func() { endSpan(span, err) }()
		return fn(logging.WithCorrelation(ctx, rec.Metadata.CorrelationID), rec)
	}
}

// handleBatch adapts a batch handler: it runs at a delivered batch's first
// message with all the batch's events, in the subscriber's transaction, so
// the writes and the subscriber's position commit together. Each batch
// applied is a span, "worker.<group>", with its size.
func handleBatch(bus Bus, group string, sub message.Subscriber, fn func(context.Context, app.Tx, []ledger.RecordedEvent) error) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		return bus.ApplyBatch(sub, msg, func(tx app.Tx, events []ledger.RecordedEvent) (err error) {
			ctx, span := startBatchSpan(msg.Context(), group, events)
			defer func() { endSpan(span, err) }()
			return fn(logging.WithCorrelation(ctx, events[0].Metadata.CorrelationID), tx, events)
		})
	}
}

// Run runs the subscribers, the watch over their positions and the retries
// of dead letters until ctx ends, then lets in-flight handlers finish. An
// event is acknowledged only after its handler succeeded, or once parked.
func (w *Worker) Run(ctx context.Context) error {
	// The subscribers' statements are cancelled only once stop is closed,
	// so that what the cancellation makes Watermill log is known for what
	// it is (quietWaits).
	routerCtx, cancelRouter := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRouter()
	go func() {
		<-ctx.Done()
		close(w.stop)
		cancelRouter()
	}()
	bg, stopBackground := context.WithCancel(ctx)
	var background sync.WaitGroup
	defer background.Wait()
	defer stopBackground()
	background.Go(func() { w.watch(bg) })
	background.Go(func() { w.retryDeadLetters(bg) })
	background.Go(func() { w.deliverWebhooks(bg) })
	if w.ach.Rail != nil {
		background.Go(func() { w.runACH(bg) })
	}
	err := w.router.Run(routerCtx)
	if err != nil && ctx.Err() != nil {
		select {
		case <-w.router.Running():
		default:
			// Asked to stop while still subscribing: not a failure, whatever
			// the subscriber's cancelled statement reported (context
			// canceled, or a transaction database/sql rolled back).
			return nil
		}
		if errors.Is(err, context.Canceled) {
			return nil
		}
	}
	return err
}

// Running is closed once every subscriber runs.
func (w *Worker) Running() <-chan struct{} { return w.router.Running() }
