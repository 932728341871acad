package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth/authtest"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
)

// The secret is shown when it is made, and never again.
func TestWebhookEndpointShowsItsSecretOnce(t *testing.T) {
	api := newAPI(t)
	endpoints := "/v1/banks/" + api.dir.Bank.ID.String() + "/webhook-endpoints"
	created := api.post(endpoints, `{"url":"https://203.0.113.10/hooks","event_types":["reimbursement.approved","reimbursement.approved"],"description":"ERP"}`).
		want(t, http.StatusCreated)
	secret := created.str("secret")
	if !strings.HasPrefix(secret, "whsec_") || created.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("created: secret %q, Cache-Control %q", secret, created.header.Get("Cache-Control"))
	}
	if types := created.body["event_types"].([]any); len(types) != 1 {
		t.Errorf("event_types %v: a type named twice is kept once", types)
	}
	one := created.header.Get("Location")
	if got := api.get(one).want(t, http.StatusOK); got.body["secret"] != nil || got.str("url") != "https://203.0.113.10/hooks" {
		t.Fatalf("GET shows %s", got.raw)
	}
	if items := api.get(endpoints).want(t, http.StatusOK).items(); len(items) != 1 || items[0]["secret"] != nil {
		t.Fatalf("list: %v", items)
	}

	rotated := api.post(one+"/rotate-secret", "").want(t, http.StatusOK)
	if s := rotated.str("secret"); !strings.HasPrefix(s, "whsec_") || s == secret || rotated.str("previous_secret_expires_at") == "" {
		t.Fatalf("rotated: %s", rotated.raw)
	}

	api.do(http.MethodDelete, one, "").want(t, http.StatusNoContent)
	api.get(one).wantProblem(t, http.StatusNotFound)
	api.do(http.MethodDelete, one, "").wantProblem(t, http.StatusNotFound)
}

func TestWebhookEndpointRefusesBadInput(t *testing.T) {
	api := newAPI(t)
	endpoints := "/v1/banks/" + api.dir.Bank.ID.String() + "/webhook-endpoints"
	for body, field := range map[string]string{
		`{"url":"","event_types":["reimbursement.approved"]}`:                                                                        "url",
		`{"url":"https://203.0.113.10/h","event_types":[]}`:                                                                          "event_types",
		`{"url":"https://203.0.113.10/h","event_types":["reimbursement.exploded"]}`:                                                  "event_types",
		`{"url":"https://203.0.113.10/h","event_types":["reimbursement.approved"],"description":"` + strings.Repeat("x", 501) + `"}`: "description",
	} {
		if got := api.post(endpoints, body).wantProblem(t, http.StatusUnprocessableEntity); got.fieldError(field) == "" {
			t.Errorf("%s: no error for %s: %s", body, field, got.raw)
		}
	}
}

// Without the development setting, destinations must be https and public.
func TestWebhookEndpointRefusesPrivateDestinations(t *testing.T) {
	db := postgrestest.NewDB(t)
	api := &ledgerAPI{t: t, db: db, dir: postgrestest.MustDirectory(t, db), issuer: authtest.NewIssuer(t)}
	useCases := app.New(app.Config{Stores: db.Stores(), AuditKeys: postgrestest.AuditKeys,
		Webhooks: app.WebhookConfig{Destinations: webhook.Guard{}, NewSecret: webhook.NewSecret}})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{App: useCases, Tokens: api.issuer.Verifier(), Ready: db.Ping, Logger: quiet, API: true}))
	t.Cleanup(srv.Close)
	api.url = srv.URL
	endpoints := "/v1/banks/" + api.dir.Bank.ID.String() + "/webhook-endpoints"
	for _, url := range []string{
		"http://203.0.113.10/hooks",         // plain http
		"https://127.0.0.1/hooks",           // loopback
		"https://localhost/hooks",           // a name of loopback
		"https://10.0.0.7/hooks",            // private
		"https://169.254.169.254/latest",    // cloud metadata
		"https://[fe80::1]/hooks",           // link-local
		"https://224.0.0.1/hooks",           // multicast
		"https://0.0.0.0/hooks",             // unspecified
		"https://user:pw@203.0.113.10/hook", // credentials
	} {
		got := api.post(endpoints, `{"url":"`+url+`","event_types":["reimbursement.approved"]}`)
		if got.status != http.StatusUnprocessableEntity || got.fieldError("url") == "" {
			t.Errorf("%s: %d %s, want 422 naming url", url, got.status, got.raw)
		}
	}
	api.post(endpoints, `{"url":"https://203.0.113.10/hooks","event_types":["reimbursement.approved"]}`).want(t, http.StatusCreated)
}

// A delivery can be followed from the event to its attempts in the API, and
// sent again with the same webhook-id.
func TestWebhookDeliveryCanBeFollowedAndSentAgain(t *testing.T) {
	api := newAPI(t)
	rcv := newVerifyingReceiver(t)
	endpoints := "/v1/banks/" + api.dir.Bank.ID.String() + "/webhook-endpoints"
	created := api.post(endpoints, `{"url":"`+rcv.url()+`","event_types":["reimbursement.submitted"]}`).want(t, http.StatusCreated)
	rcv.trust(created.str("secret"))
	deliveries := created.header.Get("Location") + "/deliveries"
	api.submit("9.00").want(t, http.StatusCreated)

	var delivery map[string]any
	postgrestest.Eventually(t, "the delivery succeeded", func() bool {
		items := api.get(deliveries).want(t, http.StatusOK).items()
		if len(items) != 1 || items[0]["status"] != "succeeded" {
			return false
		}
		delivery = items[0]
		return true
	})
	attempts := delivery["attempts"].([]any)
	if len(attempts) != 1 || attempts[0].(map[string]any)["status_code"] != float64(204) || delivery["event_type"] != "reimbursement.submitted" {
		t.Fatalf("delivery %v", delivery)
	}
	api.post(deliveries+"/"+delivery["id"].(string)+"/redeliver", "").want(t, http.StatusAccepted)
	postgrestest.Eventually(t, "the delivery sent again", func() bool {
		items := api.get(deliveries).want(t, http.StatusOK).items()
		return len(items) == 1 && items[0]["status"] == "succeeded" && len(items[0]["attempts"].([]any)) == 2
	})
	ids, _ := rcv.received()
	if len(ids) != 2 || ids[0] != ids[1] || ids[0] != "msg_"+delivery["id"].(string) {
		t.Fatalf("webhook-ids %v, want the delivery's twice", ids)
	}
	api.post(deliveries+"/0193a000-0000-7000-8000-00000000dead/redeliver", "").wantProblem(t, http.StatusNotFound)
}

// A webhook carries the reimbursement in the API's own shape: the message
// a receiver gets for a denial holds what GET /v1/reimbursements/{id}
// answers, field for field (approvals and their notes, the denial, the
// nulls), and matches the WebhookMessage that docs/openapi.yaml describes.
func TestWebhookCarriesTheReimbursementAsTheAPIAnswersIt(t *testing.T) {
	api := newAPI(t)
	rcv := newVerifyingReceiver(t)
	bank := api.dir.Bank.ID.String()
	api.as(api.operator()).put("/v1/banks/"+bank+"/approval-policy", `{"second_approval_above":"1000.00","currency":"USD"}`).want(t, http.StatusOK)
	created := api.post("/v1/banks/"+bank+"/webhook-endpoints", `{"url":"`+rcv.url()+`","event_types":["reimbursement.denied"]}`).want(t, http.StatusCreated)
	rcv.trust(created.str("secret"))

	id := api.submit("1500.00").str("id")
	api.post("/v1/reimbursements/"+id+"/approve", `{"note":"Receipts checked"}`).want(t, http.StatusOK)
	api.as(api.secondAdmin()).post("/v1/reimbursements/"+id+"/deny", `{"reason":"Over the conference budget"}`).want(t, http.StatusOK)
	var bodies [][]byte
	postgrestest.Eventually(t, "the denial delivered", func() bool {
		_, bodies = rcv.received()
		return len(bodies) == 1
	})

	var message map[string]any
	if err := json.Unmarshal(bodies[0], &message); err != nil {
		t.Fatal(err)
	}
	doc, _ := loadSpec(t)
	if err := doc.Components.Schemas["WebhookMessage"].Value.VisitJSON(message); err != nil {
		t.Errorf("the message is not the WebhookMessage docs/openapi.yaml describes: %v\n%s", err, bodies[0])
	}
	sent := message["data"].(map[string]any)["reimbursement"]
	got := api.get("/v1/reimbursements/"+id).want(t, http.StatusOK)
	if !reflect.DeepEqual(sent, any(got.body)) {
		t.Fatalf("the webhook carried\n%v\nGET answers\n%v", sent, got.body)
	}
	approvals, _ := got.body["approvals"].([]any)
	if got.str("status") != "denied" || got.body["approvals_required"] != float64(2) || len(approvals) != 1 ||
		approvals[0].(map[string]any)["note"] != "Receipts checked" || got.body["payment_failure_reason"] != nil {
		t.Fatalf("the compared reimbursement is not the one meant: %s", got.raw)
	}
	if message["type"] != "reimbursement.denied" {
		t.Errorf("type %v", message["type"])
	}
}

// The delivery log is paged as the directory's lists are: up to limit
// items a page, newest first, next_cursor carrying on from a page's last
// and null after the last page; a cursor of another list is refused.
func TestWebhookDeliveriesArePaged(t *testing.T) {
	api := newAPI(t)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer rcv.Close()
	endpoint := api.post("/v1/banks/"+api.dir.Bank.ID.String()+"/webhook-endpoints",
		`{"url":"`+rcv.URL+`","event_types":["reimbursement.submitted"]}`).want(t, http.StatusCreated).header.Get("Location")
	deliveries := endpoint + "/deliveries"
	for range 5 {
		api.submit("3.00")
	}
	var all []map[string]any
	postgrestest.Eventually(t, "five deliveries", func() bool {
		all = api.get(deliveries+"?limit=200").want(t, http.StatusOK).items()
		return len(all) == 5
	})
	for i := 1; i < len(all); i++ {
		if all[i]["created_at"].(string) > all[i-1]["created_at"].(string) {
			t.Fatalf("not newest first: %v", all)
		}
	}

	var paged []any
	pages := 0
	for next := ""; pages == 0 || next != ""; pages++ {
		path := deliveries + "?limit=2"
		if next != "" {
			path += "&cursor=" + url.QueryEscape(next)
		}
		page := api.get(path).want(t, http.StatusOK)
		if n := len(page.items()); n != 2 && !(n == 1 && pages == 2) {
			t.Fatalf("page %d holds %d deliveries", pages, n)
		}
		for _, d := range page.items() {
			paged = append(paged, d["id"])
		}
		next = page.str("next_cursor")
	}
	if pages != 3 || len(paged) != 5 {
		t.Fatalf("%d deliveries in %d pages, want 5 in 3", len(paged), pages)
	}
	for i, d := range all {
		if paged[i] != d["id"] {
			t.Fatalf("the pages list %v, the whole log %v", paged, all)
		}
	}
	if last := api.get(deliveries+"?limit=5").want(t, http.StatusOK); last.body["next_cursor"] != nil || len(last.items()) != 5 {
		t.Fatalf("a page holding the whole log: %s", last.raw)
	}

	if n := len(api.get(deliveries+"?limit=100000").want(t, http.StatusOK).items()); n != 5 {
		t.Fatalf("a large limit is clamped, not refused: %d items", n)
	}

	// A cursor is only good for the list that handed it out.
	directory := api.as(api.operator()).get("/v1/banks?limit=1").want(t, http.StatusOK).str("next_cursor")
	if directory == "" {
		t.Fatal("the directory gave no cursor to try")
	}
	for _, bad := range []string{"nonsense", strings.Repeat("A", 200), directory, reimbursementCursor(t, api)} {
		r := api.get(deliveries+"?cursor="+url.QueryEscape(bad)).wantProblem(t, http.StatusBadRequest)
		if r.fieldError("cursor") == "" {
			t.Errorf("cursor %q: %s, want a problem naming cursor", bad, r.raw)
		}
	}
	for _, limit := range []string{"0", "-1", "two"} {
		if r := api.get(deliveries+"?limit="+limit).wantProblem(t, http.StatusBadRequest); r.fieldError("limit") == "" {
			t.Errorf("limit %s: %s", limit, r.raw)
		}
	}
	// Tenancy is the endpoint's, with a cursor as without.
	cursor := api.get(deliveries+"?limit=2").want(t, http.StatusOK).str("next_cursor")
	api.as(api.otherAdmin()).get(deliveries+"?limit=2&cursor="+url.QueryEscape(cursor)).wantProblem(t, http.StatusNotFound)
	api.as(api.member()).get(deliveries+"?cursor="+url.QueryEscape(cursor)).wantProblem(t, http.StatusForbidden)
}

// verifyingReceiver is a bank's webhook receiver: a real HTTP server that
// verifies every delivery with the Standard Webhooks library, under the
// secret it was given, and keeps each one's webhook-id and body.
type verifyingReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	ids    []string
	bodies [][]byte
}

func newVerifyingReceiver(t *testing.T) *verifyingReceiver {
	rcv := &verifyingReceiver{}
	rcv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		v, err := standardwebhooks.NewWebhook(rcv.secret)
		if err == nil {
			err = v.Verify(body, r.Header)
		}
		if err != nil {
			t.Errorf("the receiver could not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rcv.ids = append(rcv.ids, r.Header.Get("webhook-id"))
		rcv.bodies = append(rcv.bodies, body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.srv.Close)
	return rcv
}

func (r *verifyingReceiver) url() string { return r.srv.URL }

// trust sets the secret deliveries must be signed with.
func (r *verifyingReceiver) trust(secret string) {
	r.mu.Lock()
	r.secret = secret
	r.mu.Unlock()
}

// received returns the webhook-ids and bodies of the deliveries verified.
func (r *verifyingReceiver) received() ([]string, [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids), slices.Clone(r.bodies)
}
