package app_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/postgres/postgrestest"
)

// policyLoads counts the loads of approval-policy streams, and the reads
// of their versions.
type policyLoads struct {
	app.EventStore
	bank            uuid.UUID
	loads, versions *atomic.Int64
}

func (s policyLoads) StreamVersion(ctx context.Context, streamID uuid.UUID) (int64, error) {
	if streamID == ledger.ApprovalPolicyStreamID(s.bank) {
		s.versions.Add(1)
	}
	return s.EventStore.StreamVersion(ctx, streamID)
}

func (s policyLoads) Load(ctx context.Context, streamIDs ...uuid.UUID) ([]ledger.RecordedEvent, error) {
	for _, id := range streamIDs {
		if id == ledger.ApprovalPolicyStreamID(s.bank) {
			s.loads.Add(1)
		}
	}
	return s.EventStore.Load(ctx, streamIDs...)
}

// The approval policy is folded once per version of its stream, a
// submission decided on the policy kept reads nothing of it, and a change
// made through another App (another process) is seen by the very next
// submission, with or without an Idempotency-Key: its append finds the
// policy moved on, and it is decided again.
func TestApprovalPolicyIsCachedByItsStreamVersion(t *testing.T) {
	db := postgrestest.NewDB(t)
	d := postgrestest.MustDirectory(t, db)
	ctx := context.Background()
	var loads, versions atomic.Int64
	stores := db.Stores()
	stores.Events = policyLoads{EventStore: stores.Events, bank: d.Bank.ID, loads: &loads, versions: &versions}
	submitter := app.New(app.Config{Stores: stores, AuditKeys: postgrestest.AuditKeys})
	other := postgrestest.App(db)
	operator := app.Principal{Role: app.RoleOperator, Subject: "test-operator"}

	submit := func(bound bool) int {
		t.Helper()
		cmd := app.SubmitCommand{ID: uuid.New(), AccountID: d.Account.ID, Amount: "150.00", Description: "Hotel", Meta: ledger.Metadata{CorrelationID: "test"}}
		p := app.Member(d.Member.ID)
		if !bound {
			r, err := submitter.Submit(ctx, p, cmd)
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			return r.ApprovalsRequired
		}
		var required int
		_, _, err := submitter.Idempotently(ctx, p, uuid.NewString(), []byte("fingerprint"), func(ctx context.Context, a *app.App) (app.StoredResponse, error) {
			r, err := a.Submit(ctx, p, cmd)
			if err != nil {
				return app.StoredResponse{}, err
			}
			required = r.ApprovalsRequired
			return app.StoredResponse{Status: http.StatusCreated, Body: []byte("{}")}, nil
		})
		if err != nil {
			t.Fatalf("submit with an idempotency key: %v", err)
		}
		return required
	}
	setPolicy := func(above string) {
		t.Helper()
		if _, err := other.SetApprovalPolicy(ctx, operator, app.SetApprovalPolicyCommand{BankID: d.Bank.ID, SecondApprovalAbove: above, Currency: "USD"}); err != nil {
			t.Fatalf("set the policy: %v", err)
		}
	}

	for i := range 3 {
		if got := submit(i == 1); got != 1 {
			t.Fatalf("submission %d without a policy needs %d approvals, want 1", i, got)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("the policy stream was loaded %d times for 3 submissions at one version, want 1", n)
	}
	if n := versions.Load(); n != 1 {
		t.Fatalf("the policy stream's version was read %d times for 3 submissions, want 1 (before the first fold)", n)
	}
	setPolicy("100.00")
	if got := submit(false); got != 2 {
		t.Fatalf("the submission after the policy changed elsewhere needs %d approvals, want 2", got)
	}
	setPolicy("1000.00")
	if got := submit(true); got != 1 {
		t.Fatalf("the idempotent submission after the policy changed again needs %d approvals, want 1", got)
	}
	setPolicy("120.00")
	if got := submit(false); got != 2 {
		t.Fatalf("after a third change: %d approvals, want 2", got)
	}
	if got := submit(true); got != 2 {
		t.Fatalf("unchanged since: %d approvals, want 2", got)
	}
	// Counted are the loads outside a transaction: versions 0, 1 and 3
	// (version 2 was folded in the idempotent submission's transaction).
	if n := loads.Load(); n != 3 {
		t.Fatalf("the policy stream was loaded %d times outside transactions, want 3", n)
	}
}
