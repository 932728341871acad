package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// A deployment's API processes share POSITION_KEY: a Ledger-Position one
// answers, another waits on; a process with another key refuses it with
// 400 naming min_position, as it refuses any token it did not seal.
func TestPositionTokensOpenInEveryProcessWithTheKey(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true", "POSITION_KEY": "q3T9n0v8XJ2m5Kp1c7Wd4Ls6Hf0Rb2Ye8Ua1Zg3Mx5o="}
	if err := run(context.Background(), []string{"seed"}, env(vars), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	whole, _ := startServe(t, vars, nil)
	sameKey, _ := startServe(t, vars, nil, "--role", "api")
	otherVars := maps.Clone(vars)
	otherVars["POSITION_KEY"] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
	otherKey, _ := startServe(t, otherVars, nil, "--role", "api")

	member := tokenFor(t, vars, "member", seedMembers[0].ID.String())
	req, err := http.NewRequest(http.MethodPost, whole+"/v1/reimbursements",
		strings.NewReader(`{"bank_account_id":"`+seedAccounts[0].ID.String()+`","amount":"21.00","description":"Train"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+member)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	err = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	at := res.Header.Get("Ledger-Position")
	if err != nil || res.StatusCode != http.StatusCreated || at == "" {
		t.Fatalf("submit: %d, %v, Ledger-Position %q", res.StatusCode, err, at)
	}

	list := "/v1/members/" + seedMembers[0].ID.String() + "/reimbursements?min_position=" + at
	status, body := call(t, http.MethodGet, sameKey+list, member, "")
	if items, _ := body["items"].([]any); status != http.StatusOK || len(items) == 0 || items[0].(map[string]any)["id"] != created.ID {
		t.Fatalf("another process with the key, at the token: %d %v", status, body)
	}
	status, problem := call(t, http.MethodGet, otherKey+list, member, "")
	if errs, _ := problem["errors"].([]any); status != http.StatusBadRequest || len(errs) != 1 || errs[0].(map[string]any)["field"] != "min_position" {
		t.Fatalf("a process with another key, at the token: %d %v", status, problem)
	}
}
