package postgres_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

func submission(t *testing.T, d postgrestest.Directory, id uuid.UUID, description string) ledger.PendingEvent {
	t.Helper()
	e, err := ledger.Submit(ledger.Submission{ID: id, Account: d.Account, Amount: "10.01", Description: description, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// First events appended together share one transaction, keep the batch's
// order, and store every byte they were hashed over: the audit verifies.
func TestFirstEventsAppendedTogetherShareOneCommit(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	descriptions := []string{`quote " backslash \ brace { } comma , `, "émoji 🚕 and\nnewline", `{"json": [1, "2"]}`, "NULL", "tab\there"}
	var events []ledger.PendingEvent
	for _, desc := range descriptions {
		events = append(events, submission(t, d, uuid.New(), desc))
	}
	recs, errs := db.AppendTogether(ledger.Metadata{CorrelationID: `c "1"`, Actor: "member:x"}, events...)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	stored := allEvents(t, db)
	if len(stored) != len(events) {
		t.Fatalf("%d events stored, want %d", len(stored), len(events))
	}
	txs := mustEventTransactions(t, db)
	for i, s := range stored {
		if s.EventID != recs[i].EventID || s.Position != recs[i].Position {
			t.Fatalf("stored #%d is %s at %d, want %s at %d", i, s.EventID, s.Position, recs[i].EventID, recs[i].Position)
		}
		if txs[s.EventID] == 0 || txs[s.EventID] != txs[stored[0].EventID] {
			t.Fatalf("event %d committed in transaction %d, the first in %d", i, txs[s.EventID], txs[stored[0].EventID])
		}
		e, err := s.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if got := e.(ledger.ReimbursementSubmitted).Description; got != descriptions[i] {
			t.Fatalf("description %q read back as %q", descriptions[i], got)
		}
	}
	if err := db.TreeAll(context.Background(), postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	if report := mustVerify(t, db, nil); !report.OK() || report.Events != int64(len(events)) {
		t.Fatalf("verify: %+v, problem %v", report, report.Problem)
	}
}

// One event that cannot be stored fails alone: the others of its batch are
// appended.
func TestAFailedFirstEventDoesNotFailItsBatch(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	taken := mustSubmit(t, db, d, "1.00")
	events := []ledger.PendingEvent{
		submission(t, d, uuid.New(), "first"),
		submission(t, d, taken.ID, "a second first event"),
		submission(t, d, uuid.New(), "third"),
	}
	_, errs := db.AppendTogether(ledger.Metadata{}, events...)
	if errs[0] != nil || !errors.Is(errs[1], ledger.ErrVersionConflict) || errs[2] != nil {
		t.Fatalf("outcomes %v, want nil, a version conflict, nil", errs)
	}
	for _, i := range []int{0, 2} {
		story, err := postgrestest.App(db).Story(context.Background(), postgrestest.Auditor, events[i].StreamID)
		if err != nil || len(story) != 1 {
			t.Fatalf("event %d: story %v, %v", i, story, err)
		}
	}
	if n := len(allEvents(t, db)); n != 3 {
		t.Fatalf("%d events stored, want 3", n)
	}
}

// Concurrent submissions all succeed, each answered with its own stored
// event, whichever batches they were appended in.
func TestConcurrentSubmissionsEachGetTheirOwnEvent(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	const n = 64
	var wg sync.WaitGroup
	results := make([]*ledger.Reimbursement, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = postgrestest.App(db).Submit(context.Background(), app.Member(d.Member.ID), app.SubmitCommand{
				ID: uuid.New(), AccountID: d.Account.ID, Amount: "2.00", Description: "concurrent"})
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("submission %d: %v", i, errs[i])
		}
		story, err := postgrestest.App(db).Story(context.Background(), postgrestest.Auditor, results[i].ID)
		if err != nil || len(story) != 1 || story[0].StreamID != results[i].ID {
			t.Fatalf("submission %d: story %v, %v", i, story, err)
		}
	}
	if got := len(allEvents(t, db)); got != n {
		t.Fatalf("%d events stored, want %d", got, n)
	}
	if err := db.TreeAll(context.Background(), postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	if report := mustVerify(t, db, nil); !report.OK() {
		t.Fatalf("verify: %+v, problem %v", report, report.Problem)
	}
}

// A submission after the database is closed fails instead of waiting for an
// appender that has stopped; closing twice is harmless.
func TestSubmitAfterCloseFails(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	mustSubmit(t, db, d, "1.00") // the account is cached: the next submission goes straight to the appenders
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := postgrestest.App(db).Submit(context.Background(), app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "1.00", Description: "late"})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a submission to a closed database succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a submission to a closed database is still waiting")
	}
}

func mustEventTransactions(t *testing.T, db *postgres.DB) map[uuid.UUID]uint64 {
	t.Helper()
	txs, err := db.EventTransactions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return txs
}

// denial is a denial of the reimbursement id decided on its stored state.
func denial(t *testing.T, db *postgres.DB, d postgrestest.Directory, id uuid.UUID) ledger.PendingEvent {
	t.Helper()
	recs, err := db.Events.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ledger.FoldReimbursement(id, recs)
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Deny(d.Admin, "no receipt", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Decisions share a batch with each other and with submissions. A
// decision whose stream version another command took, before the batch or
// earlier in it, fails alone; the rest commits in one transaction, each
// event hashed over the stored event before it.
func TestDecisionsShareACommitAndAConflictFailsAlone(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	r1, r2, r3 := mustSubmit(t, db, d, "1.00"), mustSubmit(t, db, d, "2.00"), mustSubmit(t, db, d, "3.00")
	stale := denial(t, db, d, r2.ID)
	if _, err := postgrestest.App(db).Approve(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: r2.ID}); err != nil {
		t.Fatal(err)
	}
	fresh := submission(t, d, uuid.New(), "fresh")
	batch := []ledger.PendingEvent{denial(t, db, d, r1.ID), stale, denial(t, db, d, r3.ID), denial(t, db, d, r3.ID), fresh}
	recs, errs := db.AppendTogether(ledger.Metadata{CorrelationID: "batch"}, batch...)
	if errs[0] != nil || !errors.Is(errs[1], ledger.ErrVersionConflict) || errs[2] != nil ||
		!errors.Is(errs[3], ledger.ErrVersionConflict) || errs[4] != nil {
		t.Fatalf("outcomes %v, want nil, a version conflict, nil, a version conflict, nil", errs)
	}
	txs := mustEventTransactions(t, db)
	if tx := txs[recs[0].EventID]; tx == 0 || txs[recs[2].EventID] != tx || txs[recs[4].EventID] != tx {
		t.Fatalf("the batch's events committed in transactions %d, %d and %d", tx, txs[recs[2].EventID], txs[recs[4].EventID])
	}
	for _, c := range []struct {
		id    uuid.UUID
		types []string
	}{
		{r1.ID, []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementDenied}},
		{r2.ID, []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementApproved}},
		{r3.ID, []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementDenied}},
		{fresh.StreamID, []string{ledger.TypeReimbursementSubmitted}},
	} {
		stored, err := db.Events.Load(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, s := range stored {
			types = append(types, s.Type)
		}
		if !slices.Equal(types, c.types) {
			t.Fatalf("stream %s holds %v, want %v", c.id, types, c.types)
		}
		if len(stored) == 2 && !bytes.Equal(stored[1].PrevHash, stored[0].Hash) {
			t.Fatalf("stream %s: the decision's previous hash is not its submission's", c.id)
		}
	}
	if err := db.TreeAll(ctx, postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	if report := mustVerify(t, db, nil); !report.OK() || report.Events != 7 {
		t.Fatalf("verify: %+v, problem %v", report, report.Problem)
	}
}

// The child process of TestACrashMidBatchStoresNothingOfIt: it appends a
// batch of two submissions and a denial, and exits with status 3 once
// their INSERT is done, before the commit.
func TestAppendCrashChild(t *testing.T) {
	dbURL := os.Getenv("LEDGER_APPEND_CHILD_DB")
	if dbURL == "" {
		t.Skip("run by TestACrashMidBatchStoresNothingOfIt")
	}
	db, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var d postgrestest.Directory
	if d.Account, err = db.Directory.Account(context.Background(), uuid.MustParse(os.Getenv("LEDGER_APPEND_CHILD_ACCOUNT"))); err != nil {
		t.Fatal(err)
	}
	d.Admin = ledger.Administrator{ID: uuid.MustParse(os.Getenv("LEDGER_APPEND_CHILD_ADMIN")), BankID: d.Account.BankID}
	claim := uuid.MustParse(os.Getenv("LEDGER_APPEND_CHILD_CLAIM"))
	batch := []ledger.PendingEvent{submission(t, d, uuid.New(), "one"), denial(t, db, d, claim), submission(t, d, uuid.New(), "two")}
	db.BeforeSharedCommit(func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 4 {
			os.Exit(5) // the INSERT is not what the test expects
		}
		os.Exit(3)
		return nil
	})
	db.AppendTogether(ledger.Metadata{CorrelationID: "crash"}, batch...)
	os.Exit(4) // the commit came
}

// A ledger that dies in the middle of a shared batch, its INSERT done and
// its commit not, stores nothing of the batch and acknowledged none of it;
// the decision it held is then made again. A batch whose connection is
// killed before its commit fails for every one of its commands, stores
// nothing, and the next batch commits.
func TestACrashMidBatchStoresNothingOfIt(t *testing.T) {
	ctx := context.Background()
	dbURL := postgrestest.NewDatabaseURL(t)
	db, err := postgres.Open(ctx, dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := postgrestest.MustDirectory(t, db)
	claim := mustSubmit(t, db, d, "4.00")

	child := exec.Command(os.Args[0], "-test.run=^TestAppendCrashChild$", "-test.count=1")
	child.Env = append(os.Environ(), "LEDGER_APPEND_CHILD_DB="+dbURL, "LEDGER_APPEND_CHILD_CLAIM="+claim.ID.String(),
		"LEDGER_APPEND_CHILD_ACCOUNT="+d.Account.ID.String(), "LEDGER_APPEND_CHILD_ADMIN="+d.Admin.ID.String())
	out, err := child.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("the ledger did not die between the batch's INSERT and its commit: %v\n%s", err, out)
	}
	if n := len(allEvents(t, db)); n != 1 {
		t.Fatalf("%d events stored after the crash, want the claim's submission alone", n)
	}

	db.BeforeSharedCommit(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
		return err
	})
	_, errs := db.AppendTogether(ledger.Metadata{}, submission(t, d, uuid.New(), "killed"), denial(t, db, d, claim.ID))
	if errs[0] == nil || errs[1] == nil {
		t.Fatalf("a batch whose connection was killed answered %v", errs)
	}
	if n := len(allEvents(t, db)); n != 1 {
		t.Fatalf("%d events stored after the killed batch, want 1", n)
	}

	db.BeforeSharedCommit(nil)
	recs, errs := db.AppendTogether(ledger.Metadata{}, submission(t, d, uuid.New(), "after"), denial(t, db, d, claim.ID))
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("the batch after the crash: %v", errs)
	}
	if recs[1].StreamVersion != 2 {
		t.Fatalf("the denial took version %d, want 2", recs[1].StreamVersion)
	}
	if err := db.TreeAll(ctx, postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	if report := mustVerify(t, db, nil); !report.OK() || report.Events != 3 {
		t.Fatalf("verify: %+v, problem %v", report, report.Problem)
	}
}

// appendCounter counts the appends handed to the event store.
type appendCounter struct {
	app.EventStore
	n *atomic.Int64
}

func (c appendCounter) Append(ctx context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) ([]ledger.RecordedEvent, error) {
	c.n.Add(1)
	return c.EventStore.Append(ctx, meta, events...)
}

// Fifty members submit at once, then an administrator approves, another
// call denies and the member withdraws each claim, all at once: every
// claim holds its own submission and exactly one decision, the one whose
// caller was told it succeeded, recorded under that caller's correlation
// id; the others were told of the conflict. The decisions share batches:
// the appenders hold their first decisions' commits until every decision
// has been handed to the event store.
func TestFiftyClientsAtOnceLoseDoubleAndMisattributeNothing(t *testing.T) {
	const clients = 50
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	var appends atomic.Int64
	stores := db.Stores()
	stores.Events = appendCounter{EventStore: stores.Events, n: &appends}
	a := app.New(app.Config{Stores: stores, AuditKeys: postgrestest.AuditKeys})
	member, admin := app.Member(d.Member.ID), app.Administrator(d.Admin.ID, d.Bank.ID)

	ids := make([]uuid.UUID, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			r, err := a.Submit(ctx, member, app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "5.00",
				Description: fmt.Sprintf("claim %d", i), Meta: ledger.Metadata{CorrelationID: fmt.Sprintf("submit-%d", i)}})
			if err != nil {
				t.Errorf("client %d: submit: %v", i, err)
				return
			}
			ids[i] = r.ID
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	type outcome struct {
		r   *ledger.Reimbursement
		err error
	}
	ops := []string{"approve", "deny", "withdraw"}
	decisions := int64(clients * len(ops))
	appends.Store(0)
	db.BeforeSharedCommit(func(context.Context, *sql.Tx) error {
		for deadline := time.Now().Add(10 * time.Second); appends.Load() < decisions && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return nil
	})
	wantType := map[string]string{"approve": ledger.TypeReimbursementApproved, "deny": ledger.TypeReimbursementDenied,
		"withdraw": ledger.TypeReimbursementWithdrawn}
	outcomes := make([][3]outcome, clients)
	for i := range clients {
		for k, op := range ops {
			wg.Go(func() {
				meta := ledger.Metadata{CorrelationID: fmt.Sprintf("%s-%d", op, i)}
				var r *ledger.Reimbursement
				var err error
				switch op {
				case "approve":
					r, err = a.Approve(ctx, admin, app.DecideCommand{ReimbursementID: ids[i], Meta: meta})
				case "deny":
					r, err = a.Deny(ctx, admin, app.DecideCommand{ReimbursementID: ids[i], Reason: "duplicate", Meta: meta})
				case "withdraw":
					r, err = a.Withdraw(ctx, member, app.WithdrawCommand{ReimbursementID: ids[i], Meta: meta})
				}
				outcomes[i][k] = outcome{r, err}
			})
		}
	}
	wg.Wait()

	txs := mustEventTransactions(t, db)
	decisionsPerTx := map[uint64]int{}
	for i := range clients {
		stored, err := db.Events.Load(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 2 {
			t.Fatalf("claim %d holds %d events, want its submission and one decision", i, len(stored))
		}
		if got := stored[0].Metadata.CorrelationID; got != fmt.Sprintf("submit-%d", i) {
			t.Fatalf("claim %d was submitted under correlation id %q", i, got)
		}
		decisionsPerTx[txs[stored[1].EventID]]++
		won := -1
		for k, o := range outcomes[i] {
			switch {
			case o.err == nil:
				if won >= 0 {
					t.Fatalf("claim %d: both %s and %s were told they succeeded", i, ops[won], ops[k])
				}
				won = k
			case ledger.ErrorCode(o.err) != ledger.EConflict:
				t.Fatalf("claim %d: %s failed with %v, want a conflict", i, ops[k], o.err)
			}
		}
		if won < 0 {
			t.Fatalf("claim %d: no command was told it succeeded", i)
		}
		decision, answer := stored[1], outcomes[i][won].r
		if decision.Type != wantType[ops[won]] || decision.Metadata.CorrelationID != fmt.Sprintf("%s-%d", ops[won], i) {
			t.Fatalf("claim %d: %s was told it succeeded, the stream holds %s under %q", i, ops[won], decision.Type, decision.Metadata.CorrelationID)
		}
		if answer.ID != ids[i] || answer.Version != 2 {
			t.Fatalf("claim %d: %s was answered with %s at version %d", i, ops[won], answer.ID, answer.Version)
		}
	}
	if n := len(allEvents(t, db)); n != 2*clients {
		t.Fatalf("%d events stored, want %d", n, 2*clients)
	}
	shared := 0
	for _, n := range decisionsPerTx {
		if n > 1 {
			shared++
		}
	}
	if shared == 0 {
		t.Fatalf("no two decisions shared a commit: %v", decisionsPerTx)
	}
	if err := db.TreeAll(ctx, postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	if report := mustVerify(t, db, nil); !report.OK() {
		t.Fatalf("verify: %+v, problem %v", report, report.Problem)
	}
}

// A submission decided on an approval policy that has changed since fails
// alone with ledger.ErrStaleRead; the rest of its batch commits.
func TestAStaleSubmissionDoesNotFailItsBatch(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	policy := ledger.ApprovalPolicyStreamID(d.Bank.ID)
	on := func(e ledger.PendingEvent, version int64) ledger.PendingEvent {
		e.Given = &ledger.StreamAt{StreamID: policy, Version: version}
		return e
	}
	if _, err := postgrestest.App(db).SetApprovalPolicy(context.Background(), app.Principal{Role: app.RoleOperator, Subject: "test"},
		app.SetApprovalPolicyCommand{BankID: d.Bank.ID, SecondApprovalAbove: "100.00", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	events := []ledger.PendingEvent{on(submission(t, d, uuid.New(), "current"), 1), on(submission(t, d, uuid.New(), "stale"), 0),
		submission(t, d, uuid.New(), "no policy read")}
	_, errs := db.AppendTogether(ledger.Metadata{}, events...)
	if errs[0] != nil || !errors.Is(errs[1], ledger.ErrStaleRead) || errs[2] != nil {
		t.Fatalf("outcomes %v, want nil, a stale read, nil", errs)
	}
	for i, want := range []int{1, 0, 1} {
		if got, _ := db.Events.Load(context.Background(), events[i].StreamID); len(got) != want {
			t.Fatalf("submission %d stored %d events, want %d", i, len(got), want)
		}
	}
}
