package saga

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// A failed payout retried: the rail sees each attempt under its own key,
// the member gets one e-mail per outcome, and a late redelivery of the
// failed attempt changes nothing.
func TestRetriedPayoutPaysOnceAndEmailsEachOutcome(t *testing.T) {
	s := newMemStore()
	gw := &countingGateway{rejectFirst: "account closed"}
	mailer := &countingMailer{}
	p, n := NewPayments(s, gw, quiet, now), NewNotifications(s, mailer, quiet, now)
	ctx := context.Background()
	approval := decided(t, s, false)
	paymentID := ledger.PaymentID(approval.StreamID)
	handle := func(rec ledger.RecordedEvent) {
		t.Helper()
		for _, h := range []Handler{p, n} {
			if err := h.Handle(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	handle(approval)
	firstAttempt := last(s, paymentID)
	handle(firstAttempt)
	failed := last(s, paymentID)
	handle(failed)
	if failed.Type != ledger.TypePaymentFailed || len(mailer.sent) != 1 || !strings.Contains(mailer.sent[0].Body, "account closed") {
		t.Fatalf("after the rejection: %s, e-mails %+v", failed.Type, mailer.sent)
	}

	// An administrator retries: the use case appends the next attempt.
	payment, _ := s.Payment(ctx, paymentID)
	retry, err := payment.Retry(now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, ledger.Metadata{CorrelationID: "retry", Actor: "administrator:x"}, retry); err != nil {
		t.Fatal(err)
	}
	secondAttempt := last(s, paymentID)
	handle(secondAttempt)
	handle(firstAttempt) // redelivered late: its attempt has its outcome
	handle(secondAttempt)
	settled := last(s, paymentID)
	handle(settled)
	handle(failed) // redelivered late: its e-mail is sent

	if gw.calls != 2 || gw.orders[0].IdempotencyKey != paymentID || gw.orders[1].IdempotencyKey != ledger.PaymentAttemptKey(paymentID, 2) ||
		gw.orders[1].Attempt != 2 || !gw.orders[1].Amount.Equal(decimal.RequireFromString("19.90")) {
		t.Fatalf("rail orders %+v: want attempt 1 under the payment id, then attempt 2 under its own key", gw.orders)
	}
	if types := []string{s.stream(paymentID)[2].Type, settled.Type}; types[0] != ledger.TypePaymentRequested || types[1] != ledger.TypePaymentSettled || len(s.stream(paymentID)) != 4 {
		t.Fatalf("payment stream %v", s.stream(paymentID))
	}
	if len(mailer.sent) != 2 || mailer.sent[0].ID == mailer.sent[1].ID || !strings.Contains(mailer.sent[1].Subject, "approved and paid") ||
		mailer.sent[1].ID != ledger.AttemptNotificationStreamID(approval.StreamID, 2).String() {
		t.Fatalf("e-mails %+v: want the failure, then the payment, each under its own id", mailer.sent)
	}
	r, _ := s.Reimbursement(ctx, approval.StreamID)
	if r.PaymentStatus != ledger.PaymentStatusSettled || r.PaymentAttempt != 2 || r.PaymentFailureReason != "" {
		t.Fatalf("reimbursement after the retry: %s attempt %d %q", r.PaymentStatus, r.PaymentAttempt, r.PaymentFailureReason)
	}
}

func TestStubRailRefusesTheFirstAttemptOfAmountsEndingIn13(t *testing.T) {
	g := &StubPaymentGateway{Logger: quiet}
	for _, tt := range []struct {
		amount, currency string
		attempt          int
		refused          bool
	}{
		{"10.13", "USD", 1, true},
		{"10.13", "USD", 2, false},
		{"0.13", "USD", 1, true},
		{"10.12", "USD", 1, false},
		{"13", "USD", 1, false}, // 1300 minor units
		{"513", "JPY", 1, true},
		{"1.013", "KWD", 1, true},
		{"1.130", "KWD", 1, false},
	} {
		_, err := g.Pay(context.Background(), PaymentOrder{PaymentID: uuid.New(), IdempotencyKey: uuid.New(), Attempt: tt.attempt,
			Amount: decimal.RequireFromString(tt.amount), Currency: tt.currency})
		rejected, isRejection := err.(*RejectedError)
		if isRejection != tt.refused || (isRejection && rejected.Reason != StubRejection) || (!isRejection && err != nil) {
			t.Errorf("%s %s attempt %d: %v, want refused %v", tt.amount, tt.currency, tt.attempt, err, tt.refused)
		}
	}
}
