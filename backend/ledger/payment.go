package ledger

import (
	"time"

	"github.com/google/uuid"
)

// Payment is the transfer that pays out an approved reimbursement, folded
// from its own stream. Each attempt is requested, then settled or failed;
// on the ACH rail it is first sent (its credit is in a file for the ODFI),
// then settled, or returned by the member's bank (before or after it
// settled). After a failure or a return an administrator may request
// another attempt, so the stream reads
// requested -> [sent ->] failed | returned -> requested -> ... -> settled.
// One stream for every attempt keeps at most one in flight and at most one
// settled: each step is decided on the stream's version.
type Payment struct {
	ID              uuid.UUID
	ReimbursementID uuid.UUID
	BankID          uuid.UUID
	MemberID        uuid.UUID
	AccountID       uuid.UUID
	// Request is the latest attempt's request.
	Request PaymentRequested
	// Attempt is the latest attempt's number, from 1; Status its outcome so
	// far, FailureReason the rail's reason when it failed.
	Attempt       int
	Status        PaymentStatus
	FailureReason string
	// TraceNumber is the latest attempt's ACH entry, once sent.
	TraceNumber string
	Version     int64
}

// IdempotencyKey is the key of the latest attempt at the rail.
func (p *Payment) IdempotencyKey() uuid.UUID { return PaymentAttemptKey(p.ID, p.Attempt) }

// RequestPayment decides the payment for an approved reimbursement: its
// first attempt.
func RequestPayment(r Reimbursement, now time.Time) (PendingEvent, error) {
	if r.Status != StatusApproved {
		return PendingEvent{}, Errorf(EConflict, "reimbursement %s is %s, not approved", r.ID, r.Status)
	}
	id := PaymentID(r.ID)
	return PendingEvent{StreamID: id, StreamType: StreamPayment, Version: 1, Event: PaymentRequested{
		PaymentID: id, ReimbursementID: r.ID, BankID: r.BankID, BankMemberID: r.MemberID,
		BankAccountID: r.AccountID, Amount: Amount{r.Amount}, Currency: r.Currency, RequestedAt: now.UTC(), Attempt: 1,
	}}, nil
}

// Retry decides another attempt after the latest one failed: the same
// transfer under a new attempt number (and so a new idempotency key at the
// rail). Any other state is EConflict: an attempt in flight, or the
// payment settled.
func (p *Payment) Retry(now time.Time) (PendingEvent, error) {
	if p.Status != PaymentStatusFailed && p.Status != PaymentStatusReturned {
		return PendingEvent{}, Errorf(EConflict, "payment %s is %s: only a failed or returned payout can be retried", p.ID, p.Status)
	}
	request := p.Request
	request.Attempt, request.RequestedAt = p.Attempt+1, now.UTC()
	return p.next(request), nil
}

// Send records that the latest attempt went out as the ACH entry trace in
// a file; effectiveDate is the day it should settle.
func (p *Payment) Send(trace string, fileID uuid.UUID, fileName string, effectiveDate time.Time, now time.Time) (PendingEvent, error) {
	if p.Status != PaymentStatusRequested {
		return PendingEvent{}, Errorf(EConflict, "payment %s is already %s", p.ID, p.Status)
	}
	return p.next(PaymentSent{PaymentID: p.ID, ReimbursementID: p.ReimbursementID, Attempt: p.Attempt, TraceNumber: trace,
		FileID: fileID, FileName: fileName, EffectiveDate: effectiveDate.Format(time.DateOnly), SentAt: now.UTC()}), nil
}

// Return records that the member's bank returned the latest attempt's ACH
// entry, named by its trace number, with a NACHA return code and its
// reason. A return of another entry (an earlier attempt's) is EConflict.
func (p *Payment) Return(trace, code, reason, returnFile string, now time.Time) (PendingEvent, error) {
	if p.Status != PaymentStatusSent && p.Status != PaymentStatusSettled || p.TraceNumber == "" {
		return PendingEvent{}, Errorf(EConflict, "payment %s is %s: only a sent or settled ACH credit can be returned", p.ID, p.Status)
	}
	if trace != p.TraceNumber {
		return PendingEvent{}, Errorf(EConflict, "payment %s: trace number %s is not its latest entry's (%s)", p.ID, trace, p.TraceNumber)
	}
	return p.next(PaymentReturned{PaymentID: p.ID, ReimbursementID: p.ReimbursementID, Attempt: p.Attempt, TraceNumber: trace,
		Code: code, Reason: reason, ReturnFile: returnFile, ReturnedAt: now.UTC()}), nil
}

// Settle records the rail's confirmation of the latest attempt: at once
// for a rail that answers at once, and for an ACH credit once it was sent
// and no return came back within the return window.
func (p *Payment) Settle(railReference string, now time.Time) (PendingEvent, error) {
	if p.Status != PaymentStatusRequested && p.Status != PaymentStatusSent {
		return PendingEvent{}, Errorf(EConflict, "payment %s is already %s", p.ID, p.Status)
	}
	return p.next(PaymentSettled{PaymentID: p.ID, ReimbursementID: p.ReimbursementID, RailReference: railReference, SettledAt: now.UTC(), Attempt: p.Attempt}), nil
}

// Fail records the rail's final refusal of the latest attempt.
func (p *Payment) Fail(reason string, now time.Time) (PendingEvent, error) {
	if p.Status != PaymentStatusRequested {
		return PendingEvent{}, Errorf(EConflict, "payment %s is already %s", p.ID, p.Status)
	}
	return p.next(PaymentFailed{PaymentID: p.ID, ReimbursementID: p.ReimbursementID, Reason: reason, FailedAt: now.UTC(), Attempt: p.Attempt}), nil
}

func (p *Payment) next(e Event) PendingEvent {
	return PendingEvent{StreamID: p.ID, StreamType: StreamPayment, Version: p.Version + 1, Event: e}
}

// FoldPayment rebuilds a payment from its stream; ENotFound when it is empty.
func FoldPayment(id uuid.UUID, stream []RecordedEvent) (*Payment, error) {
	if len(stream) == 0 {
		return nil, Errorf(ENotFound, "payment %s not found", id)
	}
	p := Payment{ID: id}
	for _, rec := range stream {
		e, err := rec.Decode()
		if err != nil {
			return nil, err
		}
		p.apply(e)
		p.Version = rec.StreamVersion
	}
	return &p, nil
}

// apply folds one event of the payment's stream; Reimbursement.ApplyEvent
// folds the payout's status with it too.
func (p *Payment) apply(e Event) {
	switch e := e.(type) {
	case PaymentRequested:
		p.ReimbursementID, p.BankID, p.MemberID, p.AccountID = e.ReimbursementID, e.BankID, e.BankMemberID, e.BankAccountID
		p.Request, p.Attempt, p.Status, p.FailureReason, p.TraceNumber = e, e.Attempt, PaymentStatusRequested, "", ""
	case PaymentSent:
		p.Status, p.TraceNumber = PaymentStatusSent, e.TraceNumber
	case PaymentSettled:
		p.Status = PaymentStatusSettled
	case PaymentFailed:
		p.Status, p.FailureReason = PaymentStatusFailed, e.Reason
	case PaymentReturned:
		p.Status, p.FailureReason = PaymentStatusReturned, ReturnReason(e.Code, e.Reason)
	}
}

// ReturnReason is how a returned payout's reason reads: the NACHA code
// and its title, "R01 Insufficient Funds".
func ReturnReason(code, reason string) string {
	if reason == "" {
		return code
	}
	return code + " " + reason
}

// NotifyReturn decides the e-mail about the return of an attempt's ACH
// credit, on its own stream (ReturnNotificationStreamID): EConflict when
// that stream has it already (version is its current version).
func NotifyReturn(r Reimbursement, member Member, attempt int, version int64, now time.Time) (PendingEvent, error) {
	if version > 0 {
		return PendingEvent{}, Errorf(EConflict, "member already notified of the return of reimbursement %s (attempt %d)", r.ID, attempt)
	}
	if r.Status != StatusApproved || attempt < 1 {
		return PendingEvent{}, Errorf(EConflict, "reimbursement %s is %s: no return e-mail for attempt %d", r.ID, r.Status, attempt)
	}
	return PendingEvent{StreamID: ReturnNotificationStreamID(r.ID, attempt), StreamType: StreamNotification, Version: 1, Subject: member.ID, Event: MemberNotified{
		ReimbursementID: r.ID, BankMemberID: member.ID, Kind: NotificationReturn, Email: member.Email, NotifiedAt: now.UTC(), Attempt: attempt,
	}}, nil
}

// Notify decides the one e-mail an outcome earns: a denial (attempt 0), or
// the outcome of one payment attempt of an approval. It fails with
// EConflict when that e-mail's notification stream already has it
// (version is its current version).
func Notify(r Reimbursement, member Member, attempt int, version int64, now time.Time) (PendingEvent, error) {
	if version > 0 {
		return PendingEvent{}, Errorf(EConflict, "member already notified of reimbursement %s (attempt %d)", r.ID, attempt)
	}
	kind := NotificationApproval
	switch {
	case r.Status == StatusApproved && attempt > 0:
	case r.Status == StatusDenied && attempt == 0:
		kind = NotificationDenial
	default:
		return PendingEvent{}, Errorf(EConflict, "reimbursement %s is %s: no e-mail for attempt %d", r.ID, r.Status, attempt)
	}
	return PendingEvent{StreamID: AttemptNotificationStreamID(r.ID, attempt), StreamType: StreamNotification, Version: 1, Subject: member.ID, Event: MemberNotified{
		ReimbursementID: r.ID, BankMemberID: member.ID, Kind: kind, Email: member.Email, NotifiedAt: now.UTC(), Attempt: attempt,
	}}, nil
}
