package saga

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Payments pays approved reimbursements: on ReimbursementApproved it records
// PaymentRequested (the first attempt); on PaymentRequested, of the first
// attempt or of a retry an administrator asked for, it calls the rail with
// that attempt's idempotency key and records PaymentSettled or
// PaymentFailed, unless the rail answers later (ErrPending: the ACH rail
// records PaymentSent, then PaymentSettled or PaymentReturned, itself).
type Payments struct {
	store   Store
	gateway PaymentGateway
	logger  *slog.Logger
	now     clock
}

// NewPayments returns the payment saga.
func NewPayments(store Store, gateway PaymentGateway, logger *slog.Logger, now func() time.Time) *Payments {
	return &Payments{store: store, gateway: gateway, logger: logger, now: now}
}

const paymentsActor = "saga:payments"

// PaymentTypes are the event types the payment saga reacts to; its
// subscriber reads no others.
var PaymentTypes = []string{ledger.TypeReimbursementApproved, ledger.TypePaymentRequested}

// Handle reacts to one event of PaymentTypes; others are ignored.
func (p *Payments) Handle(ctx context.Context, rec ledger.RecordedEvent) error {
	if !slices.Contains(PaymentTypes, rec.Type) {
		return nil
	}
	e, err := rec.Decode()
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case ledger.ReimbursementApproved:
		return p.request(ctx, rec, e)
	case ledger.PaymentRequested:
		return p.pay(ctx, rec, e)
	}
	return nil
}

func (p *Payments) request(ctx context.Context, rec ledger.RecordedEvent, e ledger.ReimbursementApproved) error {
	r, err := p.store.Reimbursement(ctx, e.ReimbursementID)
	if err != nil {
		return err
	}
	event, err := ledger.RequestPayment(*r, p.now())
	if err != nil {
		return err
	}
	err = p.store.Append(ctx, caused(rec, paymentsActor), event)
	if alreadyRecorded(err) {
		return nil
	}
	return err
}

func (p *Payments) pay(ctx context.Context, rec ledger.RecordedEvent, e ledger.PaymentRequested) error {
	payment, err := p.store.Payment(ctx, e.PaymentID)
	if err != nil {
		return err
	}
	log := logWith(p.logger, rec).With("payment_id", payment.ID, "reimbursement_id", payment.ReimbursementID)
	log = log.With("attempt", e.Attempt)
	if payment.Attempt != e.Attempt || payment.Status != ledger.PaymentStatusRequested {
		log.InfoContext(ctx, "payment attempt already has its outcome", "status", payment.Status, "latest_attempt", payment.Attempt)
		return nil
	}
	reference, err := p.gateway.Pay(ctx, PaymentOrder{
		PaymentID: payment.ID, Attempt: payment.Attempt, IdempotencyKey: payment.IdempotencyKey(),
		BankID: payment.BankID, MemberID: payment.MemberID, AccountID: payment.AccountID,
		Amount: payment.Request.Amount.Decimal, Currency: payment.Request.Currency,
	})
	var rejected *RejectedError
	var outcome ledger.PendingEvent
	switch {
	case errors.Is(err, ErrPending):
		log.InfoContext(ctx, "payment accepted by the rail; it records the outcome")
		return nil
	case errors.As(err, &rejected):
		log.WarnContext(ctx, "payment rejected by the rail", "reason", rejected.Reason)
		outcome, err = payment.Fail(rejected.Reason, p.now())
	case err != nil:
		log.WarnContext(ctx, "payment rail failed; will retry", "error", err)
		return fmt.Errorf("pay %s: %w", payment.ID, err)
	default:
		log.InfoContext(ctx, "payment settled", "rail_reference", reference)
		outcome, err = payment.Settle(reference, p.now())
	}
	if err != nil {
		return err
	}
	err = p.store.Append(ctx, caused(rec, paymentsActor), outcome)
	if alreadyRecorded(err) {
		return nil
	}
	return err
}
