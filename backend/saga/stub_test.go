package saga

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// The stub rail's log line writes amounts as the API does: "125.50", never
// "125.5", and yen without decimals.
func TestStubPaymentGatewayLogsAmountsAsTheAPIShowsThem(t *testing.T) {
	for _, tt := range []struct{ amount, currency, want string }{
		{"125.5", "USD", "125.50"},
		{"7", "USD", "7.00"},
		{"500", "JPY", "500"},
		{"1.2", "KWD", "1.200"},
	} {
		var buf bytes.Buffer
		g := &StubPaymentGateway{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
		order := PaymentOrder{PaymentID: uuid.New(), Amount: decimal.RequireFromString(tt.amount), Currency: tt.currency}
		if _, err := g.Pay(context.Background(), order); err != nil {
			t.Fatal(err)
		}
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", buf.String(), err)
		}
		if line["amount"] != tt.want || line["currency"] != tt.currency {
			t.Errorf("%s %s logged as %v %v, want %s", tt.amount, tt.currency, line["amount"], line["currency"], tt.want)
		}
	}
}

// The stub rail refuses the first attempt of an amount whose minor units
// end in 13, as the README and docs/architecture.md say, and settles its
// retry; other amounts settle at once.
func TestStubPaymentGatewayRefusesAmountsEndingIn13Once(t *testing.T) {
	g := &StubPaymentGateway{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, tt := range []struct {
		amount, currency string
		refused          bool
	}{
		{"10.13", "USD", true},
		{"0.13", "USD", true},
		{"513", "JPY", true},
		{"1.013", "KWD", true},
		{"10.12", "USD", false},
		{"13.00", "USD", false},
		{"10.31", "USD", false},
		{"13", "JPY", true},
	} {
		order := PaymentOrder{PaymentID: uuid.New(), Attempt: 1, IdempotencyKey: uuid.New(), Amount: decimal.RequireFromString(tt.amount), Currency: tt.currency}
		_, err := g.Pay(context.Background(), order)
		var rejected *RejectedError
		if got := errors.As(err, &rejected) && rejected.Reason == StubRejection; got != tt.refused {
			t.Errorf("%s %s, attempt 1: %v, want refused %v", tt.amount, tt.currency, err, tt.refused)
		}
		order.Attempt, order.IdempotencyKey = 2, uuid.New()
		if _, err := g.Pay(context.Background(), order); err != nil {
			t.Errorf("%s %s, attempt 2: %v, want it settled", tt.amount, tt.currency, err)
		}
	}
}
