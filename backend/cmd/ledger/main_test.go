package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/auth/authtest"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/worker"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// startServe runs `ledger serve` with args and vars, its log to stderr (none
// when nil), and returns its base URL once it listens. stop cancels it and
// returns what serve returned; at the test's end a serve still running is
// stopped, and an error it returns fails the test.
func startServe(t *testing.T, vars map[string]string, stderr io.Writer, args ...string) (base string, stop func() error) {
	t.Helper()
	if stderr == nil {
		stderr = io.Discard
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), env(vars), io.Discard, stderr, func(a string) { addr <- a })
	}()
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("serve did not stop within 30 s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a, stop
	case err := <-done:
		once.Do(cancel)
		t.Fatalf("serve stopped: %v", err)
		return "", nil
	}
}

// The real wiring, end to end: seed, serve on a free port, submit and
// approve over HTTP, watch the stub rail and mailer finish the story, then
// shut down cleanly on cancellation.
func TestServeSeedAndShutDown(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn", "AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true"}
	var out bytes.Buffer
	for range 2 { // seeding twice changes nothing
		out.Reset()
		if err := run(context.Background(), []string{"seed"}, env(vars), &out, io.Discard, nil); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	if !strings.Contains(out.String(), seedAccounts[0].ID.String()) {
		t.Fatalf("seed output does not list the accounts:\n%s", out.String())
	}
	// The tokens seed prints are the ones a developer pastes.
	ada, grace := printedToken(t, out.String(), "ADA_TOKEN"), printedToken(t, out.String(), "GRACE_TOKEN")

	base, stop := startServe(t, vars, nil)

	if status, _ := call(t, http.MethodPost, base+"/v1/reimbursements", "", `{}`); status != http.StatusUnauthorized {
		t.Fatalf("submit without a token: %d, want 401", status)
	}
	status, created := call(t, http.MethodPost, base+"/v1/reimbursements", ada,
		`{"bank_account_id":"`+seedAccounts[0].ID.String()+`","amount":"12.30","description":"Parking"}`)
	if status != http.StatusCreated {
		t.Fatalf("submit: %d %v", status, created)
	}
	id := created["id"].(string)
	if status, body := call(t, http.MethodPost, base+"/v1/reimbursements/"+id+"/approve", grace, `{}`); status != http.StatusOK {
		t.Fatalf("approve: %d %v", status, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := call(t, http.MethodGet, base+"/v1/reimbursements/"+id+"/events", ada, "")
		var story struct{ Items []struct{ Type string } }
		raw, _ := json.Marshal(body)
		json.Unmarshal(raw, &story)
		if n := len(story.Items); n > 0 && story.Items[n-1].Type == "MemberNotified" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the story did not complete: %+v", story.Items)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after shutdown, want nil", err)
	}
}

func TestRoleAPIServesNoWorkersAndWorkerServesNoAPI(t *testing.T) {
	dbURL := postgrestest.NewDatabaseURL(t)
	vars := map[string]string{"DATABASE_URL": dbURL, "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error", "AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true"}
	for _, tt := range []struct {
		role        string
		problemType string // of GET /v1/banks/{unknown id}
		subscribers int
	}{{"api", "/problems/not-found", 0}, {"worker", "about:blank", len(worker.Groups(postgres.AllProjections()))}} {
		t.Run(tt.role, func(t *testing.T) {
			base, stop := startServe(t, vars, nil, "--role", tt.role)
			if status, _ := call(t, http.MethodGet, base+"/readyz", "", ""); status != http.StatusOK {
				t.Fatalf("readyz %d", status)
			}
			status, problem := call(t, http.MethodGet, base+"/v1/banks/"+seedBank.ID.String(), tokenFor(t, vars, "operator"), "")
			if status != http.StatusNotFound || problem["type"] != tt.problemType {
				t.Fatalf("GET an unknown bank: %d %v, want 404 %q", status, problem, tt.problemType)
			}
			if tt.subscribers > 0 {
				waitForSubscribers(t, dbURL, tt.subscribers)
			}
			if err := stop(); err != nil {
				t.Fatalf("serve: %v", err)
			}
			if tt.subscribers == 0 {
				waitForSubscribers(t, dbURL, 0)
			}
		})
	}
}

// waitForSubscribers waits until n consumer groups have registered.
func waitForSubscribers(t *testing.T, dbURL string, n int) {
	t.Helper()
	waitForCount(t, dbURL, "consumer groups registered", `SELECT count(*) FROM subscription_offsets`, n)
}

// waitForIdleSessions waits until every other session of the database is
// idle, between statements and outside a transaction.
func waitForIdleSessions(t *testing.T, dbURL string) {
	t.Helper()
	waitForCount(t, dbURL, "sessions busy", `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`, 0)
}

// waitForCount waits up to 20 s until query counts want.
func waitForCount(t *testing.T, dbURL, what, query string, want int) {
	t.Helper()
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got int
		if err := db.QueryRow(query).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s after 20 s, want %d", got, what, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		vars map[string]string
		want string
	}{
		{[]string{"serve"}, map[string]string{}, "DATABASE_URL"},
		{[]string{"frobnicate"}, map[string]string{"DATABASE_URL": "postgres://x"}, "unknown command"},
		{[]string{"serve", "--role", "chef"}, map[string]string{"DATABASE_URL": "postgres://x"}, "--role"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x"}, "AUDIT_SIGNING_KEY"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "AUDIT_SIGNING_KEY": "PRIVATE+KEY+x+00000000+AAAA"}, "AUDIT_SIGNING_KEY"},
		{[]string{"serve", "--role", "worker"}, map[string]string{"DATABASE_URL": "postgres://x", "AUDIT_PUBLIC_KEYS": postgrestest.AuditSigner.PublicKey().NoteKey}, "AUDIT_SIGNING_KEY"},
		{[]string{"audit", "verify"}, map[string]string{"DATABASE_URL": "postgres://x", "AUDIT_PUBLIC_KEYS": "not-a-key"}, "AUDIT_PUBLIC_KEYS"},
		{[]string{"audit", "verify"}, map[string]string{"DATABASE_URL": "postgres://x", "AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUDIT_KEY": "short"}, "AUDIT_KEY"},
		{[]string{"audit", "keygen"}, nil, "--name"},
		{[]string{"audit", "verify", "--offline", "/nonexistent"}, nil, "--public-key"},
		{[]string{"audit", "watch", "--store", "x"}, nil, "--public-key"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "MIGRATE_ON_START": "perhaps"}, "MIGRATE_ON_START"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "POSITION_KEY": "not base64!"}, "POSITION_KEY"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "POSITION_KEY": "c2hvcnQ="}, "POSITION_KEY"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_ISSUER": "https://issuer.example",
			"AUTH_AUDIENCE": "ledger"}, "POSITION_KEY"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "ACCOUNT_NUMBER_KEY": "c2hvcnQ="}, "ACCOUNT_NUMBER_KEY"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "PAYMENT_RAIL": "wire"}, "PAYMENT_RAIL"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "PII_KEY": "c2hvcnQ="}, "PII_KEY"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_ISSUER": "https://issuer.example",
			"AUTH_AUDIENCE": "ledger", "POSITION_KEY": "bG9jYWwtZGV2LXBvc2l0aW9uLWtleS1uby1zZWNyZXQ=",
			"ACCOUNT_NUMBER_KEY": "bG9jYWwtZGV2LWFjY291bnQtbnVtYmVyLWtleS1ub3Q="}, "PII_KEY"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "PAYMENT_RAIL": "ach", "ACH_ODFI_ROUTING": "121042882"}, "ACH_"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "RECEIPT_MAX_BYTES": "10MB"}, "RECEIPT_MAX_BYTES"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "RECEIPT_MAX_BYTES": "0"}, "RECEIPT_MAX_BYTES"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "RECEIPT_STORE": "disk"}, "RECEIPT_STORE"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "RECEIPT_STORE": "s3", "S3_ENDPOINT": "nyc3.digitaloceanspaces.com"}, "RECEIPT_STORE=s3"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_ISSUER": "https://issuer.example",
			"AUTH_AUDIENCE": "ledger", "POSITION_KEY": "bG9jYWwtZGV2LXBvc2l0aW9uLWtleS1uby1zZWNyZXQ="}, "ACCOUNT_NUMBER_KEY"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "WORKER_MAX_ATTEMPTS": "0"}, "WORKER_MAX_ATTEMPTS"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "WORKER_STALL_AFTER": "30"}, "WORKER_STALL_AFTER"},
		{[]string{"deadletters"}, map[string]string{"DATABASE_URL": "postgres://x"}, "want list"},
		{[]string{"deadletters", "retry"}, map[string]string{"DATABASE_URL": "postgres://x"}, "one dead letter id"},
		{[]string{"deadletters", "retry", "seven"}, map[string]string{"DATABASE_URL": "postgres://x"}, "not a dead letter id"},
		{[]string{"deadletters", "discard", "7"}, map[string]string{"DATABASE_URL": "postgres://x", "USER": "alice"}, "--reason"},
		{[]string{"deadletters", "discard", "7", "--reason", "paid by hand"}, map[string]string{"DATABASE_URL": "postgres://x"}, "--by"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "READ_WAIT_MAX": "soon"}, "READ_WAIT_MAX"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "MAIL_TRANSPORT": "carrier-pigeon"}, "MAIL_TRANSPORT"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "MAIL_TRANSPORT": "smtp", "SMTP_FROM": "ledger@bank.example"}, "SMTP_URL"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "MAIL_TRANSPORT": "smtp", "SMTP_URL": "smtp://mail.example:587"}, "SMTP_FROM"},
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "MAIL_TRANSPORT": "smtp", "SMTP_URL": "smtp://u:p@mail.example?tls=none",
			"SMTP_FROM": "ledger@bank.example"}, "SMTP_URL"},
		// Longer than a request may work: the list would time out instead of answering 503 with Retry-After.
		{[]string{"serve"}, map[string]string{"DATABASE_URL": "postgres://x", "READ_WAIT_MAX": "30s"}, "READ_WAIT_MAX"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, env(tt.vars), io.Discard, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run %v: %v, want an error about %s", tt.args, err, tt.want)
		}
	}
}

// The operator's and the auditor's commands, against a ledger with history.
func TestAuditEventsAndProjectionCommands(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error", "AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true"}
	if err := run(context.Background(), []string{"seed"}, env(vars), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	base, stop := startServe(t, vars, nil)
	ada := tokenFor(t, vars, "member", seedMembers[0].ID.String())
	for range 3 {
		if status, body := call(t, http.MethodPost, base+"/v1/reimbursements", ada,
			`{"bank_account_id":"`+seedAccounts[0].ID.String()+`","amount":"1.00","description":"Stamps"}`); status != http.StatusCreated {
			t.Fatalf("submit: %d %v", status, body)
		}
	}
	out := func(args ...string) (string, error) {
		var b bytes.Buffer
		err := run(context.Background(), args, env(vars), &b, io.Discard, nil)
		return b.String(), err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, err := out("projections", "status")
		if err != nil {
			t.Fatal(err)
		}
		if lagZero(status) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribers did not catch up:\n%s", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	verified, err := out("audit", "verify")
	if err != nil || !strings.Contains(verified, "OK") || !strings.Contains(verified, "checked 3 events") {
		t.Fatalf("audit verify: %v\n%s", err, verified)
	}
	incremental, err := out("audit", "verify", "--since-head")
	if err != nil || !strings.Contains(incremental, "OK") || !strings.Contains(incremental, "incremental: checked the newest head (tree size 3) and the 0 events after it") {
		t.Fatalf("audit verify --since-head: %v\n%s", err, incremental)
	}
	// No HMAC checkpoint is recorded any more: the legacy export is empty.
	if exported, err := out("audit", "export"); err != nil || exported != "" {
		t.Fatalf("audit export: %v\n%s", err, exported)
	}
	// The auditor's copy, checked with the public key alone.
	dir, keyFile := t.TempDir(), t.TempDir()+"/ledger.pub"
	if got, err := out("audit", "export", "--to", dir); err != nil || !strings.Contains(got, "exported 3 events") {
		t.Fatalf("audit export --to: %v\n%s", err, got)
	}
	if err := os.WriteFile(keyFile, []byte(postgrestest.AuditSigner.PublicKey().NoteKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, got := runMain(t, map[string]string{}, "audit", "verify", "--offline", dir, "--public-key", keyFile); code != 0 || !strings.Contains(got, "OK") {
		t.Fatalf("verify --offline: exit %d\n%s", code, got)
	}
	tail, err := out("events", "tail", "--after", "1")
	if err != nil || strings.Count(tail, "\n") != 2 || !strings.Contains(tail, `"type":"ReimbursementSubmitted"`) {
		t.Fatalf("events tail: %v\n%s", err, tail)
	}
	rebuilt, err := out("projections", "rebuild", "reimbursements")
	if err != nil || !strings.Contains(rebuilt, "3 events into 3 rows") {
		t.Fatalf("projections rebuild: %v\n%s", err, rebuilt)
	}

	db, err := sql.Open("postgres", vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`BEGIN; SET LOCAL session_replication_role = replica; DELETE FROM events WHERE position = 2; COMMIT`); err != nil {
		t.Fatal(err)
	}
	broken, err := out("audit", "verify")
	if !errors.Is(err, errVerifyFailed) || !strings.Contains(broken, "BROKEN") || !strings.Contains(broken, "position 2") {
		t.Fatalf("audit verify after deleting an event: %v\n%s", err, broken)
	}
	// A script tells tampering from a wrong setting by the exit status.
	if code, output := runMain(t, vars, "audit", "verify"); code != 1 || !strings.Contains(output, "BROKEN") {
		t.Fatalf("audit verify on an altered log exited %d, want 1:\n%s", code, output)
	}
	// The incremental run does not read what its head covers...
	if code, output := runMain(t, vars, "audit", "verify", "--since-head"); code != 0 || !strings.Contains(output, "were not checked") {
		t.Fatalf("audit verify --since-head after deleting a covered event exited %d, want 0:\n%s", code, output)
	}
	// ...but it does check the newest head's last event.
	if _, err := db.Exec(`BEGIN; SET LOCAL session_replication_role = replica; DELETE FROM events WHERE position = 3; COMMIT`); err != nil {
		t.Fatal(err)
	}
	if code, output := runMain(t, vars, "audit", "verify", "--since-head"); code != 1 || !strings.Contains(output, "BROKEN at position 3") {
		t.Fatalf("audit verify --since-head without the head's last event exited %d, want 1:\n%s", code, output)
	}
	if code, output := runMain(t, vars, "audit", "verify", "--since-head", "--checkpoints", filepath.Join(dir, "checkpoints.jsonl")); code != 2 {
		t.Fatalf("audit verify --since-head --checkpoints exited %d, want 2:\n%s", code, output)
	}
	wrongKey := maps.Clone(vars)
	wrongKey["AUDIT_KEY"] = "short"
	if code, output := runMain(t, wrongKey, "audit", "verify"); code != 2 {
		t.Fatalf("audit verify with a bad AUDIT_KEY exited %d, want 2:\n%s", code, output)
	}
}

// TestMain runs the real main when a test starts this test binary as the
// ledger (see runMain), so that exit statuses are tested as a shell sees them.
func TestMain(m *testing.M) {
	if os.Getenv("LEDGER_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runMain runs the ledger's main in a new process with only vars as its
// environment, and returns its exit status and what it printed.
func runMain(t *testing.T, vars map[string]string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{"LEDGER_TEST_RUN_MAIN=1"}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	output, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run the ledger: %v", err)
	}
	return cmd.ProcessState.ExitCode(), string(output)
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want int
	}{
		{"help", nil, []string{"--help"}, 0},
		{"help of a command", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"serve", "-h"}, 0},
		{"no command", nil, nil, 2},
		{"unknown command", map[string]string{"DATABASE_URL": "postgres://x"}, []string{"frobnicate"}, 2},
		{"no database configured", nil, []string{"audit", "verify"}, 2},
		{"a bad setting", map[string]string{"DATABASE_URL": "postgres://x", "MIGRATE_ON_START": "perhaps"}, []string{"migrate"}, 2},
		{"a webhook schedule whose window is shorter than its longest delay", map[string]string{"DATABASE_URL": "postgres://x",
			"WEBHOOK_RETRY_MAX_DELAY": "8h", "WEBHOOK_RETRY_WINDOW": "1h"}, []string{"serve"}, 2},
		{"a webhook lease shorter than an attempt", map[string]string{"DATABASE_URL": "postgres://x", "WEBHOOK_DELIVERY_LEASE": "10s"}, []string{"serve"}, 2},
		{"sleep, with no configuration at all", nil, []string{"sleep", "10ms"}, 0},
		{"sleep without a duration", nil, []string{"sleep", "soon"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, output := runMain(t, tt.vars, tt.args...); code != tt.want {
				t.Fatalf("ledger %v exited %d, want %d:\n%s", tt.args, code, tt.want, output)
			}
		})
	}
}

// lagZero reports whether every subscriber in a status table has no lag.
func lagZero(status string) bool {
	lines := strings.Split(strings.TrimSpace(status), "\n")
	if len(lines) != len(worker.Groups(postgres.AllProjections()))+1 {
		return false
	}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != 5 || f[3] != "0" || f[1] != f[2] {
			return false
		}
	}
	return true
}

// syncBuffer collects the log lines of a running ledger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines() []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(b.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// One correlation id follows an approval from the request log through the
// events' metadata to the saga's log lines; /metrics shows the lag.
func TestOneCorrelationIDFollowsAnApproval(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "info", "AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true"}
	if err := run(context.Background(), []string{"seed"}, env(vars), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	base, _ := startServe(t, vars, logs)

	ada, grace := tokenFor(t, vars, "member", seedMembers[0].ID.String()), tokenFor(t, vars, "admin", seedAdministrators[0].ID.String())
	_, r := call(t, http.MethodPost, base+"/v1/reimbursements", ada,
		`{"bank_account_id":"`+seedAccounts[0].ID.String()+`","amount":"64.00","description":"Hotel"}`, "X-Correlation-ID", "corr-submit")
	id := r["id"].(string)
	call(t, http.MethodPost, base+"/v1/reimbursements/"+id+"/approve", grace, `{}`, "X-Correlation-ID", "corr-approve-7")

	var story []map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, page := call(t, http.MethodGet, base+"/v1/reimbursements/"+id+"/events", ada, "")
		items, _ := page["items"].([]any)
		story = story[:0]
		for _, it := range items {
			story = append(story, it.(map[string]any))
		}
		if len(story) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("story %v", story)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, e := range story[1:] {
		if corr := e["metadata"].(map[string]any)["correlation_id"]; corr != "corr-approve-7" {
			t.Fatalf("%s carries correlation id %v", e["type"], corr)
		}
	}
	// The saga's last log line may follow its event by a moment.
	want := map[string]bool{"request": false, "stub payment rail: would transfer": false, "payment settled": false,
		"stub mailer: would send e-mail": false, "member notified": false}
	for deadline := time.Now().Add(10 * time.Second); ; {
		for _, line := range logs.lines() {
			if line["correlation_id"] == "corr-approve-7" {
				if _, ok := want[line["msg"].(string)]; ok {
					want[line["msg"].(string)] = true
				}
			}
		}
		missing := []string{}
		for msg, seen := range want {
			if !seen {
				missing = append(missing, msg)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q carries the approval's correlation id", missing)
		}
		time.Sleep(20 * time.Millisecond)
	}

	if status, _ := call(t, http.MethodGet, base+"/metrics", ada, ""); status != http.StatusForbidden {
		t.Fatalf("/metrics for a member: %d, want 403", status)
	}
	page := metricsPage(t, base, tokenFor(t, vars, "operator"))
	for _, series := range []string{
		`ledger_subscriber_lag_events{group="projector.reimbursements"}`,
		`ledger_subscriber_lag_seconds{group="saga.payments"}`,
		`ledger_subscriber_position{group="audit.tree"}`,
		`ledger_events_appended_total{type="ReimbursementApproved"} 1`,
		`ledger_events_appended_total{type="MemberNotified"} 1`,
		`ledger_subscriber_handled_total{group="saga.notifications"}`,
		`ledger_http_request_duration_seconds_count{method="POST",route="/v1/reimbursements/:id/approve",status="200"} 1`,
		`go_sql_in_use_connections{db_name="ledger"}`,
	} {
		if !strings.Contains(page, series) {
			t.Fatalf("/metrics lacks %s", series)
		}
	}
}

// metricsPage returns what GET /metrics answers an operator's token.
func metricsPage(t *testing.T, base, operatorToken string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	return string(page)
}

// call sends a request with a bearer token (none when token is empty) and
// decodes its JSON answer.
func call(t *testing.T, method, url, token, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// tokenFor runs `ledger token ARGS...` and returns what it printed.
func tokenFor(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"token"}, args...), env(vars), &out, io.Discard, nil); err != nil {
		t.Fatalf("ledger token %v: %v", args, err)
	}
	token := strings.TrimSpace(out.String())
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, " \n") {
		t.Fatalf("ledger token %v printed %q, want one JWT", args, out.String())
	}
	return token
}

// printedToken finds `export NAME=<token>` in seed's output.
func printedToken(t *testing.T, output, name string) string {
	t.Helper()
	for _, line := range strings.Split(output, "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "export" && strings.HasPrefix(fields[1], name+"=") {
			return strings.TrimPrefix(fields[1], name+"=")
		}
	}
	t.Fatalf("seed printed no %s:\n%s", name, output)
	return ""
}

// The token command mints development tokens only with the development
// issuer on, and only for people the directory holds.
func TestTokenCommand(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "LOG_LEVEL": "error", "AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true"}
	if err := run(context.Background(), []string{"seed"}, env(vars), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"member", seedMembers[0].ID.String()}, {"admin", seedAdministrators[0].ID.String()}, {"auditor"}, {"operator"}} {
		tokenFor(t, vars, args...)
	}
	off := maps.Clone(vars)
	delete(off, "AUTH_DEV_ISSUER")
	for _, tt := range []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"issuer off", off, []string{"operator"}, "AUTH_DEV_ISSUER"},
		{"unknown member", vars, []string{"member", "0193a000-0000-7000-8000-00000000dead"}, "no member has id"},
		{"an administrator named as a member", vars, []string{"member", seedAdministrators[0].ID.String()}, "no member has id"},
		{"not an id", vars, []string{"admin", "grace"}, "not a administrator id"},
		{"unknown role", vars, []string{"superuser"}, "want member"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"token"}, tt.args...), env(tt.vars), &out, io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || out.Len() != 0 || exitCode(err) != 2 {
				t.Fatalf("ledger token %v: %v (exit %d), printed %q; want an error about %q, exit 2, nothing printed", tt.args, err, exitCode(err), out.String(), tt.want)
			}
		})
	}
}

// A production configuration cannot turn the development issuer on by
// accident: a real issuer and the development one exclude each other, only
// the literal "true" turns it on, and without it no development token is
// issued or accepted.
func TestProductionConfigurationKeepsTheDevelopmentIssuerOff(t *testing.T) {
	production := map[string]string{"DATABASE_URL": "postgres://x", "AUTH_ISSUER": "https://auth.ledger.example.com/", "AUTH_AUDIENCE": "ledger-api"}
	cfg, err := loadConfig(env(production))
	if err != nil || cfg.Auth.DevIssuer {
		t.Fatalf("production settings: dev issuer %v, %v", cfg.Auth.DevIssuer, err)
	}
	for _, value := range []string{"true", "TRUE", "1", "yes", "on"} {
		withDev := maps.Clone(production)
		withDev["AUTH_DEV_ISSUER"] = value
		if cfg, err := loadConfig(env(withDev)); err == nil || cfg.Auth.DevIssuer {
			t.Errorf("AUTH_DEV_ISSUER=%s beside AUTH_ISSUER was accepted", value)
		}
	}
	for _, value := range []string{"1", "yes", "on", "True"} {
		if cfg, err := loadConfig(env(map[string]string{"DATABASE_URL": "postgres://x", "AUTH_DEV_ISSUER": value})); err == nil || cfg.Auth.DevIssuer {
			t.Errorf("AUTH_DEV_ISSUER=%s turned the development issuer on; only the literal true may", value)
		}
	}
	// A ledger that trusts a real issuer serves no development tokens and
	// refuses one signed by its own development key.
	issuer := authtest.NewJWKSServer(t)
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_ISSUER": issuer.Issuer, "AUTH_AUDIENCE": authtest.Audience, "AUTH_JWKS_URL": issuer.JWKSURL,
		"POSITION_KEY": "q3T9n0v8XJ2m5Kp1c7Wd4Ls6Hf0Rb2Ye8Ua1Zg3Mx5o=", "ACCOUNT_NUMBER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		"PII_KEY": "bG9jYWwtZGV2LXBlcnNvbmFsLWRhdGEta2V5LW5vdC0="}
	dev := maps.Clone(vars)
	delete(dev, "AUTH_ISSUER")
	delete(dev, "AUTH_JWKS_URL")
	dev["AUTH_DEV_ISSUER"] = "true"
	dev["AUTH_AUDIENCE"] = authtest.Audience
	if err := run(context.Background(), []string{"seed"}, env(dev), io.Discard, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	forged := tokenFor(t, dev, "operator")
	base, _ := startServe(t, vars, nil)
	if status, _ := call(t, http.MethodPost, base+"/v1/dev/tokens", "", `{"role":"operator"}`); status != http.StatusNotFound {
		t.Fatalf("POST /v1/dev/tokens on a production configuration: %d, want 404", status)
	}
	if status, _ := call(t, http.MethodGet, base+"/v1/banks/"+seedBank.ID.String(), forged, ""); status != http.StatusUnauthorized {
		t.Fatalf("a development token on a production configuration: %d, want 401", status)
	}
	if status, body := call(t, http.MethodGet, base+"/v1/banks/"+seedBank.ID.String(), issuer.Token("operator", "ops-1"), ""); status != http.StatusOK {
		t.Fatalf("the issuer's own token: %d %v", status, body)
	}
}

// Ctrl-C on `go tool task run` is SIGINT to serve: it stops with exit status
// 0, and the polls and queries the shutdown cuts short are no errors.
func TestInterruptStopsServeCleanly(t *testing.T) {
	dbURL := postgrestest.NewDatabaseURL(t)
	var logs syncBuffer
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = []string{"LEDGER_TEST_RUN_MAIN=1", "DATABASE_URL=" + dbURL, "HTTP_ADDR=127.0.0.1:0", "LOG_LEVEL=info",
		"AUDIT_SIGNING_KEY=" + postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER=true"}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	// Every subscriber polls (each second, as serve configures them), and
	// the interrupt comes while they wait for their next poll: once they
	// are registered, no session of the ledger runs a statement.
	waitForSubscribers(t, dbURL, len(worker.Groups(postgres.AllProjections())))
	waitForIdleSessions(t, dbURL)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0", code)
	}
	stopped := false
	for _, line := range logs.lines() {
		if line["level"] == "ERROR" {
			t.Errorf("an ERROR line on shutdown: %v", line)
		}
		stopped = stopped || line["msg"] == "stopped"
	}
	if !stopped {
		t.Errorf("no \"stopped\" line: %s", logs.buf.String())
	}
}
