package ledger

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// apply folds pending events into r as the store would record them.
func apply(t *testing.T, r *Reimbursement, events ...PendingEvent) {
	t.Helper()
	for _, e := range events {
		if err := r.Apply(record(t, e)); err != nil {
			t.Fatal(err)
		}
	}
}

func mustPolicy(t *testing.T, bank uuid.UUID, above, currency string) ApprovalPolicy {
	t.Helper()
	e, err := SetApprovalPolicy(ApprovalPolicy{}, bank, above, currency, now)
	if err != nil {
		t.Fatal(err)
	}
	rec := record(t, e)
	rec.Metadata.Actor = "operator:ops-1"
	p, err := FoldApprovalPolicy(bank, []RecordedEvent{rec})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func submitUnder(t *testing.T, acct Account, policy ApprovalPolicy, amount string) *Reimbursement {
	t.Helper()
	e, err := Submit(Submission{ID: uuid.New(), Account: acct, Amount: amount, Description: "Conference", Policy: policy, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	r, err := FoldReimbursement(e.StreamID, []RecordedEvent{record(t, e)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestApprovalPolicyDecidesHowManyApprove(t *testing.T) {
	acct := newAccount()
	policy := mustPolicy(t, acct.BankID, "1000.00", "USD")
	if policy.SetBy != "operator:ops-1" || !policy.SetAt.Equal(now) || policy.Version != 1 || !policy.SecondApprovalAbove.Equal(decimal.NewFromInt(1000)) {
		t.Fatalf("policy %+v does not say who set it, when, and what", policy)
	}
	tests := []struct {
		policy   ApprovalPolicy
		amount   string
		currency string
		want     int
	}{
		{ApprovalPolicy{}, "999999.00", "USD", 1},
		{policy, "1000.00", "USD", 1},
		{policy, "1000.01", "USD", 2},
		{policy, "5.00", "EUR", 2}, // not comparable without rates: dual control holds
	}
	for _, tt := range tests {
		acct := acct
		acct.Currency = tt.currency
		if got := submitUnder(t, acct, tt.policy, tt.amount).ApprovalsRequired; got != tt.want {
			t.Errorf("%s %s under %+v: %d approvals required, want %d", tt.amount, tt.currency, tt.policy, got, tt.want)
		}
	}
}

func TestSetApprovalPolicyValidation(t *testing.T) {
	bank := uuid.New()
	for _, tt := range []struct{ above, currency, field string }{
		{"1000.00", "XYZ", "currency"},
		{"10.001", "USD", "second_approval_above"},
		{"-1", "USD", "second_approval_above"},
		{"1000000.01", "USD", "second_approval_above"},
		{"1.5", "JPY", "second_approval_above"},
	} {
		if _, err := SetApprovalPolicy(ApprovalPolicy{}, bank, tt.above, tt.currency, now); fieldsOf(err)[tt.field] == "" {
			t.Errorf("%s %s: %v, want an error on %s", tt.above, tt.currency, err, tt.field)
		}
	}
	// Zero asks for two approvals of every claim; a new policy follows the old.
	e, err := SetApprovalPolicy(ApprovalPolicy{Version: 3}, bank, "0", "JPY", now)
	if err != nil || e.Version != 4 || e.StreamID != ApprovalPolicyStreamID(bank) {
		t.Fatalf("set a zero threshold over version 3: %+v, %v", e, err)
	}
}

func TestDualControl(t *testing.T) {
	acct := newAccount()
	policy := mustPolicy(t, acct.BankID, "1000.00", "USD")
	first := Administrator{ID: uuid.New(), BankID: acct.BankID}
	second := Administrator{ID: uuid.New(), BankID: acct.BankID}

	r := submitUnder(t, acct, policy, "1500.00")
	e, err := r.Approve(first, "Receipts checked", now)
	if err != nil {
		t.Fatal(err)
	}
	recorded, ok := e.Event.(ReimbursementApprovalRecorded)
	if !ok || recorded.Approvals != 1 || recorded.ApprovalsRequired != 2 {
		t.Fatalf("first approval decided %T %+v, want an approval recorded, 1 of 2", e.Event, e.Event)
	}
	apply(t, r, e)
	if r.Status != StatusPending || len(r.Approvals) != 1 || r.Approvals[0].AdministratorID != first.ID || r.Approvals[0].Note != "Receipts checked" {
		t.Fatalf("after the first approval: %+v", r)
	}
	if _, err := r.Approve(first, "", now); ErrorCode(err) != EConflict {
		t.Fatalf("the same administrator again: %v, want conflict", err)
	}
	e, err = r.Approve(second, "", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Event.(ReimbursementApproved); !ok || e.Version != 3 {
		t.Fatalf("second approval decided %T v%d, want ReimbursementApproved v3", e.Event, e.Version)
	}
	apply(t, r, e)
	if r.Status != StatusApproved || len(r.Approvals) != 2 || *r.DecidedBy != second.ID {
		t.Fatalf("after the second approval: %+v", r)
	}

	// A denial by either administrator ends it, before or after the first approval.
	r = submitUnder(t, acct, policy, "1500.00")
	e, _ = r.Approve(first, "", now)
	apply(t, r, e)
	e, err = r.Deny(first, "Duplicate of last week's claim", now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, r, e)
	if r.Status != StatusDenied {
		t.Fatalf("denied after a first approval: %s", r.Status)
	}
	if _, err := r.Approve(second, "", now); ErrorCode(err) != EConflict {
		t.Fatalf("approving a denied claim: %v", err)
	}
}

func TestApprovalNote(t *testing.T) {
	acct := newAccount()
	admin := Administrator{ID: uuid.New(), BankID: acct.BankID}
	r := mustSubmitted(t, acct)
	for _, bad := range []string{" ", strings.Repeat("x", MaxDescriptionLength+1), "a\x00b"} {
		if _, err := r.Approve(admin, bad, now); fieldsOf(err)["note"] == "" {
			t.Errorf("note %q: %v, want a note field error", bad, err)
		}
	}
	e, err := r.Approve(admin, "Paid from the travel budget", now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, r, e)
	if r.Status != StatusApproved || r.Approvals[0].Note != "Paid from the travel budget" {
		t.Fatalf("the note did not stay with the approval: %+v", r.Approvals)
	}
}

func TestWithdraw(t *testing.T) {
	acct := newAccount()
	admin := Administrator{ID: uuid.New(), BankID: acct.BankID}
	r := mustSubmitted(t, acct)
	if _, err := r.Withdraw(uuid.New(), now); ErrorCode(err) != EForbidden {
		t.Fatalf("another member withdrawing: %v, want forbidden", err)
	}
	e, err := r.Withdraw(acct.MemberID, now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, r, e)
	if r.Status != StatusWithdrawn || r.WithdrawnAt == nil || !r.WithdrawnAt.Equal(now) || r.Version != 2 {
		t.Fatalf("after withdrawal: %+v", r)
	}
	if _, err := r.Approve(admin, "", now); ErrorCode(err) != EConflict {
		t.Fatalf("approving a withdrawn claim: %v, want conflict", err)
	}
	if _, err := RequestPayment(*r, now); ErrorCode(err) != EConflict {
		t.Fatalf("paying a withdrawn claim: %v, want conflict", err)
	}
	// Once decided, it is the bank's: the member cannot take it back.
	r = mustSubmitted(t, acct)
	e, _ = r.Deny(admin, "Not covered", now)
	apply(t, r, e)
	if _, err := r.Withdraw(acct.MemberID, now); ErrorCode(err) != EConflict {
		t.Fatalf("withdrawing a denied claim: %v, want conflict", err)
	}
	// A first approval of two leaves it pending: still the member's to withdraw.
	r = submitUnder(t, acct, mustPolicy(t, acct.BankID, "0", "USD"), "10.00")
	e, _ = r.Approve(admin, "", now)
	apply(t, r, e)
	if _, err := r.Withdraw(acct.MemberID, now); err != nil {
		t.Fatalf("withdrawing after a first approval of two: %v", err)
	}
}

func TestPaymentRetry(t *testing.T) {
	acct := newAccount()
	r := mustSubmitted(t, acct)
	e, _ := r.Approve(Administrator{ID: uuid.New(), BankID: acct.BankID}, "", now)
	apply(t, r, e)
	req, err := RequestPayment(*r, now)
	if err != nil {
		t.Fatal(err)
	}
	stream := []RecordedEvent{record(t, req)}
	fold := func() *Payment {
		t.Helper()
		p, err := FoldPayment(req.StreamID, stream)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	step := func(e PendingEvent, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, record(t, e))
	}
	p := fold()
	if p.Attempt != 1 || p.IdempotencyKey() != p.ID {
		t.Fatalf("first attempt %d with key %s, want 1 with the payment id", p.Attempt, p.IdempotencyKey())
	}
	if _, err := p.Retry(now); ErrorCode(err) != EConflict {
		t.Fatalf("retrying an attempt in flight: %v, want conflict", err)
	}
	step(p.Fail("account closed", now))
	p = fold()
	if p.Status != PaymentStatusFailed || p.FailureReason != "account closed" {
		t.Fatalf("after the failure: %+v", p)
	}
	step(p.Retry(now))
	p = fold()
	if p.Attempt != 2 || p.Status != PaymentStatusRequested || p.Version != 3 || !p.Request.Amount.Equal(r.Amount) || p.AccountID != acct.ID {
		t.Fatalf("the retry: %+v", p)
	}
	if key := p.IdempotencyKey(); key == p.ID || key != PaymentAttemptKey(p.ID, 2) || key == PaymentAttemptKey(p.ID, 3) {
		t.Fatalf("attempt 2's key %s is not its own", key)
	}
	if _, err := p.Retry(now); ErrorCode(err) != EConflict {
		t.Fatalf("a second retry while one is in flight: %v, want conflict", err)
	}
	step(p.Settle("ref-2", now))
	p = fold()
	if _, err := p.Retry(now); ErrorCode(err) != EConflict {
		t.Fatalf("retrying a settled payment: %v, want conflict", err)
	}
	if settled, _ := DecodeEvent(stream[3].Type, stream[3].Data); settled.(PaymentSettled).Attempt != 2 {
		t.Fatalf("the settlement does not name attempt 2: %+v", settled)
	}
	// The reimbursement shows each attempt's outcome as it comes.
	for i, want := range []struct {
		status  PaymentStatus
		attempt int
		reason  string
	}{{PaymentStatusRequested, 1, ""}, {PaymentStatusFailed, 1, "account closed"}, {PaymentStatusRequested, 2, ""}, {PaymentStatusSettled, 2, ""}} {
		if err := r.Apply(stream[i]); err != nil {
			t.Fatal(err)
		}
		if r.PaymentStatus != want.status || r.PaymentAttempt != want.attempt || r.PaymentFailureReason != want.reason {
			t.Fatalf("after payment event %d: %s attempt %d %q, want %+v", i+1, r.PaymentStatus, r.PaymentAttempt, r.PaymentFailureReason, want)
		}
	}
}

func TestNotifyOncePerPaymentOutcome(t *testing.T) {
	acct := newAccount()
	member := Member{ID: acct.MemberID, Email: "ada@example.com"}
	r := mustSubmitted(t, acct)
	e, _ := r.Approve(Administrator{ID: uuid.New(), BankID: acct.BankID}, "", now)
	apply(t, r, e)
	if _, err := Notify(*r, member, 0, 0, now); ErrorCode(err) != EConflict {
		t.Fatalf("a denial e-mail for an approval: %v, want conflict", err)
	}
	first, err := Notify(*r, member, 1, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Notify(*r, member, 2, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	if first.StreamID != NotificationStreamID(r.ID) || second.StreamID == first.StreamID || second.StreamID != AttemptNotificationStreamID(r.ID, 2) {
		t.Fatalf("attempts 1 and 2 e-mail on streams %s and %s", first.StreamID, second.StreamID)
	}
	if got := second.Event.(MemberNotified); got.Kind != NotificationApproval || got.Attempt != 2 {
		t.Fatalf("attempt 2's e-mail: %+v", got)
	}
}

func TestSchemaVersions(t *testing.T) {
	id := uuid.New()
	t.Run("new events name their version first", func(t *testing.T) {
		data, err := json.Marshal(PaymentRequested{PaymentID: PaymentID(id), ReimbursementID: id, Amount: Amount{decimal.RequireFromString("1.00")}, Currency: "USD", Attempt: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), `{"schema_version":2,"payment_id":`) {
			t.Fatalf("PaymentRequested encodes as %s", data)
		}
		e, err := DecodeEvent(TypePaymentRequested, data)
		if err != nil || e.(PaymentRequested).Attempt != 2 {
			t.Fatalf("round trip: %+v, %v", e, err)
		}
		// Types at version 1 are written as they always were.
		data, _ = json.Marshal(ReimbursementDenied{ReimbursementID: id, Reason: "no"})
		if strings.Contains(string(data), "schema_version") {
			t.Fatalf("ReimbursementDenied encodes as %s", data)
		}
	})
	t.Run("older versions read as the newest", func(t *testing.T) {
		tests := []struct {
			eventType, data string
			check           func(Event) bool
		}{
			{TypeReimbursementSubmitted, `{"reimbursement_id":"` + id.String() + `","amount":"1.00","currency":"USD"}`,
				func(e Event) bool { return e.(ReimbursementSubmitted).ApprovalsRequired == 1 }},
			{TypeReimbursementApproved, `{"reimbursement_id":"` + id.String() + `"}`,
				func(e Event) bool { return e.(ReimbursementApproved).Note == "" }},
			{TypePaymentRequested, `{"payment_id":"` + id.String() + `","amount":"1.00"}`,
				func(e Event) bool { return e.(PaymentRequested).Attempt == 1 }},
			{TypePaymentSettled, `{"payment_id":"` + id.String() + `"}`, func(e Event) bool { return e.(PaymentSettled).Attempt == 1 }},
			{TypePaymentFailed, `{"reason":"account closed"}`, func(e Event) bool { return e.(PaymentFailed).Attempt == 1 }},
			{TypeMemberNotified, `{"kind":"approval"}`, func(e Event) bool { return e.(MemberNotified).Attempt == 1 }},
			{TypeMemberNotified, `{"kind":"denial"}`, func(e Event) bool { return e.(MemberNotified).Attempt == 0 }},
			// A version named explicitly is read as that version.
			{TypePaymentFailed, `{"schema_version":1,"reason":"x"}`, func(e Event) bool { return e.(PaymentFailed).Attempt == 1 }},
			{TypePaymentFailed, `{"schema_version":2,"reason":"x","attempt":3}`, func(e Event) bool { return e.(PaymentFailed).Attempt == 3 }},
		}
		for _, tt := range tests {
			e, err := DecodeEvent(tt.eventType, []byte(tt.data))
			if err != nil || !tt.check(e) {
				t.Errorf("%s %s: decoded %+v, %v", tt.eventType, tt.data, e, err)
			}
		}
	})
	t.Run("a version this code does not know is refused", func(t *testing.T) {
		for _, data := range []string{`{"schema_version":3,"reason":"x"}`, `{"schema_version":"2"}`, `{"schema_version":0}`} {
			if _, err := DecodeEvent(TypePaymentFailed, []byte(data)); err == nil {
				t.Errorf("%s decoded", data)
			}
		}
		if _, err := DecodeEvent(TypeReimbursementDenied, []byte(`{"schema_version":2,"reason":"x"}`)); err == nil {
			t.Error("ReimbursementDenied at version 2 decoded, though only version 1 exists")
		}
	})
}

func TestDerivedAttemptIDsAreStableAndDistinct(t *testing.T) {
	id := uuid.MustParse("01a2104b-6223-79c9-8d50-9d67ce0f8318")
	pay := PaymentID(id)
	seen := map[uuid.UUID]string{id: "reimbursement", pay: "payment", ApprovalPolicyStreamID(id): "policy"}
	for attempt := 2; attempt <= 4; attempt++ {
		for _, derived := range []uuid.UUID{PaymentAttemptKey(pay, attempt), AttemptNotificationStreamID(id, attempt)} {
			if _, dup := seen[derived]; dup {
				t.Fatalf("attempt %d derives an id already used", attempt)
			}
			seen[derived] = "attempt"
		}
	}
	// Pinned: the rail deduplicates a retried attempt by this key.
	if got := PaymentAttemptKey(pay, 2); got != uuid.MustParse("da5a2711-0216-5d99-a77e-856ae0e3ab47") {
		t.Fatalf("PaymentAttemptKey(2) = %s, no longer the key the rail has seen", got)
	}
	if AttemptNotificationStreamID(id, 1) != NotificationStreamID(id) || AttemptNotificationStreamID(id, 0) != NotificationStreamID(id) {
		t.Fatal("attempt 1's and a denial's notification stream must be the original")
	}
}
