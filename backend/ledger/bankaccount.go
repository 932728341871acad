package ledger

// Bank details: where a payout to an account is sent. The routing number
// and the type are not secret; the account number is, so an Account holds
// it only sealed (SealedAccountNumber) and shows its last four digits.

// Account types an account's details may name.
const (
	AccountChecking = "checking"
	AccountSavings  = "savings"
)

// Payment rails: PaymentRailStub pays nothing (the default), PaymentRailACH
// pays by ACH credit and so needs every account's bank details.
const (
	PaymentRailStub = "stub"
	PaymentRailACH  = "ach"
)

// SealedAccountNumber is an account number encrypted at rest: the number
// under a data key of its own (AES-256-GCM, the account's id as additional
// data), and that data key wrapped by the key-encryption key named KeyID.
type SealedAccountNumber struct {
	Ciphertext []byte
	WrappedKey []byte
	KeyID      string
}

// BankDetails are an account's details as given when it is opened. Empty
// strings are absent.
type BankDetails struct {
	RoutingNumber string
	AccountNumber string
	AccountType   string
}

// Given reports whether any of the details was given.
func (d BankDetails) Given() bool {
	return d.RoutingNumber != "" || d.AccountNumber != "" || d.AccountType != ""
}

// Validate reports what is wrong with d: all three or none (unless
// required), a routing number of 9 digits passing the ABA checksum, an
// account number of 4 to 17 digits, checking or savings.
func (d BankDetails) Validate(required bool) error {
	var v validation
	d.check(&v, required)
	return v.err()
}

// ValidateOpening reports what is wrong with an account about to be opened
// with the bank details d, every field at once.
func (a Account) ValidateOpening(d BankDetails, required bool) error {
	var v validation
	a.check(&v)
	d.check(&v, required)
	return v.err()
}

func (d BankDetails) check(v *validation, required bool) {
	if !required && !d.Given() {
		return
	}
	switch {
	case d.RoutingNumber == "":
		v.add("routing_number", "is required")
	case !allDigits(d.RoutingNumber) || len(d.RoutingNumber) != 9:
		v.add("routing_number", "must be 9 digits")
	case !ValidRoutingNumber(d.RoutingNumber):
		v.add("routing_number", "fails the ABA checksum: check the digits")
	}
	switch {
	case d.AccountNumber == "":
		v.add("account_number", "is required")
	case !allDigits(d.AccountNumber) || len(d.AccountNumber) < 4 || len(d.AccountNumber) > 17:
		v.add("account_number", "must be 4 to 17 digits")
	}
	switch d.AccountType {
	case AccountChecking, AccountSavings:
	case "":
		v.add("account_type", "is required")
	default:
		v.add("account_type", "must be checking or savings")
	}
}

// ValidRoutingNumber reports whether s is nine digits passing the ABA
// checksum: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10).
func ValidRoutingNumber(s string) bool {
	if len(s) != 9 || !allDigits(s) {
		return false
	}
	weights := [3]int{3, 7, 1}
	sum := 0
	for i := range 9 {
		sum += weights[i%3] * int(s[i]-'0')
	}
	return sum%10 == 0
}

// Last4 is the part of an account number that may be shown.
func Last4(number string) string {
	if len(number) < 4 {
		return number
	}
	return number[len(number)-4:]
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
