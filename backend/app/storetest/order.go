package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// The lists and the export are newest submission first: by submitted_at,
// then id (byte by byte), both descending, whatever order the submissions
// took their positions in; every page size and the export's batches keep
// that order, and a page boundary inside a run of equal times loses and
// repeats nothing.
func testSubmissionOrder(t *testing.T, h Harness) {
	ctx := context.Background()
	now := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, ExportBatch: 2, Now: func() time.Time { return now }})
	d := mustDirectory(t, a)
	submit := func(at time.Time, id string) uuid.UUID {
		t.Helper()
		now = at
		r, err := a.Submit(ctx, d.member, app.SubmitCommand{ID: uuid.MustParse(id), AccountID: d.account.ID, Amount: "12.00", Description: "Taxi", Meta: meta})
		must(t, err)
		return r.ID
	}
	base := now
	at := func(seconds int) time.Time { return base.Add(time.Duration(seconds) * time.Second) }
	// Recorded (given positions) in this order; stamped in another.
	latest := submit(at(2), "10000000-0000-7000-8000-000000000000")
	tieLow := submit(at(0), "7f000000-0000-7000-8000-000000000000")
	oldest := submit(at(-1), "ff000000-0000-7000-8000-000000000000")
	tieHigh := submit(at(0), "80000000-0000-7000-8000-000000000000")
	tieMiddle := submit(at(0), "7fffffff-ffff-7fff-bfff-ffffffffffff")
	middle := submit(at(1), "00000000-0000-7000-8000-000000000001")
	want := []uuid.UUID{latest, middle, tieHigh, tieMiddle, tieLow, oldest}
	_, err := a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: tieMiddle, Meta: meta})
	must(t, err)
	if h.Project != nil {
		h.Project(t)
	}

	for _, q := range []app.ListQuery{{BankID: d.bank.ID}, {MemberID: d.member.ID}, {BankID: d.bank.ID, Status: ledger.StatusPending}} {
		wantHere := want
		if q.Status == ledger.StatusPending {
			wantHere = slices.DeleteFunc(slices.Clone(want), func(id uuid.UUID) bool { return id == tieMiddle })
		}
		for limit := 1; limit <= len(want)+1; limit++ {
			q.Limit, q.Before = limit, app.PageKey{}
			var got []uuid.UUID
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("%+v: the cursor does not end", q)
				}
				page, err := h.Stores.Reimbursements.ListReimbursements(ctx, q)
				must(t, err)
				for _, r := range page.Items {
					got = append(got, r.ID)
				}
				if page.NextBefore.IsZero() {
					break
				}
				if last := page.Items[len(page.Items)-1]; page.NextBefore != app.SubmissionKey(last) {
					t.Fatalf("the cursor %v is not the last item's key (%v, %s)", page.NextBefore, last.SubmittedAt, last.ID)
				}
				q.Before = page.NextBefore
			}
			if !slices.Equal(got, wantHere) {
				t.Fatalf("%+v, %d a page: listed %v, want %v", q, limit, got, wantHere)
			}
		}
	}

	batches, err := a.ExportReimbursements(ctx, d.admin, app.ListQuery{BankID: d.bank.ID})
	must(t, err)
	var exported []uuid.UUID
	for batch, err := range batches {
		must(t, err)
		for _, r := range batch {
			exported = append(exported, r.ID)
		}
	}
	if !slices.Equal(exported, want) {
		t.Fatalf("exported %v, want %v", exported, want)
	}
}
