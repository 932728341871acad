package httpapi_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/httpapi"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
)

var updateAccess = flag.Bool("update-access", false, "rewrite docs/access.md from the authorization table")

// pair is the status for a resource of the caller's own (their own as a
// member, their bank's as an administrator) and for another's.
type pair struct{ own, foreign int }

func same(status int) pair { return pair{status, status} }

// accessTable is who may call what: every operation, for a caller with no
// token, a member, an administrator, an auditor and an operator. Auditors
// and operators see the whole ledger, so they have one status. It is
// written out here, not derived from the API's own table, so that the test
// can disagree with the code; docs/access.md is printed from it.
var accessTable = []struct {
	method, path      string
	member, admin     pair
	auditor, operator int
	note              string
}{
	{"POST", "/v1/banks", same(403), same(403), 403, 201, ""},
	{"GET", "/v1/banks", same(403), same(200), 403, 200, "an administrator's list holds their own bank only"},
	{"GET", "/v1/banks/:bank_id", same(403), pair{200, 404}, 403, 200, ""},
	{"POST", "/v1/banks/:bank_id/administrators", same(403), same(403), 403, 201, ""},
	{"GET", "/v1/banks/:bank_id/administrators", same(403), pair{200, 404}, 403, 200, ""},
	{"POST", "/v1/banks/:bank_id/accounts", same(403), pair{201, 404}, 403, 403, ""},
	{"GET", "/v1/banks/:bank_id/accounts", same(403), pair{200, 404}, 403, 403, ""},
	{"GET", "/v1/banks/:bank_id/members", same(403), pair{200, 404}, 403, 403, "the members with an account at the bank"},
	{"GET", "/v1/banks/:bank_id/approval-policy", same(403), pair{200, 404}, 403, 200, ""},
	{"PUT", "/v1/banks/:bank_id/approval-policy", same(403), same(403), 403, 200, "recorded as an event: the auditors' feed shows who changed it and when"},
	{"GET", "/v1/banks/:bank_id/reimbursements", same(403), pair{200, 404}, 403, 403, ""},
	{"GET", "/v1/banks/:bank_id/reimbursements/export", same(403), pair{200, 404}, 403, 403, "text/csv; operators export with `ledger export` on the command line"},
	{"POST", "/v1/banks/:bank_id/webhook-endpoints", same(403), pair{201, 404}, 403, 403, "the answer shows the signing secret, once"},
	{"GET", "/v1/banks/:bank_id/webhook-endpoints", same(403), pair{200, 404}, 403, 403, ""},
	{"GET", "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id", same(403), pair{200, 404}, 403, 403, ""},
	{"DELETE", "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id", same(403), pair{204, 404}, 403, 403, ""},
	{"POST", "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id/rotate-secret", same(403), pair{200, 404}, 403, 403, "the answer shows the new secret, once; the old one signs for 24 h more"},
	{"POST", "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id/enable", same(403), pair{200, 404}, 403, 403, "after deliveries failed for the whole schedule"},
	{"GET", "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id/deliveries", same(403), pair{200, 404}, 403, 403, "each delivery with its attempts"},
	{"POST", "/v1/banks/:bank_id/webhook-endpoints/:endpoint_id/deliveries/:delivery_id/redeliver", same(403), pair{202, 404}, 403, 403, "the worker sends it again"},
	{"GET", "/v1/administrators/:administrator_id", same(403), pair{200, 404}, 403, 200, "an administrator sees their own bank's"},
	{"GET", "/v1/accounts/:account_id", pair{200, 404}, pair{200, 404}, 403, 403, "a member sees their own, an administrator those at their bank"},
	{"GET", "/v1/accounts/:account_id/corrections", pair{200, 404}, pair{200, 404}, 403, 403, "the account's notifications of change (ACH), as the account itself"},
	{"POST", "/v1/members", same(403), same(201), 403, 403, "a member may bank with several banks: any administrator may add one"},
	{"GET", "/v1/members/:member_id", pair{200, 404}, pair{200, 404}, 403, 403, "an administrator sees members with an account at their bank"},
	{"GET", "/v1/members/:member_id/accounts", pair{200, 404}, pair{200, 404}, 403, 403, "an administrator sees the accounts at their bank"},
	{"GET", "/v1/members/:member_id/reimbursements", pair{200, 404}, pair{200, 404}, 403, 403, "an administrator sees those at their bank"},
	{"POST", "/v1/members/:member_id/erasure", same(403), same(403), 403, 409, "at the member's request; 409 here, as a claim of theirs is pending"},
	{"GET", "/v1/members/:member_id/personal-data", pair{200, 404}, same(403), 403, 200, "the member's own copy of what the ledger holds about them"},
	{"POST", "/v1/reimbursements", pair{201, 422}, same(403), 403, 403, "another member's account answers as an unknown account does"},
	{"GET", "/v1/reimbursements/:id", pair{200, 404}, pair{200, 404}, 200, 403, ""},
	{"POST", "/v1/reimbursements/:id/approve", same(403), pair{200, 404}, 403, 403, ""},
	{"POST", "/v1/reimbursements/:id/deny", same(403), pair{200, 404}, 403, 403, ""},
	{"POST", "/v1/reimbursements/:id/withdraw", pair{200, 404}, same(403), 403, 403, "the member who submitted it, while it is pending"},
	{"POST", "/v1/reimbursements/:id/payout/retry", same(403), pair{202, 404}, 403, 403, "once the last payout attempt failed"},
	{"GET", "/v1/reimbursements/:id/events", pair{200, 404}, pair{200, 404}, 200, 403, ""},
	{"POST", "/v1/reimbursements/:id/receipts", pair{201, 404}, same(403), 403, 403, "`multipart/form-data`; the member who submitted it, while it is pending"},
	{"GET", "/v1/reimbursements/:id/receipts", pair{200, 404}, pair{200, 404}, 403, 403, "auditors verify the receipts' hashes, they do not read them"},
	{"GET", "/v1/reimbursements/:id/receipts/:receipt_id", pair{200, 404}, pair{200, 404}, 403, 403, "the bytes, as an attachment"},
	{"GET", "/v1/events", same(403), same(403), 200, 403, ""},
	{"GET", "/v1/events/:position/proof", same(403), same(403), 200, 403, "an inclusion proof against a signed tree head"},
	{"GET", "/v1/audit/public-key", same(403), same(403), 200, 403, "the key that checks the tree heads"},
	{"GET", "/v1/audit/heads", same(403), same(403), 200, 403, ""},
	{"GET", "/v1/audit/heads/latest", same(403), same(403), 200, 403, ""},
	{"GET", "/v1/audit/consistency", same(403), same(403), 200, 403, "needs from and to"},
	{"GET", "/v1/audit/checkpoints", same(403), same(403), 200, 403, "the HMAC checkpoints recorded before tree heads"},
	{"GET", "/v1/audit/verify", same(403), same(403), 200, 403, ""},
	{"GET", "/metrics", same(403), same(403), 403, 200, ""},
	{"GET", "/v1/openapi.yaml", same(200), same(200), 200, 200, "public"},
	{"GET", "/docs", same(200), same(200), 200, 200, "public"},
	{"GET", "/docs/:file", same(200), same(200), 200, 200, "public"},
	{"GET", "/healthz", same(200), same(200), 200, 200, "public"},
	{"GET", "/readyz", same(200), same(200), 200, 200, "public"},
}

// side is one tenancy's resources: a bank, its administrator, a member
// with an account there and a reimbursement of theirs.
type side struct {
	bank, admin, member, account uuid.UUID
	reimbursement                uuid.UUID
	endpoint, delivery           uuid.UUID
	receipt                      uuid.UUID
}

func TestAccessTable(t *testing.T) {
	// The rail refuses every first attempt, so that a payout can be retried.
	api := newAPIWith(t, httpapi.RateLimit{}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("# metrics\n")) }),
		&sagatest.Gateway{Reject: "account closed", RejectAttempts: 1})
	d := api.dir
	ctx := context.Background()
	a := postgrestest.App(api.db)
	// The second tenancy: a member banking at the other bank only.
	otherAdmin := app.Administrator(d.OtherAdmin.ID, d.OtherBank.ID)
	stranger, err := a.CreateMember(ctx, otherAdmin, ledger.Member{ID: uuid.New(), FirstName: "Grace", LastName: "Brewster", Email: "brewster@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	strangerAccount, err := a.OpenAccount(ctx, otherAdmin, ledger.Account{ID: uuid.New(), BankID: d.OtherBank.ID, MemberID: stranger.ID}, ledger.BankDetails{})
	if err != nil {
		t.Fatal(err)
	}
	own := side{bank: d.Bank.ID, admin: d.Admin.ID, member: d.Member.ID, account: d.Account.ID}
	admins := map[uuid.UUID]app.Principal{d.Bank.ID: app.Administrator(d.Admin.ID, d.Bank.ID), d.OtherBank.ID: otherAdmin}
	foreign := side{bank: d.OtherBank.ID, admin: d.OtherAdmin.ID, member: stranger.ID, account: strangerAccount.ID}
	var n atomic.Int64
	// submit gives the side a fresh pending reimbursement, so that every
	// decision has one to decide.
	submit := func(s *side) {
		r, err := a.Submit(ctx, app.Member(s.member), app.SubmitCommand{ID: uuid.New(), AccountID: s.account, Amount: "12.00", Description: "Taxi"})
		if err != nil {
			t.Fatal(err)
		}
		s.reimbursement = r.ID
	}
	// register gives the side a fresh webhook endpoint, so that a deletion
	// has one to delete.
	register := func(s *side) {
		e, err := a.CreateWebhookEndpoint(ctx, admins[s.bank], app.CreateWebhookEndpointCommand{
			BankID: s.bank, URL: "https://203.0.113.10/hooks", EventTypes: []string{"reimbursement.submitted"}})
		if err != nil {
			t.Fatal(err)
		}
		s.endpoint = e.ID
	}
	// deliver gives the side's endpoint a delivery, so that it can be sent again.
	deliver := func(s *side) {
		submit(s)
		postgrestest.Eventually(t, "a delivery", func() bool {
			ds, err := api.db.Webhooks.Deliveries(ctx, app.DeliveryQuery{EndpointID: s.endpoint, Limit: 1})
			if err != nil || len(ds) == 0 {
				return false
			}
			s.delivery = ds[0].ID
			return true
		})
	}
	// failPayout approves the side's reimbursement and waits for the rail
	// to refuse its payout, so that it may be retried.
	failPayout := func(s side) {
		if _, err := a.Approve(ctx, admins[s.bank], app.DecideCommand{ReimbursementID: s.reimbursement}); err != nil {
			t.Fatal(err)
		}
		postgrestest.Eventually(t, "the payout refused", func() bool {
			r, err := postgrestest.Streams(api.db).Reimbursement(ctx, s.reimbursement)
			return err == nil && r.PaymentStatus == ledger.PaymentStatusFailed
		})
	}
	// request returns the path and body of an operation on the side's resources.
	request := func(method, pattern string, s side) (string, string) {
		path := strings.NewReplacer(":bank_id", s.bank.String(), ":member_id", s.member.String(), ":administrator_id", s.admin.String(),
			":account_id", s.account.String(), ":endpoint_id", s.endpoint.String(), ":delivery_id", s.delivery.String(), ":receipt_id", s.receipt.String(), ":id", s.reimbursement.String(), ":file", "swagger-ui.css", ":position", "1").Replace(pattern)
		i := n.Add(1)
		switch {
		case pattern == "/v1/audit/consistency":
			return path + "?from=1&to=1", ""
		case method == http.MethodPut:
			return path, `{"second_approval_above":"1000.00","currency":"USD"}`
		case method != http.MethodPost:
			return path, ""
		case pattern == "/v1/banks":
			return path, fmt.Sprintf(`{"name":"Bank %d","location":"Town"}`, i)
		case pattern == "/v1/banks/:bank_id/administrators":
			return path, fmt.Sprintf(`{"first_name":"A","last_name":"B","email":"admin-%d@bank.example"}`, i)
		case pattern == "/v1/banks/:bank_id/accounts":
			return path, `{"bank_member_id":"` + s.member.String() + `"}`
		case pattern == "/v1/members":
			return path, fmt.Sprintf(`{"first_name":"C","last_name":"D","email":"member-%d@example.com"}`, i)
		case pattern == "/v1/reimbursements":
			return path, `{"bank_account_id":"` + s.account.String() + `","amount":"1.00","description":"Stamps"}`
		case pattern == "/v1/banks/:bank_id/webhook-endpoints":
			return path, `{"url":"https://203.0.113.10/hooks","event_types":["reimbursement.approved","reimbursement.denied"],"description":"ERP"}`
		case strings.HasSuffix(pattern, "/deny"):
			return path, `{"reason":"No receipt"}`
		case strings.HasSuffix(pattern, "/erasure"):
			return path, `{"reason":"the member's request"}`
		}
		return path, `{}`
	}
	tokens := map[string]func() string{
		"member": api.member, "administrator": api.admin, "auditor": api.auditor, "operator": api.operator,
	}

	covered := map[string]bool{}
	for _, row := range accessTable {
		covered[row.method+" "+row.path] = true
		check := func(caller, whose string, s side, want int) {
			t.Helper()
			submit(&s) // a pending one, so that a decision has something to decide
			if strings.Contains(row.path, ":endpoint_id") {
				register(&s)
			}
			if strings.Contains(row.path, ":delivery_id") {
				deliver(&s)
			}
			if strings.HasSuffix(row.path, "/payout/retry") {
				failPayout(s)
			}
			if strings.Contains(row.path, ":receipt_id") {
				receipt, err := a.AttachReceipt(ctx, app.Member(s.member), s.reimbursement, bytes.NewReader(tinyPDF()), ledger.Metadata{})
				if err != nil {
					t.Fatal(err)
				}
				s.receipt = receipt.ID
			}
			path, body := request(row.method, row.path, s)
			client := api.as(noToken)
			if caller != "nobody" {
				client = api.as(tokens[caller]())
			}
			var got response
			if row.method == http.MethodPost && strings.HasSuffix(row.path, "/receipts") {
				upload, contentType := multipartBody(t, "file", "receipt.pdf", "application/pdf", tinyPDF())
				got = client.send(row.method, path, bytes.NewReader(upload), contentType, int64(len(upload)))
			} else {
				got = client.do(row.method, path, body)
			}
			if got.status != want {
				t.Errorf("%s %s as %s (%s): %d, want %d: %s", row.method, row.path, caller, whose, got.status, want, got.raw)
			}
			if want >= 400 && got.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s as %s (%s): a %d without problem+json", row.method, row.path, caller, whose, got.status)
			}
		}
		public := row.note == "public"
		noTokenWant := http.StatusUnauthorized
		if public {
			noTokenWant = http.StatusOK
		}
		check("nobody", "any", own, noTokenWant)
		check("member", "own", own, row.member.own)
		check("member", "foreign", foreign, row.member.foreign)
		check("administrator", "own", own, row.admin.own)
		check("administrator", "foreign", foreign, row.admin.foreign)
		check("auditor", "any", own, row.auditor)
		check("operator", "any", own, row.operator)
	}
	for _, rule := range httpapi.Access() {
		if !covered[rule.Method+" "+rule.Path] {
			t.Errorf("%s %s is served but not in the authorization table", rule.Method, rule.Path)
		}
	}

	doc := renderAccess()
	const file = "../../docs/access.md"
	if *updateAccess {
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	written, err := os.ReadFile(file)
	if err != nil || string(written) != doc {
		t.Fatalf("docs/access.md is not the authorization table; run: go test ./backend/httpapi -run TestAccessTable -update-access")
	}
}

// renderAccess prints the authorization table as docs/access.md.
func renderAccess() string {
	var b strings.Builder
	b.WriteString(`# Who may call what

Printed from the authorization table the tests run (` + "`TestAccessTable`" + ` in
backend/httpapi/access_test.go), so it cannot drift from the code. Every
cell is the status the ledger answers, over real HTTP with real signed
tokens: **own** is the caller's own resource (their own as a member, their
bank's as an administrator), **other** is another member's or another
bank's. Auditors and operators see the whole ledger. Without a token every
operation but the public ones answers 401.

Another member's or bank's resource answers 404, exactly as one that does
not exist, so ids cannot be probed; the check comes before anything else
that could reveal state (If-Match, Idempotency-Key). Regenerate with
` + "`go test ./backend/httpapi -run TestAccessTable -update-access`" + `.

| operation | no token | member: own | member: other | administrator: own | administrator: other | auditor | operator | note |
|---|---|---|---|---|---|---|---|---|
`)
	for _, row := range accessTable {
		none := "401"
		if row.note == "public" {
			none = "200"
		}
		fmt.Fprintf(&b, "| `%s %s` | %s | %d | %d | %d | %d | %d | %d | %s |\n", row.method, row.path, none,
			row.member.own, row.member.foreign, row.admin.own, row.admin.foreign, row.auditor, row.operator, row.note)
	}
	return b.String()
}
