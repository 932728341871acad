package ledger

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Status is where a reimbursement stands. It is decided exactly once.
type Status string

const (
	StatusPending  Status = "pending"
	StatusApproved Status = "approved"
	StatusDenied   Status = "denied"
)

// ParseStatus accepts the statuses a client may filter on.
func ParseStatus(s string) (Status, bool) {
	switch st := Status(s); st {
	case StatusPending, StatusApproved, StatusDenied:
		return st, true
	}
	return "", false
}

// PaymentStatus is where the payout of an approved reimbursement stands.
type PaymentStatus string

const (
	PaymentStatusNone      PaymentStatus = "none"
	PaymentStatusRequested PaymentStatus = "requested"
	PaymentStatusSettled   PaymentStatus = "settled"
	PaymentStatusFailed    PaymentStatus = "failed"
)

// ParsePaymentStatus accepts the payment statuses a client may filter on.
func ParsePaymentStatus(s string) (PaymentStatus, bool) {
	switch st := PaymentStatus(s); st {
	case PaymentStatusNone, PaymentStatusRequested, PaymentStatusSettled, PaymentStatusFailed:
		return st, true
	}
	return "", false
}

// Reimbursement is the state of one claim, folded from its stream (and, for
// PaymentStatus, from its payment's stream).
type Reimbursement struct {
	ID            uuid.UUID
	BankID        uuid.UUID
	MemberID      uuid.UUID
	AccountID     uuid.UUID
	Amount        decimal.Decimal
	Currency      string
	Description   string
	Status        Status
	SubmittedAt   time.Time
	DecidedAt     *time.Time
	DecidedBy     *uuid.UUID
	DenialReason  string
	PaymentStatus PaymentStatus
	// Version is the version of the reimbursement's own stream.
	Version int64
	// Position is the position of the newest event folded into it: after a
	// command, the event the command appended. A read model keeps versions,
	// not positions, and leaves it 0.
	Position int64
}

// Submission is a member's claim as the command carries it.
type Submission struct {
	ID          uuid.UUID
	Account     Account
	Amount      string
	Description string
	Now         time.Time
}

// Submit decides a new reimbursement: the member and bank come from the
// account, the amount must suit the account's currency.
func Submit(s Submission) (PendingEvent, error) {
	var v validation
	cur, ok := LookupCurrency(s.Account.Currency)
	if !ok {
		return PendingEvent{}, fmt.Errorf("account %s has unsupported currency %q", s.Account.ID, s.Account.Currency)
	}
	amount, err := ParseAmount(s.Amount, cur)
	if err != nil {
		v.add("amount", "%s", err.Error())
	}
	checkText(&v, "description", s.Description, MaxDescriptionLength)
	if err := v.err(); err != nil {
		return PendingEvent{}, err
	}
	return PendingEvent{
		StreamID:   s.ID,
		StreamType: StreamReimbursement,
		Version:    1,
		Event: ReimbursementSubmitted{
			ReimbursementID: s.ID,
			BankID:          s.Account.BankID,
			BankMemberID:    s.Account.MemberID,
			BankAccountID:   s.Account.ID,
			Amount:          NewAmount(amount, cur),
			Currency:        cur.Code,
			Description:     s.Description,
			SubmittedAt:     s.Now.UTC(),
		},
	}, nil
}

// Approve decides an approval by an administrator of the reimbursement's bank.
func (r *Reimbursement) Approve(admin Administrator, now time.Time) (PendingEvent, error) {
	if err := r.checkDecidable(admin); err != nil {
		return PendingEvent{}, err
	}
	return r.next(ReimbursementApproved{ReimbursementID: r.ID, AdministratorID: admin.ID, ApprovedAt: now.UTC()}), nil
}

// Deny decides a denial, with the reason the member will read.
func (r *Reimbursement) Deny(admin Administrator, reason string, now time.Time) (PendingEvent, error) {
	var v validation
	checkText(&v, "reason", reason, MaxDescriptionLength)
	if err := v.err(); err != nil {
		return PendingEvent{}, err
	}
	if err := r.checkDecidable(admin); err != nil {
		return PendingEvent{}, err
	}
	return r.next(ReimbursementDenied{ReimbursementID: r.ID, AdministratorID: admin.ID, Reason: reason, DeniedAt: now.UTC()}), nil
}

func (r *Reimbursement) checkDecidable(admin Administrator) error {
	if admin.BankID != r.BankID {
		return Errorf(EForbidden, "administrator %s does not administer the bank of reimbursement %s", admin.ID, r.ID)
	}
	if r.Status != StatusPending {
		return Errorf(EConflict, "reimbursement %s is already %s", r.ID, r.Status)
	}
	return nil
}

func (r *Reimbursement) next(e Event) PendingEvent {
	return PendingEvent{StreamID: r.ID, StreamType: StreamReimbursement, Version: r.Version + 1, Event: e}
}

// Apply folds one recorded event of the reimbursement's story into its state.
// Events of its payment stream move PaymentStatus; MemberNotified changes nothing.
func (r *Reimbursement) Apply(rec RecordedEvent) error {
	e, err := rec.Decode()
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case ReimbursementSubmitted:
		*r = Reimbursement{
			ID: e.ReimbursementID, BankID: e.BankID, MemberID: e.BankMemberID, AccountID: e.BankAccountID,
			Amount: e.Amount.Decimal, Currency: e.Currency, Description: e.Description,
			Status: StatusPending, SubmittedAt: e.SubmittedAt, PaymentStatus: PaymentStatusNone,
		}
	case ReimbursementApproved:
		r.Status, r.DecidedAt, r.DecidedBy = StatusApproved, &e.ApprovedAt, &e.AdministratorID
	case ReimbursementDenied:
		r.Status, r.DecidedAt, r.DecidedBy, r.DenialReason = StatusDenied, &e.DeniedAt, &e.AdministratorID, e.Reason
	case PaymentRequested:
		r.PaymentStatus = PaymentStatusRequested
	case PaymentSettled:
		r.PaymentStatus = PaymentStatusSettled
	case PaymentFailed:
		r.PaymentStatus = PaymentStatusFailed
	}
	if rec.StreamType == StreamReimbursement {
		r.Version = rec.StreamVersion
	}
	r.Position = max(r.Position, rec.Position)
	return nil
}

// FoldReimbursement rebuilds a reimbursement from its story, oldest first.
// It returns ENotFound when the story is empty.
func FoldReimbursement(id uuid.UUID, story []RecordedEvent) (*Reimbursement, error) {
	if len(story) == 0 {
		return nil, Errorf(ENotFound, "reimbursement %s not found", id)
	}
	var r Reimbursement
	for _, rec := range story {
		if err := r.Apply(rec); err != nil {
			return nil, err
		}
	}
	return &r, nil
}
