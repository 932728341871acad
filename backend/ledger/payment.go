package ledger

import (
	"time"

	"github.com/google/uuid"
)

// Payment is the transfer that pays out an approved reimbursement, folded
// from its own stream: requested -> settled | failed.
type Payment struct {
	ID              uuid.UUID
	ReimbursementID uuid.UUID
	BankID          uuid.UUID
	MemberID        uuid.UUID
	AccountID       uuid.UUID
	Request         PaymentRequested
	Status          PaymentStatus
	Version         int64
}

// RequestPayment decides the payment for an approved reimbursement.
func RequestPayment(r Reimbursement, now time.Time) (PendingEvent, error) {
	if r.Status != StatusApproved {
		return PendingEvent{}, Errorf(EConflict, "reimbursement %s is %s, not approved", r.ID, r.Status)
	}
	id := PaymentID(r.ID)
	return PendingEvent{StreamID: id, StreamType: StreamPayment, Version: 1, Event: PaymentRequested{
		PaymentID: id, ReimbursementID: r.ID, BankID: r.BankID, BankMemberID: r.MemberID,
		BankAccountID: r.AccountID, Amount: Amount{r.Amount}, Currency: r.Currency, RequestedAt: now.UTC(),
	}}, nil
}

// Settle records the rail's confirmation.
func (p *Payment) Settle(railReference string, now time.Time) (PendingEvent, error) {
	if p.Status != PaymentStatusRequested {
		return PendingEvent{}, Errorf(EConflict, "payment %s is already %s", p.ID, p.Status)
	}
	return p.next(PaymentSettled{PaymentID: p.ID, ReimbursementID: p.ReimbursementID, RailReference: railReference, SettledAt: now.UTC()}), nil
}

// Fail records the rail's final refusal.
func (p *Payment) Fail(reason string, now time.Time) (PendingEvent, error) {
	if p.Status != PaymentStatusRequested {
		return PendingEvent{}, Errorf(EConflict, "payment %s is already %s", p.ID, p.Status)
	}
	return p.next(PaymentFailed{PaymentID: p.ID, ReimbursementID: p.ReimbursementID, Reason: reason, FailedAt: now.UTC()}), nil
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
		switch e := e.(type) {
		case PaymentRequested:
			p.ReimbursementID, p.BankID, p.MemberID, p.AccountID = e.ReimbursementID, e.BankID, e.BankMemberID, e.BankAccountID
			p.Request, p.Status = e, PaymentStatusRequested
		case PaymentSettled:
			p.Status = PaymentStatusSettled
		case PaymentFailed:
			p.Status = PaymentStatusFailed
		}
		p.Version = rec.StreamVersion
	}
	return &p, nil
}

// Notify decides the one e-mail a decision earns. It fails with EConflict
// when the notification stream already has it (version is its current version).
func Notify(r Reimbursement, member Member, version int64, now time.Time) (PendingEvent, error) {
	if version > 0 {
		return PendingEvent{}, Errorf(EConflict, "member already notified of reimbursement %s", r.ID)
	}
	kind := NotificationApproval
	switch r.Status {
	case StatusApproved:
	case StatusDenied:
		kind = NotificationDenial
	default:
		return PendingEvent{}, Errorf(EConflict, "reimbursement %s is not decided", r.ID)
	}
	return PendingEvent{StreamID: NotificationStreamID(r.ID), StreamType: StreamNotification, Version: 1, Event: MemberNotified{
		ReimbursementID: r.ID, BankMemberID: member.ID, Kind: kind, Email: member.Email, NotifiedAt: now.UTC(),
	}}, nil
}
