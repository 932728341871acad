package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// testReadYourWrites: a command reports the position of the event it
// appended, and a list asked for that position shows the command's effect,
// waiting for a read model that lags, or says it could not.
func testReadYourWrites(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys})
	d := mustDirectory(t, a)
	submitted := mustSubmit(t, a, d, d.account, "8.00")
	approved, err := a.Approve(ctx, d.admin, app.DecideCommand{ReimbursementID: submitted.ID, Meta: meta})
	must(t, err)
	stream := mustLoad(t, h.Stores.Events, submitted.ID)
	if len(stream) != 2 || submitted.Position != stream[0].Position || approved.Position != stream[1].Position {
		t.Fatalf("the commands report positions %d and %d; their events have %+v", submitted.Position, approved.Position, stream)
	}

	unknown := approved.Position + 1000
	for _, position := range []int64{unknown, 0} {
		_, err := h.Stores.Reimbursements.Reached(ctx, position)
		wantCode(t, "reached a position no event has", err, ledger.ENotFound)
	}
	list := func(a *app.App, ctx context.Context, p app.Principal, minPosition int64) (app.ListPage, error) {
		return a.ListReimbursements(ctx, p, app.ListQuery{BankID: p.BankID, Limit: 10, MinPosition: minPosition})
	}
	if _, err := list(a, ctx, d.admin, unknown); !errors.Is(err, app.ErrUnknownPosition) {
		t.Fatalf("a list at a position no event has: %v, want ErrUnknownPosition", err)
	}
	// Whose list it is comes first: another bank's list is not found, whatever the position.
	_, err = a.ListReimbursements(ctx, d.otherAdmin, app.ListQuery{BankID: d.bank.ID, Limit: 10, MinPosition: unknown})
	wantCode(t, "another bank's list at an unknown position", err, ledger.ENotFound)

	if h.Project != nil {
		// Nothing projected yet: the read model has reached neither event.
		if reached, err := h.Stores.Reimbursements.Reached(ctx, submitted.Position); err != nil || reached {
			t.Fatalf("reached the submission before any projection: %v, %v", reached, err)
		}
		impatient := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, ReadWait: time.Millisecond})
		if _, err := list(impatient, ctx, d.admin, approved.Position); !errors.Is(err, app.ErrNotCaughtUp) {
			t.Fatalf("a list the read model cannot reach in time: %v, want ErrNotCaughtUp", err)
		}
		// The caller who leaves ends the wait, however long it may be.
		patient := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, ReadWait: time.Hour})
		gone, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := list(patient, gone, d.admin, approved.Position); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a list whose caller left: %v, want the context's error", err)
		}
		h.Project(t)
	}
	for _, position := range []int64{submitted.Position, approved.Position} {
		if reached, err := h.Stores.Reimbursements.Reached(ctx, position); err != nil || !reached {
			t.Fatalf("after projecting, reached %d: %v, %v", position, reached, err)
		}
	}
	page, err := list(a, ctx, d.admin, approved.Position)
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].ID != submitted.ID || page.Items[0].Status != ledger.StatusApproved {
		t.Fatalf("the list at the approval's position: %+v", page.Items)
	}
}
