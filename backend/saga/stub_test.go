package saga

import (
	"bytes"
	"context"
	"encoding/json"
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
