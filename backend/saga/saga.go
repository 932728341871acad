// Package saga drives the side effects of decisions: paying approved
// reimbursements through a payment rail and e-mailing members. Each step
// checks the event store before acting and records its outcome as an event,
// so a redelivered or replayed event never pays or e-mails twice.
package saga

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Store is what the sagas read and write.
type Store interface {
	Reimbursement(ctx context.Context, id uuid.UUID) (*ledger.Reimbursement, error)
	Payment(ctx context.Context, id uuid.UUID) (*ledger.Payment, error)
	Member(ctx context.Context, id uuid.UUID) (ledger.Member, error)
	Account(ctx context.Context, id uuid.UUID) (ledger.Account, error)
	StreamVersion(ctx context.Context, streamID uuid.UUID) (int64, error)
	// Append returns ledger.ErrVersionConflict when a version is taken.
	Append(ctx context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) error
}

// PaymentGateway moves money from a bank to a member's account.
type PaymentGateway interface {
	// Pay transfers the order's amount. The rail deduplicates on
	// order.IdempotencyKey, so a repeated call for one attempt never pays
	// twice, while a retry after a failure, which has a key of its own, is
	// a new transfer. It returns a *RejectedError when the rail refuses the
	// attempt for good; any other error is transient and the call is
	// repeated.
	Pay(ctx context.Context, order PaymentOrder) (reference string, err error)
}

// PaymentOrder is one attempt at one transfer to a member.
type PaymentOrder struct {
	PaymentID uuid.UUID
	// Attempt counts from 1; IdempotencyKey is the attempt's key at the rail.
	Attempt        int
	IdempotencyKey uuid.UUID
	BankID         uuid.UUID
	MemberID       uuid.UUID
	AccountID      uuid.UUID
	Amount         decimal.Decimal
	Currency       string
}

// ErrPending is what a rail that answers later returns from Pay: it has
// accepted the order (the ACH rail puts it in the bank's next file) and
// records the attempt's outcome on the payment's stream itself.
var ErrPending = errors.New("payment accepted; the rail records its outcome later")

// RejectedError is a payment attempt the rail refused for good.
type RejectedError struct {
	Reason string
}

func (e *RejectedError) Error() string { return "payment rejected: " + e.Reason }

// Mailer sends e-mail to members.
type Mailer interface {
	// Send delivers an e-mail. The provider deduplicates on email.ID, so a
	// retried call sends once. Errors are transient and retried.
	Send(ctx context.Context, email Email) error
}

// Email is one message to a member.
type Email struct {
	ID      string // idempotency key at the provider
	To      string
	Subject string
	Body    string
	// The facts the e-mail reports, for a mailer that writes its own
	// message from templates: Kind (EmailDenied, EmailPaid or
	// EmailPaymentFailed), the member's first name, the amount as the API
	// writes it with its currency ("19.90 USD"), the request's description,
	// Reason (the denial's, or the rail's for a failed payment), Attempt
	// (the payment attempt, 0 for a denial), the account paid into (its id
	// and its nickname) and At, when the saga handled the outcome.
	Kind        string
	FirstName   string
	Amount      string
	Description string
	Reason      string
	Attempt     int
	AccountID   uuid.UUID
	AccountName string
	// AccountLast4 is the account number's last 4 digits, empty when the
	// account has no number.
	AccountLast4 string
	At           time.Time
}

// Kinds of e-mail the notification saga sends.
const (
	EmailDenied        = "denied"
	EmailPaid          = "paid"
	EmailPaymentFailed = "payment_failed"
)

// Handler reacts to one recorded event.
type Handler interface {
	Handle(ctx context.Context, rec ledger.RecordedEvent) error
}

// caused returns the metadata of an event a saga appends in reaction to rec.
func caused(rec ledger.RecordedEvent, actor string) ledger.Metadata {
	return ledger.Metadata{CorrelationID: rec.Metadata.CorrelationID, CausationID: rec.EventID.String(), Actor: actor}
}

// alreadyRecorded reports whether an append lost to an earlier run of the
// same step: the outcome is recorded, there is nothing left to do.
func alreadyRecorded(err error) bool {
	return errors.Is(err, ledger.ErrVersionConflict)
}

// logWith names the event in a saga's log lines; the correlation id comes
// from the context they are logged with.
func logWith(logger *slog.Logger, rec ledger.RecordedEvent) *slog.Logger {
	return logger.With("event_type", rec.Type, "position", rec.Position)
}

// clock is the time source of both sagas.
type clock func() time.Time
