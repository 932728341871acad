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

// The lists' filters, alone and together, on a bank's list, a member's and
// a page at a time; the count and the export select the same.
func testListFilters(t *testing.T, h Harness) {
	ctx := context.Background()
	now := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, ExportBatch: 2, Now: func() time.Time { return now }})
	d := mustDirectory(t, a)
	submitAt := func(at time.Time, account ledger.Account, amount string) *ledger.Reimbursement {
		t.Helper()
		now = at
		return mustSubmit(t, a, d, account, amount)
	}
	march := func(day, h, m, s, ns int) time.Time { return time.Date(2026, 3, day, h, m, s, ns, time.UTC) }
	settled := submitAt(march(1, 8, 0, 0, 0), d.account, "10.00")
	failed := submitAt(march(1, 23, 59, 59, 999999000), d.account, "125.50") // the last microsecond of March 1
	pending := submitAt(march(2, 0, 0, 0, 0), d.account, "125.5")            // the first of March 2
	denied := submitAt(march(3, 12, 0, 0, 0), d.account, "999.99")
	elsewhere := submitAt(march(2, 12, 0, 0, 0), d.otherAccount, "125.50")
	for _, r := range []*ledger.Reimbursement{settled, failed} {
		_, err := a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: r.ID, Meta: meta})
		must(t, err)
	}
	_, err := a.Deny(ctx, d.admin, app.DecideCommand{ReimbursementID: denied.ID, Reason: "no receipt", Meta: meta})
	must(t, err)
	pay(t, h, a, settled.ID, true)
	pay(t, h, a, failed.ID, false)
	if h.Project != nil {
		h.Project(t)
	}

	filters := func(kv ...string) app.ListQuery {
		t.Helper()
		q, err := app.ParseListFilters(func(name string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == name {
					return kv[i+1]
				}
			}
			return ""
		})
		must(t, err)
		return q
	}
	ids := func(rs ...*ledger.Reimbursement) []uuid.UUID {
		out := []uuid.UUID{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		name   string
		member bool // the member's list, at both banks, instead of the first bank's
		q      app.ListQuery
		want   []uuid.UUID // newest first
	}{
		{"none", false, filters(), ids(denied, pending, failed, settled)},
		{"a date is its whole day in UTC", false, filters("submitted_from", "2026-03-01", "submitted_to", "2026-03-01"), ids(failed, settled)},
		{"from a time includes it", false, filters("submitted_from", "2026-03-01T23:59:59.999999Z"), ids(denied, pending, failed)},
		{"to a time excludes it", false, filters("submitted_to", "2026-03-02T00:00:00Z"), ids(failed, settled)},
		{"a time in another offset", false, filters("submitted_to", "2026-03-02T01:00:00+01:00"), ids(failed, settled)},
		{"amounts compare as numbers, both bounds included", false, filters("amount_min", "125.5", "amount_max", "125.50"), ids(pending, failed)},
		{"above an amount", false, filters("amount_min", "125.51"), ids(denied)},
		{"below an amount", false, filters("amount_max", "125.49999"), ids(settled)},
		{"payment failed", false, filters("payment_status", "failed"), ids(failed)},
		{"payment none", false, filters("payment_status", "none"), ids(denied, pending)},
		{"approved and settled", false, filters("status", "approved", "payment_status", "settled"), ids(settled)},
		{"pending over 100", false, filters("status", "pending", "amount_min", "100"), ids(pending)},
		{"every filter at once", false, filters("status", "approved", "payment_status", "failed", "submitted_from", "2026-03-01",
			"submitted_to", "2026-03-01", "amount_min", "125.50", "amount_max", "200"), ids(failed)},
		{"nothing matches", false, filters("status", "denied", "amount_max", "1"), ids()},
		{"the member's, at both banks", true, filters("amount_min", "125.50", "amount_max", "125.50"), ids(elsewhere, pending, failed)},
		{"the member's, on March 2", true, filters("submitted_from", "2026-03-02", "submitted_to", "2026-03-02"), ids(elsewhere, pending)},
	}
	for _, tt := range tests {
		q := tt.q
		if tt.member {
			q.MemberID = d.member.ID
		} else {
			q.BankID = d.bank.ID
		}
		// A page at a time, one item each: the cursor keeps the filters' order.
		got := []uuid.UUID{}
		for q.Limit = 1; ; {
			page, err := h.Stores.Reimbursements.ListReimbursements(ctx, q)
			must(t, err)
			for _, r := range page.Items {
				got = append(got, r.ID)
			}
			if page.NextBefore.IsZero() {
				break
			}
			q.Before = page.NextBefore
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: listed %v, want %v", tt.name, got, tt.want)
		}
		q.Before = app.PageKey{CreatedAt: march(1, 0, 0, 0, 0), ID: uuid.Max} // ignored by the count
		if n, err := h.Stores.Reimbursements.CountReimbursements(ctx, q); err != nil || n != int64(len(tt.want)) {
			t.Errorf("%s: counted %d, %v; want %d", tt.name, n, err, len(tt.want))
		}
		if tt.member {
			continue
		}
		// The export reads two at a time here: it goes on to the next batch.
		eq := tt.q
		eq.BankID = d.bank.ID
		rows, err := a.ExportReimbursements(ctx, d.admin, eq)
		must(t, err)
		exported := []uuid.UUID{}
		for batch, err := range rows {
			must(t, err)
			if len(batch) == 0 || len(batch) > 2 {
				t.Errorf("%s: a batch of %d, want 1 or 2", tt.name, len(batch))
			}
			for _, r := range batch {
				exported = append(exported, r.ID)
			}
		}
		if !slices.Equal(exported, tt.want) {
			t.Errorf("%s: exported %v, want %v", tt.name, exported, tt.want)
		}
	}

	// Who may export: the bank's administrators, and the operator (the
	// command line); another bank answers as one that does not exist.
	op := app.Principal{Role: app.RoleOperator, Subject: "storetest"}
	if n, err := a.CountReimbursements(ctx, op, app.ListQuery{BankID: d.bank.ID, Status: ledger.StatusPending}); err != nil || n != 1 {
		t.Errorf("the operator counts %d pending, %v; want 1", n, err)
	}
	if _, err := a.ExportReimbursements(ctx, op, app.ListQuery{BankID: d.otherBank.ID}); err != nil {
		t.Errorf("the operator exports any bank: %v", err)
	}
	_, err = a.ExportReimbursements(ctx, op, app.ListQuery{BankID: uuid.New()})
	wantCode(t, "the operator exports an unknown bank", err, ledger.ENotFound)
	_, err = a.ExportReimbursements(ctx, d.otherAdmin, app.ListQuery{BankID: d.bank.ID})
	wantCode(t, "another bank's administrator exports", err, ledger.ENotFound)
	_, err = a.CountReimbursements(ctx, d.otherAdmin, app.ListQuery{BankID: d.bank.ID})
	wantCode(t, "another bank's administrator counts", err, ledger.ENotFound)
	_, err = a.ExportReimbursements(ctx, d.member, app.ListQuery{BankID: d.bank.ID})
	wantCode(t, "a member exports", err, ledger.EForbidden)
	_, err = a.ExportReimbursements(ctx, auditor, app.ListQuery{BankID: d.bank.ID})
	wantCode(t, "an auditor exports", err, ledger.EForbidden)
}

// pay records the payment of an approved reimbursement and its outcome, as
// the payment saga would.
func pay(t *testing.T, h Harness, a *app.App, id uuid.UUID, settle bool) {
	t.Helper()
	ctx := context.Background()
	r, err := a.Reimbursement(ctx, auditor, id)
	must(t, err)
	at := r.SubmittedAt.Add(time.Hour)
	requested, err := ledger.RequestPayment(*r, at)
	must(t, err)
	mustAppend(t, h.Stores.Events, requested)
	p, err := ledger.FoldPayment(requested.StreamID, mustLoad(t, h.Stores.Events, requested.StreamID))
	must(t, err)
	outcome, err := p.Settle("rail-1", at)
	if !settle {
		outcome, err = p.Fail("account closed", at)
	}
	must(t, err)
	mustAppend(t, h.Stores.Events, outcome)
}
