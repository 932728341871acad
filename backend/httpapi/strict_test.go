package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// A key sent twice is refused, at any depth, whichever case it is written
// in: a gateway reading the first "amount" must not see another request
// than the ledger, which would read the last.
func TestDuplicateKeysAreRefused(t *testing.T) {
	api := newAPI(t)
	acct := api.dir.Account.ID.String()
	tests := []struct {
		name, path, body, key string
	}{
		{"amount twice", "/v1/reimbursements", `{"bank_account_id":"` + acct + `","amount":"1.00","amount":"999.00","description":"Taxi"}`, "amount"},
		{"amount twice, in another case", "/v1/reimbursements", `{"bank_account_id":"` + acct + `","amount":"1.00","description":"Taxi","AMOUNT":"999.00"}`, "AMOUNT"},
		{"in a nested object", "/v1/reimbursements", `{"bank_account_id":"` + acct + `","amount":"1.00","description":"Taxi","note":{"a":1,"b":{"c":1,"c":2}}}`, "note.b.c"},
		{"in an array's object", "/v1/reimbursements", `{"bank_account_id":"` + acct + `","amount":"1.00","description":"Taxi","lines":[{"x":1},{"x":1,"x":2}]}`, "lines[1].x"},
		{"a denial's reason", "/v1/reimbursements/" + api.submit("5.00").str("id") + "/deny", `{"reason":"No receipt","reason":"Approved"}`, "reason"},
	}
	before := api.eventCount()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := api.post(tt.path, tt.body).wantProblem(t, http.StatusBadRequest)
			if r.fieldError(tt.key) != "appears more than once" || !strings.Contains(r.str("detail"), `"`+tt.key+`"`) {
				t.Fatalf("the answer does not name key %s: %s", tt.key, r.raw)
			}
		})
	}
	if n := api.eventCount(); n != before {
		t.Fatalf("bodies with duplicate keys appended %d events", n-before)
	}
	// Equal values under different keys of different objects are no duplicates.
	api.as(api.operator()).post("/v1/banks", `{"name":"Twin Lakes","location":"Twin Lakes"}`).want(t, http.StatusCreated)
}

// A string that is not valid UTF-8 is refused naming its field, instead of
// being stored with U+FFFD in place of what the client sent.
func TestInvalidUTF8IsRefused(t *testing.T) {
	api := newAPI(t)
	acct := api.dir.Account.ID.String()
	op := api.as(api.operator())
	tests := []struct {
		name   string
		as     *ledgerAPI
		path   string
		body   string
		fields []string
	}{
		{"raw bytes in a description", api, "/v1/reimbursements", `{"bank_account_id":"` + acct + `","amount":"1.00","description":"Taxi ` + "\xff\xfe" + `"}`, []string{"description"}},
		{"a truncated sequence in a name", op, "/v1/banks", `{"name":"Caf` + "\xc3" + `","location":"Paris"}`, []string{"name"}},
		{"an escaped lone surrogate", op, "/v1/banks", `{"name":"Bank","location":"\ud800 town"}`, []string{"location"}},
		{"two fields at once", op, "/v1/banks", `{"name":"` + "\xff" + `","location":"` + "\xfe" + `"}`, []string{"name", "location"}},
	}
	before := api.eventCount()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.as.post(tt.path, tt.body).wantProblem(t, http.StatusUnprocessableEntity)
			for _, f := range tt.fields {
				if r.fieldError(f) != "must be valid UTF-8" {
					t.Fatalf("no error names field %q: %s", f, r.raw)
				}
			}
		})
	}
	if n := api.eventCount(); n != before {
		t.Fatalf("invalid UTF-8 appended %d events", n-before)
	}
	// U+FFFD that the client wrote itself, literally or escaped, is text like any other.
	r := api.post("/v1/reimbursements", `{"bank_account_id":"`+acct+`","amount":"1.00","description":"\ufffd and �"}`).want(t, http.StatusCreated)
	if r.str("description") != "\ufffd and \ufffd" {
		t.Fatalf("description read back as %q", r.str("description"))
	}
}

// A query parameter sent without a value is refused: an unset variable in
// a client's URL template must not read as "no filter".
func TestEmptyQueryValuesAreRefused(t *testing.T) {
	api := newAPI(t)
	bank, member := api.dir.Bank.ID.String(), api.dir.Member.ID.String()
	tests := []struct {
		path   string
		params []string
	}{
		{"/v1/banks/" + bank + "/reimbursements?cursor=", []string{"cursor"}},
		{"/v1/banks/" + bank + "/reimbursements?status=", []string{"status"}},
		{"/v1/banks/" + bank + "/reimbursements?status=pending&limit=", []string{"limit"}},
		{"/v1/members/" + member + "/reimbursements?cursor&status=", []string{"cursor", "status"}},
		{"/v1/events?after=", []string{"after"}},
		{"/v1/events?stream_id=", []string{"stream_id"}},
		{"/v1/events?type=", []string{"type"}},
		{"/v1/events?recorded_from=&recorded_to=", []string{"recorded_from", "recorded_to"}},
		{"/v1/audit/checkpoints?after=&limit=10", []string{"after"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := api.get(tt.path).wantProblem(t, http.StatusBadRequest)
			for _, p := range tt.params {
				if r.fieldError(p) == "" {
					t.Fatalf("no error names parameter %s: %s", p, r.raw)
				}
			}
		})
	}
	// Left out, the same parameters mean "none".
	api.get("/v1/banks/"+bank+"/reimbursements").want(t, http.StatusOK)
	api.get("/v1/events").want(t, http.StatusOK)
}

// A type the ledger never records is a typo, not an empty log.
func TestUnknownEventTypesAreRefused(t *testing.T) {
	api := newAPI(t)
	api.submit("10.00")
	for _, query := range []string{"type=ReimbursementSubmited", "type=PaymentSettled,Nope", "type=PaymentSettled,", "type=reimbursementsubmitted"} {
		r := api.get("/v1/events?"+query).wantProblem(t, http.StatusBadRequest)
		if r.fieldError("type") == "" {
			t.Fatalf("%s: no error names type: %s", query, r.raw)
		}
		for _, known := range ledger.EventTypes {
			if !strings.Contains(r.str("detail"), known) {
				t.Fatalf("%s: the answer does not list %s: %s", query, known, r.raw)
			}
		}
	}
	if items := api.get("/v1/events?type=ReimbursementSubmitted,MemberNotified").want(t, http.StatusOK).items(); len(items) != 1 {
		t.Fatalf("the known types found %d events, want the one submission", len(items))
	}
}

// The feed's filter and the description's EventType agree on the types.
func TestSpecListsTheEventTypes(t *testing.T) {
	doc, _ := loadSpec(t)
	var described []string
	for _, v := range doc.Components.Schemas["EventType"].Value.Enum {
		described = append(described, v.(string))
	}
	if strings.Join(described, ",") != strings.Join(ledger.EventTypes, ",") {
		t.Fatalf("docs/openapi.yaml's EventType is %v, ledger.EventTypes %v", described, ledger.EventTypes)
	}
}

// Every command words a missing field alike: each required field of its
// body (as docs/openapi.yaml lists them) left out or sent as null "is
// required", all named at once; a text field sent empty "must not be empty".
func TestEveryCommandSaysIsRequired(t *testing.T) {
	api := newAPI(t)
	doc, _ := loadSpec(t)
	ids := strings.NewReplacer("{bank_id}", api.dir.Bank.ID.String(), "{id}", api.submit("5.00").str("id"), "{member_id}", api.dir.Member.ID.String())
	seen := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody == nil || op.RequestBody.Value.Content.Get("application/json") == nil {
				continue
			}
			required := op.RequestBody.Value.Content.Get("application/json").Schema.Value.Required
			if len(required) == 0 || path == "/v1/dev/tokens" { // the development issuer is off here
				continue
			}
			seen++
			target := ids.Replace(path)
			if strings.Contains(target, "{") {
				t.Fatalf("%s %s: no id for its path", method, path)
			}
			nulls := make([]string, len(required))
			for i, f := range required {
				nulls[i] = `"` + f + `":null`
			}
			for _, body := range []string{`{}`, "{" + strings.Join(nulls, ",") + "}"} {
				r := api.do(method, target, body).wantProblem(t, http.StatusUnprocessableEntity)
				for _, f := range required {
					if got := r.fieldError(f); got != "is required" {
						t.Errorf("%s %s %s: %s %q, want \"is required\": %s", method, path, body, f, got, r.raw)
					}
				}
				if errs, _ := r.body["errors"].([]any); len(errs) != len(required) {
					t.Errorf("%s %s %s: %d field errors, want %d: %s", method, path, body, len(errs), len(required), r.raw)
				}
			}
		}
	}
	if seen < 6 {
		t.Fatalf("only %d commands with required fields seen", seen)
	}
	empty := []struct{ method, path, body, field string }{
		{http.MethodPost, "/v1/reimbursements/" + api.submit("6.00").str("id") + "/deny", `{"reason":""}`, "reason"},
		{http.MethodPost, "/v1/members", `{"first_name":"","last_name":"Lovelace","email":"ada2@example.com"}`, "first_name"},
		{http.MethodPost, "/v1/banks", `{"name":"Bank","location":""}`, "location"},
		{http.MethodPost, "/v1/reimbursements", `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"","description":""}`, "description"},
		{http.MethodPut, "/v1/banks/" + api.dir.Bank.ID.String() + "/approval-policy", `{"second_approval_above":"","currency":"USD"}`, "second_approval_above"},
	}
	for _, tt := range empty {
		if got := api.do(tt.method, tt.path, tt.body).wantProblem(t, http.StatusUnprocessableEntity).fieldError(tt.field); got != "must not be empty" {
			t.Errorf("%s %s %s: %s %q, want \"must not be empty\"", tt.method, tt.path, tt.body, tt.field, got)
		}
	}
}

// Each missing field is named at once, and an amount says what is wrong
// with it in words a client can act on.
func TestSubmissionNamesWhatIsMissing(t *testing.T) {
	api := newAPI(t)
	acct := api.dir.Account.ID.String()
	tests := []struct {
		name   string
		body   string
		fields map[string]string
	}{
		{"empty object", `{}`, map[string]string{"bank_account_id": "is required", "amount": "is required", "description": "is required"}},
		{"no amount", `{"bank_account_id":"` + acct + `","description":"Taxi"}`, map[string]string{"amount": "is required"}},
		{"null amount", `{"bank_account_id":"` + acct + `","amount":null,"description":"Taxi"}`, map[string]string{"amount": "is required"}},
		{"empty amount", `{"bank_account_id":"` + acct + `","amount":"","description":"Taxi"}`, map[string]string{"amount": "must not be empty"}},
		{"negative amount", `{"bank_account_id":"` + acct + `","amount":"-5.00","description":"Taxi"}`, map[string]string{"amount": "must be greater than 0"}},
		{"zero amount and no description", `{"bank_account_id":"` + acct + `","amount":"0.00","description":""}`, map[string]string{"amount": "must be greater than 0", "description": "must not be empty"}},
		{"bad account, no amount", `{"bank_account_id":"123","description":"Taxi"}`, map[string]string{"bank_account_id": "must be a UUID", "amount": "is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := api.post("/v1/reimbursements", tt.body).wantProblem(t, http.StatusUnprocessableEntity)
			for field, want := range tt.fields {
				if got := r.fieldError(field); got != want {
					t.Errorf("%s: %q, want %q: %s", field, got, want, r.raw)
				}
			}
			if errs, _ := r.body["errors"].([]any); len(errs) != len(tt.fields) {
				t.Errorf("%d field errors, want %d: %s", len(errs), len(tt.fields), r.raw)
			}
		})
	}
	if api.eventCount() != 0 {
		t.Fatal("a refused submission appended an event")
	}
}

// HEAD answers wherever GET does, with GET's status and headers and no
// body; OPTIONS still answers with the methods allowed.
func TestHeadIsAnsweredWhereGetIs(t *testing.T) {
	api := newAPI(t)
	id := api.submit("3.00").str("id")
	endpoint := api.post("/v1/banks/"+api.dir.Bank.ID.String()+"/webhook-endpoints",
		`{"url":"https://203.0.113.10/hooks","event_types":["reimbursement.approved"]}`).want(t, http.StatusCreated).str("id")
	receipt := api.upload(id, "file", "receipt.pdf", "application/pdf", tinyPDF()).want(t, http.StatusCreated).str("id")
	path := strings.NewReplacer(":endpoint_id", endpoint, ":bank_id", api.dir.Bank.ID.String(), ":member_id", api.dir.Member.ID.String(), ":receipt_id", receipt, ":id", id, ":file", "swagger-ui.css",
		":administrator_id", api.dir.Admin.ID.String(), ":account_id", api.dir.Account.ID.String(), ":position", "1")
	// The audit routes answer once the first events are under a signed head.
	postgrestest.Eventually(t, "a signed head", func() bool {
		return api.as(api.auditor()).get("/v1/audit/heads/latest").status == http.StatusOK
	})
	query := map[string]string{"/v1/audit/consistency": "?from=1&to=1"}
	seen := 0
	for _, rule := range append(httpapi.Access(), httpapi.Rule{Method: http.MethodGet, Path: "/healthz"}, httpapi.Rule{Method: http.MethodGet, Path: "/readyz"}) {
		if rule.Method != http.MethodGet {
			continue
		}
		seen++
		p := path.Replace(rule.Path) + query[rule.Path]
		get := api.get(p).want(t, http.StatusOK)
		head := api.do(http.MethodHead, p, "").want(t, http.StatusOK)
		if head.raw != "" || head.header.Get("Content-Type") != get.header.Get("Content-Type") {
			t.Errorf("HEAD %s: %q (%s), want no body and GET's %s", p, head.raw, head.header.Get("Content-Type"), get.header.Get("Content-Type"))
		}
		if etag := get.header.Get("ETag"); head.header.Get("ETag") != etag {
			t.Errorf("HEAD %s: ETag %q, want GET's %q", p, head.header.Get("ETag"), etag)
		}
	}
	if seen < 10 {
		t.Fatalf("only %d GET operations seen", seen)
	}
	// Refusals too: no token, 401 and its challenge, with no body.
	r := api.as(noToken).do(http.MethodHead, "/v1/events", "").want(t, http.StatusUnauthorized)
	if r.raw != "" || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("HEAD without a token: %q, WWW-Authenticate %q", r.raw, r.header.Get("WWW-Authenticate"))
	}
	api.do(http.MethodHead, "/v1/events?type=Nope", "").want(t, http.StatusBadRequest)
	// A refusal's HEAD carries the Content-Type and Content-Length its GET has.
	for _, p := range []string{"/v1/reimbursements/0193a000-0000-7000-8000-00000000dead", "/v1/events?type=Nope", "/v1/no-such-route"} {
		get, head := api.do(http.MethodGet, p, ""), api.do(http.MethodHead, p, "")
		if head.status != get.status || head.raw != "" {
			t.Errorf("HEAD %s: %d %q, want GET's %d and no body", p, head.status, head.raw, get.status)
		}
		for _, h := range []string{"Content-Type", "Content-Length"} {
			if head.header.Get(h) != get.header.Get(h) || get.header.Get(h) == "" {
				t.Errorf("HEAD %s: %s %q, want GET's %q", p, h, head.header.Get(h), get.header.Get(h))
			}
		}
	}
	// A command has no HEAD.
	api.do(http.MethodHead, "/v1/reimbursements", "").want(t, http.StatusMethodNotAllowed)

	opts := api.do(http.MethodOptions, "/v1/reimbursements/"+id, "").want(t, http.StatusNoContent)
	if allow := opts.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") {
		t.Fatalf("OPTIONS: Allow %q", allow)
	}
}
