package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/auth"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// The reference answers a submission as the ledger does, and refuses what
// the ledger refuses for the same reasons the benchmark could hit.
func TestSubmitKeepsTheLedgersContract(t *testing.T) {
	url := postgrestest.NewDatabaseURL(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := postgrestest.MustDirectory(t, db)
	kid, key, err := db.DevKeys.Key(ctx, auth.NewDevKey)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := auth.NewDevIssuer(kid, key, "ledger", nil)
	if err != nil {
		t.Fatal(err)
	}
	token := func(subject, role string) string {
		tok, err := issuer.Issue(subject, role)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	serveCtx, stop := context.WithCancel(ctx)
	addr, done := make(chan string, 1), make(chan error, 1)
	env := map[string]string{"DATABASE_URL": url, "HTTP_ADDR": "127.0.0.1:0"}
	go func() {
		done <- run(serveCtx, func(k string) string { return env[k] }, io.Discard, func(a string) { addr <- a })
	}()
	base := "http://" + <-addr
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	post := func(tok, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/reimbursements", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	member := token(d.Member.ID.String(), "member")
	body := `{"bank_account_id":"` + d.Account.ID.String() + `","amount":"12.30","description":"bench"}`
	for range 2 { // the second from the caches
		status, out := post(member, body)
		if status != http.StatusCreated || out["amount"] != "12.30" || out["status"] != "pending" ||
			out["bank_member_id"] != d.Member.ID.String() || out["bank_id"] != d.Bank.ID.String() || out["version"] != 1.0 {
			t.Fatalf("submit: %d %v", status, out)
		}
	}
	var rows int
	if err := db.SQL().QueryRow(`SELECT count(*) FROM crudref_reimbursements`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("%d rows (%v), want 2", rows, err)
	}
	for _, tt := range []struct {
		name, token, body string
		want              int
	}{
		{"no token", "", body, http.StatusUnauthorized},
		{"a token from another issuer", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", body, http.StatusUnauthorized},
		{"an administrator", token(d.Admin.ID.String(), "administrator"), body, http.StatusForbidden},
		{"a member who is not in the ledger", token("0193a000-0000-7000-8000-00000000dead", "member"), body, http.StatusUnauthorized},
		{"too many decimals", member, strings.Replace(body, "12.30", "12.301", 1), http.StatusUnprocessableEntity},
		{"no description", member, strings.Replace(body, `"bench"`, `" "`, 1), http.StatusUnprocessableEntity},
	} {
		if status, out := post(tt.token, tt.body); status != tt.want {
			t.Errorf("%s: %d %v, want %d", tt.name, status, out, tt.want)
		}
	}
}
