package ledger

import (
	"errors"
	"testing"
)

func TestValidRoutingNumber(t *testing.T) {
	for _, tc := range []struct {
		number string
		want   bool
	}{
		{"011000015", true},  // Federal Reserve Bank of Boston
		{"021000021", true},  // JPMorgan Chase, New York
		{"122105155", true},  // Wells Fargo, Arizona
		{"026009593", true},  // Bank of America, New York
		{"011000016", false}, // last digit off by one
		{"021000012", false}, // two digits swapped
		{"123456789", false},
		{"02100002", false},   // 8 digits
		{"0210000210", false}, // 10 digits
		{"02100002a", false},
		{"", false},
	} {
		if got := ValidRoutingNumber(tc.number); got != tc.want {
			t.Errorf("ValidRoutingNumber(%q) = %v, want %v", tc.number, got, tc.want)
		}
	}
}

func TestBankDetailsValidate(t *testing.T) {
	good := BankDetails{RoutingNumber: "021000021", AccountNumber: "000123456789", AccountType: AccountChecking}
	for _, tc := range []struct {
		name     string
		d        BankDetails
		required bool
		want     map[string]string // field -> message; nil: valid
	}{
		{"none, optional", BankDetails{}, false, nil},
		{"all three", good, true, nil},
		{"none, required", BankDetails{}, true, map[string]string{"routing_number": "is required", "account_number": "is required", "account_type": "is required"}},
		{"only a routing number", BankDetails{RoutingNumber: "021000021"}, false, map[string]string{"account_number": "is required", "account_type": "is required"}},
		{"checksum", BankDetails{RoutingNumber: "021000012", AccountNumber: "1234", AccountType: AccountSavings}, false, map[string]string{"routing_number": "fails the ABA checksum: check the digits"}},
		{"short routing", BankDetails{RoutingNumber: "12345", AccountNumber: "1234", AccountType: AccountSavings}, false, map[string]string{"routing_number": "must be 9 digits"}},
		{"short account", BankDetails{RoutingNumber: "021000021", AccountNumber: "123", AccountType: AccountSavings}, false, map[string]string{"account_number": "must be 4 to 17 digits"}},
		{"long account", BankDetails{RoutingNumber: "021000021", AccountNumber: "123456789012345678", AccountType: AccountSavings}, false, map[string]string{"account_number": "must be 4 to 17 digits"}},
		{"letters in account", BankDetails{RoutingNumber: "021000021", AccountNumber: "12-34", AccountType: AccountSavings}, false, map[string]string{"account_number": "must be 4 to 17 digits"}},
		{"type", BankDetails{RoutingNumber: "021000021", AccountNumber: "1234", AccountType: "money market"}, false, map[string]string{"account_type": "must be checking or savings"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.d.Validate(tc.required)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != EInvalid {
				t.Fatalf("Validate: %v, want EInvalid", err)
			}
			got := map[string]string{}
			for _, f := range e.Fields {
				got[f.Field] = f.Message
			}
			if len(got) != len(tc.want) {
				t.Fatalf("fields %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
		})
	}
}
