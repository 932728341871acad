package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/auth/authtest"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/inmem"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
	"github.com/reimbursement-ledger/ledger/backend/worker"
	"github.com/reimbursement-ledger/ledger/backend/worker/workertest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// ledgerAPI is the API over real HTTP, a fresh database and running workers
// whose payment rail and mailer are fakes.
type ledgerAPI struct {
	t       *testing.T
	url     string
	db      *postgres.DB
	mem     *inmem.DB // the stores of newHandlerAPI, in place of db
	dir     postgrestest.Directory
	gateway *sagatest.Gateway
	mailer  *sagatest.Mailer
	issuer  *authtest.Issuer
	// token is the bearer token requests carry: "" for the caller an
	// operation is for (see defaultToken), noToken for none.
	token string
}

// noToken makes as send requests without a token.
const noToken = "-"

func newAPI(t *testing.T) *ledgerAPI {
	t.Helper()
	return newAPIWith(t, httpapi.RateLimit{}, nil, nil)
}

// newAPIWith is newAPI with a rate limit, a metrics handler and a payment
// rail (nil: one that pays every transfer).
func newAPIWith(t *testing.T, limit httpapi.RateLimit, metrics http.Handler, gateway *sagatest.Gateway) *ledgerAPI {
	t.Helper()
	db := postgrestest.NewDB(t)
	if gateway == nil {
		gateway = &sagatest.Gateway{}
	}
	a := &ledgerAPI{t: t, db: db, dir: postgrestest.MustDirectory(t, db), gateway: gateway, mailer: &sagatest.Mailer{},
		issuer: authtest.NewIssuer(t)}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{App: postgrestest.App(db), Tokens: a.issuer.Verifier(), RateLimit: limit,
		Metrics: metrics, Ready: db.Ping, Logger: quiet, API: true}))
	t.Cleanup(srv.Close)
	a.url = srv.URL

	cfg := workertest.On(db, worker.Config{
		// The tests' webhook receivers listen on loopback.
		Webhooks: worker.WebhookConfig{
			Sender:   webhook.NewSender(webhook.SenderConfig{Guard: webhook.Guard{AllowPrivate: true}, Timeout: 2 * time.Second}),
			Schedule: webhook.Schedule{First: 20 * time.Millisecond, MaxDelay: 100 * time.Millisecond, Window: time.Minute},
		},
	})
	cfg.Payments, cfg.Notifications = workertest.Payments(cfg, a.gateway), workertest.Notifications(cfg, a.mailer)
	workertest.Start(t, cfg)
	return a
}

// response is an answer with its body decoded.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// as returns the API called with token (noToken: none).
func (a *ledgerAPI) as(token string) *ledgerAPI {
	b := *a
	b.token = token
	return &b
}

// The test directory's people, as bearer tokens.
func (a *ledgerAPI) member() string { return a.issuer.Token("member", a.dir.Member.ID.String()) }
func (a *ledgerAPI) admin() string  { return a.issuer.Token("administrator", a.dir.Admin.ID.String()) }
func (a *ledgerAPI) otherAdmin() string {
	return a.issuer.Token("administrator", a.dir.OtherAdmin.ID.String())
}
func (a *ledgerAPI) auditor() string  { return a.issuer.Token("auditor", "auditor-1") }
func (a *ledgerAPI) operator() string { return a.issuer.Token("operator", "operator-1") }

// defaultToken is the token of the caller an operation is for when a test
// names none: the first role its rule names, played by the test directory's
// person in that role (the member, the first bank's administrator).
func (a *ledgerAPI) defaultToken(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	if method == http.MethodHead {
		method = http.MethodGet // HEAD is GET without the body
	}
	for _, rule := range httpapi.Access() {
		if rule.Method != method || !matchPath(rule.Path, path) {
			continue
		}
		if rule.Public() {
			return ""
		}
		switch rule.Roles[0] {
		case app.RoleMember:
			return a.member()
		case app.RoleAdministrator:
			return a.admin()
		case app.RoleAuditor:
			return a.auditor()
		case app.RoleOperator:
			return a.operator()
		}
	}
	return a.auditor() // an unknown route: any valid token
}

// matchPath reports whether path fits an Echo route pattern.
func matchPath(pattern, path string) bool {
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], ":") && ps[i] != qs[i] {
			return false
		}
	}
	return true
}

func (a *ledgerAPI) do(method, path, body string, headers ...string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch token := a.token; token {
	case noToken:
	case "":
		if token = a.defaultToken(method, path); token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	checkAgainstSpec(a.t, req, res, raw)
	r := response{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			a.t.Fatalf("%s %s answered %d with a body that is not a JSON object: %s", method, path, res.StatusCode, raw)
		}
	}
	return r
}

func (a *ledgerAPI) post(path, body string, headers ...string) response {
	a.t.Helper()
	return a.do(http.MethodPost, path, body, headers...)
}

func (a *ledgerAPI) put(path, body string, headers ...string) response {
	a.t.Helper()
	return a.do(http.MethodPut, path, body, headers...)
}

func (a *ledgerAPI) get(path string) response {
	a.t.Helper()
	return a.do(http.MethodGet, path, "")
}

// want fails the test unless the answer has the status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	return r
}

// wantProblem fails the test unless the answer is a problem+json with the status.
func (r response) wantProblem(t *testing.T, status int) response {
	t.Helper()
	r.want(t, status)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	for _, key := range []string{"type", "title", "detail"} {
		if s, _ := r.body[key].(string); s == "" {
			t.Fatalf("problem has no %s: %s", key, r.raw)
		}
	}
	if int(r.body["status"].(float64)) != status {
		t.Fatalf("problem status %v, want %d", r.body["status"], status)
	}
	return r
}

// fieldError returns the message of the problem's error for field, or "".
func (r response) fieldError(field string) string {
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		m := e.(map[string]any)
		if m["field"] == field {
			return m["message"].(string)
		}
	}
	return ""
}

func (r response) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

func (r response) items() []map[string]any {
	raw, _ := r.body["items"].([]any)
	out := make([]map[string]any, len(raw))
	for i, it := range raw {
		out[i] = it.(map[string]any)
	}
	return out
}

func (a *ledgerAPI) eventCount() int {
	a.t.Helper()
	var n int
	if err := a.db.SQL().QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

func (a *ledgerAPI) submit(amount string) response {
	a.t.Helper()
	return a.post("/v1/reimbursements", `{"bank_account_id":"`+a.dir.Account.ID.String()+`","amount":"`+amount+`","description":"Taxi to the branch"}`).want(a.t, http.StatusCreated)
}
