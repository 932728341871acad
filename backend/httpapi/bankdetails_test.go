package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
)

// An account opened with bank details answers its routing number, type and
// the last four digits of its number; no answer, list or event holds the
// number itself. Bad details get 422 naming the field.
func TestAccountBankDetails(t *testing.T) {
	api := newAPI(t)
	admin := api.as(api.admin())
	bank, member := api.dir.Bank.ID.String(), api.dir.Member.ID.String()
	path := "/v1/banks/" + bank + "/accounts"
	const number = "000123456789"
	body := func(fields string) string { return `{"bank_member_id":"` + member + `"` + fields + `}` }

	for _, tc := range []struct {
		name, fields, field, message string
	}{
		{"checksum", `,"routing_number":"021000012","account_number":"` + number + `","account_type":"checking"`, "routing_number", "fails the ABA checksum: check the digits"},
		{"letters", `,"routing_number":"02100002X","account_number":"` + number + `","account_type":"checking"`, "routing_number", "must be 9 digits"},
		{"eight digits", `,"routing_number":"02100002","account_number":"` + number + `","account_type":"checking"`, "routing_number", "must be 9 digits"},
		{"empty routing", `,"routing_number":"","account_number":"` + number + `","account_type":"checking"`, "routing_number", "must not be empty"},
		{"null routing", `,"routing_number":null,"account_number":"` + number + `","account_type":"checking"`, "routing_number", "is required"},
		{"short number", `,"routing_number":"021000021","account_number":"123","account_type":"checking"`, "account_number", "must be 4 to 17 digits"},
		{"long number", `,"routing_number":"021000021","account_number":"123456789012345678","account_type":"checking"`, "account_number", "must be 4 to 17 digits"},
		{"missing number", `,"routing_number":"021000021","account_type":"savings"`, "account_number", "is required"},
		{"type", `,"routing_number":"021000021","account_number":"` + number + `","account_type":"brokerage"`, "account_type", "must be checking or savings"},
		{"missing type", `,"routing_number":"021000021","account_number":"` + number + `"`, "account_type", "is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := admin.post(path, body(tc.fields)).wantProblem(t, http.StatusUnprocessableEntity)
			got := res.fieldError(tc.field)
			if got == "" || (tc.message != "" && got != tc.message) {
				t.Fatalf("%s: %q, want %q; %s", tc.field, got, tc.message, res.raw)
			}
			if strings.Contains(res.raw, number) {
				t.Fatalf("the problem repeats the account number: %s", res.raw)
			}
		})
	}

	// The wrong JSON type is a malformed body (400), naming the field all the same.
	if res := admin.post(path, body(`,"routing_number":"021000021","account_number":123456,"account_type":"checking"`)).wantProblem(t, http.StatusBadRequest); res.fieldError("account_number") == "" {
		t.Fatalf("a number as a JSON number: %s", res.raw)
	}

	opened := admin.post(path, body(`,"routing_number":"122105155","account_number":"`+number+`","account_type":"checking"`)).want(t, http.StatusCreated)
	if opened.str("routing_number") != "122105155" || opened.str("account_type") != "checking" || opened.str("account_number_last4") != "6789" {
		t.Fatalf("opened: %s", opened.raw)
	}
	plain := admin.post(path, body(``)).want(t, http.StatusCreated)
	if plain.body["routing_number"] != nil || plain.body["account_number_last4"] != nil {
		t.Fatalf("an account without details: %s", plain.raw)
	}
	answers := []response{
		opened,
		admin.get("/v1/accounts/"+opened.str("id")).want(t, http.StatusOK),
		api.as(api.member()).get("/v1/accounts/"+opened.str("id")).want(t, http.StatusOK),
		api.as(api.member()).get("/v1/members/"+member+"/accounts").want(t, http.StatusOK),
		admin.get(path).want(t, http.StatusOK),
	}
	for _, r := range answers {
		if strings.Contains(r.raw, number) || strings.Contains(r.raw, "account_number\"") {
			t.Fatalf("an answer holds the account number: %s", r.raw)
		}
		if !strings.Contains(r.raw, `"account_number_last4":"6789"`) {
			t.Fatalf("an answer lacks the last four digits: %s", r.raw)
		}
	}
	// A claim paid into the account records the account's id, never its number.
	claim := api.as(api.member()).post("/v1/reimbursements", `{"bank_account_id":"`+opened.str("id")+`","amount":"12.00","description":"Taxi"}`).want(t, http.StatusCreated)
	var events []byte
	if err := api.db.SQL().QueryRow(`SELECT coalesce(string_agg(convert_to(e::text, 'UTF8'), '\x0a'::bytea), '') FROM events e`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(events), claim.str("id")) || strings.Contains(string(events), number) {
		t.Fatalf("the events: hold the claim %v, hold the account number %v", strings.Contains(string(events), claim.str("id")), strings.Contains(string(events), number))
	}
}

// With PAYMENT_RAIL=ach an account cannot be opened without its details.
func TestACHRailRequiresBankDetails(t *testing.T) {
	api := newAPI(t)
	a := app.New(app.Config{Stores: api.db.Stores(), AuditKeys: postgrestest.AuditKeys, PaymentRail: ledger.PaymentRailACH,
		Webhooks: app.WebhookConfig{Destinations: webhook.Guard{AllowPrivate: true}, NewSecret: webhook.NewSecret}})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{App: a, Tokens: api.issuer.Verifier(), Ready: api.db.Ping, Logger: quiet, API: true}))
	t.Cleanup(srv.Close)
	ach := *api
	ach.url = srv.URL
	admin := ach.as(api.admin())
	path := "/v1/banks/" + api.dir.Bank.ID.String() + "/accounts"
	res := admin.post(path, `{"bank_member_id":"`+api.dir.Member.ID.String()+`"}`).wantProblem(t, http.StatusUnprocessableEntity)
	for _, field := range []string{"routing_number", "account_number", "account_type"} {
		if res.fieldError(field) != "is required" {
			t.Fatalf("%s: %q, want is required; %s", field, res.fieldError(field), res.raw)
		}
	}
	admin.post(path, `{"bank_member_id":"`+api.dir.Member.ID.String()+`","routing_number":"011000015","account_number":"5555","account_type":"savings"}`).
		want(t, http.StatusCreated)
}

// An account opened with an Idempotency-Key replays as any command does,
// tells a different account number apart, and leaves no plain hash of the
// number with the key: the stored fingerprint counts the number by its
// keyed digest.
func TestIdempotentAccountOpeningKeepsNoPlainHashOfTheNumber(t *testing.T) {
	api := newAPI(t)
	admin := api.as(api.admin())
	path := "/v1/banks/" + api.dir.Bank.ID.String() + "/accounts"
	body := func(number string) string {
		return `{"account_number":"` + number + `","account_type":"checking","bank_member_id":"` + api.dir.Member.ID.String() + `","routing_number":"021000021"}`
	}
	first := admin.post(path, body("4321"), "Idempotency-Key", "open-1").want(t, http.StatusCreated)
	again := admin.post(path, body("4321"), "Idempotency-Key", "open-1").want(t, http.StatusCreated)
	if again.header.Get("Idempotent-Replayed") != "true" || again.raw != first.raw {
		t.Fatalf("the retry: %s, replayed %q", again.raw, again.header.Get("Idempotent-Replayed"))
	}
	if r := admin.post(path, body("4322"), "Idempotency-Key", "open-1").wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("Idempotency-Key") == "" {
		t.Fatalf("another account number under the same key: %s", r.raw)
	}
	var stored []byte
	if err := api.db.SQL().QueryRow(`SELECT fingerprint FROM idempotency_keys`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	plain := sha256.Sum256([]byte("POST " + path + "\n" + body("4321")))
	if bytes.Equal(stored, plain[:]) {
		t.Fatal("the stored fingerprint is a plain hash of the body with the account number")
	}
}
