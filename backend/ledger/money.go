package ledger

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
)

// Currency is an ISO 4217 currency the ledger accepts.
type Currency struct {
	Code string
	// MinorUnits is how many decimal places an amount in this currency may have.
	MinorUnits int32
}

// DefaultCurrency is used when an account is opened without one.
const DefaultCurrency = "USD"

// currencies lists the ISO 4217 codes the ledger accepts, with their minor units.
var currencies = map[string]int32{
	"AED": 2, "AUD": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2,
	"CZK": 2, "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2,
	"INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2,
	"NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "RON": 2, "SAR": 2, "SEK": 2,
	"SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "USD": 2, "VND": 0, "ZAR": 2,
}

// LookupCurrency returns the currency with the given ISO 4217 code.
func LookupCurrency(code string) (Currency, bool) {
	minor, ok := currencies[code]
	return Currency{Code: code, MinorUnits: minor}, ok
}

// MaxAmount is the largest amount one reimbursement may claim.
var MaxAmount = decimal.RequireFromString("1000000.00")

// amountPattern is the only shape of amount accepted: plain digits with an
// optional fraction. No sign, exponent, spaces, separators or leading zeros,
// so that what a client sends is exactly what is recorded.
var amountPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// maxAmountLength bounds the input before it is parsed; no valid amount is longer.
const maxAmountLength = 32

// ParseAmount parses a reimbursement amount written as a decimal string
// ("125.50") in the given currency. It accepts amounts above zero, at most
// MaxAmount, with no more decimal places than the currency allows. Its
// errors are the messages a client reads beside the field.
func ParseAmount(s string, cur Currency) (decimal.Decimal, error) {
	if magnitude, negative := strings.CutPrefix(s, "-"); negative && len(s) <= maxAmountLength && amountPattern.MatchString(magnitude) {
		// A well-formed negative amount: say what is wrong with it, not its shape.
		return decimal.Decimal{}, fmt.Errorf("must be greater than 0")
	}
	d, err := parseDecimal(s, cur)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if !d.IsPositive() {
		return decimal.Decimal{}, fmt.Errorf("must be greater than 0")
	}
	if d.GreaterThan(MaxAmount) {
		return decimal.Decimal{}, fmt.Errorf("must not exceed %s", MaxAmount.StringFixed(2))
	}
	return d, nil
}

// parseDecimal parses a decimal string of the one accepted shape, with no
// more decimal places than the currency allows; zero included.
func parseDecimal(s string, cur Currency) (decimal.Decimal, error) {
	if s == "" {
		return decimal.Decimal{}, fmt.Errorf("must not be empty")
	}
	if len(s) > maxAmountLength || !amountPattern.MatchString(s) {
		return decimal.Decimal{}, fmt.Errorf(`must be a decimal string such as "125.50"`)
	}
	if i := strings.IndexByte(s, '.'); i >= 0 && int32(len(s)-i-1) > cur.MinorUnits {
		if cur.MinorUnits == 0 {
			return decimal.Decimal{}, fmt.Errorf("must be a whole number: %s has no minor units", cur.Code)
		}
		return decimal.Decimal{}, fmt.Errorf("must have at most %d decimal places in %s", cur.MinorUnits, cur.Code)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf(`must be a decimal string such as "125.50"`)
	}
	return d, nil
}

// ParseAmountBound parses a bound of an amount filter: a decimal string
// written as ParseAmount accepts it ("125.50"), in no currency, so with
// any number of decimal places, and 0 allowed.
func ParseAmountBound(s string) (decimal.Decimal, error) {
	if len(s) > maxAmountLength || !amountPattern.MatchString(s) {
		return decimal.Decimal{}, fmt.Errorf(`must be a decimal string such as "125.50"`)
	}
	return decimal.NewFromString(s)
}

// FormatAmount writes an amount with exactly the currency's decimal places.
func FormatAmount(d decimal.Decimal, currency string) string {
	cur, ok := LookupCurrency(currency)
	if !ok {
		return d.String()
	}
	return d.StringFixed(cur.MinorUnits)
}

// Amount is an exact amount in an event. Its JSON form keeps its decimal
// places ("125.50" stays "125.50"), so the stored record reads exactly as
// the API answered.
type Amount struct {
	decimal.Decimal
}

// NewAmount returns d with exactly the currency's decimal places.
func NewAmount(d decimal.Decimal, cur Currency) Amount {
	return Amount{d.Round(cur.MinorUnits)}
}

// String writes the amount with its decimal places.
func (a Amount) String() string {
	if exp := a.Exponent(); exp < 0 {
		return a.StringFixed(-exp)
	}
	return a.Decimal.String()
}

// MarshalJSON writes the amount as a JSON string with its decimal places.
func (a Amount) MarshalJSON() ([]byte, error) {
	return []byte(`"` + a.String() + `"`), nil
}
