package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// directory is two banks, each with an administrator, and a member with an
// account at each.
type directory struct {
	bank, otherBank       ledger.Bank
	admin, otherAdmin     app.Principal
	member                app.Principal
	account, otherAccount ledger.Account
}

var auditor = app.Principal{Role: app.RoleAuditor, Subject: "storetest"}

// mustDirectory builds the directory through the use cases, each step by
// the role allowed to take it.
func mustDirectory(t *testing.T, a *app.App) directory {
	t.Helper()
	ctx := context.Background()
	op := app.Principal{Role: app.RoleOperator, Subject: "storetest"}
	var errs [7]error
	var d directory
	var admin, otherAdmin ledger.Administrator
	var member ledger.Member
	d.bank, errs[0] = a.CreateBank(ctx, op, ledger.Bank{ID: uuid.New(), Name: "First Community Bank", Location: "Springfield"})
	d.otherBank, errs[1] = a.CreateBank(ctx, op, ledger.Bank{ID: uuid.New(), Name: "Harbor Savings", Location: "Shelbyville"})
	admin, errs[2] = a.CreateAdministrator(ctx, op, ledger.Administrator{ID: uuid.New(), BankID: d.bank.ID, FirstName: "Grace", LastName: "Hopper", Email: "grace@bank.example"})
	otherAdmin, errs[3] = a.CreateAdministrator(ctx, op, ledger.Administrator{ID: uuid.New(), BankID: d.otherBank.ID, FirstName: "Edsger", LastName: "Dijkstra", Email: "edsger@harbor.example"})
	d.admin, d.otherAdmin = app.Administrator(admin.ID, admin.BankID), app.Administrator(otherAdmin.ID, otherAdmin.BankID)
	member, errs[4] = a.CreateMember(ctx, d.admin, ledger.Member{ID: uuid.New(), FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"})
	d.member = app.Member(member.ID)
	d.account, errs[5] = a.OpenAccount(ctx, d.admin, ledger.Account{ID: uuid.New(), BankID: d.bank.ID, MemberID: member.ID, Nickname: "checking"}, ledger.BankDetails{})
	d.otherAccount, errs[6] = a.OpenAccount(ctx, d.otherAdmin, ledger.Account{ID: uuid.New(), BankID: d.otherBank.ID, MemberID: member.ID, Nickname: "savings"}, ledger.BankDetails{})
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatalf("create directory: %v", err)
	}
	return d
}

func mustSubmit(t *testing.T, a *app.App, d directory, account ledger.Account, amount string) *ledger.Reimbursement {
	t.Helper()
	r, err := a.Submit(context.Background(), d.member, app.SubmitCommand{ID: uuid.New(), AccountID: account.ID, Amount: amount, Description: "Taxi to the branch", Meta: meta})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return r
}

func testReadModel(t *testing.T, h Harness) {
	ctx := context.Background()
	// A clock that moves between submissions: equal times would order by id.
	now := time.Now().UTC().Truncate(time.Second)
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, Now: func() time.Time { now = now.Add(time.Millisecond); return now }})
	d := mustDirectory(t, a)
	var submitted []*ledger.Reimbursement
	for _, amount := range []string{"1.00", "2.50", "3.00"} {
		submitted = append(submitted, mustSubmit(t, a, d, d.account, amount))
	}
	elsewhere := mustSubmit(t, a, d, d.otherAccount, "4.00")
	// Another member at the other bank, whom the first member's lists never show.
	neighbour, err := a.CreateMember(ctx, d.otherAdmin, ledger.Member{ID: uuid.New(), FirstName: "Alan", LastName: "Turing", Email: "alan@example.com"})
	must(t, err)
	neighbourAccount, err := a.OpenAccount(ctx, d.otherAdmin, ledger.Account{ID: uuid.New(), BankID: d.otherBank.ID, MemberID: neighbour.ID}, ledger.BankDetails{})
	must(t, err)
	mustSubmit(t, a, directory{member: app.Member(neighbour.ID)}, neighbourAccount, "5.00")
	_, err = a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: submitted[0].ID})
	must(t, err)
	_, err = a.Deny(ctx, d.admin, app.DecideCommand{ReimbursementID: submitted[1].ID, Reason: "no receipt"})
	must(t, err)
	_, err = a.Withdraw(ctx, d.member, app.WithdrawCommand{ReimbursementID: elsewhere.ID})
	must(t, err)
	if h.Project != nil {
		h.Project(t)
	}
	list := func(q app.ListQuery) app.ListPage {
		t.Helper()
		page, err := h.Stores.Reimbursements.ListReimbursements(ctx, q)
		must(t, err)
		return page
	}
	// Each item is the reimbursement as its story tells it, newest first.
	page := list(app.ListQuery{BankID: d.bank.ID, Limit: 10})
	if len(page.Items) != 3 || !page.NextBefore.IsZero() {
		t.Fatalf("listed %d, next %v; want 3 and no next page", len(page.Items), page.NextBefore)
	}
	// The read model keeps personal data sealed, as the events do: the
	// story to compare with is the stored one.
	stored := app.Streams{Events: h.Stores.Events}
	for i, got := range page.Items {
		want, err := stored.Reimbursement(ctx, submitted[2-i].ID)
		must(t, err)
		if diff := differences(got, *want); diff != "" {
			t.Fatalf("item %d: the list and its story differ: %s", i, diff)
		}
	}
	if page := list(app.ListQuery{BankID: d.otherBank.ID, Status: ledger.StatusWithdrawn, Limit: 10}); len(page.Items) != 1 || page.Items[0].ID != elsewhere.ID ||
		page.Items[0].WithdrawnAt == nil {
		t.Fatalf("withdrawn: %+v", page.Items)
	}
	if page := list(app.ListQuery{BankID: d.bank.ID, Status: ledger.StatusApproved, Limit: 10}); len(page.Items) != 1 || page.Items[0].ID != submitted[0].ID {
		t.Fatalf("approved: %+v", page.Items)
	}
	first := list(app.ListQuery{MemberID: d.member.ID, Limit: 2})
	if len(first.Items) != 2 || first.Items[0].ID != elsewhere.ID || first.Items[1].ID != submitted[2].ID || first.NextBefore.IsZero() {
		t.Fatalf("first page %+v, next %v", first.Items, first.NextBefore)
	}
	rest := list(app.ListQuery{MemberID: d.member.ID, Limit: 2, Before: first.NextBefore})
	if len(rest.Items) != 2 || rest.Items[1].ID != submitted[0].ID || !rest.NextBefore.IsZero() {
		t.Fatalf("second page %+v, next %v", rest.Items, rest.NextBefore)
	}
	// A member's at one bank: what their bank's administrators see of them.
	if page := list(app.ListQuery{BankID: d.otherBank.ID, MemberID: d.member.ID, Limit: 10}); len(page.Items) != 1 || page.Items[0].ID != elsewhere.ID {
		t.Fatalf("the member's at the other bank: %d items, want only %s", len(page.Items), elsewhere.ID)
	}
	if page := list(app.ListQuery{BankID: uuid.New(), Limit: 10}); len(page.Items) != 0 {
		t.Fatalf("an unknown bank lists %d", len(page.Items))
	}
}

func testUseCases(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys})
	d := mustDirectory(t, a)
	r := mustSubmit(t, a, d, d.account, "12.50")
	if r.Version != 1 || r.Status != ledger.StatusPending || r.MemberID != d.member.ID || r.BankID != d.bank.ID {
		t.Fatalf("submitted %+v", r)
	}
	approve := func(p app.Principal, ifMatch ...int64) (*ledger.Reimbursement, error) {
		return a.Approve(ctx, p, app.DecideCommand{ReimbursementID: r.ID, IfMatch: ifMatch, Meta: meta})
	}
	_, err := approve(d.member)
	wantCode(t, "a member approving", err, ledger.EForbidden)
	_, err = approve(d.otherAdmin)
	wantCode(t, "another bank's administrator", err, ledger.ENotFound)
	var stale *ledger.Error
	if _, err := approve(d.admin, 7); !errors.As(err, &stale) || stale.Code != ledger.EPreconditionFailed || stale.CurrentVersion != 1 {
		t.Fatalf("a stale If-Match: %v", err)
	}
	if got, err := approve(d.admin, 1); err != nil || got.Status != ledger.StatusApproved || got.Version != 2 {
		t.Fatalf("approve: %+v, %v", got, err)
	}
	_, err = a.Deny(ctx, d.admin, app.DecideCommand{ReimbursementID: r.ID, Reason: "late"})
	wantCode(t, "deny an approved reimbursement", err, ledger.EConflict)

	// Concurrent decisions: exactly one is recorded, the others conflict.
	r = mustSubmit(t, a, d, d.account, "7.00")
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { _, errs[i] = approve(d.admin) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			wantCode(t, "a concurrent approval", err, ledger.EConflict)
		}
	}
	if v, _ := h.Stores.Events.StreamVersion(ctx, r.ID); won != 1 || v != 2 {
		t.Fatalf("%d approvals won, stream at version %d; want 1 and 2", won, v)
	}

	// An Idempotency-Key: the answer is stored with the effect, and replayed.
	runs := 0
	submit := func(id uuid.UUID) func(ctx context.Context, bound *app.App) (app.StoredResponse, error) {
		return func(ctx context.Context, bound *app.App) (app.StoredResponse, error) {
			runs++
			_, err := bound.Submit(ctx, d.member, app.SubmitCommand{ID: id, AccountID: d.account.ID, Amount: "5.00", Description: "Parking", Meta: meta})
			return app.StoredResponse{Status: 201, Body: []byte(id.String())}, err
		}
	}
	first, replayed, err := a.Idempotently(ctx, d.member, "key-1", []byte("request"), submit(uuid.New()))
	if err != nil || replayed {
		t.Fatalf("first request: %v, replayed %v", err, replayed)
	}
	again, replayed, err := a.Idempotently(ctx, d.member, "key-1", []byte("request"), submit(uuid.New()))
	if err != nil || !replayed || string(again.Body) != string(first.Body) || runs != 1 {
		t.Fatalf("repeat: %+v, replayed %v, %v; ran %d times", again, replayed, err, runs)
	}
	if _, _, err := a.Idempotently(ctx, d.member, "key-1", []byte("another request"), submit(uuid.New())); !errors.Is(err, app.ErrIdempotencyMismatch) {
		t.Fatalf("another request under the key: %v", err)
	}
	// A command that fails after its effect leaves neither the effect nor the key.
	lost := uuid.New()
	_, _, err = a.Idempotently(ctx, d.member, "key-2", []byte("request"), func(ctx context.Context, bound *app.App) (app.StoredResponse, error) {
		_, err := submit(lost)(ctx, bound)
		return app.StoredResponse{}, errors.Join(err, errors.New("the answer could not be written"))
	})
	if err == nil || len(mustLoad(t, h.Stores.Events, lost)) != 0 {
		t.Fatalf("a failed command: %v, and its submission was kept", err)
	}
	if _, found, err := h.Stores.Idempotency.Find(ctx, app.ScopedIdempotencyKey(d.member, "key-2"), time.Time{}); err != nil || found {
		t.Fatalf("a failed command's key was stored: %v", err)
	}

	if report, err := a.Verify(ctx, auditor, nil); err != nil || !report.OK() {
		t.Fatalf("verify after the use cases: %+v, %v", report, err)
	}
}
