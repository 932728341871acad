package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth"
)

func TestIdempotencyKeyReplaysInsteadOfRepeating(t *testing.T) {
	api := newAPI(t)
	body := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"42.00","description":"Conference ticket"}`
	first := api.post("/v1/reimbursements", body, "Idempotency-Key", "submit-1").want(t, http.StatusCreated)
	if first.header.Get("Idempotent-Replayed") != "false" {
		t.Fatalf("first answer Idempotent-Replayed = %q", first.header.Get("Idempotent-Replayed"))
	}
	events := api.eventCount()
	// The same JSON written differently is the same request.
	again := api.post("/v1/reimbursements", `{ "description":"Conference ticket", "amount":"42.00",
		"bank_account_id":"`+api.dir.Account.ID.String()+`" }`, "Idempotency-Key", "submit-1").want(t, http.StatusCreated)
	if again.header.Get("Idempotent-Replayed") != "true" || again.raw != first.raw ||
		again.header.Get("Location") != first.header.Get("Location") || again.header.Get("ETag") != `"1"` {
		t.Fatalf("replay: %v %s\nfirst: %s", again.header, again.raw, first.raw)
	}
	if n := api.eventCount(); n != events {
		t.Fatalf("the replay appended %d events", n-events)
	}
	if r := api.post("/v1/reimbursements", strings.Replace(body, "42.00", "43.00", 1), "Idempotency-Key", "submit-1").wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("Idempotency-Key") == "" {
		t.Fatalf("a different body under the same key: %s", r.raw)
	}
	api.post("/v1/reimbursements/"+first.str("id")+"/events", `{}`, "Idempotency-Key", "submit-1").wantProblem(t, http.StatusMethodNotAllowed)

	for _, bad := range []string{strings.Repeat("k", 256), "tab\tinside", "é-non-ascii"} {
		api.post("/v1/reimbursements", body, "Idempotency-Key", bad).wantProblem(t, http.StatusBadRequest)
	}
	// An empty header value is sent as such only on a raw request.
	req, _ := http.NewRequest(http.MethodPost, api.url+"/v1/reimbursements", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+api.member())
	req.Header["Idempotency-Key"] = []string{""}
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty key: %v %v", res, err)
	}
	if n := api.eventCount(); n != events {
		t.Fatalf("refused requests appended %d events", n-events)
	}
}

// Keys are each caller's own: another caller's request under the same key
// runs, and never sees the first caller's answer.
func TestIdempotencyKeysAreScopedToTheCaller(t *testing.T) {
	api := newAPI(t)
	first := api.submit("42.00")
	api.post("/v1/reimbursements", `{"bank_account_id":"`+api.dir.Account.ID.String()+`","amount":"42.00","description":"Taxi to the branch"}`,
		"Idempotency-Key", "shared-key").want(t, http.StatusCreated)
	// A second member with an account of their own uses the same key.
	member := api.as(api.admin()).post("/v1/members", `{"first_name":"Alan","last_name":"Turing","email":"alan-scope@example.com"}`).want(t, http.StatusCreated)
	acct := api.as(api.admin()).post("/v1/banks/"+api.dir.Bank.ID.String()+"/accounts", `{"bank_member_id":"`+member.str("id")+`"}`).want(t, http.StatusCreated)
	second := api.as(api.issuer.Token("member", member.str("id"))).post("/v1/reimbursements",
		`{"bank_account_id":"`+acct.str("id")+`","amount":"42.00","description":"Taxi to the branch"}`, "Idempotency-Key", "shared-key").want(t, http.StatusCreated)
	if second.header.Get("Idempotent-Replayed") != "false" || second.str("bank_member_id") != member.str("id") || second.str("id") == first.str("id") {
		t.Fatalf("another caller's request under the same key: %s", second.raw)
	}
	// The operator's key of the same name is another key too.
	api.post("/v1/banks", `{"name":"x","location":"y"}`, "Idempotency-Key", "shared-key").want(t, http.StatusCreated)
}

func TestIdempotencyKeyRefusedRequestsAreNotRemembered(t *testing.T) {
	api := newAPI(t)
	acct := api.dir.Account.ID.String()
	api.post("/v1/reimbursements", `{"bank_account_id":"`+acct+`","amount":"0","description":"x"}`, "Idempotency-Key", "fix-me").wantProblem(t, http.StatusUnprocessableEntity)
	api.post("/v1/reimbursements", `{"bank_account_id":"`+acct+`","amount":"1.00","description":"x"}`, "Idempotency-Key", "fix-me").want(t, http.StatusCreated)
}

func TestIdempotencyKeyInProgressIsAConflict(t *testing.T) {
	api := newAPI(t)
	// Another request holds the key: its transaction holds the key's lock.
	tx, err := api.db.SQL().Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	member := app.Principal{Role: app.RoleMember, ID: api.dir.Member.ID, Subject: api.dir.Member.ID.String(), Issuer: auth.DevIssuerName}
	if _, err := tx.Exec(`SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, app.ScopedIdempotencyKey(member, "busy-key")); err != nil {
		t.Fatal(err)
	}
	body := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"1.00","description":"x"}`
	api.post("/v1/reimbursements", body, "Idempotency-Key", "busy-key").wantProblem(t, http.StatusConflict)
	if api.eventCount() != 0 {
		t.Fatal("a request whose key was busy appended events")
	}
	tx.Rollback()
	api.post("/v1/reimbursements", body, "Idempotency-Key", "busy-key").want(t, http.StatusCreated)
}

func TestRetriedDecisionReplaysItsAnswer(t *testing.T) {
	api := newAPI(t)
	id := api.submit("10.00").str("id")
	approve := `{"administrator_id":"` + api.dir.Admin.ID.String() + `"}`
	first := api.post("/v1/reimbursements/"+id+"/approve", approve, "Idempotency-Key", "approve-"+id).want(t, http.StatusOK)
	// A client that lost the answer retries: it gets the approval, not a 409.
	retry := api.post("/v1/reimbursements/"+id+"/approve", approve, "Idempotency-Key", "approve-"+id).want(t, http.StatusOK)
	if retry.raw != first.raw || retry.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry %s", retry.raw)
	}
	api.post("/v1/reimbursements/"+id+"/approve", approve).wantProblem(t, http.StatusConflict)
}

func TestIfMatchForms(t *testing.T) {
	api := newAPI(t)
	admin := `{"administrator_id":"` + api.dir.Admin.ID.String() + `","reason":"no"}`
	for _, tt := range []struct {
		ifMatch string
		status  int
	}{
		{`W/"1"`, http.StatusPreconditionFailed}, // weak tags never match
		{`"2", "3"`, http.StatusPreconditionFailed},
		{`"x"`, http.StatusPreconditionFailed},
		{`1`, http.StatusBadRequest},
		{`"3", "1"`, http.StatusOK},
		{`*`, http.StatusOK},
	} {
		id := api.submit("1.00").str("id")
		r := api.post("/v1/reimbursements/"+id+"/deny", admin, "If-Match", tt.ifMatch)
		if r.status != tt.status {
			t.Errorf("If-Match %s: %d, want %d: %s", tt.ifMatch, r.status, tt.status, r.raw)
		}
	}
}
