package inmem

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Webhooks keeps the banks' webhook endpoints and their delivery log. As in
// PostgreSQL, both are written outside the ledger's transactions. Nothing
// delivers here: the log holds what EnqueueDeliveries and RecordAttempt
// write, as the worker writes it in PostgreSQL.
type Webhooks struct {
	mu         sync.Mutex
	endpoints  map[uuid.UUID]app.WebhookEndpoint
	deliveries map[uuid.UUID]*app.WebhookDelivery
	// payloads and claims are each delivery's body and, while a worker
	// sends it, until when it holds it.
	payloads map[uuid.UUID][]byte
	claims   map[uuid.UUID]time.Time
}

var (
	_ app.WebhookEndpoints = (*Webhooks)(nil)
	_ app.WebhookQueue     = (*Webhooks)(nil)
)

func newWebhooks() *Webhooks {
	return &Webhooks{endpoints: map[uuid.UUID]app.WebhookEndpoint{}, deliveries: map[uuid.UUID]*app.WebhookDelivery{},
		payloads: map[uuid.UUID][]byte{}, claims: map[uuid.UUID]time.Time{}}
}

// AddEndpoint stores a validated endpoint.
func (w *Webhooks) AddEndpoint(ctx context.Context, e app.WebhookEndpoint) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.endpoints[e.ID]; ok {
		return ledger.Errorf(ledger.EConflict, "webhook endpoint %s already exists", e.ID)
	}
	e.EventTypes = slices.Clone(e.EventTypes)
	e.CreatedAt = timestamptz(e.CreatedAt)
	w.endpoints[e.ID] = e
	return nil
}

// Endpoint returns one of a bank's endpoints.
func (w *Webhooks) Endpoint(ctx context.Context, bankID, id uuid.UUID) (app.WebhookEndpoint, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.find(bankID, id)
}

func (w *Webhooks) find(bankID, id uuid.UUID) (app.WebhookEndpoint, error) {
	e, ok := w.endpoints[id]
	if !ok || e.BankID != bankID {
		return app.WebhookEndpoint{}, ledger.Errorf(ledger.ENotFound, "webhook endpoint %s not found", id)
	}
	e.EventTypes = slices.Clone(e.EventTypes)
	return e, nil
}

// Endpoints lists a bank's endpoints, oldest first.
func (w *Webhooks) Endpoints(ctx context.Context, bankID uuid.UUID) ([]app.WebhookEndpoint, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []app.WebhookEndpoint
	for _, e := range w.endpoints {
		if e.BankID == bankID {
			e.EventTypes = slices.Clone(e.EventTypes)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b app.WebhookEndpoint) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	return out, nil
}

// DeleteEndpoint removes one of a bank's endpoints.
func (w *Webhooks) DeleteEndpoint(ctx context.Context, bankID, id uuid.UUID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.find(bankID, id); err != nil {
		return err
	}
	delete(w.endpoints, id)
	for did, d := range w.deliveries {
		if d.EndpointID == id {
			delete(w.deliveries, did)
		}
	}
	return nil
}

// RotateSecret makes secret current and keeps the current one until expires.
func (w *Webhooks) RotateSecret(ctx context.Context, bankID, id uuid.UUID, secret string, expires time.Time) (app.WebhookEndpoint, error) {
	return w.update(bankID, id, func(e *app.WebhookEndpoint) {
		e.PreviousSecret, e.PreviousSecretExpiresAt, e.Secret = e.Secret, timestamptz(expires), secret
	})
}

// Enable clears an endpoint's disabling.
func (w *Webhooks) Enable(ctx context.Context, bankID, id uuid.UUID) (app.WebhookEndpoint, error) {
	return w.update(bankID, id, func(e *app.WebhookEndpoint) { e.DisabledAt, e.DisabledReason = time.Time{}, "" })
}

func (w *Webhooks) update(bankID, id uuid.UUID, change func(*app.WebhookEndpoint)) (app.WebhookEndpoint, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, err := w.find(bankID, id)
	if err != nil {
		return e, err
	}
	change(&e)
	w.endpoints[id] = e
	return e, nil
}

// EnqueueDeliveries writes a pending delivery for each enabled endpoint of
// the bank that subscribes to the type; an event enqueued again writes
// nothing twice.
func (w *Webhooks) EnqueueDeliveries(ctx context.Context, e app.WebhookEnqueue) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := timestamptz(e.At)
	for _, ep := range w.endpoints {
		if ep.BankID != e.BankID || !ep.DisabledAt.IsZero() || !slices.Contains(ep.EventTypes, e.EventType) {
			continue
		}
		if w.delivering(ep.ID, e.EventID) {
			continue
		}
		d := &app.WebhookDelivery{ID: uuid.New(), EndpointID: ep.ID, EventID: e.EventID, EventType: e.EventType,
			Status: app.WebhookPending, NextAttemptAt: at, CreatedAt: at}
		w.deliveries[d.ID] = d
		w.payloads[d.ID] = slices.Clone(e.Payload)
	}
	return nil
}

// Listeners reports which banks have an enabled endpoint subscribing to
// each of types.
func (w *Webhooks) Listeners(ctx context.Context, types []string) (app.WebhookListeners, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := app.WebhookListeners{}
	for _, ep := range w.endpoints {
		if !ep.DisabledAt.IsZero() {
			continue
		}
		for _, typ := range ep.EventTypes {
			if slices.Contains(types, typ) {
				if out[typ] == nil {
					out[typ] = map[uuid.UUID]bool{}
				}
				out[typ][ep.BankID] = true
			}
		}
	}
	return out, ctx.Err()
}

// ClaimDue claims up to limit due deliveries of enabled endpoints not in
// busy, the ones due first first, and holds them until lease has passed.
func (w *Webhooks) ClaimDue(ctx context.Context, now time.Time, busy []uuid.UUID, limit int, lease time.Duration) ([]app.DueDelivery, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now = timestamptz(now)
	var due []*app.WebhookDelivery
	for _, d := range w.deliveries {
		ep := w.endpoints[d.EndpointID]
		if d.Status == app.WebhookPending && !d.NextAttemptAt.After(now) && w.claims[d.ID].Before(now) &&
			ep.ID != uuid.Nil && ep.DisabledAt.IsZero() && !slices.Contains(busy, d.EndpointID) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, func(a, b *app.WebhookDelivery) int { return a.NextAttemptAt.Compare(b.NextAttemptAt) })
	out := make([]app.DueDelivery, 0, min(len(due), max(limit, 0)))
	for _, d := range due[:min(len(due), max(limit, 0))] {
		w.claims[d.ID] = now.Add(lease)
		if d.FirstAttemptAt.IsZero() {
			d.FirstAttemptAt = now
		}
		c := *d
		c.Attempts = nil
		out = append(out, app.DueDelivery{WebhookDelivery: c, Endpoint: w.endpoints[d.EndpointID], Payload: slices.Clone(w.payloads[d.ID])})
	}
	return out, ctx.Err()
}

// OldestPending is, for each endpoint with pending deliveries, when the
// oldest was created.
func (w *Webhooks) OldestPending(ctx context.Context) (map[uuid.UUID]time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[uuid.UUID]time.Time{}
	for _, d := range w.deliveries {
		if at, ok := out[d.EndpointID]; d.Status == app.WebhookPending && (!ok || d.CreatedAt.Before(at)) {
			out[d.EndpointID] = d.CreatedAt
		}
	}
	return out, ctx.Err()
}

// delivering reports whether the endpoint has a delivery of the event.
func (w *Webhooks) delivering(endpointID, eventID uuid.UUID) bool {
	for _, d := range w.deliveries {
		if d.EndpointID == endpointID && d.EventID == eventID {
			return true
		}
	}
	return false
}

// RecordAttempt records one attempt and its outcome; a delivery that
// failed for good disables its endpoint, with the reason.
func (w *Webhooks) RecordAttempt(ctx context.Context, deliveryID, endpointID uuid.UUID, o app.WebhookOutcome) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.deliveries[deliveryID]
	if !ok {
		return ledger.Errorf(ledger.ENotFound, "webhook delivery %s not found", deliveryID)
	}
	a := o.Attempt
	a.At, a.Latency, a.Answer = timestamptz(a.At), a.Latency.Truncate(time.Microsecond), validText(a.Answer)
	d.Attempts = append(d.Attempts, a)
	d.AttemptCount++
	d.Status, d.NextAttemptAt = o.Status, time.Time{}
	delete(w.claims, deliveryID)
	if o.Status == app.WebhookPending {
		d.NextAttemptAt = timestamptz(o.NextAttemptAt)
	}
	if ep, ok := w.endpoints[endpointID]; ok && o.DisableReason != "" && ep.DisabledAt.IsZero() {
		ep.DisabledAt, ep.DisabledReason = a.At, o.DisableReason
		w.endpoints[endpointID] = ep
	}
	return nil
}

// Deliveries lists an endpoint's deliveries before q.Before, newest first
// (by creation time, then id byte by byte, as PostgreSQL orders them), with
// their attempts (at most q.Limit deliveries).
func (w *Webhooks) Deliveries(ctx context.Context, q app.DeliveryQuery) ([]app.WebhookDelivery, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := func(d app.WebhookDelivery) app.PageKey { return app.PageKey{CreatedAt: d.CreatedAt, ID: d.ID} }
	var out []app.WebhookDelivery
	for _, d := range w.deliveries {
		if d.EndpointID == q.EndpointID && (q.Before.IsZero() || compareKeys(key(*d), q.Before) < 0) {
			c := *d
			c.Attempts = slices.Clone(d.Attempts)
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b app.WebhookDelivery) int { return compareKeys(key(b), key(a)) })
	return out[:min(len(out), max(q.Limit, 0))], nil
}

// Redeliver makes a delivery of the endpoint due now, on a fresh schedule.
func (w *Webhooks) Redeliver(ctx context.Context, endpointID, deliveryID uuid.UUID, now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.deliveries[deliveryID]
	if !ok || d.EndpointID != endpointID {
		return ledger.Errorf(ledger.ENotFound, "webhook delivery %s not found", deliveryID)
	}
	d.Status, d.NextAttemptAt, d.FirstAttemptAt = app.WebhookPending, timestamptz(now), time.Time{}
	return nil
}

// validText is the answer as PostgreSQL's text stores it: invalid UTF-8
// and NUL replaced.
func validText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
