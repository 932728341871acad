package saga

import (
	"context"
	"log/slog"

	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// StubPaymentGateway stands in for a real payment rail: it logs the transfer
// it would make and reports it settled. Replace it to move real money.
//
// So that a failed payout and its retry can be shown end to end (the
// Postman collection does), it refuses the first attempt of an amount
// whose minor units end in 13 (10.13 USD, 513 JPY) with the reason
// StubRejection; a retry of it settles.
type StubPaymentGateway struct {
	Logger *slog.Logger
}

var _ PaymentGateway = (*StubPaymentGateway)(nil)

// StubRejection is the stub rail's reason for the attempts it refuses.
const StubRejection = "account closed"

// Pay logs the order, its amount written as the API shows it ("125.50"),
// and returns a reference derived from the attempt's idempotency key, or
// refuses it as described on StubPaymentGateway.
func (g *StubPaymentGateway) Pay(ctx context.Context, order PaymentOrder) (string, error) {
	log := g.Logger.With("payment_id", order.PaymentID, "attempt", order.Attempt, "account_id", order.AccountID,
		"member_id", order.MemberID, "amount", ledger.FormatAmount(order.Amount, order.Currency), "currency", order.Currency)
	if order.Attempt <= 1 && stubRefuses(order) {
		log.InfoContext(ctx, "stub payment rail: refuses the first attempt of an amount ending in 13")
		return "", &RejectedError{Reason: StubRejection}
	}
	log.InfoContext(ctx, "stub payment rail: would transfer")
	return "stub-" + order.IdempotencyKey.String(), nil
}

// stubRefuses reports whether the order's amount, in minor units, ends in 13.
func stubRefuses(order PaymentOrder) bool {
	cur, ok := ledger.LookupCurrency(order.Currency)
	if !ok {
		return false
	}
	minor := order.Amount.Shift(cur.MinorUnits)
	return minor.IsInteger() && minor.Mod(decimal.NewFromInt(100)).Equal(decimal.NewFromInt(13))
}

// StubMailer stands in for a real e-mail provider: it logs the e-mail it
// would send. Replace it to reach members.
type StubMailer struct {
	Logger *slog.Logger
}

var _ Mailer = (*StubMailer)(nil)

// Send logs the e-mail.
func (m *StubMailer) Send(ctx context.Context, email Email) error {
	m.Logger.InfoContext(ctx, "stub mailer: would send e-mail",
		"email_id", email.ID, "kind", email.Kind, "subject", email.Subject) // the address is personal data: logs keep ids
	return nil
}
