package saga

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// memStore is an in-memory event store for the sagas' unit tests.
type memStore struct {
	mu       sync.Mutex
	streams  map[uuid.UUID][]ledger.RecordedEvent
	members  map[uuid.UUID]ledger.Member
	accounts map[uuid.UUID]ledger.Account
	pos      int64
}

func newMemStore() *memStore {
	return &memStore{streams: map[uuid.UUID][]ledger.RecordedEvent{}, members: map[uuid.UUID]ledger.Member{},
		accounts: map[uuid.UUID]ledger.Account{}}
}

func (s *memStore) Append(_ context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		if int64(len(s.streams[e.StreamID]))+1 != e.Version {
			return ledger.ErrVersionConflict
		}
		data, _ := json.Marshal(e.Event)
		s.pos++
		s.streams[e.StreamID] = append(s.streams[e.StreamID], ledger.RecordedEvent{
			Position: s.pos, EventID: uuid.New(), StreamID: e.StreamID, StreamType: e.StreamType,
			StreamVersion: e.Version, Type: e.Event.EventType(), Data: data, Metadata: meta})
	}
	return nil
}

func (s *memStore) stream(id uuid.UUID) []ledger.RecordedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ledger.RecordedEvent(nil), s.streams[id]...)
}

func (s *memStore) Reimbursement(_ context.Context, id uuid.UUID) (*ledger.Reimbursement, error) {
	return ledger.FoldReimbursement(id, append(s.stream(id), s.stream(ledger.PaymentID(id))...))
}

func (s *memStore) Payment(_ context.Context, id uuid.UUID) (*ledger.Payment, error) {
	return ledger.FoldPayment(id, s.stream(id))
}

func (s *memStore) Member(_ context.Context, id uuid.UUID) (ledger.Member, error) {
	m, ok := s.members[id]
	if !ok {
		return m, ledger.Errorf(ledger.ENotFound, "member %s not found", id)
	}
	return m, nil
}

func (s *memStore) Account(_ context.Context, id uuid.UUID) (ledger.Account, error) {
	a, ok := s.accounts[id]
	if !ok {
		return a, ledger.Errorf(ledger.ENotFound, "account %s not found", id)
	}
	return a, nil
}

func (s *memStore) StreamVersion(_ context.Context, id uuid.UUID) (int64, error) {
	return int64(len(s.stream(id))), nil
}

type countingGateway struct {
	calls       int
	orders      []PaymentOrder
	err         error
	rejectFirst string // the reason to reject every first attempt with
}

func (g *countingGateway) Pay(_ context.Context, o PaymentOrder) (string, error) {
	g.calls++
	g.orders = append(g.orders, o)
	if g.rejectFirst != "" && o.Attempt == 1 {
		return "", &RejectedError{Reason: g.rejectFirst}
	}
	return "ref", g.err
}

type countingMailer struct {
	sent []Email
	err  error
}

func (m *countingMailer) Send(_ context.Context, e Email) error {
	if m.err != nil {
		return m.err
	}
	m.sent = append(m.sent, e)
	return nil
}

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	now   = func() time.Time { return time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC) }
)

// decided puts a submitted and decided reimbursement in the store and
// returns the decision event.
func decided(t *testing.T, s *memStore, deny bool) ledger.RecordedEvent {
	t.Helper()
	acct := ledger.Account{ID: uuid.New(), BankID: uuid.New(), MemberID: uuid.New(), Currency: "EUR", Nickname: "Savings"}
	s.accounts[acct.ID] = acct
	s.members[acct.MemberID] = ledger.Member{ID: acct.MemberID, FirstName: "Ada", Email: "ada@example.com"}
	sub, err := ledger.Submit(ledger.Submission{ID: uuid.New(), Account: acct, Amount: "19.90", Description: "Books", Now: now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), ledger.Metadata{CorrelationID: "c"}, sub); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Reimbursement(context.Background(), sub.StreamID)
	admin := ledger.Administrator{ID: uuid.New(), BankID: acct.BankID}
	var e ledger.PendingEvent
	if deny {
		e, err = r.Deny(admin, "Not covered", now())
	} else {
		e, err = r.Approve(admin, "", now())
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), ledger.Metadata{CorrelationID: "c"}, e); err != nil {
		t.Fatal(err)
	}
	stream := s.stream(sub.StreamID)
	return stream[len(stream)-1]
}

func last(s *memStore, id uuid.UUID) ledger.RecordedEvent {
	stream := s.stream(id)
	return stream[len(stream)-1]
}

func TestPaymentsRequestPayAndNeverTwice(t *testing.T) {
	s := newMemStore()
	gw := &countingGateway{}
	p := NewPayments(s, gw, quiet, now)
	approval := decided(t, s, false)
	ctx := context.Background()

	for range 2 { // the second delivery finds the request recorded
		if err := p.Handle(ctx, approval); err != nil {
			t.Fatal(err)
		}
	}
	paymentID := ledger.PaymentID(approval.StreamID)
	if n := len(s.stream(paymentID)); n != 1 {
		t.Fatalf("payment stream has %d events after two approvals delivered, want 1", n)
	}
	requested := last(s, paymentID)
	if requested.Metadata.CausationID != approval.EventID.String() || requested.Metadata.CorrelationID != "c" {
		t.Fatalf("PaymentRequested metadata %+v", requested.Metadata)
	}
	for range 2 {
		if err := p.Handle(ctx, requested); err != nil {
			t.Fatal(err)
		}
	}
	if gw.calls != 1 || last(s, paymentID).Type != ledger.TypePaymentSettled {
		t.Fatalf("rail called %d times, last event %s; want one call and PaymentSettled", gw.calls, last(s, paymentID).Type)
	}
}

func TestPaymentsTransientFailureIsReturnedRejectionIsRecorded(t *testing.T) {
	s := newMemStore()
	gw := &countingGateway{err: errors.New("rail timeout")}
	p := NewPayments(s, gw, quiet, now)
	approval := decided(t, s, false)
	ctx := context.Background()
	_ = p.Handle(ctx, approval)
	paymentID := ledger.PaymentID(approval.StreamID)
	requested := last(s, paymentID)

	if err := p.Handle(ctx, requested); err == nil {
		t.Fatal("a transient rail failure was swallowed: it must be returned to be retried")
	}
	if n := len(s.stream(paymentID)); n != 1 {
		t.Fatalf("a transient failure recorded an outcome: %d events", n)
	}
	gw.err = &RejectedError{Reason: "account closed"}
	if err := p.Handle(ctx, requested); err != nil {
		t.Fatal(err)
	}
	failed := last(s, paymentID)
	e, _ := failed.Decode()
	if failed.Type != ledger.TypePaymentFailed || e.(ledger.PaymentFailed).Reason != "account closed" {
		t.Fatalf("after rejection: %s %+v", failed.Type, e)
	}
}

func TestNotificationsSendOneEmailPerDecision(t *testing.T) {
	for _, deny := range []bool{false, true} {
		s := newMemStore()
		mailer := &countingMailer{err: errors.New("smtp down")}
		n := NewNotifications(s, mailer, quiet, now)
		decision := decided(t, s, deny)
		trigger := decision
		if !deny {
			p := NewPayments(s, &countingGateway{}, quiet, now)
			_ = p.Handle(context.Background(), decision)
			_ = p.Handle(context.Background(), last(s, ledger.PaymentID(decision.StreamID)))
			trigger = last(s, ledger.PaymentID(decision.StreamID))
		}
		if err := n.Handle(context.Background(), trigger); err == nil {
			t.Fatal("a mailer failure was swallowed")
		}
		mailer.err = nil
		for range 2 {
			if err := n.Handle(context.Background(), trigger); err != nil {
				t.Fatal(err)
			}
		}
		if len(mailer.sent) != 1 {
			t.Fatalf("deny=%v: %d e-mails, want 1", deny, len(mailer.sent))
		}
		email := mailer.sent[0]
		wantSubject, wantBody := "approved and paid", "19.90 EUR"
		if deny {
			wantSubject, wantBody = "denied", "Not covered"
		}
		if email.To != "ada@example.com" || !strings.Contains(email.Subject, wantSubject) || !strings.Contains(email.Body, wantBody) {
			t.Fatalf("deny=%v: e-mail %+v", deny, email)
		}
		if email.ID != ledger.NotificationStreamID(decision.StreamID).String() {
			t.Fatalf("e-mail idempotency key %s, want the notification id", email.ID)
		}
		if v, _ := s.StreamVersion(context.Background(), ledger.NotificationStreamID(decision.StreamID)); v != 1 {
			t.Fatalf("deny=%v: notification stream at version %d, want 1", deny, v)
		}
	}
}

func TestComposeFormatsTheAmountInItsCurrency(t *testing.T) {
	r := ledger.Reimbursement{ID: uuid.New(), Amount: decimal.RequireFromString("5"), Currency: "USD", Description: "Bus", Status: ledger.StatusApproved, PaymentStatus: ledger.PaymentStatusSettled}
	if e := compose(r, ledger.Member{FirstName: "Ada"}, ledger.Account{}, outcome{attempt: 1}, now()); !strings.Contains(e.Body, "5.00 USD") || e.Amount != "5.00 USD" {
		t.Fatalf("body %q, amount %q: want 5.00 USD", e.Body, e.Amount)
	}
}

// A mailer that writes its own message from templates reads the kind of
// outcome and its facts from the e-mail.
func TestComposeNamesTheKindAndItsReason(t *testing.T) {
	r := ledger.Reimbursement{ID: uuid.New(), AccountID: uuid.New(), Amount: decimal.RequireFromString("5"), Currency: "USD", DenialReason: "no receipt"}
	for _, tt := range []struct {
		o                outcome
		kind, reason     string
		wantNotification uuid.UUID
	}{
		{outcome{}, EmailDenied, "no receipt", ledger.NotificationStreamID(r.ID)},
		{outcome{attempt: 1, failed: true, reason: "account closed"}, EmailPaymentFailed, "account closed", ledger.NotificationStreamID(r.ID)},
		{outcome{attempt: 2}, EmailPaid, "", ledger.AttemptNotificationStreamID(r.ID, 2)},
	} {
		e := compose(r, ledger.Member{FirstName: "Ada"}, ledger.Account{ID: r.AccountID, Nickname: "Savings", AccountNumberLast4: "6789"}, tt.o, now())
		if e.Kind != tt.kind || e.Reason != tt.reason || e.Attempt != tt.o.attempt || e.AccountID != r.AccountID || e.AccountName != "Savings" || e.AccountLast4 != "6789" || e.FirstName != "Ada" ||
			e.ID != tt.wantNotification.String() || !e.At.Equal(now()) {
			t.Errorf("%+v: e-mail %+v, want kind %s reason %q", tt.o, e, tt.kind, tt.reason)
		}
	}
}
