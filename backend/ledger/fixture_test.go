package ledger_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/audit"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
	"github.com/reimbursement-ledger/ledger/backend/ledger/ledgertest"
)

// loadFixture is ledgertest.EventsBeforeLifecycle, and its records alone.
func loadFixture(t *testing.T) ([]ledgertest.StoredEvent, []ledger.RecordedEvent) {
	t.Helper()
	stored := ledgertest.EventsBeforeLifecycle(t)
	recs := make([]ledger.RecordedEvent, len(stored))
	for i, s := range stored {
		recs[i] = s.Record
	}
	return stored, recs
}

// The events stored before the schema versions read as the newest shapes,
// and fold into the reimbursements they were.
func TestEventsStoredInVersionOneReadAsTheNewest(t *testing.T) {
	_, recs := loadFixture(t)
	types := map[string]bool{}
	var ids []uuid.UUID
	for _, rec := range recs {
		types[rec.Type] = true
		if rec.Type == ledger.TypeReimbursementSubmitted {
			ids = append(ids, rec.StreamID)
		}
		if string(rec.Data[:len(`{"schema_version"`)]) == `{"schema_version"` {
			t.Fatalf("the fixture holds an event written after schema versions: %s", rec.Data)
		}
	}
	for _, want := range []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementApproved, ledger.TypeReimbursementDenied,
		ledger.TypePaymentRequested, ledger.TypePaymentSettled, ledger.TypePaymentFailed, ledger.TypeMemberNotified} {
		if !types[want] {
			t.Fatalf("the fixture has no %s", want)
		}
	}
	story := func(id uuid.UUID) []ledger.RecordedEvent {
		var out []ledger.RecordedEvent
		for _, rec := range recs {
			if rec.StreamID == id || rec.StreamID == ledger.PaymentID(id) {
				out = append(out, rec)
			}
		}
		return out
	}
	var got []ledger.Reimbursement
	for _, id := range ids {
		r, err := ledger.FoldReimbursement(id, story(id))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, *r)
	}
	if len(got) != 4 {
		t.Fatalf("%d reimbursements in the fixture, want 4", len(got))
	}
	paid, denied, failed, pending := got[0], got[1], got[2], got[3]
	for _, r := range got {
		if r.ApprovalsRequired != 1 {
			t.Fatalf("a version 1 submission needs %d approvals, want 1", r.ApprovalsRequired)
		}
	}
	if paid.Status != ledger.StatusApproved || paid.PaymentStatus != ledger.PaymentStatusSettled || paid.PaymentAttempt != 1 ||
		len(paid.Approvals) != 1 || paid.Approvals[0].AdministratorID != *paid.DecidedBy || paid.Approvals[0].Note != "" {
		t.Fatalf("the paid one reads as %+v", paid)
	}
	if denied.Status != ledger.StatusDenied || denied.DenialReason != "No receipt attached" || len(denied.Approvals) != 0 {
		t.Fatalf("the denied one reads as %+v", denied)
	}
	if failed.PaymentStatus != ledger.PaymentStatusFailed || failed.PaymentAttempt != 1 || failed.PaymentFailureReason != "account closed" {
		t.Fatalf("the failed payout reads as %+v", failed)
	}
	if pending.Status != ledger.StatusPending || pending.PaymentAttempt != 0 {
		t.Fatalf("the pending one reads as %+v", pending)
	}
	// The failed payout can be retried: its payment folds as attempt 1.
	p, err := ledger.FoldPayment(ledger.PaymentID(failed.ID), story(failed.ID)[2:])
	if err != nil {
		t.Fatal(err)
	}
	retry, err := p.Retry(time.Now())
	if err != nil || retry.Event.(ledger.PaymentRequested).Attempt != 2 || retry.Version != 3 {
		t.Fatalf("retrying the version 1 payment: %+v, %v", retry, err)
	}
	for _, rec := range recs {
		if rec.Type != ledger.TypeMemberNotified {
			continue
		}
		e, err := rec.Decode()
		if err != nil {
			t.Fatal(err)
		}
		n := e.(ledger.MemberNotified)
		if (n.Kind == ledger.NotificationApproval) != (n.Attempt == 1) || rec.StreamID != ledger.AttemptNotificationStreamID(n.ReimbursementID, n.Attempt) {
			t.Fatalf("a version 1 e-mail reads as %+v on stream %s", n, rec.StreamID)
		}
	}
}

// fixtureLog is the fixture as package audit reads a stored log.
type fixtureLog []audit.StoredEvent

func (l fixtureLog) EachEventByStream(_ context.Context, fn func(audit.StoredEvent) error) error {
	sorted := slices.Clone(l)
	slices.SortStableFunc(sorted, func(a, b audit.StoredEvent) int {
		if c := slices.Compare(a.StreamID[:], b.StreamID[:]); c != 0 {
			return c
		}
		return int(a.StreamVersion - b.StreamVersion)
	})
	for _, e := range sorted {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (l fixtureLog) EachEventInCommitOrder(_ context.Context, fn func(audit.StoredEvent) error) error {
	for _, e := range l {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// The hashes cover the bytes as stored, not their upcast form: the log of
// version 1 events still verifies, and reading it changed none of it.
func TestEventsStoredInVersionOneStillVerify(t *testing.T) {
	stored, recs := loadFixture(t)
	for _, rec := range recs { // read everything through the new code first
		if _, err := rec.Decode(); err != nil {
			t.Fatal(err)
		}
	}
	var log fixtureLog
	for i, s := range stored {
		r := s.Record
		log = append(log, audit.StoredEvent{Content: audit.Content{EventID: r.EventID, StreamID: r.StreamID, StreamType: r.StreamType,
			StreamVersion: r.StreamVersion, Type: r.Type, Data: []byte(r.Data), Metadata: []byte(s.Metadata), RecordedAt: r.RecordedAt},
			Position: r.Position, TransactionID: uint64(i + 1), Hash: r.Hash, PrevHash: r.PrevHash})
	}
	report, err := audit.Verify(context.Background(), log, audit.Keys{}, audit.Sources{})
	if err != nil || !report.OK() || report.Events != int64(len(stored)) {
		t.Fatalf("verify the version 1 log: %+v (%v), %v", report, report.Problem, err)
	}
	// The same log upcast and re-encoded would not verify: the check has teeth.
	upcast := slices.Clone(log)
	e, _ := recs[0].Decode()
	upcast[0].Data, _ = json.Marshal(e)
	if report, _ := audit.Verify(context.Background(), upcast, audit.Keys{}, audit.Sources{}); report.OK() {
		t.Fatal("a log whose data was rewritten in the new shape verified")
	}
}
