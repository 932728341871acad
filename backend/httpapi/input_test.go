package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// Bad input gets a problem+json answer naming what is wrong, and changes nothing.
func TestBadSubmissions(t *testing.T) {
	api := newAPI(t)
	acct := api.dir.Account.ID.String()
	valid := func(amount, description string) string {
		return `{"bank_account_id":"` + acct + `","amount":"` + amount + `","description":"` + description + `"}`
	}
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int
		field       string
	}{
		{"malformed JSON", `{"bank_account_id":`, "application/json", 400, ""},
		{"empty body", ``, "application/json", 400, ""},
		{"array body", `[1,2]`, "application/json", 400, ""},
		{"two objects", valid("1.00", "a") + `{}`, "application/json", 400, ""},
		{"amount as a number", `{"bank_account_id":"` + acct + `","amount":125.5,"description":"x"}`, "application/json", 400, "amount"},
		{"description as a number", `{"bank_account_id":"` + acct + `","amount":"1.00","description":5}`, "application/json", 400, "description"},
		{"not JSON content type", valid("1.00", "a"), "text/plain", 415, ""},
		{"no content type", valid("1.00", "a"), "", 415, ""},
		{"unknown field", `{"bank_account_id":"` + acct + `","ammount":"1.00","description":"x"}`, "application/json", 422, "ammount"},
		{"zero amount", valid("0", "a"), "application/json", 422, "amount"},
		{"negative amount", valid("-1.00", "a"), "application/json", 422, "amount"},
		{"too many decimals", valid("1.001", "a"), "application/json", 422, "amount"},
		{"over a million", valid("1000000.01", "a"), "application/json", 422, "amount"},
		{"empty description", valid("1.00", ""), "application/json", 422, "description"},
		{"description too long", valid("1.00", strings.Repeat("x", 501)), "application/json", 422, "description"},
		{"NUL in description", valid("1.00", `a\u0000b`), "application/json", 422, "description"},
		{"account is not a UUID", `{"bank_account_id":"123","amount":"1.00","description":"x"}`, "application/json", 422, "bank_account_id"},
		{"unknown account", `{"bank_account_id":"0193a000-0000-7000-8000-00000000dead","amount":"1.00","description":"x"}`, "application/json", 422, "bank_account_id"},
	}
	before := api.eventCount()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.contentType == "" {
				// do() sets JSON for any body; send this one bare.
				req, _ := http.NewRequest(http.MethodPost, api.url+"/v1/reimbursements", strings.NewReader(tt.body))
				req.Header.Set("Authorization", "Bearer "+api.member())
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != tt.status || res.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("status %d (%s), want %d problem+json", res.StatusCode, res.Header.Get("Content-Type"), tt.status)
				}
				return
			}
			r := api.do(http.MethodPost, "/v1/reimbursements", tt.body, "Content-Type", tt.contentType)
			r.wantProblem(t, tt.status)
			if tt.field != "" && r.fieldError(tt.field) == "" {
				t.Fatalf("no error names field %s: %s", tt.field, r.raw)
			}
		})
	}
	if n := api.eventCount(); n != before {
		t.Fatalf("bad submissions appended %d events", n-before)
	}
}

func TestBodyOver64KiBIsRefused(t *testing.T) {
	api := newAPI(t)
	body := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"1.00","description":"` + strings.Repeat("x", 70*1024) + `"}`
	api.post("/v1/reimbursements", body).wantProblem(t, http.StatusRequestEntityTooLarge)
	if api.eventCount() != 0 {
		t.Fatal("an oversized body appended an event")
	}
}

func TestDirectoryEndpoints(t *testing.T) {
	api := newAPI(t)
	op := api.as(api.operator())
	bank := op.post("/v1/banks", `{"name":"Lakeside Credit Union","location":"Ogdenville"}`).want(t, http.StatusCreated)
	bankID := bank.str("id")
	if bank.header.Get("Location") != "/v1/banks/"+bankID {
		t.Fatalf("Location %q", bank.header.Get("Location"))
	}
	if got := op.get("/v1/banks/"+bankID).want(t, http.StatusOK); got.str("name") != "Lakeside Credit Union" || got.str("location") != "Ogdenville" {
		t.Fatalf("bank %s", got.raw)
	}
	op.get("/v1/banks/0193a000-0000-7000-8000-00000000dead").wantProblem(t, http.StatusNotFound)
	op.get("/v1/banks/xyz").wantProblem(t, http.StatusNotFound)
	if r := op.post("/v1/banks", `{"name":"","location":"x"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("name") == "" {
		t.Fatalf("bank without name: %s", r.raw)
	}

	admin := op.post("/v1/banks/"+bankID+"/administrators", `{"first_name":"Dorothy","last_name":"Vaughan","email":"dorothy@lakeside.example"}`).want(t, http.StatusCreated)
	if admin.str("bank_id") != bankID {
		t.Fatalf("administrator %s", admin.raw)
	}
	op.post("/v1/banks/0193a000-0000-7000-8000-00000000dead/administrators", `{"first_name":"D","last_name":"V","email":"d@v.example"}`).wantProblem(t, http.StatusNotFound)
	bankAdmin := api.as(api.issuer.Token("administrator", admin.str("id")))
	if got := bankAdmin.get("/v1/banks/"+bankID).want(t, http.StatusOK); got.str("id") != bankID {
		t.Fatalf("the administrator's bank %s", got.raw)
	}

	member := bankAdmin.post("/v1/members", `{"first_name":"Katherine","last_name":"Johnson","email":"katherine@example.com"}`).want(t, http.StatusCreated)
	memberID := member.str("id")
	self := api.as(api.issuer.Token("member", memberID))
	if got := self.get("/v1/members/"+memberID).want(t, http.StatusOK); got.str("email") != "katherine@example.com" {
		t.Fatalf("member %s", got.raw)
	}
	bankAdmin.post("/v1/members", `{"first_name":"K","last_name":"J","email":"KATHERINE@example.com"}`).wantProblem(t, http.StatusConflict)
	if r := bankAdmin.post("/v1/members", `{"first_name":"K","last_name":"J","email":"not-an-address"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("email") == "" {
		t.Fatalf("bad e-mail: %s", r.raw)
	}
	// Until the member banks at Lakeside, its administrator does not see them.
	bankAdmin.get("/v1/members/"+memberID).wantProblem(t, http.StatusNotFound)

	acct := bankAdmin.post("/v1/banks/"+bankID+"/accounts", `{"bank_member_id":"`+memberID+`","nickname":"savings"}`).want(t, http.StatusCreated)
	if acct.str("currency") != "USD" || acct.str("bank_member_id") != memberID {
		t.Fatalf("account %s", acct.raw)
	}
	bankAdmin.post("/v1/banks/"+bankID+"/accounts", `{"bank_member_id":"`+memberID+`","currency":"JPY"}`).want(t, http.StatusCreated)
	if r := bankAdmin.post("/v1/banks/"+bankID+"/accounts", `{"bank_member_id":"`+memberID+`","currency":"XXX"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("currency") == "" {
		t.Fatalf("bad currency: %s", r.raw)
	}
	if r := bankAdmin.post("/v1/banks/"+bankID+"/accounts", `{"bank_member_id":"0193a000-0000-7000-8000-00000000dead"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("bank_member_id") == "" {
		t.Fatalf("unknown member: %s", r.raw)
	}
	// Another bank's administrator opens nothing at Lakeside.
	api.post("/v1/banks/"+bankID+"/accounts", `{"bank_member_id":"`+memberID+`"}`).wantProblem(t, http.StatusNotFound)
	if got := bankAdmin.get("/v1/members/"+memberID).want(t, http.StatusOK); got.str("id") != memberID {
		t.Fatalf("the member, seen by their bank's administrator: %s", got.raw)
	}
	accounts := self.get("/v1/members/"+memberID+"/accounts").want(t, http.StatusOK).items()
	if len(accounts) != 2 || accounts[0]["id"] != acct.str("id") || accounts[1]["currency"] != "JPY" {
		t.Fatalf("accounts %v", accounts)
	}
	self.get("/v1/members/0193a000-0000-7000-8000-00000000dead/accounts").wantProblem(t, http.StatusNotFound)

	// A yen account takes whole amounts only.
	jpy := accounts[1]["id"].(string)
	if r := self.post("/v1/reimbursements", `{"bank_account_id":"`+jpy+`","amount":"500.5","description":"Lunch"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("amount") == "" {
		t.Fatalf("fractional yen: %s", r.raw)
	}
	if r := self.post("/v1/reimbursements", `{"bank_account_id":"`+jpy+`","amount":"500","description":"Lunch"}`).want(t, http.StatusCreated); r.str("amount") != "500" || r.str("currency") != "JPY" {
		t.Fatalf("yen reimbursement %s", r.raw)
	}
}

func TestHealthAndUnknownRoutes(t *testing.T) {
	api := newAPI(t)
	api.get("/healthz").want(t, http.StatusOK)
	if r := api.get("/readyz").want(t, http.StatusOK); r.str("status") != "ready" {
		t.Fatalf("readyz %s", r.raw)
	}
	api.get("/v1/nothing-here").wantProblem(t, http.StatusNotFound)
	api.do(http.MethodDelete, "/v1/banks/"+api.dir.Bank.ID.String(), "").wantProblem(t, http.StatusMethodNotAllowed)
}
