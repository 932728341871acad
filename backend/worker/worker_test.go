package worker_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/bus"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
	"github.com/reimbursement-ledger/ledger/backend/worker"
	"github.com/reimbursement-ledger/ledger/backend/worker/workertest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startWorker runs the projector and the sagas, with fakes for the rail and
// the mailer, until the returned stop is called (or the test ends).
func startWorker(t *testing.T, db *postgres.DB, gw saga.PaymentGateway, mailer saga.Mailer) (stop func()) {
	t.Helper()
	cfg := workertest.On(db, worker.Config{})
	cfg.Payments, cfg.Notifications = workertest.Payments(cfg, gw), workertest.Notifications(cfg, mailer)
	_, stop = workertest.Start(t, cfg)
	return stop
}

func storyTypes(t *testing.T, db *postgres.DB, id uuid.UUID) []string {
	t.Helper()
	story, err := postgrestest.App(db).Story(context.Background(), postgrestest.Auditor, id)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range story {
		types = append(types, e.Type)
	}
	return types
}

func count(types []string, want string) int {
	n := 0
	for _, ty := range types {
		if ty == want {
			n++
		}
	}
	return n
}

func submit(t *testing.T, db *postgres.DB, d postgrestest.Directory) uuid.UUID {
	t.Helper()
	r, err := postgrestest.App(db).Submit(context.Background(), app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "80.25", Description: "Hotel", Meta: ledger.Metadata{CorrelationID: "corr-" + t.Name()}})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func decide(t *testing.T, db *postgres.DB, d postgrestest.Directory, id uuid.UUID, deny bool) {
	t.Helper()
	cmd := app.DecideCommand{ReimbursementID: id, Reason: "No receipt attached", Meta: ledger.Metadata{CorrelationID: "corr-" + t.Name()}}
	admin := app.Administrator(d.Admin.ID, d.Bank.ID)
	var err error
	if deny {
		_, err = postgrestest.App(db).Deny(context.Background(), admin, cmd)
	} else {
		_, err = postgrestest.App(db).Approve(context.Background(), admin, cmd)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestApprovalPaysOnceAfterTransientRailFailures(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	gw := &sagatest.Gateway{FailFirst: 2}
	mailer := &sagatest.Mailer{}
	startWorker(t, db, gw, mailer)

	id := submit(t, db, d)
	decide(t, db, d, id, false)
	postgrestest.Eventually(t, "approval e-mail recorded", func() bool { return count(storyTypes(t, db, id), ledger.TypeMemberNotified) == 1 })

	want := []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementApproved, ledger.TypePaymentRequested, ledger.TypePaymentSettled, ledger.TypeMemberNotified}
	if got := storyTypes(t, db, id); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("story = %v, want %v", got, want)
	}
	calls := gw.Calls()
	if len(calls) != 3 {
		t.Fatalf("rail called %d times, want 2 failures and 1 success", len(calls))
	}
	for _, c := range calls {
		if c.PaymentID != ledger.PaymentID(id) || c.AccountID != d.Account.ID || c.Amount.String() != "80.25" {
			t.Fatalf("rail call %+v does not pay reimbursement %s into %s", c, id, d.Account.ID)
		}
	}
	sent := mailer.Sent()
	if len(sent) != 1 || sent[0].To != d.Member.Email || !strings.Contains(sent[0].Subject, "approved and paid") {
		t.Fatalf("e-mails = %+v, want one approval to %s", sent, d.Member.Email)
	}
	story, _ := postgrestest.App(db).Story(context.Background(), postgrestest.Auditor, id)
	for _, e := range story[2:] {
		if e.Metadata.CorrelationID != "corr-"+t.Name() || !strings.HasPrefix(e.Metadata.Actor, "saga:") {
			t.Fatalf("saga event %s metadata %+v does not carry the request's correlation id", e.Type, e.Metadata)
		}
	}
	r, _ := postgrestest.Streams(db).Reimbursement(context.Background(), id)
	if r.PaymentStatus != ledger.PaymentStatusSettled {
		t.Fatalf("payment status %s, want settled", r.PaymentStatus)
	}
}

func TestRejectedPaymentIsRecordedAndTheMemberTold(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	gw := &sagatest.Gateway{Reject: "account closed"}
	mailer := &sagatest.Mailer{}
	startWorker(t, db, gw, mailer)

	id := submit(t, db, d)
	decide(t, db, d, id, false)
	postgrestest.Eventually(t, "approval e-mail recorded", func() bool { return count(storyTypes(t, db, id), ledger.TypeMemberNotified) == 1 })
	types := storyTypes(t, db, id)
	if count(types, ledger.TypePaymentFailed) != 1 || count(types, ledger.TypePaymentSettled) != 0 {
		t.Fatalf("story = %v, want one PaymentFailed", types)
	}
	if sent := mailer.Sent(); len(sent) != 1 || !strings.Contains(sent[0].Body, "failed") {
		t.Fatalf("e-mails = %+v, want one saying the payment failed", sent)
	}
}

func TestDenialEmailsOnceDespiteMailerFailures(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	gw := &sagatest.Gateway{}
	mailer := &sagatest.Mailer{FailFirst: 3}
	startWorker(t, db, gw, mailer)

	id := submit(t, db, d)
	decide(t, db, d, id, true)
	postgrestest.Eventually(t, "denial e-mail recorded", func() bool { return count(storyTypes(t, db, id), ledger.TypeMemberNotified) == 1 })

	sent := mailer.Sent()
	if len(sent) != 1 || !strings.Contains(sent[0].Body, "No receipt attached") || mailer.Attempts() != 4 {
		t.Fatalf("sent %+v after %d attempts; want one denial e-mail with the reason after 3 failures", sent, mailer.Attempts())
	}
	if len(gw.Calls()) != 0 {
		t.Fatalf("a denial called the payment rail %d times", len(gw.Calls()))
	}
	story, _ := postgrestest.App(db).Story(context.Background(), postgrestest.Auditor, id)
	e, _ := story[len(story)-1].Decode()
	if n := e.(ledger.MemberNotified); n.Kind != ledger.NotificationDenial {
		t.Fatalf("notification kind %q, want denial", n.Kind)
	}
}

// Every subscriber is reset to the first event, as after a lost offset: the
// sagas find their side effects recorded and do nothing twice, and the
// projector's rows do not change.
func TestRedeliveredEventsChangeNothing(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	gw := &sagatest.Gateway{}
	mailer := &sagatest.Mailer{}
	stop := startWorker(t, db, gw, mailer)
	approved, denied := submit(t, db, d), submit(t, db, d)
	decide(t, db, d, approved, false)
	decide(t, db, d, denied, true)
	postgrestest.Eventually(t, "both e-mails recorded", func() bool {
		return count(storyTypes(t, db, approved), ledger.TypeMemberNotified) == 1 && count(storyTypes(t, db, denied), ledger.TypeMemberNotified) == 1
	})
	postgrestest.Eventually(t, "every subscriber caught up", func() bool { return caughtUp(t, db) })
	stop()
	before := listAll(t, db, d)
	eventsBefore := len(eventPositions(t, db))

	if _, err := db.SQL().Exec(`UPDATE subscription_offsets SET offset_acked = 0, last_processed_transaction_id = '0'`); err != nil {
		t.Fatal(err)
	}
	startWorker(t, db, gw, mailer)
	postgrestest.Eventually(t, "every subscriber caught up again", func() bool { return caughtUp(t, db) })

	if n := len(eventPositions(t, db)); n != eventsBefore {
		t.Fatalf("redelivery appended %d events", n-eventsBefore)
	}
	if len(gw.Calls()) != 1 || len(mailer.Sent()) != 2 {
		t.Fatalf("after redelivery: %d rail calls, %d e-mails; want 1 and 2", len(gw.Calls()), len(mailer.Sent()))
	}
	if after := listAll(t, db, d); !sameRows(before, after) {
		t.Fatalf("redelivery changed the read model:\n%+v\n%+v", before, after)
	}
}

// The projector stops part-way and starts again: every reimbursement is in
// the read model exactly once, and matches its events.
func TestProjectorRestartedMidStream(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	stop := startWorker(t, db, &sagatest.Gateway{}, &sagatest.Mailer{})
	var ids []uuid.UUID
	for range 30 {
		ids = append(ids, submit(t, db, d))
	}
	stop() // most likely mid-stream; either way the restart must finish the job
	for _, id := range ids[:10] {
		decide(t, db, d, id, true)
	}
	for range 10 {
		ids = append(ids, submit(t, db, d))
	}
	startWorker(t, db, &sagatest.Gateway{}, &sagatest.Mailer{})
	postgrestest.Eventually(t, "projector caught up", func() bool { return caughtUp(t, db) })

	rows := listAll(t, db, d)
	if len(rows) != len(ids) {
		t.Fatalf("read model has %d rows, want %d", len(rows), len(ids))
	}
	for _, row := range rows {
		want, err := postgrestest.Streams(db).Reimbursement(context.Background(), row.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := differences(row, *want); diff != nil {
			t.Fatalf("row %s differs from its events in %v:\n%+v\n%+v", row.ID, diff, row, *want)
		}
	}
}

func eventPositions(t *testing.T, db *postgres.DB) []int64 {
	t.Helper()
	rows, err := db.SQL().Query(`SELECT position FROM events ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var positions []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		positions = append(positions, p)
	}
	return positions
}

// caughtUp reports whether every consumer group has acknowledged the last event.
func caughtUp(t *testing.T, db *postgres.DB) bool {
	t.Helper()
	var behind int
	err := db.SQL().QueryRow(`
		SELECT count(*) FROM subscription_offsets
		WHERE (last_processed_transaction_id, offset_acked) <
			(SELECT transaction_id, position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1)`).Scan(&behind)
	if err != nil {
		t.Fatal(err)
	}
	var groups int
	if err := db.SQL().QueryRow(`SELECT count(*) FROM subscription_offsets`).Scan(&groups); err != nil {
		t.Fatal(err)
	}
	return groups == len(worker.Groups(postgres.AllProjections())) && behind == 0
}

func listAll(t *testing.T, db *postgres.DB, d postgrestest.Directory) []ledger.Reimbursement {
	t.Helper()
	page, err := db.Reimbursements.ListReimbursements(context.Background(), app.ListQuery{BankID: d.Bank.ID, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

func sameRows(a, b []ledger.Reimbursement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if differences(a[i], b[i]) != nil {
			return false
		}
	}
	return true
}

// differences names the fields two states of a reimbursement disagree on:
// everything the read model shows.
func differences(x, y ledger.Reimbursement) []string {
	var diffs []string
	check := func(field string, same bool) {
		if !same {
			diffs = append(diffs, field)
		}
	}
	sameTime := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	check("id", x.ID == y.ID)
	check("status", x.Status == y.Status)
	check("version", x.Version == y.Version)
	check("amount", x.Amount.Equal(y.Amount) && x.Currency == y.Currency)
	check("description", x.Description == y.Description)
	check("submitted_at", x.SubmittedAt.Equal(y.SubmittedAt))
	check("decided_at", sameTime(x.DecidedAt, y.DecidedAt))
	check("decided_by", (x.DecidedBy == nil) == (y.DecidedBy == nil) && (x.DecidedBy == nil || *x.DecidedBy == *y.DecidedBy))
	check("denial_reason", x.DenialReason == y.DenialReason)
	check("withdrawn_at", sameTime(x.WithdrawnAt, y.WithdrawnAt))
	check("approvals_required", x.ApprovalsRequired == y.ApprovalsRequired)
	check("approvals", slices.EqualFunc(x.Approvals, y.Approvals, func(a, b ledger.Approval) bool {
		return a.AdministratorID == b.AdministratorID && a.ApprovedAt.Equal(b.ApprovedAt) && a.Note == b.Note
	}))
	check("payment_status", x.PaymentStatus == y.PaymentStatus)
	check("payment_attempt", x.PaymentAttempt == y.PaymentAttempt)
	check("payment_failure_reason", x.PaymentFailureReason == y.PaymentFailureReason)
	return diffs
}

// With notifications, idle subscribers wake when events commit: the whole
// story completes although no subscriber would poll again for an hour.
func TestNotificationsWakeIdleSubscribers(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	notifier := bus.NewNotifier()
	ctx, cancel := context.WithCancel(context.Background())
	go db.Subscriptions.Listen(ctx, notifier, quiet)
	go db.Subscriptions.AnnounceCommits(ctx, quiet)
	defer cancel()
	mailer := &sagatest.Mailer{}
	cfg := workertest.On(db, worker.Config{Bus: db.Subscriptions.Bus(notifier), PollInterval: time.Hour})
	cfg.Notifications = workertest.Notifications(cfg, mailer)
	workertest.Start(t, cfg)

	id := submit(t, db, d)
	decide(t, db, d, id, false)
	defer func() {
		if t.Failed() {
			statuses, _ := db.Subscriptions.Statuses(context.Background(), worker.Groups(postgres.AllProjections()), worker.GroupTypes)
			t.Logf("story %v; subscribers %+v", storyTypes(t, db, id), statuses)
		}
	}()
	postgrestest.Eventually(t, "the approval story completes", func() bool { return count(storyTypes(t, db, id), ledger.TypeMemberNotified) == 1 })
	if len(mailer.Sent()) != 1 {
		t.Fatalf("%d e-mails", len(mailer.Sent()))
	}
}

// A worker asked to stop while its subscribers are still starting stops
// cleanly, whatever the subscriber's statement under way reports.
func TestWorkerStoppedWhileStartingReturnsNil(t *testing.T) {
	db := postgrestest.NewDB(t)
	for i := range 20 {
		w, err := worker.New(workertest.Config(workertest.On(db, worker.Config{})))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(time.Duration(i) * time.Millisecond)
			cancel()
		}()
		if err := w.Run(ctx); err != nil {
			t.Fatalf("stopped %d ms into its start: %v", i, err)
		}
		cancel()
	}
}
