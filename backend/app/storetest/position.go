package storetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// testReadYourWrites: a command reports the position of the event it
// appended, and a list asked for that position shows the command's effect,
// waiting for a read model that lags, or says it could not.
func testReadYourWrites(t *testing.T, h Harness) {
	ctx := context.Background()
	a := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, PositionKey: positionKey})
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
		return a.ListReimbursements(ctx, p, app.ListQuery{BankID: p.BankID, Limit: 10, MinPosition: a.PositionToken(p, minPosition)})
	}
	if _, err := list(a, ctx, d.admin, unknown); !errors.Is(err, app.ErrUnknownPosition) {
		t.Fatalf("a list at a position no event has: %v, want ErrUnknownPosition", err)
	}
	// Whose list it is comes first: another bank's list is not found, whatever the position.
	_, err = a.ListReimbursements(ctx, d.otherAdmin, app.ListQuery{BankID: d.bank.ID, Limit: 10, MinPosition: a.PositionToken(d.otherAdmin, unknown)})
	wantCode(t, "another bank's list at an unknown position", err, ledger.ENotFound)
	_, err = a.ListReimbursements(ctx, d.otherAdmin, app.ListQuery{BankID: d.bank.ID, Limit: 10, MinPosition: "forged"})
	wantCode(t, "another bank's list at a forged token", err, ledger.ENotFound)

	// A token opens only for the tenant it was sealed for, only under its
	// key, and only as it was handed out; each one of a position is new.
	mine := a.PositionToken(d.admin, approved.Position)
	if again := a.PositionToken(d.admin, approved.Position); again == mine || len(again) != len(mine) || mine == strconv.FormatInt(approved.Position, 10) {
		t.Fatalf("tokens of one position: %q and %q", mine, again)
	}
	tampered := []byte(mine)
	tampered[len(tampered)/2] ^= 1
	otherKey := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys})
	for _, tt := range []struct {
		name  string
		p     app.Principal
		q     app.ListQuery
		token string
	}{
		{"the member's token, at their bank's administrator", d.admin, app.ListQuery{MemberID: d.member.ID}, a.PositionToken(d.member, approved.Position)},
		{"the administrator's token, at the member", d.member, app.ListQuery{MemberID: d.member.ID}, mine},
		{"another bank's token", d.admin, app.ListQuery{BankID: d.bank.ID}, a.PositionToken(d.otherAdmin, approved.Position)},
		{"an auditor's token", d.admin, app.ListQuery{BankID: d.bank.ID}, a.PositionToken(auditor, approved.Position)},
		{"a token under another key", d.admin, app.ListQuery{BankID: d.bank.ID}, otherKey.PositionToken(d.admin, approved.Position)},
		{"a tampered token", d.admin, app.ListQuery{BankID: d.bank.ID}, string(tampered)},
		{"a cut token", d.admin, app.ListQuery{BankID: d.bank.ID}, mine[:len(mine)-1]},
		{"a position", d.admin, app.ListQuery{BankID: d.bank.ID}, strconv.FormatInt(approved.Position, 10)},
		{"a token of position 0", d.admin, app.ListQuery{BankID: d.bank.ID}, a.PositionToken(d.admin, 0)},
		{"a long one", d.admin, app.ListQuery{BankID: d.bank.ID}, strings.Repeat(mine, 10)},
	} {
		tt.q.Limit, tt.q.MinPosition = 10, tt.token
		if _, err := a.ListReimbursements(ctx, tt.p, tt.q); !errors.Is(err, app.ErrBadPositionToken) {
			t.Errorf("%s: %v, want ErrBadPositionToken", tt.name, err)
		}
	}

	if h.Project != nil {
		// Nothing projected yet: the read model has reached neither event.
		if reached, err := h.Stores.Reimbursements.Reached(ctx, submitted.Position); err != nil || reached {
			t.Fatalf("reached the submission before any projection: %v, %v", reached, err)
		}
		impatient := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, PositionKey: positionKey, ReadWait: time.Millisecond})
		if _, err := list(impatient, ctx, d.admin, approved.Position); !errors.Is(err, app.ErrNotCaughtUp) {
			t.Fatalf("a list the read model cannot reach in time: %v, want ErrNotCaughtUp", err)
		}
		// The caller who leaves ends the wait, however long it may be.
		patient := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, PositionKey: positionKey, ReadWait: time.Hour})
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
	// Every process of a deployment shares the key: another App with it
	// opens the token, the one the member was answered included.
	other := app.New(app.Config{Stores: h.Stores, AuditKeys: auditKeys, PositionKey: positionKey})
	for _, token := range []string{mine, a.PositionToken(d.admin, approved.Position)} {
		if _, err := other.ListReimbursements(ctx, d.admin, app.ListQuery{BankID: d.bank.ID, Limit: 10, MinPosition: token}); err != nil {
			t.Fatalf("another process with the key: %v", err)
		}
	}
	if _, err := other.ListReimbursements(ctx, d.member, app.ListQuery{MemberID: d.member.ID, Limit: 10, MinPosition: a.PositionToken(d.member, submitted.Position)}); err != nil {
		t.Fatalf("the member's own token: %v", err)
	}
	// An administrator's token is the bank's: another administrator of it waits on it too.
	colleague := app.Administrator(uuid.New(), d.bank.ID)
	if _, err := other.ListReimbursements(ctx, colleague, app.ListQuery{BankID: d.bank.ID, Limit: 10, MinPosition: mine}); err != nil {
		t.Fatalf("another administrator of the bank, at the bank's token: %v", err)
	}
}

// positionKey is the position key of these tests, shared by their Apps as
// by a deployment's processes.
var positionKey = []byte("storetest-position-key-32-bytes!")
