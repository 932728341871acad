package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth/authtest"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/inmem"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
)

// The tests in this file serve the API over the in-memory stores, which the
// contract test (app/storetest) holds to PostgreSQL's behaviour: they check
// the HTTP layer (statuses, headers, problem answers) in milliseconds, with
// the use cases production runs. The workers do not run, so nothing is paid
// or notified, and the lists are never behind.

// newHandlerAPI serves the API over fresh in-memory stores holding the
// directory postgrestest.MustDirectory builds, with a test issuer's tokens.
func newHandlerAPI(t *testing.T) *ledgerAPI {
	t.Helper()
	mem := inmem.New(nil)
	a := app.New(app.Config{Stores: mem.Stores(), AuditKeys: postgrestest.AuditKeys,
		Webhooks: app.WebhookConfig{Destinations: webhook.Guard{}, NewSecret: webhook.NewSecret}})
	issuer := authtest.NewIssuer(t)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{App: a, Tokens: issuer.Verifier(),
		Ready: func(context.Context) error { return nil }, Logger: quiet, API: true}))
	t.Cleanup(srv.Close)
	return &ledgerAPI{t: t, url: srv.URL, mem: mem, dir: mustInmemDirectory(t, a), issuer: issuer}
}

// mustInmemDirectory creates postgrestest.Directory's banks, administrators,
// member and account through the use cases, each step by the role allowed
// to take it.
func mustInmemDirectory(t *testing.T, a *app.App) postgrestest.Directory {
	t.Helper()
	ctx := context.Background()
	op := app.Principal{Role: app.RoleOperator, Subject: "operator-1"}
	var d postgrestest.Directory
	var errs [6]error
	d.Bank, errs[0] = a.CreateBank(ctx, op, ledger.Bank{ID: uuid.New(), Name: "First Community Bank", Location: "Springfield"})
	d.OtherBank, errs[1] = a.CreateBank(ctx, op, ledger.Bank{ID: uuid.New(), Name: "Harbor Savings", Location: "Shelbyville"})
	d.Admin, errs[2] = a.CreateAdministrator(ctx, op, ledger.Administrator{ID: uuid.New(), BankID: d.Bank.ID, FirstName: "Grace", LastName: "Hopper", Email: "grace@bank.example"})
	d.OtherAdmin, errs[3] = a.CreateAdministrator(ctx, op, ledger.Administrator{ID: uuid.New(), BankID: d.OtherBank.ID, FirstName: "Edsger", LastName: "Dijkstra", Email: "edsger@harbor.example"})
	bankAdmin := app.Administrator(d.Admin.ID, d.Bank.ID)
	d.Member, errs[4] = a.CreateMember(ctx, bankAdmin, ledger.Member{ID: uuid.New(), FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"})
	d.Account, errs[5] = a.OpenAccount(ctx, bankAdmin, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID, Currency: "USD", Nickname: "checking"}, ledger.BankDetails{})
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatalf("create directory: %v", err)
	}
	return d
}

func TestHandlerSubmitAndGet(t *testing.T) {
	api := newHandlerAPI(t)
	created := api.submit("12.50")
	id := created.str("id")
	if created.header.Get("Location") != "/v1/reimbursements/"+id || created.header.Get("ETag") != `"1"` {
		t.Fatalf("submitted: Location %q, ETag %q", created.header.Get("Location"), created.header.Get("ETag"))
	}
	if created.str("status") != "pending" || created.str("amount") != "12.50" || created.str("bank_member_id") != api.dir.Member.ID.String() {
		t.Fatalf("submitted %s", created.raw)
	}
	// The read is the command's answer and the claim's sequence: its first event.
	got := api.get(created.header.Get("Location")).want(t, http.StatusOK)
	if strings.TrimSpace(got.raw) != strings.TrimSuffix(strings.TrimSpace(created.raw), "}")+`,"sequence":1}` || got.header.Get("ETag") != `"1"` {
		t.Fatalf("read back %s (ETag %q), submitted %s", got.raw, got.header.Get("ETag"), created.raw)
	}
	if story := api.get("/v1/reimbursements/"+id+"/events").want(t, http.StatusOK).items(); len(story) != 1 || story[0]["type"] != ledger.TypeReimbursementSubmitted {
		t.Fatalf("story %v", story)
	}
	api.get("/v1/reimbursements/0193a000-0000-7000-8000-00000000dead").wantProblem(t, http.StatusNotFound)
}

func TestHandlerRefusesBadSubmissions(t *testing.T) {
	api := newHandlerAPI(t)
	acct := api.dir.Account.ID.String()
	tests := []struct {
		name   string
		body   string
		status int
		fields []string
	}{
		{"malformed JSON", `{"bank_account_id":`, http.StatusBadRequest, nil},
		{"invalid fields", `{"bank_account_id":"` + acct + `","amount":"-1.00","description":""}`, http.StatusUnprocessableEntity, []string{"amount", "description"}},
		{"unknown account", `{"bank_account_id":"0193a000-0000-7000-8000-00000000dead","amount":"1.00","description":"x"}`, http.StatusUnprocessableEntity, []string{"bank_account_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := api.in(t)
			r := api.post("/v1/reimbursements", tt.body).wantProblem(t, tt.status)
			for _, field := range tt.fields {
				if r.fieldError(field) == "" {
					t.Fatalf("no error names %s: %s", field, r.raw)
				}
			}
		})
	}
	if n := len(api.get("/v1/members/"+api.dir.Member.ID.String()+"/reimbursements").want(t, http.StatusOK).items()); n != 0 {
		t.Fatalf("refused submissions recorded %d reimbursements", n)
	}
}

func TestHandlerDecisions(t *testing.T) {
	api := newHandlerAPI(t)
	id := api.submit("10.00").str("id")
	approve, deny := "/v1/reimbursements/"+id+"/approve", "/v1/reimbursements/"+id+"/deny"

	stale := api.post(approve, `{}`, "If-Match", `"7"`).wantProblem(t, http.StatusPreconditionFailed)
	if stale.body["current_version"] != float64(1) {
		t.Fatalf("a stale If-Match: %s", stale.raw)
	}
	api.as(api.member()).post(approve, `{}`).wantProblem(t, http.StatusForbidden)
	// Another bank's reimbursement does not exist for its administrators.
	api.as(api.otherAdmin()).post(approve, `{}`).wantProblem(t, http.StatusNotFound)
	approved := api.post(approve, `{}`, "If-Match", `"1"`).want(t, http.StatusOK)
	if approved.str("status") != "approved" || approved.str("decided_by") != api.dir.Admin.ID.String() || approved.header.Get("ETag") != `"2"` {
		t.Fatalf("approved: %s (ETag %q)", approved.raw, approved.header.Get("ETag"))
	}
	api.post(approve, `{}`).wantProblem(t, http.StatusConflict)
	api.post(deny, `{"reason":"late"}`).wantProblem(t, http.StatusConflict)

	other := api.submit("20.00").str("id")
	denied := api.post("/v1/reimbursements/"+other+"/deny", `{"reason":"no receipt"}`).want(t, http.StatusOK)
	if denied.str("status") != "denied" || denied.str("denial_reason") != "no receipt" {
		t.Fatalf("denied: %s", denied.raw)
	}
}

func TestHandlerIdempotencyKey(t *testing.T) {
	api := newHandlerAPI(t)
	body := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"42.00","description":"Conference ticket"}`
	first := api.post("/v1/reimbursements", body, "Idempotency-Key", "submit-1").want(t, http.StatusCreated)
	again := api.post("/v1/reimbursements", body, "Idempotency-Key", "submit-1").want(t, http.StatusCreated)
	if first.header.Get("Idempotent-Replayed") != "false" || again.header.Get("Idempotent-Replayed") != "true" ||
		again.raw != first.raw || again.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("replay: %v %s\nfirst: %v %s", again.header, again.raw, first.header, first.raw)
	}
	other := `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"43.00","description":"Conference ticket"}`
	if r := api.post("/v1/reimbursements", other, "Idempotency-Key", "submit-1").wantProblem(t, http.StatusUnprocessableEntity); r.fieldError("Idempotency-Key") == "" {
		t.Fatalf("another body under the key: %s", r.raw)
	}
	if n := len(api.get("/v1/members/"+api.dir.Member.ID.String()+"/reimbursements").want(t, http.StatusOK).items()); n != 1 {
		t.Fatalf("one key recorded %d reimbursements", n)
	}
}

func TestHandlerReadyzWhenTheStoresDoNotAnswer(t *testing.T) {
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Ready: func(context.Context) error { return errors.New("connection refused") }, Logger: quiet}))
	t.Cleanup(srv.Close)
	api := &ledgerAPI{t: t, url: srv.URL, issuer: authtest.NewIssuer(t)}
	if r := api.get("/readyz").wantProblem(t, http.StatusServiceUnavailable); r.str("detail") != "the database does not answer" {
		t.Fatalf("readyz %s", r.raw)
	}
	// Liveness does not depend on the database: a restart would not bring it back.
	api.get("/healthz").want(t, http.StatusOK)
}

// A worker whose subscriber stalled says which one.
func TestHandlerReadyzNamesWhatIsNotReady(t *testing.T) {
	reason := "saga.payments has not moved from position 41 for 45s while 3 events wait"
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Ready: func(context.Context) error { return &httpapi.NotReady{Reason: reason} }, Logger: quiet}))
	t.Cleanup(srv.Close)
	api := &ledgerAPI{t: t, url: srv.URL, issuer: authtest.NewIssuer(t)}
	if r := api.get("/readyz").wantProblem(t, http.StatusServiceUnavailable); r.str("detail") != reason {
		t.Fatalf("readyz %s", r.raw)
	}
}

func TestHandlerLists(t *testing.T) {
	api := newHandlerAPI(t)
	var ids []string
	for _, amount := range []string{"1.00", "2.00", "3.00"} {
		ids = append(ids, api.submit(amount).str("id"))
	}
	api.post("/v1/reimbursements/"+ids[0]+"/approve", `{}`).want(t, http.StatusOK)

	bankPath := "/v1/banks/" + api.dir.Bank.ID.String() + "/reimbursements"
	page := api.get(bankPath+"?limit=2").want(t, http.StatusOK)
	next := page.str("next_cursor")
	if items := page.items(); len(items) != 2 || items[0]["id"] != ids[2] || items[1]["id"] != ids[1] || next == "" {
		t.Fatalf("first page %s", page.raw)
	}
	rest := api.get(bankPath+"?limit=2&cursor="+next).want(t, http.StatusOK)
	if items := rest.items(); len(items) != 1 || items[0]["id"] != ids[0] || items[0]["status"] != "approved" || rest.body["next_cursor"] != nil {
		t.Fatalf("second page %s", rest.raw)
	}
	if items := api.get(bankPath+"?status=pending").want(t, http.StatusOK).items(); len(items) != 2 {
		t.Fatalf("%d pending, want 2", len(items))
	}
	if items := api.get("/v1/members/"+api.dir.Member.ID.String()+"/reimbursements").want(t, http.StatusOK).items(); len(items) != 3 {
		t.Fatalf("the member lists %d, want 3", len(items))
	}
	// A bank's list is its administrators': another bank's is not there for them.
	api.get("/v1/banks/"+api.dir.OtherBank.ID.String()+"/reimbursements").wantProblem(t, http.StatusNotFound)
	if items := api.as(api.otherAdmin()).get("/v1/banks/"+api.dir.OtherBank.ID.String()+"/reimbursements").want(t, http.StatusOK).items(); len(items) != 0 {
		t.Fatalf("another bank lists %d", len(items))
	}
	api.get("/v1/banks/0193a000-0000-7000-8000-00000000dead/reimbursements").wantProblem(t, http.StatusNotFound)
	if items := api.get("/v1/events?type="+ledger.TypeReimbursementApproved).want(t, http.StatusOK).items(); len(items) != 1 || items[0]["stream_id"] != ids[0] {
		t.Fatalf("approvals in the feed: %v", items)
	}
	api.get("/v1/events?after=999999").wantProblem(t, http.StatusUnprocessableEntity)
}

// in returns the API called from the subtest t, whose failures must stop t.
func (a *ledgerAPI) in(t *testing.T) *ledgerAPI {
	b := *a
	b.t = t
	return &b
}

// The delivery log is listed and redelivered from over the in-memory
// stores too, with the tenancy of the endpoint it belongs to.
func TestHandlerWebhookDeliveries(t *testing.T) {
	api := newHandlerAPI(t)
	endpoint := api.post("/v1/banks/"+api.dir.Bank.ID.String()+"/webhook-endpoints",
		`{"url":"https://203.0.113.10/hooks","event_types":["reimbursement.approved"]}`).want(t, http.StatusCreated).header.Get("Location")
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var events []string
	for i := range 3 {
		e := app.WebhookEnqueue{BankID: api.dir.Bank.ID, EventID: uuid.New(), EventType: "reimbursement.approved",
			Payload: []byte(`{}`), At: at.Add(time.Duration(i) * time.Minute)}
		if err := api.mem.Webhooks.EnqueueDeliveries(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e.EventID.String())
	}
	items := api.get(endpoint+"/deliveries").want(t, http.StatusOK).items()
	if len(items) != 3 || items[0]["event_id"] != events[2] || items[2]["event_id"] != events[0] ||
		items[0]["status"] != "pending" || items[0]["next_attempt_at"] != "2026-03-01T09:02:00Z" {
		t.Fatalf("the deliveries, newest first: %v", items)
	}
	first := api.get(endpoint+"/deliveries?limit=2").want(t, http.StatusOK)
	rest := api.get(endpoint+"/deliveries?limit=2&cursor="+first.str("next_cursor")).want(t, http.StatusOK)
	if got := append(first.items(), rest.items()...); len(got) != 3 || got[0]["id"] != items[0]["id"] || got[2]["id"] != items[2]["id"] ||
		rest.body["next_cursor"] != nil {
		t.Fatalf("pages of two: %s then %s", first.raw, rest.raw)
	}
	api.post(endpoint+"/deliveries/"+items[1]["id"].(string)+"/redeliver", "").want(t, http.StatusAccepted)
	api.post(endpoint+"/deliveries/0193a000-0000-7000-8000-00000000dead/redeliver", "").wantProblem(t, http.StatusNotFound)
	// Another bank's administrator sees neither the endpoint nor its log.
	other := api.as(api.otherAdmin())
	other.get(endpoint+"/deliveries").wantProblem(t, http.StatusNotFound)
	other.post(endpoint+"/deliveries/"+items[1]["id"].(string)+"/redeliver", "").wantProblem(t, http.StatusNotFound)
}
