package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A client that lost an id looks it up again: the directory's lists are
// paged as the other lists are, and each caller sees their own.
func TestDirectoryLookups(t *testing.T) {
	api := newAPI(t)
	d := api.dir
	op, admin, member := api.as(api.operator()), api.as(api.admin()), api.as(api.member())

	// The operator pages through every bank, oldest first.
	first := op.get("/v1/banks?limit=1").want(t, http.StatusOK)
	if items := first.items(); len(items) != 1 || items[0]["id"] != d.Bank.ID.String() || items[0]["name"] != d.Bank.Name {
		t.Fatalf("first page of banks: %s", first.raw)
	}
	cursor := first.str("next_cursor")
	if cursor == "" {
		t.Fatalf("the first of two banks has no next_cursor: %s", first.raw)
	}
	rest := op.get("/v1/banks?limit=1&cursor="+url.QueryEscape(cursor)).want(t, http.StatusOK)
	if items := rest.items(); len(items) != 1 || items[0]["id"] != d.OtherBank.ID.String() || rest.body["next_cursor"] != nil {
		t.Fatalf("second page of banks: %s", rest.raw)
	}
	// An administrator's list holds their own bank.
	if items := admin.get("/v1/banks").want(t, http.StatusOK).items(); len(items) != 1 || items[0]["id"] != d.Bank.ID.String() {
		t.Fatalf("an administrator's banks: %v", items)
	}

	bank := "/v1/banks/" + d.Bank.ID.String()
	for _, tt := range []struct {
		caller *ledgerAPI
		path   string
		want   map[string]any
	}{
		{op, bank + "/administrators", map[string]any{"id": d.Admin.ID.String(), "bank_id": d.Bank.ID.String(), "email": d.Admin.Email}},
		{admin, bank + "/administrators", map[string]any{"id": d.Admin.ID.String(), "first_name": d.Admin.FirstName}},
		{admin, bank + "/accounts", map[string]any{"id": d.Account.ID.String(), "bank_member_id": d.Member.ID.String(), "currency": "USD"}},
		{admin, bank + "/members", map[string]any{"id": d.Member.ID.String(), "email": d.Member.Email}},
	} {
		items := tt.caller.get(tt.path).want(t, http.StatusOK).items()
		if len(items) != 1 {
			t.Fatalf("GET %s: %v, want one item", tt.path, items)
		}
		for k, v := range tt.want {
			if items[0][k] != v {
				t.Errorf("GET %s: %s is %v, want %v", tt.path, k, items[0][k], v)
			}
		}
	}
	got := op.get("/v1/administrators/"+d.OtherAdmin.ID.String()).want(t, http.StatusOK)
	if got.str("bank_id") != d.OtherBank.ID.String() || got.str("email") != d.OtherAdmin.Email {
		t.Fatalf("administrator: %s", got.raw)
	}
	for _, caller := range []*ledgerAPI{member, admin} {
		got := caller.get("/v1/accounts/"+d.Account.ID.String()).want(t, http.StatusOK)
		if got.str("bank_member_id") != d.Member.ID.String() || got.str("nickname") != d.Account.Nickname {
			t.Fatalf("account: %s", got.raw)
		}
	}

	// A page fills up to its limit and the cursor carries on from its last;
	// a member without an account at the bank is not one of its members.
	want := map[any]bool{d.Member.ID.String(): true}
	for i := range 5 {
		m := admin.post("/v1/members", `{"first_name":"Ann","last_name":"Other","email":"ann-`+string(rune('a'+i))+`@example.com"}`).want(t, http.StatusCreated)
		if i > 0 {
			admin.post(bank+"/accounts", `{"bank_member_id":"`+m.str("id")+`"}`).want(t, http.StatusCreated)
			want[m.str("id")] = true
		}
	}
	seen := map[any]bool{}
	pages := 0
	for next := ""; pages == 0 || next != ""; pages++ {
		page := admin.get(bank + "/members?limit=2&cursor=" + url.QueryEscape(next))
		if next == "" {
			page = admin.get(bank + "/members?limit=2")
		}
		page.want(t, http.StatusOK)
		for _, m := range page.items() {
			if seen[m["id"]] || !want[m["id"]] {
				t.Fatalf("page %d lists %v again, or one who does not bank here", pages, m["id"])
			}
			seen[m["id"]] = true
		}
		next = page.str("next_cursor")
	}
	if len(seen) != len(want) || pages != 3 {
		t.Fatalf("listed %d members in %d pages, want %d in 3", len(seen), pages, len(want))
	}

	// A cursor is only good for the kind of list that handed it out.
	for _, bad := range []string{"nonsense", strings.Repeat("A", 200), reimbursementCursor(t, api)} {
		r := op.get("/v1/banks?cursor="+url.QueryEscape(bad)).wantProblem(t, http.StatusBadRequest)
		if r.fieldError("cursor") == "" {
			t.Errorf("cursor %q: %s, want a problem naming cursor", bad, r.raw)
		}
	}
	for _, path := range []string{"/v1/administrators/not-an-id", "/v1/accounts/" + d.Account.ID.String()[:35]} {
		admin.get(path).wantProblem(t, http.StatusNotFound)
	}
}

// reimbursementCursor returns a bank reimbursement list's next_cursor.
func reimbursementCursor(t *testing.T, api *ledgerAPI) string {
	t.Helper()
	api.submit("1.00")
	at := api.submit("2.00").header.Get("Ledger-Position")
	api.get("/v1/members/"+api.dir.Member.ID.String()+"/reimbursements?limit=1&min_position="+at).want(t, http.StatusOK)
	page := api.as(api.admin()).get("/v1/banks/"+api.dir.Bank.ID.String()+"/reimbursements?limit=1").want(t, http.StatusOK)
	c := page.str("next_cursor")
	if c == "" {
		t.Fatalf("a reimbursement list of two has no next_cursor: %s", page.raw)
	}
	return c
}
