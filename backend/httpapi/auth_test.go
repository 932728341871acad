package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/httpapi"
)

// Bearer tokens as RFC 6750 has them: a missing or malformed credential is
// 401 with a challenge, a bad token says invalid_token, two Authorization
// headers are a malformed request, and a valid token for someone the ledger
// does not know is as good as none.
func TestBearerTokenEdgeCases(t *testing.T) {
	api := newAPI(t)
	path := "/v1/members/" + api.dir.Member.ID.String()
	member := api.member()
	raw := func(header http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, api.url+path, nil)
		for k, vs := range header {
			req.Header[k] = vs
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	tests := []struct {
		name      string
		header    http.Header
		status    int
		challenge string // a part WWW-Authenticate must hold
	}{
		{"no Authorization", nil, 401, `Bearer realm="ledger"`},
		{"no Bearer prefix", http.Header{"Authorization": {member}}, 401, `Bearer realm="ledger"`},
		{"another scheme", http.Header{"Authorization": {"Basic " + member}}, 401, `Bearer realm="ledger"`},
		{"Bearer and nothing", http.Header{"Authorization": {"Bearer "}}, 401, `Bearer realm="ledger"`},
		{"two Authorization headers", http.Header{"Authorization": {"Bearer " + member, "Bearer " + member}}, 400, `error="invalid_request"`},
		{"a tampered token", http.Header{"Authorization": {"Bearer " + member[:len(member)-4] + "AAAA"}}, 401, `error="invalid_token"`},
		{"another issuer's key", http.Header{"Authorization": {"Bearer " + newAPI(t).member()}}, 401, `error="invalid_token"`},
		{"a member who does not exist", http.Header{"Authorization": {"Bearer " + api.issuer.Token("member", "0193a000-0000-7000-8000-00000000dead")}}, 401, `error="invalid_token"`},
		{"a subject that is no id", http.Header{"Authorization": {"Bearer " + api.issuer.Token("administrator", "grace")}}, 401, `error="invalid_token"`},
		{"a role the ledger does not know", http.Header{"Authorization": {"Bearer " + api.issuer.Token("superuser", "root")}}, 403, ""},
		{"the scheme in lower case", http.Header{"Authorization": {"bearer " + member}}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := raw(tt.header)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.status >= 400 && res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("content type %q", res.Header.Get("Content-Type"))
			}
			if got := res.Header.Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) || (tt.challenge != "" && !strings.HasPrefix(got, `Bearer realm="ledger"`)) {
				t.Fatalf("WWW-Authenticate %q, want one holding %q", got, tt.challenge)
			}
		})
	}
}

// The principal comes from the token only: a body naming someone else
// changes nothing, and every event records the verified subject and issuer.
func TestTheActorIsTheTokensSubject(t *testing.T) {
	api := newAPI(t)
	id := api.submit("10.00").str("id")
	before := api.eventCount()
	api.post("/v1/reimbursements/"+id+"/approve", `{"administrator_id":"`+api.dir.OtherAdmin.ID.String()+`"}`).wantProblem(t, http.StatusUnprocessableEntity)
	if api.eventCount() != before {
		t.Fatal("a refused approval appended events")
	}
	api.post("/v1/reimbursements/"+id+"/approve", `{}`).want(t, http.StatusOK)
	story := api.get("/v1/reimbursements/" + id + "/events").items()
	for i, want := range []string{"member:" + api.dir.Member.ID.String(), "administrator:" + api.dir.Admin.ID.String()} {
		meta := story[i]["metadata"].(map[string]any)
		if meta["actor"] != want || meta["actor_issuer"] != "urn:ledger:development-issuer" {
			t.Fatalf("event %d metadata %v, want actor %s with its issuer", i, meta, want)
		}
	}
}

// Another bank's administrator cannot replay or probe with an
// Idempotency-Key: the key is theirs alone, and the reimbursement answers
// 404 before the key is looked at.
func TestForeignAdministratorGetsNothingFromAKey(t *testing.T) {
	api := newAPI(t)
	id := api.submit("10.00").str("id")
	path := "/v1/reimbursements/" + id + "/approve"
	api.post(path, `{}`, "Idempotency-Key", "approve-once").want(t, http.StatusOK)
	other := api.as(api.otherAdmin())
	other.post(path, `{}`, "Idempotency-Key", "approve-once").wantProblem(t, http.StatusNotFound)
	other.get("/v1/reimbursements/"+id).wantProblem(t, http.StatusNotFound)
	other.get("/v1/reimbursements/"+id+"/events").wantProblem(t, http.StatusNotFound)
}

// Commands beyond a caller's rate are refused with 429 and Retry-After;
// another caller is not held back, and reads are not limited.
func TestCommandsAreRateLimitedPerCaller(t *testing.T) {
	api := newAPIWith(t, httpapi.RateLimit{PerSecond: 0.5, Burst: 2}, nil, nil)
	body := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"1.00","description":"x"}`
	member := api.as(api.member())
	member.post("/v1/reimbursements", body).want(t, http.StatusCreated)
	member.post("/v1/reimbursements", body).want(t, http.StatusCreated)
	limited := member.post("/v1/reimbursements", body).wantProblem(t, http.StatusTooManyRequests)
	if limited.header.Get("Retry-After") != "2" || limited.str("type") != "/problems/rate-limited" {
		t.Fatalf("429 with Retry-After %q: %s", limited.header.Get("Retry-After"), limited.raw)
	}
	api.as(api.operator()).post("/v1/banks", `{"name":"x","location":"y"}`).want(t, http.StatusCreated)
	member.get("/v1/members/"+api.dir.Member.ID.String()).want(t, http.StatusOK)
}
