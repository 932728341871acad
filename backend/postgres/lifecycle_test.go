package postgres_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/ledger/ledgertest"
	"github.com/reimbursement-ledger/ledger/backend/postgres"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// mustStoreFixture inserts the fixture's events as they were stored and
// returns the ids of its reimbursements and their bank.
func mustStoreFixture(t *testing.T, db *postgres.DB) (ids []uuid.UUID, bank uuid.UUID) {
	t.Helper()
	for _, s := range ledgertest.EventsBeforeLifecycle(t) {
		rec := s.Record
		if err := db.InsertStored(context.Background(), rec, s.Metadata); err != nil {
			t.Fatal(err)
		}
		if rec.Type == ledger.TypeReimbursementSubmitted {
			e, err := rec.Decode()
			if err != nil {
				t.Fatal(err)
			}
			ids, bank = append(ids, rec.StreamID), e.(ledger.ReimbursementSubmitted).BankID
		}
	}
	return ids, bank
}

// assertListedAsFolded fails unless the bank's list shows each
// reimbursement as its events fold.
func assertListedAsFolded(t *testing.T, db *postgres.DB, bank uuid.UUID, ids []uuid.UUID) {
	t.Helper()
	page := mustList(t, db, app.ListQuery{BankID: bank, Limit: 10})
	if len(page.Items) != len(ids) {
		t.Fatalf("listed %d reimbursements, want %d", len(page.Items), len(ids))
	}
	for _, got := range page.Items {
		want, err := postgrestest.Streams(db).Reimbursement(context.Background(), got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != want.Status || got.Version != want.Version || got.ApprovalsRequired != want.ApprovalsRequired ||
			!slices.EqualFunc(got.Approvals, want.Approvals, func(a, b ledger.Approval) bool {
				return a.AdministratorID == b.AdministratorID && a.ApprovedAt.Equal(b.ApprovedAt) && a.Note == b.Note
			}) ||
			got.PaymentStatus != want.PaymentStatus || got.PaymentAttempt != want.PaymentAttempt || got.PaymentFailureReason != want.PaymentFailureReason ||
			got.DenialReason != want.DenialReason || (got.DecidedBy == nil) != (want.DecidedBy == nil) {
			t.Fatalf("listed as %+v\nits events fold to %+v", got, *want)
		}
	}
}

// Rows the projector wrote before the lifecycle columns existed are
// completed by the migration that adds them: the list then shows what a
// fold of their version 1 events shows, as do a live projection of the
// same events (which changes nothing) and a rebuild. The hashes, which
// cover the stored bytes, still verify.
func TestVersionOneEventsAndRowsAfterTheLifecycleMigration(t *testing.T) {
	ctx := context.Background()
	db := postgrestest.NewDB(t)
	if err := db.MigrateTo(ctx, 10); err != nil {
		t.Fatalf("migrate down to before the lifecycle: %v", err)
	}
	ids, bank := mustStoreFixture(t, db)
	// The rows as the projector of that version wrote them.
	for i, id := range ids {
		r, err := postgrestest.Streams(db).Reimbursement(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		paymentVersion, err := db.Events.StreamVersion(ctx, ledger.PaymentID(id))
		if err != nil {
			t.Fatal(err)
		}
		var decidedBy any
		if r.DecidedBy != nil {
			decidedBy = r.DecidedBy.String()
		}
		var reason any
		if r.Status == ledger.StatusDenied {
			reason = r.DenialReason
		}
		_, err = db.SQL().ExecContext(ctx, `
			INSERT INTO reimbursements_view (id, bank_id, bank_member_id, bank_account_id, amount, currency, description, status,
				submitted_at, submitted_position, decided_at, decided_by, denial_reason, payment_status, version, payment_version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			r.ID, r.BankID, r.MemberID, r.AccountID, r.Amount.String(), r.Currency, r.Description, string(r.Status),
			r.SubmittedAt, i+1, r.DecidedAt, decidedBy, reason, string(r.PaymentStatus), r.Version, paymentVersion)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.MigrateTo(ctx, 12); err != nil {
		t.Fatalf("migrate up through the lifecycle: %v", err)
	}
	// And through the migrations after it: the list reads their columns
	// too (receipt_count, 00021), which the rows get by default.
	if err := db.MigrateTo(ctx, math.MaxInt64); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	assertListedAsFolded(t, db, bank, ids)
	failed, err := postgrestest.Streams(db).Reimbursement(ctx, ids[2])
	if err != nil || failed.PaymentFailureReason != "account closed" || failed.PaymentAttempt != 1 {
		t.Fatalf("the fixture's failed payout folds to %+v, %v", failed, err)
	}

	mustProject(t, db, allEvents(t, db)...) // a redelivery of the same events changes nothing
	assertListedAsFolded(t, db, bank, ids)
	if _, err := db.Rebuilds.Run(ctx, postgres.ReimbursementsProjection, postgres.RebuildOptions{BatchSize: 5}); err != nil {
		t.Fatal(err)
	}
	assertListedAsFolded(t, db, bank, ids)

	if err := db.Migrate(ctx); err != nil { // the tree over the old events, as an upgraded ledger builds it
		t.Fatal(err)
	}
	if err := db.TreeAll(ctx, postgrestest.AuditSigner); err != nil {
		t.Fatal(err)
	}
	report, err := db.Audit.Verify(ctx, postgrestest.AuditKeys, nil)
	if err != nil || !report.OK() || report.Events != 14 || report.Heads != 5 {
		t.Fatalf("verify the version 1 events: %+v (%v), %v", report, report.Problem, err)
	}
}
