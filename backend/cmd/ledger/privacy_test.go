package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// After a member's personal data is erased, the auditor's copy still
// verifies offline with the public key alone: the hashes cover the sealed
// fields, which stay, and the copy holds them sealed, never in clear.
func TestErasedLedgerVerifiesOffline(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true", "PII_KEY": "bG9jYWwtZGV2LXBlcnNvbmFsLWRhdGEta2V5LW5vdC0="}
	if err := run(context.Background(), []string{"seed"}, env(vars), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, vars, nil)
	member, admin, operator := tokenFor(t, vars, "member", seedMembers[0].ID.String()), tokenFor(t, vars, "admin", seedAdministrators[0].ID.String()), tokenFor(t, vars, "operator")
	_, r := call(t, http.MethodPost, base+"/v1/reimbursements", member, `{"bank_account_id":"`+seedAccounts[0].ID.String()+`","amount":"8.00","description":"Conference dinner in Porto"}`)
	id := r["id"].(string)
	if status, r := call(t, http.MethodPost, base+"/v1/reimbursements/"+id+"/deny", admin, `{"reason":"Not a business expense"}`); status != http.StatusOK {
		t.Fatalf("deny: %d %v", status, r)
	}
	// The denial's e-mail is recorded before the erasure, so it is sealed too.
	waitFor(t, "the denial e-mailed", func() bool {
		_, page := call(t, http.MethodGet, base+"/v1/reimbursements/"+id+"/events", admin, "")
		return len(page["items"].([]any)) == 3
	})
	if status, r := call(t, http.MethodPost, base+"/v1/members/"+seedMembers[0].ID.String()+"/erasure", operator, `{"reason":"the member's request"}`); status != http.StatusOK {
		t.Fatalf("erasure: %d %v", status, r)
	}
	// The audit tree takes in the erasure's event before the copy is made.
	waitFor(t, "the erasure in a signed head", func() bool {
		_, head := call(t, http.MethodGet, base+"/v1/audit/heads/latest", tokenFor(t, vars, "auditor"), "")
		size, _ := head["tree_size"].(float64)
		return size >= 4
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dir, keyFile := t.TempDir(), t.TempDir()+"/ledger.pub"
	var out strings.Builder
	if err := run(context.Background(), []string{"audit", "export", "--to", dir}, env(vars), &out, io.Discard, nil); err != nil {
		t.Fatalf("audit export: %v\n%s", err, out.String())
	}
	if err := os.WriteFile(keyFile, []byte(postgrestest.AuditSigner.PublicKey().NoteKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, got := runMain(t, map[string]string{}, "audit", "verify", "--offline", dir, "--public-key", keyFile); code != 0 || !strings.Contains(got, "OK") {
		t.Fatalf("verify --offline after an erasure: exit %d\n%s", code, got)
	}
	if code, got := runMain(t, vars, "audit", "verify"); code != 0 || !strings.Contains(got, "OK") {
		t.Fatalf("verify after an erasure: exit %d\n%s", code, got)
	}
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		b, _ := os.ReadFile(dir + "/" + f.Name())
		for _, clear := range []string{"Conference dinner", "Not a business expense", seedMembers[0].Email} {
			if strings.Contains(string(b), clear) {
				t.Fatalf("the auditor's copy %s holds %q in clear", f.Name(), clear)
			}
		}
	}
}
