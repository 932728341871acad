package app_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/achdir"
	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/nacha/nachatest"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/webhook"
)

// achKey seals the account numbers in the ACH rail's tests, in every
// process of them.
var achKey = mustKey("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=")

func mustKey(s string) []byte {
	k, err := app.ParseAccountNumberKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

func achApp(db *postgres.DB) *app.App {
	return app.New(app.Config{Stores: db.Stores(), AuditKeys: postgrestest.AuditKeys, AccountNumberKey: achKey, PaymentRail: ledger.PaymentRailACH,
		Webhooks: app.WebhookConfig{Destinations: webhook.Guard{AllowPrivate: true}, NewSecret: webhook.NewSecret}})
}

// achRail is the rail over db with its folders under dir.
func achRail(t testing.TB, db *postgres.DB, dir string, afterStep func(string) error) *app.ACHRail {
	t.Helper()
	outbox, err := achdir.NewOutbox(filepath.Join(dir, "outbox"))
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := achdir.NewInbox(filepath.Join(dir, "returns"))
	if err != nil {
		t.Fatal(err)
	}
	rail, err := achApp(db).ACHRail(app.ACHConfig{ODFIRouting: "121042882", OriginID: "231380104", CompanyName: "FIRST COMMUNITY",
		CompanyID: "1234567890", Outbox: outbox, Inbox: inbox, AfterStep: afterStep})
	if err != nil {
		t.Fatal(err)
	}
	return rail
}

// acceptedPayouts approves n claims of a member whose account has bank
// details, requests their payments and hands them to the rail; it
// returns the payments' ids.
func acceptedPayouts(t testing.TB, db *postgres.DB, rail *app.ACHRail, amounts ...string) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	a := achApp(db)
	d := postgrestest.MustDirectory(t, db)
	admin := app.Administrator(d.Admin.ID, d.Bank.ID)
	acct, err := a.OpenAccount(ctx, admin, ledger.Account{ID: uuid.New(), BankID: d.Bank.ID, MemberID: d.Member.ID, Currency: "USD", Nickname: "pay"},
		ledger.BankDetails{RoutingNumber: "021000021", AccountNumber: "000123456789", AccountType: ledger.AccountChecking})
	if err != nil {
		t.Fatal(err)
	}
	streams := postgrestest.Streams(db)
	var ids []uuid.UUID
	for _, amount := range amounts {
		r, err := a.Submit(ctx, app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: acct.ID, Amount: amount, Description: "Train"})
		if err != nil {
			t.Fatal(err)
		}
		if r, err = a.Approve(ctx, admin, app.DecideCommand{ReimbursementID: r.ID}); err != nil {
			t.Fatal(err)
		}
		event, err := ledger.RequestPayment(*r, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := streams.Append(ctx, ledger.Metadata{Actor: "saga:payments"}, event); err != nil {
			t.Fatal(err)
		}
		if err := rail.Accept(ctx, event.StreamID, 1, d.Bank.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, event.StreamID)
	}
	return ids
}

// sentTraces returns each payment's PaymentSent trace numbers.
func sentTraces(t testing.TB, db *postgres.DB, ids []uuid.UUID) map[uuid.UUID][]string {
	t.Helper()
	out := map[uuid.UUID][]string{}
	events, err := db.Events.Load(context.Background(), ids...)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range events {
		if rec.Type != ledger.TypePaymentSent {
			continue
		}
		e, err := rec.Decode()
		if err != nil {
			t.Fatal(err)
		}
		out[rec.StreamID] = append(out[rec.StreamID], e.(ledger.PaymentSent).TraceNumber)
	}
	return out
}

// The child process of TestACHCutoffSurvivesACrashAtEachStep: it runs a
// cutoff and exits with status 3 right after the step it is told.
func TestACHCutoffCrashChild(t *testing.T) {
	dbURL, dir, step := os.Getenv("LEDGER_ACH_CHILD_DB"), os.Getenv("LEDGER_ACH_CHILD_DIR"), os.Getenv("LEDGER_ACH_CHILD_STEP")
	if dbURL == "" {
		t.Skip("run by TestACHCutoffSurvivesACrashAtEachStep")
	}
	db, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rail := achRail(t, db, dir, func(s string) error {
		if s == step {
			os.Exit(3)
		}
		return nil
	})
	if _, err := rail.Cutoff(context.Background()); err != nil {
		t.Fatal(err)
	}
	os.Exit(4) // the step never came
}

// Each payout is in exactly one file, and each file reaches the outbox
// once, whichever step of its way the worker dies at: the worker process
// is killed right after each step in turn (the ODFI's uploader taking the
// outbox's files at that moment), and the next cutoff finishes the work.
func TestACHCutoffSurvivesACrashAtEachStep(t *testing.T) {
	for _, step := range []string{app.ACHStepBuilt, app.ACHStepStaged, app.ACHStepMarked, app.ACHStepPublished, app.ACHStepDone} {
		t.Run(strings.ReplaceAll(step, " ", "_"), func(t *testing.T) {
			dbURL := postgrestest.NewDatabaseURL(t)
			db, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			dir := t.TempDir()
			rail := achRail(t, db, dir, nil)
			ids := acceptedPayouts(t, db, rail, "10.00", "20.00", "30.00")

			child := exec.Command(os.Args[0], "-test.run=^TestACHCutoffCrashChild$", "-test.count=1")
			child.Env = append(os.Environ(), "LEDGER_ACH_CHILD_DB="+dbURL, "LEDGER_ACH_CHILD_DIR="+dir, "LEDGER_ACH_CHILD_STEP="+step)
			out, err := child.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 {
				t.Fatalf("the worker did not die after %q: %v\n%s", step, err, out)
			}

			// The uploader takes what is in the outbox now, each file
			// under a name of its own, as the ODFI would receive it.
			uploaded := filepath.Join(dir, "uploaded")
			if err := os.MkdirAll(uploaded, 0o750); err != nil {
				t.Fatal(err)
			}
			uploads := 0
			take := func() {
				files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.ach"))
				for _, f := range files {
					uploads++
					if err := os.Rename(f, filepath.Join(uploaded, strconv.Itoa(uploads)+"-"+filepath.Base(f))); err != nil {
						t.Fatal(err)
					}
				}
			}
			take()
			// The dead worker's lock goes when PostgreSQL notices its
			// connection closed: until then a cutoff is skipped.
			for runs := 0; runs < 2; {
				rep, err := rail.Cutoff(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if !rep.Skipped {
					runs++
				} else {
					time.Sleep(10 * time.Millisecond)
				}
				take()
			}

			files, _ := filepath.Glob(filepath.Join(uploaded, "*.ach"))
			if len(files) != 1 {
				t.Fatalf("%d files reached the ODFI, want 1: %v", len(files), files)
			}
			content, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			inFile, err := nachatest.Traces(content)
			if err != nil {
				t.Fatal(err)
			}
			sent := sentTraces(t, db, ids)
			var recorded []string
			for _, id := range ids {
				if len(sent[id]) != 1 {
					t.Fatalf("payment %s was sent %d times: %v", id, len(sent[id]), sent[id])
				}
				recorded = append(recorded, sent[id][0])
			}
			slices.Sort(recorded)
			slices.Sort(inFile)
			if !slices.Equal(recorded, inFile) || len(slices.Compact(slices.Clone(inFile))) != 3 {
				t.Fatalf("the file's trace numbers %v, the payments' %v", inFile, recorded)
			}
			staged, _ := os.ReadDir(filepath.Join(dir, "outbox", ".staging"))
			var unpublished int
			if err := db.SQL().QueryRow(`SELECT count(*) FROM ach_files WHERE state <> 'published'`).Scan(&unpublished); err != nil {
				t.Fatal(err)
			}
			if len(staged) != 0 || unpublished != 0 {
				t.Fatalf("left behind: %d staged files, %d files not published", len(staged), unpublished)
			}
		})
	}
}

// Returns and notifications of change come back by trace number: a return
// fails its payout with the code and reason; a notification of change is
// recorded on the account for its administrators (the corrected account
// number kept as its last 4 digits); a return for a different amount, or
// for a trace number the ledger never sent, changes nothing and is
// reported; a payout refused by the format fails on its own without
// holding back the bank's others.
func TestACHReturnsAndCorrections(t *testing.T) {
	ctx := context.Background()
	db := postgrestest.NewDB(t)
	dir := t.TempDir()
	rail := achRail(t, db, dir, nil)
	ids := acceptedPayouts(t, db, rail, "10.00", "20.00", "30.00")
	rep, err := rail.Cutoff(ctx)
	if err != nil || len(rep.Files) != 1 || rep.Entries != 3 {
		t.Fatalf("cutoff: %+v %v", rep, err)
	}
	content, err := os.ReadFile(filepath.Join(dir, "outbox", rep.Files[0]))
	if err != nil {
		t.Fatal(err)
	}
	sent := sentTraces(t, db, ids)
	answer, err := nachatest.ReturnFile(content,
		nachatest.Answer{Trace: sent[ids[0]][0], Code: "R03"},
		nachatest.Answer{Trace: sent[ids[1]][0], Code: "C01", CorrectedData: "55512345"},
		nachatest.Answer{Trace: "121042889999999", Code: "R01"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "returns", "r1.ach"), answer, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := rail.ReadReturns(ctx)
	if err != nil || len(got.Files) != 1 || got.Returns != 1 || got.Problems != 1 {
		t.Fatalf("returns: %+v %v", got, err)
	}
	if f := got.Files[0]; f.Corrections != 1 || !strings.Contains(f.Problems[0], "121042889999999") {
		t.Fatalf("the file's report: %+v", f)
	}
	a := achApp(db)
	streams := postgrestest.Streams(db)
	p, err := streams.Payment(ctx, ids[0])
	if err != nil || p.Status != ledger.PaymentStatusReturned || p.FailureReason != "R03 No Account/Unable to Locate Account" {
		t.Fatalf("the returned payment: %+v %v", p, err)
	}
	for _, id := range ids[1:] {
		if p, err := streams.Payment(ctx, id); err != nil || p.Status != ledger.PaymentStatusSent {
			t.Fatalf("payment %s: %+v %v", id, p, err)
		}
	}
	p1, _ := streams.Payment(ctx, ids[1])
	d := postgrestest.MustDirectory(t, db) // another bank's administrator
	acctID := p1.AccountID
	corrections, err := a.AccountCorrections(ctx, app.Administrator(uuid.Nil, p1.BankID), acctID)
	if err != nil || len(corrections) != 1 || corrections[0].Code != "C01" || corrections[0].AccountNumberLast4 != "2345" ||
		corrections[0].TraceNumber != sent[ids[1]][0] {
		t.Fatalf("corrections: %+v %v", corrections, err)
	}
	if _, err := a.AccountCorrections(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), acctID); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("another bank's administrator reads the corrections: %v", err)
	}

	// A well-formed return of a sent entry's trace for another amount is
	// a problem, not a return: the payout stays sent.
	other, err := nachatest.ReturnFile(content, nachatest.Answer{Trace: sent[ids[2]][0], Code: "R01", Cents: 9999})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "returns", "r2.ach"), other, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = rail.ReadReturns(ctx)
	if err != nil || got.Returns != 0 || got.Rejected != 0 || got.Problems != 1 || !strings.Contains(got.Files[0].Problems[0], "the entry was for 30.00") {
		t.Fatalf("a return for another amount: %+v %v", got, err)
	}
	if p, _ := streams.Payment(ctx, ids[2]); p.Status != ledger.PaymentStatusSent {
		t.Fatalf("a return for another amount moved the payout to %s", p.Status)
	}
}

// An account without bank details cannot be paid by ACH credit: its
// payout fails at the cutoff with the reason, and the bank's other
// payouts go out.
func TestACHCutoffFailsAPayoutItCannotPay(t *testing.T) {
	ctx := context.Background()
	db := postgrestest.NewDB(t)
	rail := achRail(t, db, t.TempDir(), nil)
	ids := acceptedPayouts(t, db, rail, "12.00")

	d := postgrestest.MustDirectory(t, db) // its account has no bank details
	stub := app.New(app.Config{Stores: db.Stores(), AuditKeys: postgrestest.AuditKeys, AccountNumberKey: achKey})
	r, err := stub.Submit(ctx, app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "5.00", Description: "Bus"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = stub.Approve(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: r.ID}); err != nil {
		t.Fatal(err)
	}
	event, err := ledger.RequestPayment(*r, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := postgrestest.Streams(db).Append(ctx, ledger.Metadata{Actor: "saga:payments"}, event); err != nil {
		t.Fatal(err)
	}
	if err := rail.Accept(ctx, event.StreamID, 1, d.Bank.ID); err != nil {
		t.Fatal(err)
	}
	rep, err := rail.Cutoff(ctx)
	if err != nil || len(rep.Files) != 1 || rep.Entries != 1 || rep.Failed != 1 {
		t.Fatalf("cutoff: %+v %v", rep, err)
	}
	p, err := postgrestest.Streams(db).Payment(ctx, event.StreamID)
	if err != nil || p.Status != ledger.PaymentStatusFailed || !strings.Contains(p.FailureReason, "no bank details") {
		t.Fatalf("the payout to an account without details: %+v %v", p, err)
	}
	if sent := sentTraces(t, db, ids); len(sent[ids[0]]) != 1 {
		t.Fatalf("the payable payout: %v", sent)
	}
	// Nothing waits any more: the next cutoff writes nothing.
	if rep, err := rail.Cutoff(ctx); err != nil || len(rep.Files) != 0 {
		t.Fatalf("a second cutoff: %+v %v", rep, err)
	}
}
