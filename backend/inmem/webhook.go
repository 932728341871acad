package inmem

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Webhooks keeps the banks' webhook endpoints. As in PostgreSQL, endpoints
// are written outside the ledger's transactions. Nothing delivers here: an
// endpoint's delivery log stays empty.
type Webhooks struct {
	mu        sync.Mutex
	endpoints map[uuid.UUID]app.WebhookEndpoint
}

var _ app.WebhookEndpoints = (*Webhooks)(nil)

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

// Deliveries is empty: nothing delivers in memory.
func (w *Webhooks) Deliveries(ctx context.Context, endpointID uuid.UUID, limit int) ([]app.WebhookDelivery, error) {
	return nil, nil
}

// Redeliver finds no delivery: nothing delivers in memory.
func (w *Webhooks) Redeliver(ctx context.Context, endpointID, deliveryID uuid.UUID, now time.Time) error {
	return ledger.Errorf(ledger.ENotFound, "webhook delivery %s not found", deliveryID)
}
