package ledger

import (
	"strings"
	"testing"
)

func TestParseAmount(t *testing.T) {
	usd, _ := LookupCurrency("USD")
	jpy, _ := LookupCurrency("JPY")
	kwd, _ := LookupCurrency("KWD")
	tests := []struct {
		in      string
		cur     Currency
		want    string // canonical fixed form; "" means an error is expected
		errPart string
	}{
		{"125.50", usd, "125.50", ""},
		{"125.5", usd, "125.50", ""},
		{"0.01", usd, "0.01", ""},
		{"1000000.00", usd, "1000000.00", ""},
		{"1000000", usd, "1000000.00", ""},
		{"1000000.01", usd, "", "must not exceed 1000000.00"},
		{"0", usd, "", "greater than 0"},
		{"0.00", usd, "", "greater than 0"},
		{"125.505", usd, "", "at most 2 decimal places"},
		{"125.500", usd, "", "at most 2 decimal places"},
		{"-5.00", usd, "", "must be greater than 0"},
		{"-0", usd, "", "must be greater than 0"},
		{"--5.00", usd, "", "decimal string"},
		{"+5.00", usd, "", "decimal string"},
		{"1e3", usd, "", "decimal string"},
		{"1,000.00", usd, "", "decimal string"},
		{" 5.00", usd, "", "decimal string"},
		{"5.", usd, "", "decimal string"},
		{".5", usd, "", "decimal string"},
		{"007.50", usd, "", "decimal string"},
		{"NaN", usd, "", "decimal string"},
		{"", usd, "", "must not be empty"},
		{strings.Repeat("9", 40), usd, "", "decimal string"},
		{"500", jpy, "500", ""},
		{"500.5", jpy, "", "whole number"},
		{"1.234", kwd, "1.234", ""},
		{"1.2345", kwd, "", "at most 3 decimal places"},
	}
	for _, tt := range tests {
		t.Run(tt.cur.Code+"/"+tt.in, func(t *testing.T) {
			got, err := ParseAmount(tt.in, tt.cur)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseAmount(%q) = %s, want an error", tt.in, got)
				}
				if !strings.Contains(err.Error(), tt.errPart) {
					t.Fatalf("ParseAmount(%q) error %q, want it to mention %q", tt.in, err, tt.errPart)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", tt.in, err)
			}
			if s := FormatAmount(got, tt.cur.Code); s != tt.want {
				t.Fatalf("ParseAmount(%q) formats as %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}

// A filter's bound is compared as a number, never through a float: any
// number of decimal places, and 0, but only the plain shape amounts have.
func TestParseAmountBound(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"0", "0"},
		{"125.5", "125.5"},
		{"0.001", "0.001"},
		{"1000000.01", "1000000.01"},
		{"0.30000000000000001", "0.30000000000000001"}, // no float would keep it
		{"-1", ""},
		{"1e3", ""},
		{"1,000", ""},
		{" 5", ""},
		{"5.", ""},
		{"", ""},
		{strings.Repeat("9", 40), ""},
	} {
		got, err := ParseAmountBound(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseAmountBound(%q) = %s, want an error", tt.in, got)
		case tt.want != "" && (err != nil || got.String() != tt.want):
			t.Errorf("ParseAmountBound(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestLookupCurrency(t *testing.T) {
	if c, ok := LookupCurrency("JPY"); !ok || c.MinorUnits != 0 {
		t.Fatalf("JPY = %+v, %v; want 0 minor units", c, ok)
	}
	for _, code := range []string{"usd", "XXX", "", "US"} {
		if _, ok := LookupCurrency(code); ok {
			t.Errorf("LookupCurrency(%q) accepted an unsupported code", code)
		}
	}
}

func TestAmountKeepsTheCurrencysDecimalPlaces(t *testing.T) {
	usd, _ := LookupCurrency("USD")
	jpy, _ := LookupCurrency("JPY")
	for _, tt := range []struct {
		in   string
		cur  Currency
		want string
	}{{"125.5", usd, `"125.50"`}, {"7", usd, `"7.00"`}, {"500", jpy, `"500"`}} {
		d, err := ParseAmount(tt.in, tt.cur)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewAmount(d, tt.cur).MarshalJSON()
		if string(b) != tt.want {
			t.Errorf("%s %s marshals as %s, want %s", tt.in, tt.cur.Code, b, tt.want)
		}
		var back Amount
		if err := back.UnmarshalJSON(b); err != nil || !back.Equal(d) {
			t.Errorf("%s does not read back: %v %v", b, back, err)
		}
	}
}
