package ledger

import (
	"strings"
	"testing"
)

// FuzzParseAmount: whatever a client sends as an amount, parsing never
// panics, and an accepted amount is above zero, at most the maximum, with no
// more decimal places than the currency has, and reads back unchanged.
func FuzzParseAmount(f *testing.F) {
	for _, seed := range []string{"125.50", "0.01", "1000000.00", "1000000.01", "0", "-1", "1e3", "007.5", ".5", "5.", " 1", "1,5", "NaN", "Infinity", "1_000", "９", "1.0000000000000000000001"} {
		f.Add(seed, "USD")
	}
	f.Add("500", "JPY")
	f.Add("1.234", "KWD")
	f.Fuzz(func(t *testing.T, s, code string) {
		cur, ok := LookupCurrency(code)
		if !ok {
			cur, _ = LookupCurrency("USD")
		}
		d, err := ParseAmount(s, cur)
		if err != nil {
			return
		}
		if !d.IsPositive() || d.GreaterThan(MaxAmount) {
			t.Fatalf("ParseAmount(%q) accepted %s", s, d)
		}
		if i := strings.IndexByte(s, '.'); i >= 0 && int32(len(s)-i-1) > cur.MinorUnits {
			t.Fatalf("ParseAmount(%q) accepted more decimals than %s has", s, cur.Code)
		}
		again, err := ParseAmount(FormatAmount(d, cur.Code), cur)
		if err != nil || !again.Equal(d) {
			t.Fatalf("%q formats as %q, which reads back as %s, %v", s, FormatAmount(d, cur.Code), again, err)
		}
	})
}
