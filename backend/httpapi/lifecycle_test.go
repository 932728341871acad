package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
)

// secondAdmin adds another administrator to the first bank and returns
// their token.
func (a *ledgerAPI) secondAdmin() string {
	a.t.Helper()
	admin, err := postgrestest.App(a.db).CreateAdministrator(context.Background(), app.Principal{Role: app.RoleOperator, Subject: "ops"},
		ledger.Administrator{ID: uuid.New(), BankID: a.dir.Bank.ID, FirstName: "Frances", LastName: "Allen", Email: "frances@bank.example"})
	if err != nil {
		a.t.Fatal(err)
	}
	return a.issuer.Token("administrator", admin.ID.String())
}

// statusesAt sends the requests at once and counts the answers' statuses.
func statusesAt(requests ...func() int) map[int]int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	counts := map[int]int{}
	for _, req := range requests {
		wg.Go(func() {
			status := req()
			mu.Lock()
			counts[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return counts
}

func TestWithdrawal(t *testing.T) {
	api := newAPI(t)
	created := api.submit("42.00")
	id := created.str("id")
	path := "/v1/reimbursements/" + id + "/withdraw"

	api.post(path, `{}`, "If-Match", `"7"`).wantProblem(t, http.StatusPreconditionFailed)
	if r := api.post(path, `{"reason":"changed my mind"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("reason") == "" {
		t.Fatalf("a withdrawal with a field it does not take: %s", r.raw)
	}
	api.as(api.admin()).post(path, `{}`).wantProblem(t, http.StatusForbidden)
	withdrawn := api.post(path, "", "If-Match", created.header.Get("ETag")).want(t, http.StatusOK)
	if withdrawn.str("status") != "withdrawn" || withdrawn.str("withdrawn_at") == "" || withdrawn.body["decided_at"] != nil ||
		withdrawn.header.Get("ETag") != `"2"` || withdrawn.header.Get("Ledger-Position") == "" {
		t.Fatalf("withdrawn: %s %v", withdrawn.raw, withdrawn.header)
	}
	api.post(path, "").wantProblem(t, http.StatusConflict)
	api.post("/v1/reimbursements/"+id+"/approve", "").wantProblem(t, http.StatusConflict)

	// The member's token waits on the member's list; the bank's list reads the same projection.
	api.get("/v1/members/"+api.dir.Member.ID.String()+"/reimbursements?min_position="+withdrawn.header.Get("Ledger-Position")).want(t, http.StatusOK)
	list := api.as(api.admin()).get("/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements?status=withdrawn").want(t, http.StatusOK).items()
	if len(list) != 1 || list[0]["id"] != id || list[0]["withdrawn_at"] != withdrawn.str("withdrawn_at") {
		t.Fatalf("the withdrawn list: %v", list)
	}
	story := api.get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK).items()
	if len(story) != 2 || story[1]["type"] != "ReimbursementWithdrawn" || !strings.HasPrefix(story[1]["metadata"].(map[string]any)["actor"].(string), "member:") {
		t.Fatalf("story %v", story)
	}
	if len(api.gateway.Calls()) != 0 || api.mailer.Attempts() != 0 {
		t.Fatal("a withdrawal paid or e-mailed")
	}
}

// A decision racing a withdrawal: exactly one wins, the other gets 409.
func TestDecisionRacingAWithdrawal(t *testing.T) {
	api := newAPI(t)
	member, admin := api.as(api.member()), api.as(api.admin())
	for i := range 6 {
		id := api.submit("9.00").str("id")
		decision, body := "/approve", ""
		if i%2 == 1 {
			decision, body = "/deny", `{"reason":"No receipt"}`
		}
		counts := statusesAt(
			func() int { return member.post("/v1/reimbursements/"+id+"/withdraw", "").status },
			func() int { return admin.post("/v1/reimbursements/"+id+decision, body).status })
		if counts[http.StatusOK] != 1 || counts[http.StatusConflict] != 1 {
			t.Fatalf("a withdrawal racing %s: %v, want one 200 and one 409", decision, counts)
		}
	}
}

func TestPayoutFailureAndRetry(t *testing.T) {
	api := newAPIWith(t, httpapi.RateLimit{}, nil, &sagatest.Gateway{Reject: "account closed", RejectAttempts: 1})
	id := api.submit("10.13").str("id")
	api.post("/v1/reimbursements/"+id+"/payout/retry", "").wantProblem(t, http.StatusConflict) // nothing to retry yet
	api.post("/v1/reimbursements/"+id+"/approve", "").want(t, http.StatusOK)
	var failed response
	postgrestest.Eventually(t, "the payout refused", func() bool {
		failed = api.get("/v1/reimbursements/"+id).want(t, http.StatusOK)
		return failed.str("payment_status") == "failed"
	})
	if failed.str("payment_failure_reason") != "account closed" || failed.body["payment_attempt"] != float64(1) {
		t.Fatalf("the failed payout: %s", failed.raw)
	}
	// The member is told of the failure before an administrator retries,
	// so the story below has one order.
	postgrestest.Eventually(t, "the member told of the failure", func() bool {
		return len(api.get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK).items()) == 5
	})
	retry := "/v1/reimbursements/" + id + "/payout/retry"
	api.as(api.member()).post(retry, "").wantProblem(t, http.StatusForbidden)
	api.as(api.otherAdmin()).post(retry, "").wantProblem(t, http.StatusNotFound)

	second := api.as(api.secondAdmin())
	var accepted response
	var mu sync.Mutex
	var requests []func() int
	for i := range 6 {
		caller := api
		if i%2 == 1 {
			caller = second
		}
		requests = append(requests, func() int {
			r := caller.post(retry, "")
			if r.status == http.StatusAccepted {
				mu.Lock()
				accepted = r
				mu.Unlock()
			}
			return r.status
		})
	}
	if counts := statusesAt(requests...); counts[http.StatusAccepted] != 1 || counts[http.StatusConflict] != 5 {
		t.Fatalf("six retries at once: %v, want one 202 and five 409", counts)
	}
	if accepted.str("payment_status") != "requested" || accepted.body["payment_attempt"] != float64(2) || accepted.body["payment_failure_reason"] != nil {
		t.Fatalf("the accepted retry: %s", accepted.raw)
	}
	var story []map[string]any
	postgrestest.Eventually(t, "the retry paid and e-mailed", func() bool {
		story = api.get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK).items()
		return len(story) == 8
	})
	want := []string{"ReimbursementSubmitted", "ReimbursementApproved", "PaymentRequested", "PaymentFailed", "MemberNotified",
		"PaymentRequested", "PaymentSettled", "MemberNotified"}
	for i, e := range story {
		if e["type"] != want[i] {
			t.Fatalf("story[%d] = %v, want %s", i, e["type"], want[i])
		}
	}
	if data := story[5]["data"].(map[string]any); data["attempt"] != float64(2) || data["schema_version"] != float64(2) {
		t.Fatalf("the retry's PaymentRequested: %v", data)
	}
	if paid := api.gateway.Paid(); len(paid) != 1 || paid[0].Attempt != 2 {
		t.Fatalf("transfers %+v: want one, of attempt 2", paid)
	}
	if sent := api.mailer.Sent(); len(sent) != 2 {
		t.Fatalf("%d e-mails, want one per outcome", len(sent))
	}
	settled := api.get("/v1/reimbursements/"+id).want(t, http.StatusOK)
	if settled.str("payment_status") != "settled" || settled.body["payment_attempt"] != float64(2) {
		t.Fatalf("after the retry: %s", settled.raw)
	}
	api.post(retry, "").wantProblem(t, http.StatusConflict)
}

func TestDualControl(t *testing.T) {
	api := newAPI(t)
	bank := api.dir.Bank.ID.String()
	policyPath := "/v1/banks/" + bank + "/approval-policy"
	operator := api.as(api.operator())

	if none := api.get(policyPath).want(t, http.StatusOK); none.body["second_approval_above"] != nil || none.body["version"] != float64(0) {
		t.Fatalf("the policy of a bank that set none: %s", none.raw)
	}
	if r := operator.put(policyPath, `{"second_approval_above":"1000.001","currency":"USD"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("second_approval_above") == "" {
		t.Fatalf("a threshold with too many decimals: %s", r.raw)
	}
	operator.put("/v1/banks/0193a000-0000-7000-8000-00000000dead/approval-policy", `{"second_approval_above":"1000.00","currency":"USD"}`).wantProblem(t, http.StatusNotFound)
	set := operator.put(policyPath, `{"second_approval_above":"1000.00","currency":"USD"}`).want(t, http.StatusOK)
	if set.str("second_approval_above") != "1000.00" || set.str("currency") != "USD" || set.str("set_by") != "operator:operator-1" || set.str("set_at") == "" ||
		set.header.Get("Ledger-Position") == "" || set.header.Get("Ledger-Position") == "0" {
		t.Fatalf("set: %s", set.raw)
	}
	if got := api.get(policyPath).want(t, http.StatusOK); got.raw != set.raw {
		t.Fatalf("an administrator reads %s, the operator set %s", got.raw, set.raw)
	}
	api.as(api.otherAdmin()).get(policyPath).wantProblem(t, http.StatusNotFound)
	feed := api.as(api.auditor()).get("/v1/events?type=ApprovalPolicySet").want(t, http.StatusOK).items()
	if len(feed) != 1 || feed[0]["metadata"].(map[string]any)["actor"] != "operator:operator-1" {
		t.Fatalf("the auditors' feed: %v", feed)
	}

	second := api.as(api.secondAdmin())
	id := api.submit("1500.00").str("id")
	approve := "/v1/reimbursements/" + id + "/approve"
	if r := api.post(approve, `{"note":""}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("note") == "" {
		t.Fatalf("an empty note: %s", r.raw)
	}
	first := api.post(approve, `{"note":"Receipts checked"}`).want(t, http.StatusOK)
	approvals, _ := first.body["approvals"].([]any)
	if first.str("status") != "pending" || first.body["approvals_required"] != float64(2) || len(approvals) != 1 ||
		approvals[0].(map[string]any)["administrator_id"] != api.dir.Admin.ID.String() || approvals[0].(map[string]any)["note"] != "Receipts checked" {
		t.Fatalf("after the first approval: %s", first.raw)
	}
	api.post(approve, "").wantProblem(t, http.StatusConflict)
	final := second.post(approve, "", "If-Match", first.header.Get("ETag")).want(t, http.StatusOK)
	if approvals, _ := final.body["approvals"].([]any); final.str("status") != "approved" || len(approvals) != 2 || approvals[1].(map[string]any)["note"] != nil {
		t.Fatalf("after the second approval: %s", final.raw)
	}
	story := api.get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK).items()
	if story[1]["type"] != "ReimbursementApprovalRecorded" || story[1]["data"].(map[string]any)["note"] != "Receipts checked" || story[2]["type"] != "ReimbursementApproved" {
		t.Fatalf("story %v", story)
	}

	// A denial by either ends it, and a denial takes a reason, not a note.
	id = api.submit("2000.00").str("id")
	second.post("/v1/reimbursements/"+id+"/approve", "").want(t, http.StatusOK)
	if r := api.post("/v1/reimbursements/"+id+"/deny", `{"reason":"Over budget","note":"x"}`).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("note") == "" {
		t.Fatalf("a denial with a note: %s", r.raw)
	}
	if denied := api.post("/v1/reimbursements/"+id+"/deny", `{"reason":"Over budget"}`).want(t, http.StatusOK); denied.str("status") != "denied" {
		t.Fatalf("denied: %s", denied.raw)
	}

	// Two administrators at the same moment: both count, one payout.
	var ids []string
	for range 4 {
		id := api.submit("1200.00").str("id")
		ids = append(ids, id)
		counts := statusesAt(
			func() int { return api.post("/v1/reimbursements/"+id+"/approve", "").status },
			func() int { return second.post("/v1/reimbursements/"+id+"/approve", "").status })
		if counts[http.StatusOK] != 2 {
			t.Fatalf("two administrators approving at once: %v, want both 200", counts)
		}
	}
	postgrestest.Eventually(t, "every payout settled", func() bool { return len(api.gateway.Paid()) == 1+len(ids) })
	for _, id := range ids {
		if r := api.get("/v1/reimbursements/"+id).want(t, http.StatusOK); r.str("status") != "approved" || len(r.body["approvals"].([]any)) != 2 {
			t.Fatalf("after two approvals at once: %s", r.raw)
		}
	}
}
