package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/nacha/nachatest"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// achVars are the settings of a ledger paying by ACH credit, with its
// folders in dir and cutoffs every second.
func achVars(t *testing.T, dir string) map[string]string {
	return map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true",
		"ACCOUNT_NUMBER_KEY": "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=", "PAYMENT_RAIL": "ach", "ACH_ODFI_ROUTING": "121042882", "ACH_ORIGIN_ID": "231380104", "ACH_COMPANY_NAME": "RIVERSIDE CU",
		"ACH_COMPANY_ID": "1234567890", "ACH_OUTBOX_DIR": filepath.Join(dir, "outbox"), "ACH_RETURNS_DIR": filepath.Join(dir, "returns"),
		"ACH_CUTOFF": "1s", "ACH_RETURN_WINDOW": "3s"}
}

// waitFor polls check every 20 ms for up to 30 s; it fails the test with
// what when check never holds.
func waitFor(t *testing.T, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !check(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %s", what)
		}
	}
}

// outboxFiles lists the .ach files in the outbox.
func outboxFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.ach"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// dropReturnFile puts a file into the returns folder the way an uploader
// should: under a dot name, then renamed.
func dropReturnFile(t *testing.T, dir, name string, content []byte) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name)
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// The ACH rail end to end, through `ledger serve`: an approved claim's
// payout goes out in a NACHA file; the member's bank returns it (R01); the
// payout fails with the return's code and the member is e-mailed; an
// administrator retries it; the retry goes out in a second file with a new
// trace number, and settles once its return window passes with no return.
// A return file sent twice is applied once; a truncated one and a return
// of an unknown trace number are reported and change nothing.
func TestACHPayoutEndToEnd(t *testing.T) {
	dir := t.TempDir()
	vars := achVars(t, dir)
	outbox, returns := vars["ACH_OUTBOX_DIR"], vars["ACH_RETURNS_DIR"]
	if err := run(context.Background(), []string{"seed"}, env(vars), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	base, _ := startServe(t, vars, nil)
	member, admin := tokenFor(t, vars, "member", seedMembers[0].ID.String()), tokenFor(t, vars, "admin", seedAdministrators[0].ID.String())

	status, r := call(t, http.MethodPost, base+"/v1/reimbursements", member,
		`{"bank_account_id":"`+seedAccounts[0].ID.String()+`","amount":"64.10","description":"Hotel"}`)
	if status != http.StatusCreated {
		t.Fatalf("submit: %d %v", status, r)
	}
	id := r["id"].(string)
	if status, r := call(t, http.MethodPost, base+"/v1/reimbursements/"+id+"/approve", admin, `{}`); status != http.StatusOK {
		t.Fatalf("approve: %d %v", status, r)
	}
	claim := func() map[string]any {
		_, c := call(t, http.MethodGet, base+"/v1/reimbursements/"+id, admin, "")
		return c
	}

	// The first file: one entry of 64.10 to the seeded account.
	waitFor(t, "a file in the outbox", func() bool { return len(outboxFiles(t, outbox)) == 1 })
	first, err := os.ReadFile(outboxFiles(t, outbox)[0])
	if err != nil {
		t.Fatal(err)
	}
	traces, err := nachatest.Traces(first)
	if err != nil || len(traces) != 1 {
		t.Fatalf("the first file's entries: %v %v", traces, err)
	}
	if !strings.Contains(string(first), "000123456789") || !strings.Contains(string(first), "0000006410") ||
		!strings.Contains(string(first), "CLAIM "+strings.ToUpper(id)) {
		t.Fatalf("the first file lacks the account number, the amount or the claim:\n%s", first)
	}
	waitFor(t, "the payout sent", func() bool { return claim()["payment_status"] != "requested" })

	// The member's bank returns it: insufficient funds.
	answer, err := nachatest.ReturnFile(first, nachatest.Answer{Trace: traces[0], Code: "R01"})
	if err != nil {
		t.Fatal(err)
	}
	dropReturnFile(t, returns, "returns-1.ach", answer)
	waitFor(t, "the payout returned", func() bool { return claim()["payment_status"] == "returned" })
	if c := claim(); c["payment_failure_reason"] != "R01 Insufficient Funds" || c["payment_attempt"] != 1.0 {
		t.Fatalf("the returned claim: %v", c)
	}
	waitFor(t, "the return file moved into processed", func() bool {
		_, err := os.Stat(filepath.Join(returns, "processed", "returns-1.ach"))
		return err == nil
	})

	// The same file again (the ODFI resends it), a truncated file and a
	// return of a trace number the ledger never sent: nothing changes.
	dropReturnFile(t, returns, "returns-1-again.ach", answer)
	dropReturnFile(t, returns, "truncated.ach", answer[:len(answer)/2])
	unknown, err := nachatest.ReturnFile(first, nachatest.Answer{Trace: "121042880000999", Code: "R03"})
	if err != nil {
		t.Fatal(err)
	}
	dropReturnFile(t, returns, "unknown.ach", unknown)
	waitFor(t, "every return file moved aside", func() bool {
		left, _ := filepath.Glob(filepath.Join(returns, "*.ach"))
		return len(left) == 0
	})
	if _, err := os.Stat(filepath.Join(returns, "rejected", "truncated.ach")); err != nil {
		t.Fatalf("the truncated file was not rejected: %v", err)
	}
	for _, name := range []string{"returns-1-again.ach", "unknown.ach"} {
		if _, err := os.Stat(filepath.Join(returns, "processed", name)); err != nil {
			t.Fatalf("%s was not moved into processed: %v", name, err)
		}
	}

	// An administrator retries; the retry goes out in a second file under
	// a new trace number, and settles once its return window passes.
	if status, r := call(t, http.MethodPost, base+"/v1/reimbursements/"+id+"/payout/retry", admin, `{}`); status != http.StatusAccepted {
		t.Fatalf("retry: %d %v", status, r)
	}
	waitFor(t, "a second file in the outbox", func() bool { return len(outboxFiles(t, outbox)) == 2 })
	second, err := os.ReadFile(outboxFiles(t, outbox)[1])
	if err != nil {
		t.Fatal(err)
	}
	retraces, err := nachatest.Traces(second)
	if err != nil || len(retraces) != 1 || retraces[0] == traces[0] {
		t.Fatalf("the second file's entries: %v (the first's %v) %v", retraces, traces, err)
	}
	waitFor(t, "the retry paid", func() bool { return claim()["payment_status"] == "settled" })
	if c := claim(); c["payment_attempt"] != 2.0 || c["payment_failure_reason"] != nil {
		t.Fatalf("the paid claim: %v", c)
	}

	// The payment's story names each entry by its trace number; the member
	// was e-mailed about the return and about the payment.
	var story []map[string]any
	waitFor(t, "the e-mails recorded", func() bool {
		_, page := call(t, http.MethodGet, base+"/v1/reimbursements/"+id+"/events", admin, "")
		story = story[:0]
		notified := 0
		for _, it := range page["items"].([]any) {
			e := it.(map[string]any)
			story = append(story, e)
			if e["type"] == "MemberNotified" {
				notified++
			}
		}
		return notified == 2
	})
	counts := map[string]int{}
	for _, e := range story {
		counts[e["type"].(string)]++
		data := e["data"].(map[string]any)
		switch e["type"] {
		case "PaymentSent":
			want := traces[0]
			if data["attempt"] == 2.0 {
				want = retraces[0]
			}
			if data["trace_number"] != want {
				t.Fatalf("PaymentSent of attempt %v names %v, want %s", data["attempt"], data["trace_number"], want)
			}
		case "PaymentReturned":
			if data["trace_number"] != traces[0] || data["code"] != "R01" || data["attempt"] != 1.0 || data["return_file"] != "returns-1.ach" {
				t.Fatalf("PaymentReturned: %v", data)
			}
		case "MemberNotified":
			if data["attempt"] == 1.0 && data["kind"] != "return" {
				t.Fatalf("the e-mail about attempt 1: %v", data)
			}
		}
	}
	if counts["PaymentSent"] != 2 || counts["PaymentReturned"] != 1 || counts["PaymentRequested"] != 2 {
		t.Fatalf("the story's events: %v", counts)
	}
	if n := len(outboxFiles(t, outbox)); n != 2 {
		t.Fatalf("%d files in the outbox, want 2", n)
	}

	// The operator sees the return files, with the problem and the
	// rejected file, and the same in the metrics.
	var listed strings.Builder
	if err := run(context.Background(), []string{"ach", "returns"}, env(vars), &listed, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"truncated.ach  rejected  0        0            nacha.ReadReturns: malformed", "trace number 121042880000999 (1.00): no entry of ours", "returns-1.ach"} {
		if !strings.Contains(listed.String(), want) {
			t.Errorf("ledger ach returns lacks %q:\n%s", want, listed.String())
		}
	}

	page := metricsPage(t, base, tokenFor(t, vars, "operator"))
	for _, series := range []string{
		`ledger_ach_files_published_total 2`,
		`ledger_ach_entries_total{outcome="sent"} 2`,
		`ledger_ach_entries_total{outcome="returned"} 1`,
		`ledger_ach_entries_total{outcome="settled"} 1`,
		`ledger_ach_entries_total{outcome="problem"} 1`,
		`ledger_ach_failures_total{kind="rejected_file"} 1`,
	} {
		if !strings.Contains(page, series+"\n") {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}
