package worker

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
	"github.com/reimbursement-ledger/ledger/backend/wire"
)

// GroupWebhooks turns events into webhook deliveries. It only writes rows,
// in its batch transaction; the delivery loop sends them, so a slow
// receiver holds back neither this group nor any other.
const GroupWebhooks = "webhooks.deliveries"

// WebhookConfig tunes the webhook deliveries.
type WebhookConfig struct {
	// Sender posts the deliveries; nil means one with the production guard.
	Sender *webhook.Sender
	// Schedule is when failed deliveries are retried; the zero value means
	// webhook.DefaultSchedule.
	Schedule webhook.Schedule
	// PollInterval is how often the loop looks for due deliveries; the
	// worker's PollInterval when zero.
	PollInterval time.Duration
	// Lease is how long a claimed delivery is held before another worker
	// may send it again; DefaultWebhookLease when zero. It must be longer
	// than the Sender's timeout.
	Lease time.Duration
	// Random draws the schedule's jitter; nil means math/rand/v2.
	Random func() float64
}

// DefaultWebhookLease is how long a claimed delivery is held unless set:
// well beyond one attempt (webhook.DefaultTimeout).
const DefaultWebhookLease = 2 * time.Minute

// webhookTypes maps the ledger's events to the webhooks' types.
var webhookTypes = ledger.WebhookTypesByEvent()

// enqueueWebhooks writes a delivery for each event of the batch a bank's
// endpoints subscribe to, in the subscriber's transaction. The body holds
// the reimbursement as it is now, with its version, so a receiver can drop
// a message older than one it has.
//
// Folding a reimbursement costs a read of its streams, so the group first
// asks, once a batch and in the batch's snapshot, which banks listen to
// which of its types: an event nobody listens to is passed over unread,
// and one whose bank does not listen costs one shared lookup of the banks
// (a submission names its own). The deliveries written are the same as
// if every event were folded: EnqueueDeliveries selects the endpoints in
// the same snapshot.
func (w *Worker) enqueueWebhooks(ctx context.Context, tx *sql.Tx, events []ledger.RecordedEvent) error {
	var types []string
	for _, rec := range events {
		if typ, ok := webhookTypes[rec.Type]; ok && !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	if len(types) == 0 {
		return nil
	}
	listeners, err := w.db.Webhooks.Listeners(ctx, tx, types)
	if err != nil || len(listeners) == 0 {
		return err
	}
	type heard struct {
		rec                 ledger.RecordedEvent
		typ                 string
		reimbursement, bank uuid.UUID
	}
	var candidates []heard
	var unknown []uuid.UUID // reimbursements whose bank the event does not name
	for _, rec := range events {
		typ, ok := webhookTypes[rec.Type]
		if !ok || !listeners.Type(typ) {
			continue
		}
		id, bank, err := reimbursementOf(rec)
		if err != nil {
			return err
		}
		if bank == uuid.Nil {
			unknown = append(unknown, id)
		}
		candidates = append(candidates, heard{rec: rec, typ: typ, reimbursement: id, bank: bank})
	}
	if len(unknown) > 0 {
		banks, err := w.db.Events.ReimbursementBanks(ctx, tx, unknown)
		if err != nil {
			return err
		}
		for i := range candidates {
			if candidates[i].bank == uuid.Nil {
				candidates[i].bank = banks[candidates[i].reimbursement]
			}
		}
	}
	streams := app.Streams{Events: w.db.Events, Directory: w.db.Directory}
	for _, c := range candidates {
		if !listeners.Bank(c.bank, c.typ) {
			continue
		}
		r, err := streams.Reimbursement(ctx, c.reimbursement)
		if err != nil {
			return err
		}
		body, err := json.Marshal(wire.WebhookMessage{Type: c.typ, Timestamp: c.rec.RecordedAt.UTC(),
			Data: wire.WebhookData{EventID: c.rec.EventID, Reimbursement: wire.NewReimbursement(*r)}})
		if err != nil {
			return err
		}
		if err := w.db.Webhooks.EnqueueDeliveries(ctx, tx, app.WebhookEnqueue{
			BankID: r.BankID, EventID: c.rec.EventID, EventType: c.typ, Payload: body, At: w.now().UTC(),
		}); err != nil {
			return err
		}
	}
	return nil
}

// reimbursementOf returns the reimbursement an event is about, and its bank
// when the event names it (a submission does).
func reimbursementOf(rec ledger.RecordedEvent) (id, bank uuid.UUID, err error) {
	e, err := rec.Decode()
	if err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	switch e := e.(type) {
	case ledger.ReimbursementSubmitted:
		return e.ReimbursementID, e.BankID, nil
	case ledger.ReimbursementApproved:
		return e.ReimbursementID, uuid.Nil, nil
	case ledger.ReimbursementDenied:
		return e.ReimbursementID, uuid.Nil, nil
	case ledger.ReimbursementWithdrawn:
		return e.ReimbursementID, uuid.Nil, nil
	case ledger.PaymentSettled:
		return e.ReimbursementID, uuid.Nil, nil
	case ledger.PaymentFailed:
		return e.ReimbursementID, uuid.Nil, nil
	}
	return uuid.Nil, uuid.Nil, fmt.Errorf("webhooks: event %s has no reimbursement", rec.Type)
}

// deliverWebhooks sends due deliveries until ctx ends. Each endpoint's
// deliveries go one at a time, in a goroutine of its own, so a slow or
// dead receiver holds back only itself. A claim outlives a worker that dies
// mid-send only until its lease ends; then another sends it again.
func (w *Worker) deliverWebhooks(ctx context.Context) {
	cfg := w.webhooks
	var mu sync.Mutex
	busy := map[uuid.UUID]bool{}
	var sending sync.WaitGroup
	defer sending.Wait()
	ticker := time.NewTicker(cfg.PollInterval)
	defer ticker.Stop()
	for {
		mu.Lock()
		held := make([]uuid.UUID, 0, len(busy))
		for id := range busy {
			held = append(held, id)
		}
		mu.Unlock()
		due, err := w.db.Webhooks.ClaimDue(ctx, w.now().UTC(), held, 100, cfg.Lease)
		if err != nil && ctx.Err() == nil {
			w.logger.ErrorContext(ctx, "webhooks: claim due deliveries", "error", err)
		}
		byEndpoint := map[uuid.UUID][]postgres.DueDelivery{}
		for _, d := range due {
			byEndpoint[d.EndpointID] = append(byEndpoint[d.EndpointID], d)
		}
		for id, deliveries := range byEndpoint {
			mu.Lock()
			busy[id] = true
			mu.Unlock()
			sending.Go(func() {
				defer func() {
					mu.Lock()
					delete(busy, id)
					mu.Unlock()
				}()
				for _, d := range deliveries {
					if ctx.Err() != nil {
						return // the lease lets them go
					}
					w.deliver(ctx, d)
				}
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// deliver makes one attempt and records it with its outcome.
func (w *Worker) deliver(ctx context.Context, d postgres.DueDelivery) {
	cfg := w.webhooks
	now := w.now().UTC()
	res := cfg.Sender.Send(ctx, webhook.Message{URL: d.Endpoint.URL, ID: "msg_" + d.ID.String(), Timestamp: now,
		Body: d.Payload, Secrets: d.Endpoint.Secrets(now)})
	if ctx.Err() != nil {
		return // stopping: not the receiver's failure; the lease lets it go
	}
	attempt := app.WebhookAttempt{At: now, StatusCode: res.StatusCode, Latency: res.Latency, Answer: string(res.Answer)}
	if res.Err != nil {
		attempt.Error = res.Err.Error()
	}
	o := app.WebhookOutcome{Attempt: attempt, Status: app.WebhookSucceeded}
	outcome := "succeeded"
	if !res.OK() {
		first := d.FirstAttemptAt
		if first.IsZero() {
			first = now
		}
		next, ok := cfg.Schedule.Next(d.AttemptCount+1, first, w.now().UTC(), cfg.Random)
		switch {
		case ok:
			o.Status, o.NextAttemptAt, outcome = app.WebhookPending, next, "retrying"
		default:
			o.Status, outcome = app.WebhookFailed, "failed"
			o.DisableReason = fmt.Sprintf("deliveries failed for %v; the last attempt: %s", cfg.Schedule.Window, describe(res))
		}
	}
	if err := w.db.Webhooks.RecordAttempt(context.WithoutCancel(ctx), d.ID, d.EndpointID, o); err != nil {
		w.logger.ErrorContext(ctx, "webhooks: record attempt", "delivery", d.ID, "error", err)
		return
	}
	w.obs.WebhookDelivered(outcome)
	w.logger.DebugContext(ctx, "webhook attempt", "delivery", d.ID, "endpoint", d.EndpointID, "status", res.StatusCode, "outcome", outcome)
}

func describe(res webhook.Result) string {
	if res.Err != nil {
		return res.Err.Error()
	}
	return fmt.Sprintf("%d %s", res.StatusCode, http.StatusText(res.StatusCode))
}
