package worker_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
	"github.com/reimbursement-ledger/ledger/backend/saga"
	"github.com/reimbursement-ledger/ledger/backend/saga/sagatest"
)

// expectedRows folds every reimbursement from its events: what the read
// model must hold.
func expectedRows(t *testing.T, db *postgres.DB, ids []uuid.UUID) map[uuid.UUID]ledger.Reimbursement {
	t.Helper()
	out := map[uuid.UUID]ledger.Reimbursement{}
	for _, id := range ids {
		r, err := postgrestest.Streams(db).Reimbursement(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = *r
	}
	return out
}

func assertReadModelMatches(t *testing.T, db *postgres.DB, d postgrestest.Directory, ids []uuid.UUID) {
	t.Helper()
	want := expectedRows(t, db, ids)
	rows := map[uuid.UUID]ledger.Reimbursement{}
	q := app.ListQuery{BankID: d.Bank.ID, Limit: 200}
	for {
		page, err := db.Reimbursements.ListReimbursements(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Items {
			if _, dup := rows[r.ID]; dup {
				t.Fatalf("reimbursement %s is in the read model twice", r.ID)
			}
			rows[r.ID] = r
		}
		if page.NextBefore.IsZero() {
			break
		}
		q.Before = page.NextBefore
	}
	if len(rows) != len(want) {
		t.Fatalf("read model has %d rows, the events %d reimbursements", len(rows), len(want))
	}
	for id, w := range want {
		if diff := differences(rows[id], w); diff != nil {
			t.Fatalf("row %s differs from its events in %v:\n%+v\nevents say %+v", id, diff, rows[id], w)
		}
	}
}

// lifecycle gives a bank a policy of dual control over 100.00 USD and
// plays every step of a reimbursement's life on n new claims: single and
// dual approvals (some with notes, some only half given), denials,
// withdrawals, payouts the stub rail refuses at first (amounts ending in
// 13) and, once the refusals are recorded, the retries of half of them.
func lifecycle(t *testing.T, db *postgres.DB, d postgrestest.Directory, n int) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	a := postgrestest.App(db)
	operator := app.Principal{Role: app.RoleOperator, Subject: "ops"}
	if _, err := a.SetApprovalPolicy(ctx, operator, app.SetApprovalPolicyCommand{BankID: d.Bank.ID, SecondApprovalAbove: "100.00", Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	other, err := a.CreateAdministrator(ctx, operator, ledger.Administrator{ID: uuid.New(), BankID: d.Bank.ID, FirstName: "Frances", LastName: "Allen", Email: "frances@bank.example"})
	if err != nil {
		t.Fatal(err)
	}
	admins := []app.Principal{app.Administrator(d.Admin.ID, d.Bank.ID), app.Administrator(other.ID, d.Bank.ID)}
	must := func(_ *ledger.Reimbursement, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var ids, refused []uuid.UUID
	for i := range n {
		amount := []string{"150.00", "80.13", "80.25", "12.00"}[i%4]
		r, err := a.Submit(ctx, app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: amount, Description: "Trip " + amount})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		approve := func(p app.Principal, note string) {
			must(a.Approve(ctx, p, app.DecideCommand{ReimbursementID: r.ID, Note: note}))
		}
		switch i % 6 {
		case 0, 1: // approved, by two administrators above the threshold
			approve(admins[0], "")
			if r.ApprovalsRequired == 2 {
				approve(admins[1], "Second pair of eyes")
			}
			if amount == "80.13" {
				refused = append(refused, r.ID)
			}
		case 2:
			must(a.Deny(ctx, admins[1], app.DecideCommand{ReimbursementID: r.ID, Reason: "No receipt"}))
		case 3:
			must(a.Withdraw(ctx, app.Member(d.Member.ID), app.WithdrawCommand{ReimbursementID: r.ID}))
		case 4:
			approve(admins[1], "Half way") // pending with one approval above the threshold
		}
	}
	for j, id := range refused {
		postgrestest.Eventually(t, "the refusal recorded", func() bool {
			r, err := postgrestest.Streams(db).Reimbursement(ctx, id)
			return err == nil && r.PaymentStatus == ledger.PaymentStatusFailed
		})
		if j%2 == 0 {
			must(a.RetryPayout(ctx, admins[j/2%2], app.RetryPayoutCommand{ReimbursementID: id}))
		}
	}
	return ids
}

func TestRebuildUnderLoadMatchesTheEvents(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	startWorker(t, db, &saga.StubPaymentGateway{Logger: quiet}, &sagatest.Mailer{})
	var mu sync.Mutex
	ids := lifecycle(t, db, d, 150)
	postgrestest.Eventually(t, "the live projector caught up", func() bool { return caughtUp(t, db) })

	// Commands and queries keep coming while the rebuild runs; none may fail.
	ctx, stopLoad := context.WithCancel(context.Background())
	var failures atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			r, err := postgrestest.App(db).Submit(context.Background(), app.Member(d.Member.ID), app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "5.00", Description: "load"})
			if err != nil {
				failures.Add(1)
				continue
			}
			mu.Lock()
			ids = append(ids, r.ID)
			mu.Unlock()
			switch i % 3 {
			case 0:
				if _, err := postgrestest.App(db).Deny(context.Background(), app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: r.ID, Reason: "load"}); err != nil {
					failures.Add(1)
				}
			case 1:
				if _, err := postgrestest.App(db).Withdraw(context.Background(), app.Member(d.Member.ID), app.WithdrawCommand{ReimbursementID: r.ID}); err != nil {
					failures.Add(1)
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if _, err := db.Reimbursements.ListReimbursements(context.Background(), app.ListQuery{BankID: d.Bank.ID, Status: ledger.StatusPending, Limit: 50}); err != nil {
				t.Errorf("list during rebuild: %v", err)
				failures.Add(1)
			}
		}
	}()
	res, err := db.Rebuilds.Run(context.Background(), postgres.ReimbursementsProjection, postgres.RebuildOptions{BatchSize: 40})
	stopLoad()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if failures.Load() != 0 {
		t.Fatalf("%d requests failed during the rebuild", failures.Load())
	}
	if res.Events < 150 || res.Rows < 150 {
		t.Fatalf("rebuild result %+v: it must have read at least what the live projector had", res)
	}
	postgrestest.Eventually(t, "every subscriber caught up", func() bool { return caughtUp(t, db) })
	assertReadModelMatches(t, db, d, ids)
}

func TestInterruptedRebuildLeavesTheLiveModelAndResumes(t *testing.T) {
	interruptedRebuildLeavesTheLiveModelAndResumes(t, postgrestest.NewDB(t), 60)
}

// The same over a log whose transaction ids cross 1,000, 100,000 and
// 2^32: the rebuild's saved cursor, a transaction id, lies on one side and
// the events it resumes with on the other.
func TestInterruptedRebuildAcrossTransactionIDBoundaries(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		interruptedRebuildLeavesTheLiveModelAndResumes(t, db, 18)
	})
}

// interruptedRebuildLeavesTheLiveModelAndResumes plays n claims' lives
// with the worker running, then interrupts a rebuild after two batches of
// 10 events and resumes it.
func interruptedRebuildLeavesTheLiveModelAndResumes(t *testing.T, db *postgres.DB, n int) {
	t.Helper()
	d := postgrestest.MustDirectory(t, db)
	stop := startWorker(t, db, &saga.StubPaymentGateway{Logger: quiet}, &sagatest.Mailer{})
	ids := lifecycle(t, db, d, n)
	postgrestest.Eventually(t, "every subscriber caught up", func() bool { return caughtUp(t, db) })
	stop()
	before := listAll(t, db, d)

	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	_, err := db.Rebuilds.Run(ctx, postgres.ReimbursementsProjection, postgres.RebuildOptions{BatchSize: 10, Progress: func(done, total int64) {
		if batches++; batches == 2 {
			cancel() // the operator presses Ctrl-C
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rebuild: %v, want context.Canceled", err)
	}
	after := listAll(t, db, d)
	sort.Slice(before, func(i, j int) bool { return before[i].ID.String() < before[j].ID.String() })
	sort.Slice(after, func(i, j int) bool { return after[i].ID.String() < after[j].ID.String() })
	if !sameRows(before, after) {
		t.Fatal("an interrupted rebuild changed the live read model")
	}

	res, err := db.Rebuilds.Run(context.Background(), postgres.ReimbursementsProjection, postgres.RebuildOptions{BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed {
		t.Fatal("the second run started over instead of resuming")
	}
	assertReadModelMatches(t, db, d, ids)
	if _, err := postgres.FindProjection(postgres.AllProjections(), "nothing"); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("rebuilding an unknown projection: %v", err)
	}
}

func TestAuditTreeHoldsEveryEventUnderASignedHead(t *testing.T) {
	auditTreeHoldsEveryEvent(t, postgrestest.NewDB(t), 5)
}

// The same with the worker running while the transaction ids cross 1,000,
// 100,000 and 2^32.
func TestAuditTreeAcrossTransactionIDBoundaries(t *testing.T) {
	postgrestest.AcrossXIDBoundaries(t, func(t *testing.T, db *postgres.DB) {
		auditTreeHoldsEveryEvent(t, db, 16)
	})
}

// auditTreeHoldsEveryEvent submits and decides n reimbursements with the
// worker running, then verifies the log against the signed heads.
func auditTreeHoldsEveryEvent(t *testing.T, db *postgres.DB, n int) {
	t.Helper()
	d := postgrestest.MustDirectory(t, db)
	startWorker(t, db, &sagatest.Gateway{}, &sagatest.Mailer{})
	for i := range n {
		id := submit(t, db, d)
		decide(t, db, d, id, i%2 == 1)
	}
	postgrestest.Eventually(t, "every subscriber caught up", func() bool { return caughtUp(t, db) })
	report, err := db.Audit.Verify(context.Background(), postgrestest.AuditKeys, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := int64(len(eventPositions(t, db)))
	latest, err := db.Audit.LatestHead(context.Background())
	if err != nil || !report.OK() || report.Events != events || report.Heads == 0 || latest == nil || latest.TreeSize != events {
		t.Fatalf("verify %+v (problem %v), latest head %+v: want every one of %d events under a signed head", report, report.Problem, latest, events)
	}
	statuses, err := db.Subscriptions.Statuses(context.Background(), []string{"audit.tree", "projector.reimbursements"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range statuses {
		if s.Lag != 0 || s.Head == 0 {
			t.Fatalf("status %+v, want caught up", s)
		}
	}
}
