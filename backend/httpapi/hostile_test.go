package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// hostile are strings that break naive SQL, JSON, templates and terminals.
var hostile = []string{
	`Robert'); DROP TABLE events; --`,
	`" OR "1"="1`,
	`\'; SELECT pg_sleep(10); --`,
	`$1 $2 %s %d %v {{.}} ${jndi:ldap://x}`,
	`<script>alert("x")</script>&amp;`,
	"right\u202eto-left, zero\u200dwidth, e\u0301",
	`C:\path\to\"file"` + "\nsecond line\ttab",
	strings.Repeat("😀", 100),
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Every text field takes what a client sends, however hostile, and gives it
// back byte for byte: nothing reaches SQL as code.
func TestHostileTextIsStoredVerbatim(t *testing.T) {
	api := newAPI(t)
	op := api.as(api.operator())
	for i, text := range hostile {
		bank := op.post("/v1/banks", `{"name":`+jsonString(text)+`,"location":`+jsonString(text)+`}`).want(t, http.StatusCreated)
		if got := op.get("/v1/banks/" + bank.str("id")); got.str("name") != text || got.str("location") != text {
			t.Fatalf("bank read back %q, want %q", got.str("name"), text)
		}
		admin := op.post("/v1/banks/"+bank.str("id")+"/administrators", `{"first_name":`+jsonString(text)+`,"last_name":`+jsonString(text)+`,"email":"a@b.example"}`).want(t, http.StatusCreated)
		stored, err := api.db.Directory.Administrator(context.Background(), uuid.MustParse(admin.str("id")))
		if err != nil || stored.FirstName != text || stored.LastName != text {
			t.Fatalf("administrator stored as %+v, %v", stored, err)
		}
		bankAdmin := api.as(api.issuer.Token("administrator", admin.str("id")))
		email := "o'brien+" + strings.Repeat("x", i) + "@example.com"
		member := bankAdmin.post("/v1/members", `{"first_name":`+jsonString(text)+`,"last_name":`+jsonString(text)+`,"email":`+jsonString(email)+`}`).want(t, http.StatusCreated)
		bankAdmin.post("/v1/banks/"+bank.str("id")+"/accounts", `{"bank_member_id":"`+member.str("id")+`","nickname":`+jsonString(text)+`}`).want(t, http.StatusCreated)
		self := api.as(api.issuer.Token("member", member.str("id")))
		if got := self.get("/v1/members/" + member.str("id")); got.str("first_name") != text || got.str("last_name") != text || got.str("email") != email {
			t.Fatalf("member read back %s", got.raw)
		}
		accounts := self.get("/v1/members/" + member.str("id") + "/accounts").items()
		if len(accounts) != 1 || accounts[0]["nickname"] != text {
			t.Fatalf("accounts %v", accounts)
		}

		description := strings.Repeat(text, 500/len([]rune(text)))
		r := self.post("/v1/reimbursements", `{"bank_account_id":"`+accounts[0]["id"].(string)+`","amount":"1.00","description":`+jsonString(description)+`}`).want(t, http.StatusCreated)
		denied := bankAdmin.post("/v1/reimbursements/"+r.str("id")+"/deny", `{"administrator_id":"`+admin.str("id")+`","reason":`+jsonString(text)+`}`).want(t, http.StatusOK)
		if denied.str("description") != description || denied.str("denial_reason") != text {
			t.Fatalf("reimbursement read back %s", denied.raw)
		}
		postgrestest.Eventually(t, "the denial is projected", func() bool {
			items := self.get("/v1/members/" + member.str("id") + "/reimbursements").items()
			return len(items) == 1 && items[0]["status"] == "denied"
		})
		listed := bankAdmin.get("/v1/banks/" + bank.str("id") + "/reimbursements").items()
		if listed[0]["description"] != description || listed[0]["denial_reason"] != text {
			t.Fatalf("read model holds %v", listed[0])
		}
		story := self.get("/v1/reimbursements/" + r.str("id") + "/events").items()
		if story[0]["data"].(map[string]any)["description"] != description {
			t.Fatalf("event data holds %v", story[0]["data"])
		}
	}
	var tables int
	if err := api.db.SQL().QueryRow(`SELECT count(*) FROM pg_tables WHERE tablename IN ('events', 'banks', 'members')`).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("tables after hostile input: %d, %v", tables, err)
	}
}

// PostgreSQL text cannot hold NUL: it is refused with a field error, never stored.
func TestNULIsRefusedInEveryTextField(t *testing.T) {
	api := newAPI(t)
	nul := `"a\u0000b"`
	bank, member, admin := api.dir.Bank.ID.String(), api.dir.Member.ID.String(), api.dir.Admin.ID.String()
	id := api.submit("1.00").str("id")
	before := api.eventCount()
	for _, tt := range []struct{ path, body, field string }{
		{"/v1/banks", `{"name":` + nul + `,"location":"x"}`, "name"},
		{"/v1/banks", `{"name":"x","location":` + nul + `}`, "location"},
		{"/v1/members", `{"first_name":` + nul + `,"last_name":"x","email":"n@example.com"}`, "first_name"},
		{"/v1/banks/" + bank + "/administrators", `{"first_name":"x","last_name":` + nul + `,"email":"n@example.com"}`, "last_name"},
		{"/v1/banks/" + bank + "/accounts", `{"bank_member_id":"` + member + `","nickname":` + nul + `}`, "nickname"},
		{"/v1/reimbursements", `{"bank_account_id":"` + api.dir.Account.ID.String() + `","amount":"1.00","description":` + nul + `}`, "description"},
		{"/v1/reimbursements/" + id + "/deny", `{"administrator_id":"` + admin + `","reason":` + nul + `}`, "reason"},
	} {
		if r := api.post(tt.path, tt.body).wantProblem(t, http.StatusUnprocessableEntity); r.fieldError(tt.field) == "" {
			t.Fatalf("%s: %s", tt.path, r.raw)
		}
	}
	if api.eventCount() != before {
		t.Fatal("NUL input appended events")
	}
}
