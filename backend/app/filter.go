package app

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The filters of the reimbursement lists and the export, by the names the
// API's query and the command line's flags give them.
const (
	FilterStatus        = "status"
	FilterPaymentStatus = "payment_status"
	FilterSubmittedFrom = "submitted_from"
	FilterSubmittedTo   = "submitted_to"
	FilterAmountMin     = "amount_min"
	FilterAmountMax     = "amount_max"
)

// ParseListFilters reads the filters of a reimbursement list from value,
// which returns the text given for a name ("" when absent), into a
// ListQuery that selects nothing else:
//
//   - status, payment_status: one of the statuses;
//   - submitted_from, submitted_to: an RFC 3339 time (2026-03-01T09:00:00Z)
//     or date (2026-03-01). A date is that whole day in UTC: from its first
//     instant, to its last. A time is an instant: submitted_from includes
//     it, submitted_to does not (as the feed's recorded_to);
//   - amount_min, amount_max: decimal strings ("125.50"), both included,
//     compared as numbers whatever the currency.
//
// It fails with EInvalid naming every bad value, and submitted_to or
// amount_max when the range they close is empty.
func ParseListFilters(value func(name string) string) (ListQuery, error) {
	var q ListQuery
	var bad []ledger.FieldError
	fail := func(name, msg string) { bad = append(bad, ledger.FieldError{Field: name, Message: msg}) }

	if raw := value(FilterStatus); raw != "" {
		status, ok := ledger.ParseStatus(raw)
		if !ok {
			fail(FilterStatus, "must be "+OneOf(ledger.Statuses))
		}
		q.Status = status
	}
	if raw := value(FilterPaymentStatus); raw != "" {
		status, ok := ledger.ParsePaymentStatus(raw)
		if !ok {
			fail(FilterPaymentStatus, "must be "+OneOf(ledger.PaymentStatuses))
		}
		q.PaymentStatus = status
	}
	if raw := value(FilterSubmittedFrom); raw != "" {
		from, _, err := parseInstantOrDay(raw)
		if err != nil {
			fail(FilterSubmittedFrom, err.Error())
		}
		q.SubmittedFrom = from
	}
	if raw := value(FilterSubmittedTo); raw != "" {
		to, day, err := parseInstantOrDay(raw)
		if err != nil {
			fail(FilterSubmittedTo, err.Error())
		} else if day {
			to = to.AddDate(0, 0, 1) // the whole day: up to the next one's first instant
		}
		q.SubmittedBefore = to
	}
	for _, bound := range []struct {
		name string
		into *decimal.NullDecimal
	}{{FilterAmountMin, &q.AmountMin}, {FilterAmountMax, &q.AmountMax}} {
		if raw := value(bound.name); raw != "" {
			d, err := ledger.ParseAmountBound(raw)
			if err != nil {
				fail(bound.name, err.Error())
				continue
			}
			*bound.into = decimal.NullDecimal{Decimal: d, Valid: true}
		}
	}
	if len(bad) == 0 && !q.SubmittedFrom.IsZero() && !q.SubmittedBefore.IsZero() && !q.SubmittedBefore.After(q.SubmittedFrom) {
		fail(FilterSubmittedTo, "must be after submitted_from")
	}
	if len(bad) == 0 && q.AmountMin.Valid && q.AmountMax.Valid && q.AmountMax.Decimal.LessThan(q.AmountMin.Decimal) {
		fail(FilterAmountMax, "must not be below amount_min")
	}
	if len(bad) > 0 {
		msgs := make([]string, len(bad))
		for i, f := range bad {
			msgs[i] = f.Field + " " + f.Message
		}
		return ListQuery{}, &ledger.Error{Code: ledger.EInvalid, Message: strings.Join(msgs, "; "), Fields: bad}
	}
	return q, nil
}

// OneOf names values as alternatives in words: "a, b or c".
func OneOf[S ~string](values []S) string {
	var b strings.Builder
	for i, v := range values {
		switch {
		case i == 0:
		case i == len(values)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(v))
	}
	return b.String()
}

// maxInstantLength bounds a time before it is parsed; no RFC 3339 time
// with nanoseconds is longer.
const maxInstantLength = 40

// parseInstantOrDay parses an RFC 3339 time, or a date (full-date), which
// is its first instant in UTC; day reports which.
func parseInstantOrDay(raw string) (t time.Time, day bool, err error) {
	if len(raw) <= maxInstantLength {
		if t, err := time.Parse(time.DateOnly, raw); err == nil {
			return t, true, nil
		}
		if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
			return t.UTC(), false, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("must be an RFC 3339 date or time, such as 2026-03-01 or 2026-03-01T09:00:00Z")
}
