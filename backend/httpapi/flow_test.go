package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

func TestSubmitListApprovePayNotify(t *testing.T) {
	api := newAPI(t)
	d := api.dir

	created := api.post("/v1/reimbursements", `{"bank_account_id":"`+d.Account.ID.String()+`","amount":"125.5","description":"Taxi to the branch"}`,
		"X-Correlation-ID", "flow-approve-1").want(t, http.StatusCreated)
	id := created.str("id")
	if created.header.Get("Location") != "/v1/reimbursements/"+id || created.header.Get("ETag") != `"1"` {
		t.Fatalf("Location %q, ETag %q", created.header.Get("Location"), created.header.Get("ETag"))
	}
	if created.str("amount") != "125.50" || created.str("status") != "pending" || created.str("bank_member_id") != d.Member.ID.String() ||
		created.str("bank_id") != d.Bank.ID.String() || created.str("currency") != "USD" || created.str("payment_status") != "none" {
		t.Fatalf("created %s", created.raw)
	}
	if created.header.Get("X-Correlation-ID") != "flow-approve-1" {
		t.Fatalf("correlation id not echoed: %q", created.header.Get("X-Correlation-ID"))
	}
	if got := api.get("/v1/reimbursements/"+id).want(t, http.StatusOK); got.str("description") != "Taxi to the branch" || got.body["sequence"] != float64(1) {
		t.Fatalf("read back %s", got.raw)
	}
	if _, ok := created.body["sequence"]; ok {
		t.Fatalf("a command's answer carries a sequence: %s", created.raw)
	}

	// The member and the bank see it in their lists, asked for its position.
	at := created.header.Get("Ledger-Position")
	if items := api.get("/v1/members/"+d.Member.ID.String()+"/reimbursements?min_position="+at).want(t, http.StatusOK).items(); len(items) != 1 || items[0]["id"] != id {
		t.Fatalf("member list at %s: %v", at, items)
	}
	pending := api.get("/v1/banks/"+d.Bank.ID.String()+"/reimbursements?status=pending").want(t, http.StatusOK).items()
	if len(pending) != 1 || pending[0]["submitted_at"] == nil {
		t.Fatalf("pending list %v", pending)
	}

	approved := api.post("/v1/reimbursements/"+id+"/approve", `{"administrator_id":"`+d.Admin.ID.String()+`"}`,
		"X-Correlation-ID", "flow-approve-2").want(t, http.StatusOK)
	if approved.str("status") != "approved" || approved.str("decided_by") != d.Admin.ID.String() || approved.header.Get("ETag") != `"2"` {
		t.Fatalf("approved %s", approved.raw)
	}

	var story []map[string]any
	postgrestest.Eventually(t, "payment settled and member e-mailed", func() bool {
		story = api.get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK).items()
		return len(story) == 5
	})
	want := []string{"ReimbursementSubmitted", "ReimbursementApproved", "PaymentRequested", "PaymentSettled", "MemberNotified"}
	for i, e := range story {
		if e["type"] != want[i] {
			t.Fatalf("story[%d] = %v, want %s", i, e["type"], want[i])
		}
	}
	if kind := story[4]["data"].(map[string]any)["kind"]; kind != "approval" {
		t.Fatalf("notification kind %v", kind)
	}
	if corr := story[3]["metadata"].(map[string]any)["correlation_id"]; corr != "flow-approve-2" {
		t.Fatalf("settlement correlation id %v, want the approval request's", corr)
	}
	if sent := api.mailer.Sent(); len(sent) != 1 || sent[0].To != d.Member.Email {
		t.Fatalf("e-mails %+v", sent)
	}
	if paid := api.gateway.Paid(); len(paid) != 1 || paid[0].Amount.StringFixed(2) != "125.50" {
		t.Fatalf("payments %+v", paid)
	}
	postgrestest.Eventually(t, "list shows the payment settled", func() bool {
		items := api.get("/v1/banks/"+d.Bank.ID.String()+"/reimbursements?status=approved").want(t, http.StatusOK).items()
		return len(items) == 1 && items[0]["payment_status"] == "settled"
	})
	// Submitted, approved, payment requested and settled: the e-mail is
	// not the claim's.
	if got := api.get("/v1/reimbursements/"+id).want(t, http.StatusOK); got.str("payment_status") != "settled" || got.body["sequence"] != float64(4) {
		t.Fatalf("reimbursement after payment %s", got.raw)
	}
}

func TestSubmitDenyNotify(t *testing.T) {
	api := newAPI(t)
	id := api.submit("40.00").str("id")
	denied := api.post("/v1/reimbursements/"+id+"/deny", `{"administrator_id":"`+api.dir.Admin.ID.String()+`","reason":"Personal travel"}`).want(t, http.StatusOK)
	if denied.str("status") != "denied" || denied.str("denial_reason") != "Personal travel" {
		t.Fatalf("denied %s", denied.raw)
	}
	var story []map[string]any
	postgrestest.Eventually(t, "denial e-mail recorded", func() bool {
		story = api.get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK).items()
		return len(story) == 3
	})
	if story[2]["type"] != "MemberNotified" || story[2]["data"].(map[string]any)["kind"] != "denial" {
		t.Fatalf("story %v", story)
	}
	if len(api.gateway.Calls()) != 0 || len(api.mailer.Sent()) != 1 || !strings.Contains(api.mailer.Sent()[0].Body, "Personal travel") {
		t.Fatalf("rail calls %d, e-mails %+v", len(api.gateway.Calls()), api.mailer.Sent())
	}
}

func TestTwelveConcurrentDecisionsOneWins(t *testing.T) {
	api := newAPI(t)
	id := api.submit("10.00").str("id")
	const n = 12
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, body := "/approve", `{"administrator_id":"`+api.dir.Admin.ID.String()+`"}`
			if i%2 == 1 {
				path, body = "/deny", `{"administrator_id":"`+api.dir.Admin.ID.String()+`","reason":"duplicate"}`
			}
			statuses[i] = api.post("/v1/reimbursements/"+id+path, body).status
		}()
	}
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	if counts[http.StatusOK] != 1 || counts[http.StatusConflict] != n-1 {
		t.Fatalf("statuses %v, want one 200 and %d 409s", counts, n-1)
	}
	decisions := 0
	for _, e := range api.get("/v1/reimbursements/" + id + "/events").items() {
		if e["type"] == "ReimbursementApproved" || e["type"] == "ReimbursementDenied" {
			decisions++
		}
	}
	if decisions != 1 {
		t.Fatalf("%d decisions recorded", decisions)
	}
}

func TestDecisionErrors(t *testing.T) {
	api := newAPI(t)
	d := api.dir
	id := api.submit("10.00").str("id")
	admin := `{"administrator_id":"` + d.Admin.ID.String() + `"}`
	before := api.eventCount()

	api.post("/v1/reimbursements/"+"0193a000-0000-7000-8000-00000000dead"+"/approve", admin).wantProblem(t, http.StatusNotFound)
	api.post("/v1/reimbursements/not-a-uuid/approve", admin).wantProblem(t, http.StatusNotFound)
	// Another bank's administrator learns nothing: 404, whatever If-Match says.
	other := api.as(api.otherAdmin())
	other.post("/v1/reimbursements/"+id+"/approve", `{}`).wantProblem(t, http.StatusNotFound)
	other.post("/v1/reimbursements/"+id+"/deny", `{"reason":"no"}`, "If-Match", `"7"`).wantProblem(t, http.StatusNotFound)
	api.as(api.member()).post("/v1/reimbursements/"+id+"/approve", `{}`).wantProblem(t, http.StatusForbidden)
	// The token names the administrator; a body naming another is refused.
	for _, named := range []string{d.OtherAdmin.ID.String(), "0193a000-0000-7000-8000-00000000beef"} {
		if r := api.post("/v1/reimbursements/"+id+"/approve", `{"administrator_id":"`+named+`"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("administrator_id") == "" {
			t.Fatalf("a body naming administrator %s: %s", named, r.raw)
		}
	}
	if r := api.post("/v1/reimbursements/"+id+"/deny", admin).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("reason") == "" {
		t.Fatalf("deny without reason: %s", r.raw)
	}
	if r := api.post("/v1/reimbursements/"+id+"/approve", `{"administrator_id":"`+d.Admin.ID.String()+`","reason":"x"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("reason") == "" {
		t.Fatalf("approve with a reason: %s", r.raw)
	}
	stale := api.post("/v1/reimbursements/"+id+"/approve", admin, "If-Match", `"7"`).wantProblem(t, http.StatusPreconditionFailed)
	if stale.body["current_version"] != float64(1) {
		t.Fatalf("stale If-Match: %s", stale.raw)
	}
	api.post("/v1/reimbursements/"+id+"/approve", admin, "If-Match", "seven").wantProblem(t, http.StatusBadRequest)
	if n := api.eventCount(); n != before {
		t.Fatalf("refused decisions appended %d events", n-before)
	}
	api.post("/v1/reimbursements/"+id+"/approve", admin, "If-Match", `"1"`).want(t, http.StatusOK)
	api.post("/v1/reimbursements/"+id+"/approve", admin).wantProblem(t, http.StatusConflict)
	api.post("/v1/reimbursements/"+id+"/deny", `{"administrator_id":"`+d.Admin.ID.String()+`","reason":"late"}`).wantProblem(t, http.StatusConflict)
}

func TestListPagingAndFilters(t *testing.T) {
	api := newAPI(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, api.submit(fmt.Sprintf("%d.00", i+1)).str("id"))
	}
	denied := api.post("/v1/reimbursements/"+ids[0]+"/deny", `{"administrator_id":"`+api.dir.Admin.ID.String()+`","reason":"no"}`).want(t, http.StatusOK)
	bankPath := "/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements"
	if n := len(api.get(bankPath+"?status=denied&min_position="+denied.header.Get("Ledger-Position")).want(t, http.StatusOK).items()); n != 1 {
		t.Fatalf("%d denied at the denial's position, want 1", n)
	}

	var seen []string
	path := bankPath + "?limit=2"
	for range 4 {
		page := api.get(path).want(t, http.StatusOK)
		for _, it := range page.items() {
			seen = append(seen, it["id"].(string))
		}
		next, _ := page.body["next_cursor"].(string)
		if next == "" {
			break
		}
		path = bankPath + "?limit=2&cursor=" + next
	}
	if strings.Join(seen, ",") != strings.Join([]string{ids[4], ids[3], ids[2], ids[1], ids[0]}, ",") {
		t.Fatalf("paged %v, want newest first %v", seen, ids)
	}
	if n := len(api.get(bankPath + "?status=pending").items()); n != 4 {
		t.Fatalf("%d pending, want 4", n)
	}
	if n := len(api.get(bankPath+"?limit=99999999999999999999999").want(t, http.StatusOK).items()); n != 5 {
		t.Fatalf("a huge limit is clamped, not refused: got %d items", n)
	}
	api.get(bankPath+"?status=approvedd").wantProblem(t, http.StatusBadRequest)
	api.get(bankPath+"?limit=0").wantProblem(t, http.StatusBadRequest)
	api.get(bankPath+"?limit=ten").wantProblem(t, http.StatusBadRequest)
	api.get(bankPath+"?cursor=bm90LWEtY3Vyc29y").wantProblem(t, http.StatusBadRequest)
	api.get("/v1/banks/0193a000-0000-7000-8000-00000000dead/reimbursements").wantProblem(t, http.StatusNotFound)
	api.get("/v1/members/0193a000-0000-7000-8000-00000000dead/reimbursements").wantProblem(t, http.StatusNotFound)
	api.get("/v1/banks/"+api.dir.OtherBank.ID.String()+"/reimbursements").wantProblem(t, http.StatusNotFound)
	if n := len(api.as(api.otherAdmin()).get("/v1/banks/"+api.dir.OtherBank.ID.String()+"/reimbursements").want(t, http.StatusOK).items()); n != 0 {
		t.Fatalf("another bank lists %d reimbursements", n)
	}
}

func TestEventFeed(t *testing.T) {
	api := newAPI(t)
	for range 3 {
		api.submit("1.00")
	}
	// Transactions elsewhere on the server may hold the feed back a moment.
	postgrestest.Eventually(t, "the feed shows all three submissions", func() bool {
		return len(api.get("/v1/events").want(t, http.StatusOK).items()) == 3
	})
	first := api.get("/v1/events?limit=2").want(t, http.StatusOK)
	items := first.items()
	next, _ := first.body["next_cursor"].(string)
	if len(items) != 2 || next == "" {
		t.Fatalf("first page %s", first.raw)
	}
	rest := api.get("/v1/events?after="+next).want(t, http.StatusOK).items()
	if len(rest) != 1 || rest[0]["position"].(float64) <= items[1]["position"].(float64) {
		t.Fatalf("second page %v", rest)
	}
	for _, key := range []string{"position", "event_id", "stream_id", "stream_version", "type", "data", "metadata", "recorded_at"} {
		if _, ok := items[0][key]; !ok {
			t.Fatalf("event has no %s: %v", key, items[0])
		}
	}
	api.get("/v1/events?after=-1").wantProblem(t, http.StatusBadRequest)
	api.get("/v1/events?after=abc").wantProblem(t, http.StatusBadRequest)
	api.get("/v1/events?after=999999").wantProblem(t, http.StatusUnprocessableEntity)
}

// An approval needs nothing but the token: no body at all is fine, and
// without a body the fingerprint of a retry is the same.
func TestApproveWithoutABody(t *testing.T) {
	api := newAPI(t)
	id := api.submit("10.00").str("id")
	req, _ := http.NewRequest(http.MethodPost, api.url+"/v1/reimbursements/"+id+"/approve", nil)
	req.Header.Set("Authorization", "Bearer "+api.admin())
	req.Header.Set("Idempotency-Key", "bodiless")
	for range 2 {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("approve without a body: %d", res.StatusCode)
		}
	}
	// A denial still needs its reason.
	api.post("/v1/reimbursements/"+api.submit("5.00").str("id")+"/deny", "").wantProblem(t, http.StatusUnsupportedMediaType)
}
