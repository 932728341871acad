package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

var operator = app.Principal{Role: app.RoleOperator, Subject: "storetest-operator"}

// mustSecondAdmin adds another administrator to d's bank, for dual control.
func mustSecondAdmin(t *testing.T, a *app.App, d directory) app.Principal {
	t.Helper()
	admin, err := a.CreateAdministrator(context.Background(), operator, ledger.Administrator{ID: uuid.New(), BankID: d.bank.ID,
		FirstName: "Frances", LastName: "Allen", Email: "frances-" + uuid.NewString()[:8] + "@bank.example"})
	must(t, err)
	return app.Administrator(admin.ID, admin.BankID)
}

// mustFailedPayout approves r and records its first payment attempt as the
// rail refused it, as the payment saga would.
func mustFailedPayout(t *testing.T, a *app.App, h Harness, d directory, r *ledger.Reimbursement) {
	t.Helper()
	ctx := context.Background()
	approved, err := a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: r.ID, Meta: meta})
	must(t, err)
	request, err := ledger.RequestPayment(*approved, time.Now())
	must(t, err)
	recorded := mustAppend(t, h.Stores.Events, request)
	payment, err := ledger.FoldPayment(request.StreamID, recorded)
	must(t, err)
	failed, err := payment.Fail("account closed", time.Now())
	must(t, err)
	mustAppend(t, h.Stores.Events, failed)
}

// race runs fns at once and returns their errors.
func race(fns ...func() error) []error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errs
}

// oneWins fails unless exactly one of errs is nil and the others are EConflict.
func oneWins(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Fatalf("%s: two won", what)
		default:
			wantCode(t, what, err, ledger.EConflict)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: none won: %v", what, errs)
	}
	return winner
}

func testWithdrawal(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys})
	d := mustDirectory(t, a)
	withdraw := func(p app.Principal, id uuid.UUID) (*ledger.Reimbursement, error) {
		return a.Withdraw(ctx, p, app.WithdrawCommand{ReimbursementID: id, Meta: meta})
	}
	r := mustSubmit(t, a, d, d.account, "30.00")
	_, err := withdraw(d.admin, r.ID)
	wantCode(t, "an administrator withdrawing", err, ledger.EForbidden)
	stranger, err := a.CreateMember(ctx, d.admin, ledger.Member{ID: uuid.New(), FirstName: "Alan", LastName: "Kay", Email: "alan-" + uuid.NewString()[:8] + "@example.com"})
	must(t, err)
	_, err = withdraw(app.Member(stranger.ID), r.ID)
	wantCode(t, "another member withdrawing", err, ledger.ENotFound)
	got, err := withdraw(d.member, r.ID)
	if err != nil || got.Status != ledger.StatusWithdrawn || got.WithdrawnAt == nil || got.Version != 2 {
		t.Fatalf("withdraw: %+v, %v", got, err)
	}
	_, err = withdraw(d.member, r.ID)
	wantCode(t, "withdrawing twice", err, ledger.EConflict)
	_, err = a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: r.ID})
	wantCode(t, "approving a withdrawn claim", err, ledger.EConflict)

	// A decision racing a withdrawal: exactly one wins, the other conflicts.
	for i := range 6 {
		r := mustSubmit(t, a, d, d.account, "31.00")
		decide := func() error {
			if i%2 == 0 {
				_, err := a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: r.ID, Meta: meta})
				return err
			}
			_, err := a.Deny(ctx, d.admin, app.DecideCommand{ReimbursementID: r.ID, Reason: "no receipt", Meta: meta})
			return err
		}
		errs := race(decide, func() error { _, err := withdraw(d.member, r.ID); return err })
		winner := oneWins(t, "a decision racing a withdrawal", errs)
		final, err := a.Reimbursement(ctx, auditor, r.ID)
		must(t, err)
		if final.Version != 2 || (winner == 1) != (final.Status == ledger.StatusWithdrawn) {
			t.Fatalf("winner %d, the reimbursement is %s at version %d", winner, final.Status, final.Version)
		}
	}
}

func testDualControl(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys})
	d := mustDirectory(t, a)
	second := mustSecondAdmin(t, a, d)

	// Who may set and read a bank's policy.
	set := func(p app.Principal, bank uuid.UUID, above, currency string) (ledger.ApprovalPolicy, error) {
		return a.SetApprovalPolicy(ctx, p, app.SetApprovalPolicyCommand{BankID: bank, SecondApprovalAbove: above, Currency: currency, Meta: meta})
	}
	_, err := set(d.admin, d.bank.ID, "1000.00", "USD")
	wantCode(t, "an administrator setting the policy", err, ledger.EForbidden)
	_, err = set(operator, uuid.New(), "1000.00", "USD")
	wantCode(t, "a policy for no bank", err, ledger.ENotFound)
	_, err = set(operator, d.bank.ID, "1000.001", "USD")
	wantCode(t, "a threshold with too many decimals", err, ledger.EInvalid)
	if p, err := a.ApprovalPolicy(ctx, d.admin, d.bank.ID); err != nil || p.IsSet() {
		t.Fatalf("the policy of a bank that set none: %+v, %v", p, err)
	}
	policy, err := set(operator, d.bank.ID, "1000.00", "USD")
	if err != nil || !policy.IsSet() || policy.SetBy != operator.Actor() || policy.Currency != "USD" || policy.SecondApprovalAbove.String() != "1000" {
		t.Fatalf("set the policy: %+v, %v", policy, err)
	}
	if got, err := a.ApprovalPolicy(ctx, d.admin, d.bank.ID); err != nil || got.Version != 1 || !got.SetAt.Equal(policy.SetAt) {
		t.Fatalf("an administrator reads the policy: %+v, %v", got, err)
	}
	_, err = a.ApprovalPolicy(ctx, d.otherAdmin, d.bank.ID)
	wantCode(t, "another bank's administrator reading the policy", err, ledger.ENotFound)
	_, err = a.ApprovalPolicy(ctx, d.member, d.bank.ID)
	wantCode(t, "a member reading the policy", err, ledger.EForbidden)

	approve := func(p app.Principal, id uuid.UUID, note string) (*ledger.Reimbursement, error) {
		return a.Approve(ctx, p, app.DecideCommand{ReimbursementID: id, Note: note, Meta: meta})
	}
	// At the threshold one approval decides; above it, two administrators.
	if r, err := approve(d.admin, mustSubmit(t, a, d, d.account, "1000.00").ID, ""); err != nil || r.Status != ledger.StatusApproved {
		t.Fatalf("an approval at the threshold: %+v, %v", r, err)
	}
	r := mustSubmit(t, a, d, d.account, "1500.00")
	if r.ApprovalsRequired != 2 {
		t.Fatalf("a claim above the threshold needs %d approvals", r.ApprovalsRequired)
	}
	first, err := approve(d.admin, r.ID, "Receipts attached")
	if err != nil || first.Status != ledger.StatusPending || len(first.Approvals) != 1 || first.Approvals[0].Note != "Receipts attached" {
		t.Fatalf("the first approval: %+v, %v", first, err)
	}
	_, err = approve(d.admin, r.ID, "")
	wantCode(t, "the same administrator twice", err, ledger.EConflict)
	final, err := approve(second, r.ID, "")
	if err != nil || final.Status != ledger.StatusApproved || len(final.Approvals) != 2 || *final.DecidedBy != second.ID {
		t.Fatalf("the second approval: %+v, %v", final, err)
	}
	// A denial by either ends it.
	r = mustSubmit(t, a, d, d.account, "2000.00")
	_, err = approve(second, r.ID, "")
	must(t, err)
	if denied, err := a.Deny(ctx, d.admin, app.DecideCommand{ReimbursementID: r.ID, Reason: "Over budget", Meta: meta}); err != nil || denied.Status != ledger.StatusDenied {
		t.Fatalf("a denial after the first approval: %+v, %v", denied, err)
	}

	// Two administrators at the same moment: one first approval, one final.
	for range 5 {
		r := mustSubmit(t, a, d, d.account, "1200.00")
		errs := race(
			func() error { _, err := approve(d.admin, r.ID, ""); return err },
			func() error { _, err := approve(second, r.ID, ""); return err })
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("two administrators approving at once: %v", errs)
		}
		stream := mustLoad(t, h.Stores.Events, r.ID)
		if types := eventTypes(stream); !slices.Equal(types, []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementApprovalRecorded, ledger.TypeReimbursementApproved}) {
			t.Fatalf("two administrators approving at once recorded %v", types)
		}
	}
	// The same administrator twice at once: one approval, one conflict.
	r = mustSubmit(t, a, d, d.account, "1200.00")
	oneWins(t, "one administrator approving twice at once", race(
		func() error { _, err := approve(d.admin, r.ID, ""); return err },
		func() error { _, err := approve(d.admin, r.ID, ""); return err }))

	// Claims submitted before a policy change keep what they needed.
	_, err = set(operator, d.bank.ID, "5000.00", "USD")
	must(t, err)
	pending := mustSubmit(t, a, d, d.account, "1300.00")
	if pending.ApprovalsRequired != 1 {
		t.Fatalf("under the raised threshold a claim of 1300.00 needs %d approvals", pending.ApprovalsRequired)
	}
	if p, _ := a.ApprovalPolicy(ctx, operator, d.bank.ID); p.Version != 2 || p.SecondApprovalAbove.String() != "5000" {
		t.Fatalf("the policy after a change: %+v", p)
	}
}

func eventTypes(events []ledger.RecordedEvent) []string {
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	return types
}

func testPayoutRetry(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys})
	d := mustDirectory(t, a)
	retry := func(p app.Principal, id uuid.UUID) (*ledger.Reimbursement, error) {
		return a.RetryPayout(ctx, p, app.RetryPayoutCommand{ReimbursementID: id, Meta: meta})
	}
	pending := mustSubmit(t, a, d, d.account, "10.13")
	_, err := retry(d.admin, pending.ID)
	wantCode(t, "retrying the payout of a pending claim", err, ledger.EConflict)

	r := mustSubmit(t, a, d, d.account, "10.13")
	mustFailedPayout(t, a, h, d, r)
	failed, err := a.Reimbursement(ctx, auditor, r.ID)
	must(t, err)
	if failed.PaymentStatus != ledger.PaymentStatusFailed || failed.PaymentAttempt != 1 || failed.PaymentFailureReason != "account closed" {
		t.Fatalf("after a failed payout: %+v", failed)
	}
	if h.Project != nil {
		h.Project(t)
	}
	page, err := h.Stores.Reimbursements.ListReimbursements(ctx, app.ListQuery{BankID: d.bank.ID, Limit: 1})
	must(t, err)
	storedFailed, err := app.Streams{Events: h.Stores.Events}.Reimbursement(ctx, r.ID) // personal data sealed, as the read model keeps it
	must(t, err)
	if len(page.Items) != 1 || differences(page.Items[0], *storedFailed) != "" {
		t.Fatalf("the failed payout is listed as %+v", page.Items)
	}
	_, err = retry(d.member, r.ID)
	wantCode(t, "a member retrying", err, ledger.EForbidden)
	_, err = retry(d.otherAdmin, r.ID)
	wantCode(t, "another bank's administrator retrying", err, ledger.ENotFound)

	// Retries at once: one new attempt, the others conflict.
	fns := make([]func() error, 6)
	var retried *ledger.Reimbursement
	var mu sync.Mutex
	for i := range fns {
		fns[i] = func() error {
			got, err := retry(d.admin, r.ID)
			if err == nil {
				mu.Lock()
				retried = got
				mu.Unlock()
			}
			return err
		}
	}
	oneWins(t, "retries at once", race(fns...))
	if retried.PaymentStatus != ledger.PaymentStatusRequested || retried.PaymentAttempt != 2 || retried.PaymentFailureReason != "" ||
		retried.Version != failed.Version || retried.Position <= failed.Position {
		t.Fatalf("the retried reimbursement: %+v", retried)
	}
	payment := mustLoad(t, h.Stores.Events, ledger.PaymentID(r.ID))
	if types := eventTypes(payment); !slices.Equal(types, []string{ledger.TypePaymentRequested, ledger.TypePaymentFailed, ledger.TypePaymentRequested}) ||
		payment[2].Metadata.Actor != d.admin.Actor() {
		t.Fatalf("payment stream %v, the retry's actor %q", types, payment[2].Metadata.Actor)
	}
	_, err = retry(d.admin, r.ID)
	wantCode(t, "retrying while an attempt is in flight", err, ledger.EConflict)

	if h.Project != nil {
		h.Project(t)
		h.Project(t) // twice: the projector must be idempotent
	}
	page, err = h.Stores.Reimbursements.ListReimbursements(ctx, app.ListQuery{BankID: d.bank.ID, Limit: 10})
	must(t, err)
	for _, item := range page.Items {
		want, err := app.Streams{Events: h.Stores.Events}.Reimbursement(ctx, item.ID)
		must(t, err)
		if diff := differences(item, *want); diff != "" {
			t.Fatalf("reimbursement %s: the list and its story differ: %s", item.ID, diff)
		}
	}
}

// differences names what a listed reimbursement shows differently from
// its story; "" when nothing.
func differences(got, want ledger.Reimbursement) string {
	var diffs []string
	check := func(field string, same bool) {
		if !same {
			diffs = append(diffs, field)
		}
	}
	sameTime := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	check("id", got.ID == want.ID)
	check("bank, member or account", got.BankID == want.BankID && got.MemberID == want.MemberID && got.AccountID == want.AccountID)
	check("amount", got.Amount.Equal(want.Amount) && got.Currency == want.Currency)
	check("description", got.Description == want.Description)
	check("status", got.Status == want.Status)
	check("version", got.Version == want.Version)
	check("submitted_at", got.SubmittedAt.Equal(want.SubmittedAt))
	check("decided_at", sameTime(got.DecidedAt, want.DecidedAt))
	check("decided_by", (got.DecidedBy == nil) == (want.DecidedBy == nil) && (got.DecidedBy == nil || *got.DecidedBy == *want.DecidedBy))
	check("denial_reason", got.DenialReason == want.DenialReason)
	check("withdrawn_at", sameTime(got.WithdrawnAt, want.WithdrawnAt))
	check("approvals_required", got.ApprovalsRequired == want.ApprovalsRequired)
	check("approvals", slices.EqualFunc(got.Approvals, want.Approvals, func(a, b ledger.Approval) bool {
		return a.AdministratorID == b.AdministratorID && a.ApprovedAt.Equal(b.ApprovedAt) && a.Note == b.Note
	}))
	check("payment", got.PaymentStatus == want.PaymentStatus && got.PaymentAttempt == want.PaymentAttempt &&
		got.PaymentFailureReason == want.PaymentFailureReason)
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprintf("%v\nlisted %+v\nstory  %+v", diffs, got, want)
}

// interleaved returns stores that run before once, just before their first
// append, in a transaction or outside one: another command that commits
// between a command's read and its write, the interleaving a race may or
// may not produce, produced every time.
func interleaved(stores app.Stores, before func()) app.Stores {
	var once sync.Once
	out := stores
	out.Events = interleavedEvents{EventStore: stores.Events, before: func() { once.Do(before) }}
	out.Transactor = transactorFunc(func(ctx context.Context, fn func(app.Tx) error) error {
		return stores.Transact(ctx, func(tx app.Tx) error {
			tx.Events = interleavedEvents{EventStore: tx.Events, before: func() { once.Do(before) }}
			return fn(tx)
		})
	})
	return out
}

type transactorFunc func(ctx context.Context, fn func(app.Tx) error) error

func (f transactorFunc) Transact(ctx context.Context, fn func(app.Tx) error) error { return f(ctx, fn) }

type interleavedEvents struct {
	app.EventStore
	before func()
}

func (e interleavedEvents) Append(ctx context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) ([]ledger.RecordedEvent, error) {
	e.before()
	return e.EventStore.Append(ctx, meta, events...)
}

// testLostRaces: a command whose stream version another command took
// between its read and its write is decided again on the state that won.
func testLostRaces(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys})
	d := mustDirectory(t, a)
	second := mustSecondAdmin(t, a, d)
	_, err := a.SetApprovalPolicy(ctx, operator, app.SetApprovalPolicyCommand{BankID: d.bank.ID, SecondApprovalAbove: "100.00", Currency: "USD"})
	must(t, err)
	// after returns the use cases over stores where first commits just
	// before the command's own append.
	after := func(first func() error) *app.App {
		return app.New(app.Config{Stores: interleaved(h.Stores, func() { must(t, first()) }), AuditKeys: auditKeys})
	}
	approve := func(a *app.App, p app.Principal, id uuid.UUID) func() error {
		return func() error {
			_, err := a.Approve(ctx, p, app.DecideCommand{ReimbursementID: id, Meta: meta})
			return err
		}
	}
	withdraw := func(a *app.App, id uuid.UUID) func() error {
		return func() error {
			_, err := a.Withdraw(ctx, d.member, app.WithdrawCommand{ReimbursementID: id, Meta: meta})
			return err
		}
	}

	// The second administrator's approval lands on the first's: both count.
	r := mustSubmit(t, a, d, d.account, "150.00")
	if err := approve(after(approve(a, d.admin, r.ID)), second, r.ID)(); err != nil {
		t.Fatalf("an approval that lost the race to another administrator's: %v", err)
	}
	if types := eventTypes(mustLoad(t, h.Stores.Events, r.ID)); !slices.Equal(types, []string{ledger.TypeReimbursementSubmitted,
		ledger.TypeReimbursementApprovalRecorded, ledger.TypeReimbursementApproved}) {
		t.Fatalf("two approvals, one after the other's read: %v", types)
	}
	// The same administrator's second approval conflicts.
	r = mustSubmit(t, a, d, d.account, "150.00")
	wantCode(t, "an approval that lost the race to the same administrator's", approve(after(approve(a, d.admin, r.ID)), d.admin, r.ID)(), ledger.EConflict)
	// A withdrawal after a decision's read, and a decision after a withdrawal's.
	r = mustSubmit(t, a, d, d.account, "20.00")
	wantCode(t, "an approval that lost the race to a withdrawal", approve(after(withdraw(a, r.ID)), d.admin, r.ID)(), ledger.EConflict)
	r = mustSubmit(t, a, d, d.account, "20.00")
	wantCode(t, "a withdrawal that lost the race to an approval", withdraw(after(approve(a, d.admin, r.ID)), r.ID)(), ledger.EConflict)
	// A withdrawal that lost the race to a first approval of two still
	// withdraws: the claim is pending.
	r = mustSubmit(t, a, d, d.account, "150.00")
	must(t, withdraw(after(approve(a, d.admin, r.ID)), r.ID)())
	// A payout retry after another's read.
	r = mustSubmit(t, a, d, d.account, "20.13")
	mustFailedPayout(t, a, h, d, r)
	retry := func(a *app.App) func() error {
		return func() error {
			_, err := a.RetryPayout(ctx, d.admin, app.RetryPayoutCommand{ReimbursementID: r.ID, Meta: meta})
			return err
		}
	}
	wantCode(t, "a payout retry that lost the race to another", retry(after(retry(a)))(), ledger.EConflict)
	if n := len(mustLoad(t, h.Stores.Events, ledger.PaymentID(r.ID))); n != 3 {
		t.Fatalf("two retries recorded %d payment events, want 3", n)
	}
}
