package worker

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
)

// GroupWebhooks turns events into webhook deliveries (app.EnqueueWebhooks).
// It only writes rows, in its batch transaction; the delivery loop sends
// them, so a slow receiver holds back neither this group nor any other.
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
		due, err := w.stores.Deliveries.ClaimDue(ctx, w.now().UTC(), held, 100, cfg.Lease)
		if err != nil && ctx.Err() == nil {
			w.logger.ErrorContext(ctx, "webhooks: claim due deliveries", "error", err)
		}
		byEndpoint := map[uuid.UUID][]app.DueDelivery{}
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
func (w *Worker) deliver(ctx context.Context, d app.DueDelivery) {
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
	if err := w.stores.Deliveries.RecordAttempt(context.WithoutCancel(ctx), d.ID, d.EndpointID, o); err != nil {
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
