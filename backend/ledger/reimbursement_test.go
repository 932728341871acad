package ledger

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

var now = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

func newAccount() Account {
	return Account{ID: uuid.New(), BankID: uuid.New(), MemberID: uuid.New(), Currency: "USD"}
}

// record turns a pending event into the event the store would return.
func record(t *testing.T, e PendingEvent) RecordedEvent {
	t.Helper()
	data, err := json.Marshal(e.Event)
	if err != nil {
		t.Fatal(err)
	}
	return RecordedEvent{StreamID: e.StreamID, StreamType: e.StreamType, StreamVersion: e.Version, Type: e.Event.EventType(), Data: data}
}

func mustSubmitted(t *testing.T, acct Account) *Reimbursement {
	t.Helper()
	e, err := Submit(Submission{ID: uuid.New(), Account: acct, Amount: "42.10", Description: "Train ticket", Now: now})
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	r, err := FoldReimbursement(e.StreamID, []RecordedEvent{record(t, e)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func fieldsOf(err error) map[string]string {
	out := map[string]string{}
	if e, ok := err.(*Error); ok {
		for _, f := range e.Fields {
			out[f.Field] = f.Message
		}
	}
	return out
}

func TestSubmitTakesMemberAndBankFromTheAccount(t *testing.T) {
	acct := newAccount()
	r := mustSubmitted(t, acct)
	if r.BankID != acct.BankID || r.MemberID != acct.MemberID || r.AccountID != acct.ID {
		t.Fatalf("reimbursement %+v does not belong to account %+v", r, acct)
	}
	if r.Status != StatusPending || r.Version != 1 || r.PaymentStatus != PaymentStatusNone {
		t.Fatalf("new reimbursement = %s v%d payment %s, want pending v1 none", r.Status, r.Version, r.PaymentStatus)
	}
	if !r.Amount.Equal(decimal.RequireFromString("42.10")) || r.Currency != "USD" {
		t.Fatalf("amount = %s %s, want 42.10 USD", r.Amount, r.Currency)
	}
}

func TestSubmitValidation(t *testing.T) {
	long := strings.Repeat("é", MaxDescriptionLength+1)
	tests := []struct {
		name, amount, description string
		wantFields                []string
	}{
		{"zero amount", "0", "Taxi", []string{"amount"}},
		{"too many decimals", "1.001", "Taxi", []string{"amount"}},
		{"over the maximum", "1000000.01", "Taxi", []string{"amount"}},
		{"empty description", "1.00", "", []string{"description"}},
		{"blank description", "1.00", " \t\n", []string{"description"}},
		{"description too long", "1.00", long, []string{"description"}},
		{"NUL in description", "1.00", "a\x00b", []string{"description"}},
		{"invalid UTF-8", "1.00", "a\xffb", []string{"description"}},
		{"both wrong", "abc", "", []string{"amount", "description"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Submit(Submission{ID: uuid.New(), Account: newAccount(), Amount: tt.amount, Description: tt.description, Now: now})
			if ErrorCode(err) != EInvalid {
				t.Fatalf("Submit error = %v, want %s", err, EInvalid)
			}
			got := fieldsOf(err)
			if len(got) != len(tt.wantFields) {
				t.Fatalf("field errors = %v, want fields %v", got, tt.wantFields)
			}
			for _, f := range tt.wantFields {
				if got[f] == "" {
					t.Errorf("no error for field %s in %v", f, got)
				}
			}
		})
	}
	// Exactly at the limit is fine, counted in characters, not bytes.
	if _, err := Submit(Submission{ID: uuid.New(), Account: newAccount(), Amount: "1.00", Description: long[:len(long)-2], Now: now}); err != nil {
		t.Fatalf("a %d-character description was refused: %v", MaxDescriptionLength, err)
	}
}

func TestDecisions(t *testing.T) {
	acct := newAccount()
	admin := Administrator{ID: uuid.New(), BankID: acct.BankID}
	otherAdmin := Administrator{ID: uuid.New(), BankID: uuid.New()}

	t.Run("approve", func(t *testing.T) {
		r := mustSubmitted(t, acct)
		e, err := r.Approve(admin, "", now)
		if err != nil {
			t.Fatal(err)
		}
		if e.Version != 2 || e.StreamID != r.ID {
			t.Fatalf("approval goes to %s v%d, want %s v2", e.StreamID, e.Version, r.ID)
		}
		if err := r.Apply(record(t, e)); err != nil {
			t.Fatal(err)
		}
		if r.Status != StatusApproved || *r.DecidedBy != admin.ID || !r.DecidedAt.Equal(now) || r.Version != 2 {
			t.Fatalf("after approval: %+v", r)
		}
		if _, err := r.Approve(admin, "", now); ErrorCode(err) != EConflict {
			t.Fatalf("second approval error = %v, want conflict", err)
		}
		if _, err := r.Deny(admin, "late", now); ErrorCode(err) != EConflict {
			t.Fatalf("deny after approval error = %v, want conflict", err)
		}
	})
	t.Run("deny", func(t *testing.T) {
		r := mustSubmitted(t, acct)
		e, err := r.Deny(admin, "Not a business expense", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(record(t, e)); err != nil {
			t.Fatal(err)
		}
		if r.Status != StatusDenied || r.DenialReason != "Not a business expense" {
			t.Fatalf("after denial: %+v", r)
		}
	})
	t.Run("deny needs a reason", func(t *testing.T) {
		r := mustSubmitted(t, acct)
		_, err := r.Deny(admin, "  ", now)
		if fieldsOf(err)["reason"] == "" {
			t.Fatalf("Deny with a blank reason: %v, want a reason field error", err)
		}
	})
	t.Run("another bank's administrator", func(t *testing.T) {
		r := mustSubmitted(t, acct)
		if _, err := r.Approve(otherAdmin, "", now); ErrorCode(err) != EForbidden {
			t.Fatalf("approve error = %v, want forbidden", err)
		}
		if _, err := r.Deny(otherAdmin, "no", now); ErrorCode(err) != EForbidden {
			t.Fatalf("deny error = %v, want forbidden", err)
		}
	})
}

func TestPaymentLifecycle(t *testing.T) {
	acct := newAccount()
	r := mustSubmitted(t, acct)
	if _, err := RequestPayment(*r, now); ErrorCode(err) != EConflict {
		t.Fatalf("paying a pending reimbursement: %v, want conflict", err)
	}
	approval, _ := r.Approve(Administrator{ID: uuid.New(), BankID: acct.BankID}, "", now)
	if err := r.Apply(record(t, approval)); err != nil {
		t.Fatal(err)
	}
	req, err := RequestPayment(*r, now)
	if err != nil {
		t.Fatal(err)
	}
	if req.StreamID != PaymentID(r.ID) || req.Version != 1 {
		t.Fatalf("payment stream %s v%d, want %s v1", req.StreamID, req.Version, PaymentID(r.ID))
	}
	p, err := FoldPayment(req.StreamID, []RecordedEvent{record(t, req)})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Request.Amount.Equal(r.Amount) || p.AccountID != acct.ID || p.Status != PaymentStatusRequested {
		t.Fatalf("payment %+v does not pay the reimbursement", p)
	}
	settled, err := p.Settle("ref-1", now)
	if err != nil {
		t.Fatal(err)
	}
	p, _ = FoldPayment(req.StreamID, []RecordedEvent{record(t, req), record(t, settled)})
	if p.Status != PaymentStatusSettled || p.Version != 2 {
		t.Fatalf("payment after settlement: %s v%d", p.Status, p.Version)
	}
	if _, err := p.Fail("late failure", now); ErrorCode(err) != EConflict {
		t.Fatalf("failing a settled payment: %v, want conflict", err)
	}
	// The reimbursement's state follows its payment's stream.
	if err := r.Apply(record(t, settled)); err != nil {
		t.Fatal(err)
	}
	if r.PaymentStatus != PaymentStatusSettled || r.Version != 2 {
		t.Fatalf("reimbursement after settlement: payment %s v%d, want settled v2", r.PaymentStatus, r.Version)
	}
}

func TestNotifyOncePerDecision(t *testing.T) {
	acct := newAccount()
	member := Member{ID: acct.MemberID, Email: "ada@example.com"}
	r := mustSubmitted(t, acct)
	if _, err := Notify(*r, member, 0, 0, now); ErrorCode(err) != EConflict {
		t.Fatalf("notifying an undecided reimbursement: %v", err)
	}
	denial, _ := r.Deny(Administrator{ID: uuid.New(), BankID: acct.BankID}, "no receipt", now)
	_ = r.Apply(record(t, denial))
	if _, err := Notify(*r, member, 1, 0, now); ErrorCode(err) != EConflict {
		t.Fatalf("a payment e-mail for a denial: %v, want conflict", err)
	}
	e, err := Notify(*r, member, 0, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Event.(MemberNotified); got.Kind != NotificationDenial || got.Email != member.Email {
		t.Fatalf("notification %+v, want a denial to %s", got, member.Email)
	}
	if _, err := Notify(*r, member, 0, 1, now); ErrorCode(err) != EConflict {
		t.Fatalf("second notification: %v, want conflict", err)
	}
}

func TestDecodeEventRoundTrip(t *testing.T) {
	in := ReimbursementSubmitted{ReimbursementID: uuid.New(), Amount: Amount{decimal.RequireFromString("10.50")}, Currency: "USD", Description: `"quoted" 'text'`, SubmittedAt: now}
	data, _ := json.Marshal(in)
	if !strings.Contains(string(data), `"amount":"10.50"`) {
		t.Fatalf("the amount lost its decimal places: %s", data)
	}
	out, err := DecodeEvent(TypeReimbursementSubmitted, data)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(ReimbursementSubmitted)
	if got.ReimbursementID != in.ReimbursementID || !got.Amount.Equal(in.Amount.Decimal) || got.Description != in.Description || !got.SubmittedAt.Equal(now) {
		t.Fatalf("round trip: %+v, want %+v", got, in)
	}
	if _, err := DecodeEvent("SomethingElse", data); err == nil {
		t.Fatal("an unknown event type decoded")
	}
}

// EventTypes is what the feed's type filter accepts: each decodes, as its own type.
func TestEventTypesAreTheDecodableOnes(t *testing.T) {
	seen := map[string]bool{}
	for _, typ := range EventTypes {
		e, err := DecodeEvent(typ, []byte(`{}`))
		if err != nil || e.EventType() != typ || seen[typ] {
			t.Fatalf("EventTypes lists %s, which decodes as %v, %v (listed twice: %v)", typ, e, err, seen[typ])
		}
		seen[typ] = true
	}
}

func TestDirectoryValidation(t *testing.T) {
	if err := (Member{FirstName: "Ada", LastName: "Lovelace", Email: "Ada <ada@example.com>"}).Validate(); fieldsOf(err)["email"] == "" {
		t.Fatalf("an address with a display name passed: %v", err)
	}
	if err := (Member{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"}).Validate(); err != nil {
		t.Fatalf("a valid member failed: %v", err)
	}
	if err := (Account{Currency: "XYZ"}).Validate(); fieldsOf(err)["currency"] == "" {
		t.Fatalf("an unknown currency passed: %v", err)
	}
	if err := (Bank{Name: "", Location: "x"}).Validate(); fieldsOf(err)["name"] == "" {
		t.Fatalf("a bank without a name passed: %v", err)
	}
}

func TestDerivedStreamIDsAreStableAndDistinct(t *testing.T) {
	id := uuid.MustParse("01a2104b-6223-79c9-8d50-9d67ce0f8318")
	// Pinned: the stored streams are found by these ids, so they may never
	// change from one version of the ledger to the next.
	if got := PaymentID(id); got != uuid.MustParse("455365da-13f2-5e4c-8a12-4852f9c02b25") {
		t.Fatalf("PaymentID = %s, no longer the id stored payments have", got)
	}
	if got := NotificationStreamID(id); got != uuid.MustParse("630f76eb-84b3-5d7c-97d0-4d67c41a5afa") {
		t.Fatalf("NotificationStreamID = %s, no longer the id stored notifications have", got)
	}
	if PaymentID(id) == NotificationStreamID(id) || PaymentID(id) == id {
		t.Fatal("derived stream ids must differ from each other and from the reimbursement id")
	}
}

func TestDiscardDeadLetter(t *testing.T) {
	d := DeadLetterDiscarded{DeadLetterID: 7, ConsumerGroup: "saga.payments", EventID: uuid.New(), EventPosition: 42,
		EventTypeName: TypePaymentRequested, Error: "rail down", Attempts: 10, Reason: "paid by hand, ticket OPS-12"}
	e, err := DiscardDeadLetter(d, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if e.StreamType != StreamDeadLetter || e.Version != 1 || e.StreamID != DeadLetterStreamID("saga.payments", d.EventID) {
		t.Fatalf("discard of a first dead letter = %+v", e)
	}
	if got := e.Event.(DeadLetterDiscarded); got.Reason != d.Reason || !got.DiscardedAt.Equal(now) {
		t.Fatalf("event %+v", got)
	}
	if DeadLetterStreamID("saga.payments", d.EventID) == DeadLetterStreamID("saga.notifications", d.EventID) {
		t.Fatal("two groups' dead letters of one event share a stream")
	}
	if again, _ := DiscardDeadLetter(d, 1, now); again.Version != 2 {
		t.Fatalf("a second discard of the stream has version %d, want 2", again.Version)
	}
	for _, reason := range []string{"", "  ", strings.Repeat("x", MaxDescriptionLength+1)} {
		d.Reason = reason
		if _, err := DiscardDeadLetter(d, 0, now); fieldsOf(err)["reason"] == "" {
			t.Fatalf("reason %q passed: %v", reason, err)
		}
	}
}
