package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/worker"
)

// openDB opens the database a test's ledger runs on, for its setup.
func openDB(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustSubmitted submits a reimbursement and returns its event.
func mustSubmitted(t *testing.T, db *postgres.DB) ledger.RecordedEvent {
	t.Helper()
	return submitted(t, db, false)
}

// submitted records a submission, and its approval when approve is set,
// and returns the submission's event.
func submitted(t *testing.T, db *postgres.DB, approve bool) ledger.RecordedEvent {
	t.Helper()
	d := postgrestest.MustDirectory(t, db)
	r, err := postgrestest.App(db).Submit(context.Background(), app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(),
		AccountID: d.Account.ID, Amount: "9.99", Description: "Toner", Meta: ledger.Metadata{CorrelationID: "cmd-test"}})
	if err != nil {
		t.Fatal(err)
	}
	if approve {
		if _, err := postgrestest.App(db).Approve(context.Background(), app.Administrator(d.Admin.ID, d.Bank.ID),
			app.DecideCommand{ReimbursementID: r.ID}); err != nil {
			t.Fatal(err)
		}
	}
	story, err := db.Events.Load(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return story[0]
}

func TestDeadLettersListRetryAndDiscard(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "LOG_LEVEL": "error", "USER": "alice"}
	db := openDB(t, vars["DATABASE_URL"])
	rec := mustSubmitted(t, db)
	toRetry := postgrestest.MustPark(t, db, worker.GroupPayments, rec, "rail unreachable:\n503 from upstream", 10)
	toDiscard := postgrestest.MustPark(t, db, worker.GroupNotifications, rec, "mailer down", 10)
	out := func(args ...string) (string, error) {
		var b bytes.Buffer
		err := run(context.Background(), args, env(vars), &b, io.Discard, nil)
		return b.String(), err
	}

	list, err := out("deadletters", "list")
	if err != nil || strings.Count(list, "\n") != 3 || !strings.Contains(list, "rail unreachable: 503 from upstream") ||
		!strings.Contains(list, worker.GroupNotifications) || !strings.Contains(list, strconv.FormatInt(rec.Position, 10)) {
		t.Fatalf("deadletters list: %v\n%s", err, list)
	}
	// No worker runs: the retry stays asked for.
	if got, err := out("deadletters", "retry", strconv.FormatInt(toRetry, 10), "--wait", "300ms"); err != nil ||
		!strings.Contains(got, "retry asked for") || !strings.Contains(got, "no worker has run it") {
		t.Fatalf("deadletters retry: %v\n%s", err, got)
	}
	if got, _ := out("deadletters", "list", "--status", "retrying"); !strings.Contains(got, worker.GroupPayments) || strings.Contains(got, worker.GroupNotifications) {
		t.Fatalf("retrying:\n%s", got)
	}
	if _, err := out("deadletters", "retry", strconv.FormatInt(toRetry, 10)); ledger.ErrorCode(err) != ledger.EConflict {
		t.Fatalf("a retry asked for twice: %v", err)
	}

	got, err := out("deadletters", "discard", strconv.FormatInt(toDiscard, 10), "--reason", "member told by phone")
	if err != nil || !strings.Contains(got, "discarded; recorded as DeadLetterDiscarded by operator:alice") {
		t.Fatalf("deadletters discard: %v\n%s", err, got)
	}
	// The feed holds an event back while an older transaction runs anywhere
	// on the server (other tests' too).
	var tail string
	postgrestest.Eventually(t, "the discard is in the feed", func() bool {
		tail, err = out("events", "tail")
		return err != nil || strings.Contains(tail, `"type":"DeadLetterDiscarded"`)
	})
	if err != nil || !strings.Contains(tail, `"actor":"operator:alice"`) || !strings.Contains(tail, `"reason":"member told by phone"`) {
		t.Fatalf("the feed after the discard: %v\n%s", err, tail)
	}
	if got, _ := out("deadletters", "list", "--status", "all"); strings.Count(got, "\n") != 3 || !strings.Contains(got, "discarded") {
		t.Fatalf("all:\n%s", got)
	}
	if _, err := out("deadletters", "list", "--status", "lost"); ledger.ErrorCode(err) != ledger.EInvalid {
		t.Fatalf("an unknown status: %v", err)
	}
}

// A worker's /readyz and its metrics report a subscriber that stands still
// while events wait, and recover when it moves; a retry asked for on the
// command line is run by the worker.
func TestWorkerReadyzReportsAStalledSubscriber(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": postgrestest.NewDatabaseURL(t), "HTTP_ADDR": "127.0.0.1:0", "LOG_LEVEL": "error",
		"AUDIT_SIGNING_KEY": postgrestest.AuditSigningKey, "AUTH_DEV_ISSUER": "true", "WORKER_STALL_AFTER": "1s"}
	db := openDB(t, vars["DATABASE_URL"])
	base, _ := startServe(t, vars, nil, "--role", "worker")
	waitForSubscribers(t, vars["DATABASE_URL"], len(worker.Groups(postgres.AllProjections())))
	if status, body := call(t, http.MethodGet, base+"/readyz", "", ""); status != http.StatusOK {
		t.Fatalf("readyz %d %v", status, body)
	}
	operatorToken := tokenFor(t, vars, "operator")
	metric := func(line string) bool { return strings.Contains(metricsPage(t, base, operatorToken), line+"\n") }

	// The payments saga cannot take its group's row, so it cannot move.
	tx, err := db.SQL().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT 1 FROM subscription_offsets WHERE consumer_group = $1 FOR UPDATE`, worker.GroupPayments); err != nil {
		t.Fatal(err)
	}
	rec := submitted(t, db, true) // the approval waits for the payment saga, which reads approvals
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, body := call(t, http.MethodGet, base+"/readyz", "", "")
		if status == http.StatusServiceUnavailable {
			if detail, _ := body["detail"].(string); !strings.Contains(detail, worker.GroupPayments+" has not moved from position") {
				t.Fatalf("readyz 503 with %v", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d %v", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !metric(`ledger_subscriber_stalled{group="saga.payments"} 1`) {
		t.Fatal("the metric does not show the stall")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	postgrestest.Eventually(t, "readyz answers 200 again", func() bool {
		status, _ := call(t, http.MethodGet, base+"/readyz", "", "")
		return status == http.StatusOK
	})
	if !metric(`ledger_subscriber_stalled{group="saga.payments"} 0`) || !metric(`ledger_dead_letters{group="saga.payments",status="parked"} 0`) {
		t.Fatal("the metrics do not show the recovery")
	}

	// The payments saga ignores a submission: its retry succeeds at once.
	id := postgrestest.MustPark(t, db, worker.GroupPayments, rec, "rail unreachable", 10)
	if !metric(`ledger_dead_letters{group="saga.payments",status="parked"} 1`) {
		t.Fatal("the metric does not count the parked event")
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"deadletters", "retry", strconv.FormatInt(id, 10)}, env(vars), &out, io.Discard, nil); err != nil ||
		!strings.Contains(out.String(), "resolved: saga.payments handled the event") {
		t.Fatalf("deadletters retry: %v\n%s", err, out.String())
	}
}
