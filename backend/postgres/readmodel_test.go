package postgres_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// mustProject applies events to the read model as one delivered batch, in
// one transaction, as the projector's subscriber does.
func mustProject(t *testing.T, db *postgres.DB, events ...ledger.RecordedEvent) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := app.Project(ctx, db.BindTx(tx), postgres.ReimbursementsProjection, events); err != nil {
		t.Fatalf("project %d events: %v", len(events), err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func allEvents(t *testing.T, db *postgres.DB) []ledger.RecordedEvent {
	t.Helper()
	events, err := db.AllEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func mustList(t *testing.T, db *postgres.DB, q app.ListQuery) app.ListPage {
	t.Helper()
	page, err := db.Reimbursements.ListReimbursements(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

func TestProjectorIsIdempotent(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	r := mustSubmit(t, db, d, "99.99")
	if _, err := postgrestest.App(db).Deny(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: r.ID, Reason: "no receipt"}); err != nil {
		t.Fatal(err)
	}
	events := allEvents(t, db)
	// A batch that brings a submission already stored together with its
	// decision (an earlier write of part of the batch): the decision lands.
	mustProject(t, db, events[0])
	mustProject(t, db, events...)
	want := mustList(t, db, app.ListQuery{BankID: d.Bank.ID, Limit: 10})
	if len(want.Items) != 1 || want.Items[0].Status != ledger.StatusDenied {
		t.Fatalf("a decision batched with its stored submission: %+v", want.Items)
	}

	// Redelivered, and delivered out of order: the row does not move back.
	mustProject(t, db, events...)
	mustProject(t, db, events[0])
	got := mustList(t, db, app.ListQuery{BankID: d.Bank.ID, Limit: 10})
	// The read model keeps the reason sealed, as the event does.
	if len(got.Items) != 1 || got.Items[0].Status != ledger.StatusDenied || !strings.HasPrefix(got.Items[0].DenialReason, "pii:v1:") || got.Items[0].Version != 2 {
		t.Fatalf("after redelivery: %+v", got.Items)
	}
	if len(want.Items) != 1 || want.Items[0].Version != got.Items[0].Version || !want.Items[0].Amount.Equal(got.Items[0].Amount) {
		t.Fatalf("redelivery changed the row: %+v -> %+v", want.Items, got.Items)
	}
}

func TestListPagesNewestFirstWithFilters(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	var ids []uuid.UUID
	for range 5 {
		ids = append(ids, mustSubmit(t, db, d, "1.00").ID)
	}
	if _, err := postgrestest.App(db).Approve(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.DecideCommand{ReimbursementID: ids[1]}); err != nil {
		t.Fatal(err)
	}
	mustProject(t, db, allEvents(t, db)...)

	var seen []uuid.UUID
	q := app.ListQuery{MemberID: d.Member.ID, Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		page := mustList(t, db, q)
		for _, r := range page.Items {
			seen = append(seen, r.ID)
		}
		if page.NextBefore.IsZero() {
			break
		}
		q.Before = page.NextBefore
	}
	if len(seen) != 5 {
		t.Fatalf("paged through %d reimbursements, want 5", len(seen))
	}
	for i := range seen {
		if seen[i] != ids[len(ids)-1-i] {
			t.Fatalf("page order %v, want newest first %v", seen, ids)
		}
	}
	pending := mustList(t, db, app.ListQuery{BankID: d.Bank.ID, Status: ledger.StatusPending, Limit: 50})
	approved := mustList(t, db, app.ListQuery{BankID: d.Bank.ID, Status: ledger.StatusApproved, Limit: 50})
	if len(pending.Items) != 4 || len(approved.Items) != 1 || approved.Items[0].ID != ids[1] {
		t.Fatalf("pending %d, approved %+v", len(pending.Items), approved.Items)
	}
	other := mustList(t, db, app.ListQuery{BankID: d.OtherBank.ID, Limit: 50})
	if len(other.Items) != 0 {
		t.Fatalf("another bank sees %d reimbursements", len(other.Items))
	}
	if _, err := postgrestest.App(db).ListReimbursements(ctx, app.Administrator(d.Admin.ID, d.Bank.ID), app.ListQuery{BankID: uuid.New(), Limit: 5}); ledger.ErrorCode(err) != ledger.ENotFound {
		t.Fatalf("unknown bank: %v, want not found", err)
	}
}

// Commit order is numeric in the transaction id: a rebuild must read
// transaction 9 before transaction 10 (as text, "10" sorts first and the
// approval would be folded before its submission).
func TestRebuildReadsInNumericCommitOrder(t *testing.T) {
	db := postgrestest.NewDB(t)
	id, bank := uuid.New(), uuid.New()
	_, err := db.SQL().Exec(`
		INSERT INTO events (event_id, stream_id, stream_type, stream_version, type, data, metadata, recorded_at, hash, transaction_id)
		VALUES ($1, $3, 'reimbursement', 2, 'ReimbursementApproved',
			json_build_object('reimbursement_id', $3::uuid, 'administrator_id', $3::uuid, 'approved_at', now()),
			'{}', now(), sha256('a'), '10'),
		       ($2, $3, 'reimbursement', 1, 'ReimbursementSubmitted',
			json_build_object('reimbursement_id', $3::uuid, 'bank_id', $4::uuid, 'bank_member_id', $3::uuid,
				'bank_account_id', $3::uuid, 'amount', '1.00', 'currency', 'USD', 'description', 'x', 'submitted_at', now()),
			'{}', now(), sha256('s'), '9')`, uuid.New(), uuid.New(), id, bank)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().Exec(`INSERT INTO banks (id, name, location, created_at) VALUES ($1, 'b', 'l', now())`, bank); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Rebuilds.Run(context.Background(), postgres.ReimbursementsProjection, postgres.RebuildOptions{BatchSize: 1}); err != nil {
		t.Fatal(err)
	}
	page := mustList(t, db, app.ListQuery{BankID: bank, Limit: 10})
	if len(page.Items) != 1 || page.Items[0].Status != ledger.StatusApproved {
		t.Fatalf("rebuilt rows %+v, want the reimbursement approved", page.Items)
	}
}

// A row is the domain's fold of the events delivered so far, however the
// deliveries overlap: each batch redelivers some of the events before it,
// and a dual approval, a failed payout and its retry are each shown once.
func TestProjectedRowsAreTheDomainsFoldUnderRedelivery(t *testing.T) {
	db := postgrestest.NewDB(t)
	ctx := context.Background()
	bank, at := uuid.New(), time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	admin1, admin2 := uuid.New(), uuid.New()
	paid, denied, withdrawn := uuid.New(), uuid.New(), uuid.New()
	pay := ledger.PaymentID(paid)
	submitted := func(id uuid.UUID) ledger.ReimbursementSubmitted {
		return ledger.ReimbursementSubmitted{ReimbursementID: id, BankID: bank, BankMemberID: uuid.New(), BankAccountID: uuid.New(),
			Amount: ledger.Amount{Decimal: decimal.RequireFromString("250.00")}, Currency: "USD", Description: "Flight",
			SubmittedAt: at, ApprovalsRequired: 2}
	}
	story := []ledger.PendingEvent{
		{StreamID: paid, StreamType: ledger.StreamReimbursement, Version: 1, Event: submitted(paid)},
		{StreamID: denied, StreamType: ledger.StreamReimbursement, Version: 1, Event: submitted(denied)},
		{StreamID: paid, StreamType: ledger.StreamReimbursement, Version: 2, Event: ledger.ReimbursementApprovalRecorded{
			ReimbursementID: paid, AdministratorID: admin1, Note: "receipts attached", ApprovedAt: at.Add(time.Hour), Approvals: 1, ApprovalsRequired: 2}},
		{StreamID: withdrawn, StreamType: ledger.StreamReimbursement, Version: 1, Event: submitted(withdrawn)},
		{StreamID: denied, StreamType: ledger.StreamReimbursement, Version: 2, Event: ledger.ReceiptAttached{
			ReceiptID: uuid.New(), ReimbursementID: denied, SHA256: strings.Repeat("0", 64), Size: 10, ContentType: ledger.ContentTypePDF,
			AttachedAt: at.Add(time.Minute)}},
		{StreamID: denied, StreamType: ledger.StreamReimbursement, Version: 3, Event: ledger.ReimbursementDenied{
			ReimbursementID: denied, AdministratorID: admin2, Reason: "no receipt", DeniedAt: at.Add(time.Hour)}},
		{StreamID: paid, StreamType: ledger.StreamReimbursement, Version: 3, Event: ledger.ReimbursementApproved{
			ReimbursementID: paid, AdministratorID: admin2, ApprovedAt: at.Add(2 * time.Hour)}},
		{StreamID: pay, StreamType: ledger.StreamPayment, Version: 1, Event: ledger.PaymentRequested{
			PaymentID: pay, ReimbursementID: paid, BankID: bank, Currency: "USD", RequestedAt: at.Add(2 * time.Hour), Attempt: 1}},
		{StreamID: withdrawn, StreamType: ledger.StreamReimbursement, Version: 2, Event: ledger.ReimbursementWithdrawn{
			ReimbursementID: withdrawn, WithdrawnAt: at.Add(3 * time.Hour)}},
		{StreamID: pay, StreamType: ledger.StreamPayment, Version: 2, Event: ledger.PaymentFailed{
			PaymentID: pay, ReimbursementID: paid, Reason: "account closed", FailedAt: at.Add(3 * time.Hour), Attempt: 1}},
		{StreamID: pay, StreamType: ledger.StreamPayment, Version: 3, Event: ledger.PaymentRequested{
			PaymentID: pay, ReimbursementID: paid, BankID: bank, Currency: "USD", RequestedAt: at.Add(4 * time.Hour), Attempt: 2}},
		{StreamID: pay, StreamType: ledger.StreamPayment, Version: 4, Event: ledger.PaymentSettled{
			PaymentID: pay, ReimbursementID: paid, RailReference: "rail-1", SettledAt: at.Add(5 * time.Hour), Attempt: 2}},
	}
	for _, e := range story {
		if _, err := db.Events.Append(ctx, ledger.Metadata{CorrelationID: "test", Actor: "operator:test"}, e); err != nil {
			t.Fatal(err)
		}
	}
	events := allEvents(t, db)
	for end := 1; end <= len(events); end++ {
		// This batch redelivers up to two events of the batches before it.
		mustProject(t, db, events[max(0, end-3):end]...)
		for _, got := range mustList(t, db, app.ListQuery{BankID: bank, Limit: 10}).Items {
			var own []ledger.RecordedEvent
			for _, rec := range events[:end] {
				if rec.StreamID == got.ID || rec.StreamID == ledger.PaymentID(got.ID) {
					own = append(own, rec)
				}
			}
			want, err := ledger.FoldReimbursement(got.ID, own)
			if err != nil {
				t.Fatal(err)
			}
			want.Position = 0   // the read model keeps versions, not positions
			want.Receipts = nil // and how many receipts, not which
			sameAmount := got.Amount.Equal(want.Amount)
			got.Amount, want.Amount = decimal.Decimal{}, decimal.Decimal{}
			if !sameAmount || !reflect.DeepEqual(*want, got) {
				t.Fatalf("after %d events, reimbursement %s is listed unlike its fold:\nlisted %+v\nfold   %+v", end, got.ID, got, *want)
			}
		}
	}
	// Redelivered whole and out of order, nothing moves back; a rebuild
	// whose batches split the stories folds the same rows.
	live := mustList(t, db, app.ListQuery{BankID: bank, Limit: 10}).Items
	mustProject(t, db, events...)
	mustProject(t, db, events[0], events[2], events[6])
	if got := mustList(t, db, app.ListQuery{BankID: bank, Limit: 10}).Items; !reflect.DeepEqual(got, live) {
		t.Fatalf("after redelivery:\n%+v\nwas\n%+v", got, live)
	}
	if _, err := db.Rebuilds.Run(ctx, postgres.ReimbursementsProjection, postgres.RebuildOptions{BatchSize: 2}); err != nil {
		t.Fatal(err)
	}
	if got := mustList(t, db, app.ListQuery{BankID: bank, Limit: 10}).Items; !reflect.DeepEqual(got, live) {
		t.Fatalf("rebuilt:\n%+v\nlive\n%+v", got, live)
	}
}
