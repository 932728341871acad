package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

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
	if len(got.Items) != 1 || got.Items[0].Status != ledger.StatusDenied || got.Items[0].DenialReason != "no receipt" || got.Items[0].Version != 2 {
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
		if page.NextBefore == 0 {
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
