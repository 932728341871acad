package app_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

func values(kv map[string]string) func(string) string {
	return func(name string) string { return kv[name] }
}

func TestParseListFilters(t *testing.T) {
	q, err := app.ParseListFilters(values(map[string]string{
		"status": "pending", "payment_status": "failed", "submitted_from": "2026-03-01T09:30:00+02:00",
		"submitted_to": "2026-03-31", "amount_min": "0.1", "amount_max": "1000000.005",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if q.Status != ledger.StatusPending || q.PaymentStatus != ledger.PaymentStatusFailed ||
		!q.SubmittedFrom.Equal(time.Date(2026, 3, 1, 7, 30, 0, 0, time.UTC)) ||
		!q.SubmittedBefore.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) || // the whole of March 31
		q.AmountMin.Decimal.String() != "0.1" || q.AmountMax.Decimal.String() != "1000000.005" {
		t.Fatalf("parsed %+v", q)
	}
	if q, err := app.ParseListFilters(values(nil)); err != nil || q.Status != "" || !q.SubmittedFrom.IsZero() || q.AmountMin.Valid {
		t.Fatalf("no filters parsed as %+v, %v", q, err)
	}

	for _, tt := range []struct {
		name   string
		in     map[string]string
		fields []string
	}{
		{"unknown status", map[string]string{"status": "approved,denied"}, []string{"status"}},
		{"unknown payment status", map[string]string{"payment_status": "paid"}, []string{"payment_status"}},
		{"a time without its offset", map[string]string{"submitted_from": "2026-03-01T09:00:00"}, []string{"submitted_from"}},
		{"not a date", map[string]string{"submitted_to": "2026-02-30"}, []string{"submitted_to"}},
		{"a float's exponent", map[string]string{"amount_min": "1e3"}, []string{"amount_min"}},
		{"a negative amount", map[string]string{"amount_max": "-5"}, []string{"amount_max"}},
		{"every bad one is named", map[string]string{"amount_min": "ten", "submitted_from": "yesterday", "status": "open"},
			[]string{"status", "submitted_from", "amount_min"}},
		{"an empty time range", map[string]string{"submitted_from": "2026-03-02", "submitted_to": "2026-03-01"}, []string{"submitted_to"}},
		{"to the same instant", map[string]string{"submitted_from": "2026-03-02T10:00:00Z", "submitted_to": "2026-03-02T12:00:00+02:00"}, []string{"submitted_to"}},
		{"an empty amount range", map[string]string{"amount_min": "10.00", "amount_max": "9.99"}, []string{"amount_max"}},
	} {
		_, err := app.ParseListFilters(values(tt.in))
		var invalid *ledger.Error
		if !errors.As(err, &invalid) || invalid.Code != ledger.EInvalid {
			t.Errorf("%s: %v, want invalid", tt.name, err)
			continue
		}
		var fields []string
		for _, f := range invalid.Fields {
			fields = append(fields, f.Field)
		}
		if !slices.Equal(fields, tt.fields) {
			t.Errorf("%s: names %v, want %v", tt.name, fields, tt.fields)
		}
	}
	// The same day as from and to is that whole day.
	q, err = app.ParseListFilters(values(map[string]string{"submitted_from": "2026-03-01", "submitted_to": "2026-03-01"}))
	if err != nil || q.SubmittedBefore.Sub(q.SubmittedFrom) != 24*time.Hour {
		t.Fatalf("one day: %+v, %v", q, err)
	}
}
