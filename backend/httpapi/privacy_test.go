package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
)

// receiver is a webhook endpoint that keeps the bodies it receives.
type receiver struct {
	url    string
	mu     sync.Mutex
	bodies []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, string(body))
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/hooks"
	return r
}

func (r *receiver) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bodies)
}

// storedText returns every event's data and every webhook payload, as
// stored.
func storedText(t *testing.T, db *postgres.DB) string {
	t.Helper()
	var s string
	if err := db.SQL().QueryRow(`SELECT coalesce(string_agg(data::text, E'\n'), '') || E'\n' ||
		coalesce((SELECT string_agg(payload, E'\n') FROM webhook_deliveries), '') FROM events`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A member's description, an administrator's note and a denial's reason
// are stored sealed: the events hold none of them in clear, every answer
// (the claim, the lists, the export, the feed) shows them opened.
func TestPersonalDataIsSealedAtRest(t *testing.T) {
	api := newAPI(t)
	member, admin := api.as(api.member()), api.as(api.admin())
	const description, note, reason = "Dinner with the Lisbon client", "fine by policy 4.2", "no receipt for the wine"
	approved := member.post("/v1/reimbursements", `{"bank_account_id":"`+api.dir.Account.ID.String()+`","amount":"40.00","description":"`+description+`"}`).want(t, http.StatusCreated)
	if approved.str("description") != description {
		t.Fatalf("the submission answers %s", approved.raw)
	}
	admin.post("/v1/reimbursements/"+approved.str("id")+"/approve", `{"note":"`+note+`"}`).want(t, http.StatusOK)
	denied := member.post("/v1/reimbursements", `{"bank_account_id":"`+api.dir.Account.ID.String()+`","amount":"9.00","description":"Wine"}`).want(t, http.StatusCreated)
	admin.post("/v1/reimbursements/"+denied.str("id")+"/deny", `{"reason":"`+reason+`"}`).want(t, http.StatusOK)

	stored := storedText(t, api.db)
	for _, secret := range []string{description, note, reason, "Wine"} {
		if strings.Contains(stored, secret) {
			t.Fatalf("the events hold %q in clear", secret)
		}
	}
	if strings.Count(stored, `"pii:v1:`+api.dir.Member.ID.String()+":") < 4 {
		t.Fatalf("the events do not hold the sealed fields:\n%s", stored)
	}
	got := admin.get("/v1/reimbursements/"+approved.str("id")).want(t, http.StatusOK)
	if got.str("description") != description || !strings.Contains(got.raw, note) {
		t.Fatalf("the claim reads %s", got.raw)
	}
	postgrestest.Eventually(t, "the list shows both decided", func() bool {
		return strings.Contains(admin.get("/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements").raw, `"status":"denied"`)
	})
	list := admin.get("/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements").want(t, http.StatusOK)
	export := admin.get("/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements/export").want(t, http.StatusOK)
	feed := api.as(api.auditor()).get("/v1/events").want(t, http.StatusOK)
	for name, r := range map[string]response{"list": list, "export": export, "feed": feed} {
		for _, secret := range []string{description, reason} {
			if !strings.Contains(r.raw, secret) {
				t.Errorf("the %s lacks %q: %s", name, secret, r.raw)
			}
		}
	}
}

// Erasing a member: refused while a claim of theirs is pending; then the
// claims, the lists, the export, the feed, the member's record, their copy
// of their data and the queued webhooks show their personal data as
// "[erased]", a rebuild of the read model too, and the full audit still
// verifies. Nothing more is recorded about them.
func TestErasure(t *testing.T) {
	api := newAPI(t)
	member, admin, operator := api.as(api.member()), api.as(api.admin()), api.as(api.operator())
	memberPath := "/v1/members/" + api.dir.Member.ID.String()
	hook := newReceiver(t)
	admin.post("/v1/banks/"+api.dir.Bank.ID.String()+"/webhook-endpoints", `{"url":"`+hook.url+`","event_types":["reimbursement.denied"]}`).want(t, http.StatusCreated)

	pending := member.post("/v1/reimbursements", `{"bank_account_id":"`+api.dir.Account.ID.String()+`","amount":"12.00","description":"Parking at the airport"}`,
		"Idempotency-Key", "parking-1").want(t, http.StatusCreated)
	receipt := member.upload(pending.str("id"), "file", "parking.pdf", "application/pdf", tinyPDF()).want(t, http.StatusCreated)
	mustStoredReceipts(t, api, 1)
	if r := operator.post(memberPath+"/erasure", `{"reason":"the member's request of 2026-12-01"}`).wantProblem(t, http.StatusConflict); !strings.Contains(r.raw, "pending") {
		t.Fatalf("an erasure with a claim pending: %s", r.raw)
	}
	operator.post(memberPath+"/erasure", `{}`).wantProblem(t, http.StatusUnprocessableEntity)
	admin.post(memberPath+"/erasure", `{"reason":"x"}`).wantProblem(t, http.StatusForbidden)
	admin.post("/v1/reimbursements/"+pending.str("id")+"/deny", `{"reason":"Parking is not covered"}`).want(t, http.StatusOK)
	postgrestest.Eventually(t, "the denial's webhook", func() bool { return len(hook.received()) == 1 })

	erased := operator.post(memberPath+"/erasure", `{"reason":"the member's request of 2026-12-01"}`).want(t, http.StatusOK)
	if erased.str("member_id") != api.dir.Member.ID.String() || erased.str("erased_at") == "" || !strings.HasPrefix(erased.str("erased_by"), "operator:") ||
		erased.body["receipts_deleted"] != 1.0 {
		t.Fatalf("the erasure: %s", erased.raw)
	}
	if again := operator.post(memberPath+"/erasure", `{"reason":"asked twice"}`).want(t, http.StatusOK); again.str("erased_at") != erased.str("erased_at") || again.str("reason") != erased.str("reason") {
		t.Fatalf("a second erasure answers %s, the first %s", again.raw, erased.raw)
	}

	id := pending.str("id")
	// The receipt's bytes are gone; its hash stays in the claim.
	mustStoredReceipts(t, api, 0)
	admin.get("/v1/reimbursements/"+id+"/receipts/"+receipt.str("id")).wantProblem(t, http.StatusNotFound)
	claim := admin.get("/v1/reimbursements/"+id).want(t, http.StatusOK)
	if claim.str("description") != "[erased]" || claim.str("denial_reason") != "[erased]" || claim.str("amount") != "12.00" || claim.str("status") != "denied" {
		t.Fatalf("the erased claim reads %s", claim.raw)
	}
	who := admin.get(memberPath).want(t, http.StatusOK)
	if who.str("first_name") != "[erased]" || who.str("email") != "[erased]" || who.str("erased_at") == "" {
		t.Fatalf("the erased member reads %s", who.raw)
	}
	checkErased := func(when string) {
		t.Helper()
		for name, r := range map[string]response{
			"list":     admin.get("/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements").want(t, http.StatusOK),
			"export":   admin.get("/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements/export").want(t, http.StatusOK),
			"feed":     api.as(api.auditor()).get("/v1/events").want(t, http.StatusOK),
			"story":    admin.get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK),
			"own copy": operator.get(memberPath+"/personal-data").want(t, http.StatusOK),
		} {
			if strings.Contains(r.raw, "Parking") || strings.Contains(r.raw, api.dir.Member.Email) || !strings.Contains(r.raw, "[erased]") {
				t.Errorf("%s, the %s: %s", when, name, r.raw)
			}
		}
	}
	postgrestest.Eventually(t, "the list shows the claim", func() bool {
		return len(admin.get("/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements").items()) == 1
	})
	checkErased("after the erasure")
	var payloads string
	if err := api.db.SQL().QueryRow(`SELECT string_agg(payload, '') FROM webhook_deliveries`).Scan(&payloads); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(payloads, "Parking") || !strings.Contains(payloads, "[erased]") {
		t.Fatalf("the queued webhooks: %s", payloads)
	}
	var answers int
	if err := api.db.SQL().QueryRow(`SELECT count(*) FROM idempotency_keys WHERE position('Parking' in convert_from(body, 'UTF8')) > 0`).Scan(&answers); err != nil {
		t.Fatal(err)
	}
	if answers != 0 {
		t.Fatalf("%d stored answers of Idempotency-Keys still hold the erased description", answers)
	}

	// A rebuild of the read model folds the sealed fields again: erased.
	if _, err := api.db.Rebuilds.Run(context.Background(), postgres.ReimbursementsProjection, postgres.RebuildOptions{Restart: true}); err != nil {
		t.Fatal(err)
	}
	checkErased("after a rebuild")
	report, err := postgrestest.App(api.db).Verify(context.Background(), app.Principal{Role: app.RoleAuditor, Subject: "a"}, nil)
	if err != nil || !report.OK() {
		t.Fatalf("the audit after the erasure: %+v %v", report, err)
	}
	var kinds []string
	for _, e := range api.as(api.auditor()).get("/v1/events?type=PersonalDataErased").want(t, http.StatusOK).items() {
		data, _ := json.Marshal(e["data"])
		kinds = append(kinds, string(data))
	}
	if len(kinds) != 1 || !strings.Contains(kinds[0], "the member's request of 2026-12-01") {
		t.Fatalf("PersonalDataErased: %v", kinds)
	}
	// Nothing more is recorded about them.
	member.post("/v1/reimbursements", `{"bank_account_id":"`+api.dir.Account.ID.String()+`","amount":"5.00","description":"Bus"}`).wantProblem(t, http.StatusConflict)
}

// An erasure racing submissions: either the erasure is refused (a
// submission came first and is pending), or every submission it did not
// see is refused; never a pending claim of an erased member.
func TestErasureRacingSubmissions(t *testing.T) {
	for round := range 4 {
		api := newAPI(t)
		member, operator := api.as(api.member()), api.as(api.operator())
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		var erasure response
		for i := range statuses {
			wg.Go(func() {
				statuses[i] = member.post("/v1/reimbursements", `{"bank_account_id":"`+api.dir.Account.ID.String()+`","amount":"3.00","description":"Coffee"}`).status
			})
			if i == round {
				wg.Go(func() {
					erasure = operator.post("/v1/members/"+api.dir.Member.ID.String()+"/erasure", `{"reason":"request"}`)
				})
			}
		}
		wg.Wait()
		var submitted int
		for _, s := range statuses {
			switch s {
			case http.StatusCreated:
				submitted++
			case http.StatusConflict:
			default:
				t.Fatalf("a submission answered %d", s)
			}
		}
		var pending int
		if err := api.db.SQL().QueryRow(`SELECT count(*) FROM events WHERE type = 'ReimbursementSubmitted'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		switch erasure.status {
		case http.StatusOK:
			if pending != 0 || submitted != 0 {
				t.Fatalf("round %d: the member was erased with %d claims recorded (%d answered 201)", round, pending, submitted)
			}
		case http.StatusConflict:
			if pending == 0 || pending != submitted {
				t.Fatalf("round %d: the erasure was refused with %d claims recorded, %d answered 201: %s", round, pending, submitted, erasure.raw)
			}
		default:
			t.Fatalf("round %d: the erasure answered %d %s", round, erasure.status, erasure.raw)
		}
	}
}

// A failed payout of an erased member is not retried: a transfer names its
// member, and the ledger no longer knows them.
func TestErasedMembersPayoutIsNotRetried(t *testing.T) {
	api := newAPIWith(t, httpapi.RateLimit{}, nil, &sagatest.Gateway{Reject: "account closed", RejectAttempts: 1})
	admin := api.as(api.admin())
	id := api.submit("20.00").str("id")
	admin.post("/v1/reimbursements/"+id+"/approve", `{}`).want(t, http.StatusOK)
	postgrestest.Eventually(t, "the payout failed", func() bool {
		return admin.get("/v1/reimbursements/"+id).str("payment_status") == "failed"
	})
	api.as(api.operator()).post("/v1/members/"+api.dir.Member.ID.String()+"/erasure", `{"reason":"request"}`).want(t, http.StatusOK)
	if r := admin.post("/v1/reimbursements/"+id+"/payout/retry", `{}`).wantProblem(t, http.StatusConflict); !strings.Contains(r.raw, "erased") {
		t.Fatalf("a retry after the erasure: %s", r.raw)
	}
}
