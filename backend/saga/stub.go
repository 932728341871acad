package saga

import (
	"context"
	"log/slog"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// StubPaymentGateway stands in for a real payment rail: it logs the transfer
// it would make and reports it settled. Replace it to move real money.
type StubPaymentGateway struct {
	Logger *slog.Logger
}

var _ PaymentGateway = (*StubPaymentGateway)(nil)

// Pay logs the order, its amount written as the API shows it ("125.50"),
// and returns a reference derived from the payment id.
func (g *StubPaymentGateway) Pay(ctx context.Context, order PaymentOrder) (string, error) {
	g.Logger.InfoContext(ctx, "stub payment rail: would transfer",
		"payment_id", order.PaymentID, "account_id", order.AccountID, "member_id", order.MemberID,
		"amount", ledger.FormatAmount(order.Amount, order.Currency), "currency", order.Currency)
	return "stub-" + order.PaymentID.String(), nil
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
		"email_id", email.ID, "to", email.To, "subject", email.Subject)
	return nil
}
