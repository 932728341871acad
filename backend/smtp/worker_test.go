package smtp_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/smtp"
	"github.com/reimbursement-ledger/ledger/backend/worker"
	"github.com/reimbursement-ledger/ledger/backend/worker/workertest"
)

func startWorker(t *testing.T, db *postgres.DB, mailer *smtp.Mailer, maxAttempts int) {
	t.Helper()
	cfg := workertest.On(db, worker.Config{MaxAttempts: maxAttempts})
	cfg.Notifications = workertest.Notifications(cfg, mailer)
	workertest.Start(t, cfg)
}

func submitAndDecide(t *testing.T, db *postgres.DB, d postgrestest.Directory, deny bool) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	a := postgrestest.App(db)
	r, err := a.Submit(ctx, app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "80.25",
		Description: "Hotel", Meta: ledger.Metadata{CorrelationID: "corr-" + t.Name()}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := app.DecideCommand{ReimbursementID: r.ID, Reason: "No receipt attached", Meta: ledger.Metadata{CorrelationID: "corr-" + t.Name()}}
	admin := app.Administrator(d.Admin.ID, d.Bank.ID)
	if deny {
		_, err = a.Deny(ctx, admin, cmd)
	} else {
		_, err = a.Approve(ctx, admin, cmd)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func notified(t *testing.T, db *postgres.DB, id uuid.UUID) int {
	t.Helper()
	story, err := postgrestest.App(db).Story(context.Background(), postgrestest.Auditor, id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range story {
		if e.Type == ledger.TypeMemberNotified {
			n++
		}
	}
	return n
}

// An approval through the real worker: the server refuses the first
// delivery, the worker retries, and the member receives the approval once,
// under the Message-ID the refused delivery had.
func TestWorkerDeliversTheApprovalThroughARefusal(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	s := newServer(t, 1)
	startWorker(t, db, newMailer(t, s, url(s)), 10)

	id := submitAndDecide(t, db, d, false)
	postgrestest.Eventually(t, "the member is notified", func() bool { return notified(t, db, id) == 1 })
	got := s.received()
	if len(got) != 2 || !got[0].refused || got[1].refused || len(got[1].to) != 1 || got[1].to[0] != d.Member.Email {
		t.Fatalf("server saw %+v: want one refused delivery to %s, then one accepted", got, d.Member.Email)
	}
	first, _, _ := parts(t, got[0].data)
	h, text, html := parts(t, got[1].data)
	wantID := "<" + ledger.NotificationStreamID(id).String() + "@bank.example>"
	if first.Get("Message-Id") != wantID || h.Get("Message-Id") != wantID {
		t.Fatalf("Message-IDs %q and %q, want both %q", first.Get("Message-Id"), h.Get("Message-Id"), wantID)
	}
	for _, part := range []string{text, html} {
		if !strings.Contains(part, "80.25 USD") || !strings.Contains(part, "approved and paid") || !strings.Contains(part, "account “"+d.Account.Nickname+"”") {
			t.Fatalf("part:\n%s", part)
		}
	}
}

// The server down: the saga records nothing, and after MaxAttempts the
// worker parks the event as a dead letter of the notification group.
func TestWorkerParksTheEmailWhenTheServerIsDown(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	s := newServer(t, 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	startWorker(t, db, newMailer(t, s, "smtp://"+user+":"+password+"@"+down), 2)

	id := submitAndDecide(t, db, d, true)
	operator := app.Principal{Role: app.RoleOperator, Subject: "ops"}
	var parked []app.DeadLetter
	postgrestest.Eventually(t, "the e-mail is parked", func() bool {
		parked, err = postgrestest.App(db).DeadLetters(context.Background(), operator, app.DeadLetterQuery{})
		return err == nil && len(parked) == 1
	})
	if parked[0].Group != worker.GroupNotifications || parked[0].EventType != ledger.TypeReimbursementDenied {
		t.Fatalf("dead letter %+v", parked[0])
	}
	if n := notified(t, db, id); n != 0 {
		t.Fatalf("%d MemberNotified recorded for an e-mail never sent", n)
	}
}
