// Package sagatest provides fakes of the outside world the sagas call: a
// payment rail and a mailer that record every call and fail on demand.
package sagatest

import (
	"context"
	"errors"
	"sync"

	"github.com/reimbursement-ledger/ledger/backend/saga"
)

// ErrInjected is the transient failure the fakes inject.
var ErrInjected = errors.New("injected transient failure")

// Gateway is a fake payment rail. It fails the first FailFirst calls with
// ErrInjected, rejects calls with the reason Reject when it is set (every
// call, or with RejectAttempts above 0, only attempts up to that number),
// and deduplicates on the attempt's idempotency key as a real rail does.
type Gateway struct {
	FailFirst      int
	Reject         string
	RejectAttempts int

	mu    sync.Mutex
	calls []saga.PaymentOrder
	paid  map[string]saga.PaymentOrder
}

var _ saga.PaymentGateway = (*Gateway)(nil)

// Pay records the call and pays, fails or rejects as configured.
func (g *Gateway) Pay(_ context.Context, order saga.PaymentOrder) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, order)
	if len(g.calls) <= g.FailFirst {
		return "", ErrInjected
	}
	if g.Reject != "" && (g.RejectAttempts == 0 || order.Attempt <= g.RejectAttempts) {
		return "", &saga.RejectedError{Reason: g.Reject}
	}
	if g.paid == nil {
		g.paid = map[string]saga.PaymentOrder{}
	}
	g.paid[order.IdempotencyKey.String()] = order
	return "fake-" + order.IdempotencyKey.String(), nil
}

// Calls returns every call made, failed ones included.
func (g *Gateway) Calls() []saga.PaymentOrder {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]saga.PaymentOrder(nil), g.calls...)
}

// Paid returns the distinct transfers made: one per idempotency key.
func (g *Gateway) Paid() []saga.PaymentOrder {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]saga.PaymentOrder, 0, len(g.paid))
	for _, o := range g.paid {
		out = append(out, o)
	}
	return out
}

// Mailer is a fake mailer. It fails the first FailFirst sends with
// ErrInjected and records every e-mail it accepts.
type Mailer struct {
	FailFirst int

	mu       sync.Mutex
	attempts int
	sent     []saga.Email
}

var _ saga.Mailer = (*Mailer)(nil)

// Send records the e-mail or fails as configured.
func (m *Mailer) Send(_ context.Context, email saga.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts++
	if m.attempts <= m.FailFirst {
		return ErrInjected
	}
	m.sent = append(m.sent, email)
	return nil
}

// Sent returns the e-mails accepted, in order.
func (m *Mailer) Sent() []saga.Email {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]saga.Email(nil), m.sent...)
}

// Attempts returns how many sends were tried.
func (m *Mailer) Attempts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.attempts
}
