package ledger

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Status is where a reimbursement stands. It leaves pending exactly once:
// approved or denied by its bank, or withdrawn by its member.
type Status string

const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusDenied    Status = "denied"
	StatusWithdrawn Status = "withdrawn"
)

// Statuses lists every status, in the order a claim may reach them: the
// one list the lists' filters, the export and the API description follow.
var Statuses = []Status{StatusPending, StatusApproved, StatusDenied, StatusWithdrawn}

// ParseStatus accepts the statuses a client may filter on.
func ParseStatus(s string) (Status, bool) {
	if st := Status(s); slices.Contains(Statuses, st) {
		return st, true
	}
	return "", false
}

// PaymentStatus is where the payout of an approved reimbursement stands.
type PaymentStatus string

const (
	PaymentStatusNone      PaymentStatus = "none"
	PaymentStatusRequested PaymentStatus = "requested"
	// PaymentStatusSent is an ACH credit in a file handed to the ODFI,
	// neither settled nor returned yet.
	PaymentStatusSent    PaymentStatus = "sent"
	PaymentStatusSettled PaymentStatus = "settled"
	PaymentStatusFailed  PaymentStatus = "failed"
	// PaymentStatusReturned is an ACH credit the member's bank sent back
	// (a return, R01, R03, ...): the member was not paid.
	PaymentStatusReturned PaymentStatus = "returned"
)

// PaymentStatuses lists every payment status, in the order a payout may
// reach them.
var PaymentStatuses = []PaymentStatus{PaymentStatusNone, PaymentStatusRequested, PaymentStatusSent, PaymentStatusSettled,
	PaymentStatusFailed, PaymentStatusReturned}

// ParsePaymentStatus accepts the payment statuses a client may filter on.
func ParsePaymentStatus(s string) (PaymentStatus, bool) {
	if st := PaymentStatus(s); slices.Contains(PaymentStatuses, st) {
		return st, true
	}
	return "", false
}

// Reimbursement is the state of one claim, folded from its stream (and, for
// the payment fields, from its payment's stream).
type Reimbursement struct {
	ID          uuid.UUID
	BankID      uuid.UUID
	MemberID    uuid.UUID
	AccountID   uuid.UUID
	Amount      decimal.Decimal
	Currency    string
	Description string
	Status      Status
	SubmittedAt time.Time
	// ApprovalsRequired is how many administrators must approve it (1 or
	// 2), fixed at submission by the bank's approval policy.
	ApprovalsRequired int
	// Approvals are the approvals given, oldest first; the last of
	// ApprovalsRequired approves it.
	Approvals []Approval
	// DecidedAt and DecidedBy are the deciding approval's or the denial's.
	DecidedAt    *time.Time
	DecidedBy    *uuid.UUID
	DenialReason string
	WithdrawnAt  *time.Time
	// Receipts are the receipts attached, oldest first. ReceiptCount is how
	// many: the read model keeps the count, not the receipts.
	Receipts     []Receipt
	ReceiptCount int
	// PaymentStatus is the outcome of the latest payment attempt,
	// PaymentAttempt its number (0 before any), PaymentFailureReason the
	// rail's reason when it failed.
	PaymentStatus        PaymentStatus
	PaymentAttempt       int
	PaymentFailureReason string
	// Version is the version of the reimbursement's own stream.
	Version int64
	// Position is the position of the newest event folded into it: after a
	// command, the event the command appended. A read model keeps versions,
	// not positions, and leaves it 0.
	Position int64
}

// Approval is one administrator's approval of a reimbursement.
type Approval struct {
	AdministratorID uuid.UUID
	ApprovedAt      time.Time
	Note            string
}

// Submission is a member's claim as the command carries it.
type Submission struct {
	ID          uuid.UUID
	Account     Account
	Amount      string
	Description string
	// Policy is the account's bank's approval policy, which decides how
	// many approvals the claim needs.
	Policy ApprovalPolicy
	Now    time.Time
}

// Submit decides a new reimbursement: the member and bank come from the
// account, the amount must suit the account's currency, and the bank's
// approval policy says how many administrators must approve it.
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
		Subject:    s.Account.MemberID,
		Event: ReimbursementSubmitted{
			ReimbursementID:   s.ID,
			BankID:            s.Account.BankID,
			BankMemberID:      s.Account.MemberID,
			BankAccountID:     s.Account.ID,
			Amount:            NewAmount(amount, cur),
			Currency:          cur.Code,
			Description:       s.Description,
			SubmittedAt:       s.Now.UTC(),
			ApprovalsRequired: s.Policy.ApprovalsRequired(amount, cur.Code),
		},
	}, nil
}

// Approve decides an approval by an administrator of the reimbursement's
// bank, with an optional note. While more approvals are needed it is
// recorded (ReimbursementApprovalRecorded) and the reimbursement stays
// pending; the last one approves it (ReimbursementApproved). An
// administrator approves a reimbursement once: the second approval must be
// another's (EConflict).
func (r *Reimbursement) Approve(admin Administrator, note string, now time.Time) (PendingEvent, error) {
	return r.ApproveUnder(ApprovalPolicy{}, admin, note, now)
}

// ApproveUnder is Approve under the bank's approval policy in force: a
// claim above its receipt amount cannot be approved without a receipt
// (EConflict naming the rule).
func (r *Reimbursement) ApproveUnder(policy ApprovalPolicy, admin Administrator, note string, now time.Time) (PendingEvent, error) {
	if err := checkNote(note); err != nil {
		return PendingEvent{}, err
	}
	if err := r.checkDecidable(admin); err != nil {
		return PendingEvent{}, err
	}
	if err := policy.checkReceiptRule(r); err != nil {
		return PendingEvent{}, err
	}
	for _, a := range r.Approvals {
		if a.AdministratorID == admin.ID {
			return PendingEvent{}, Errorf(EConflict, "administrator %s already approved reimbursement %s: the next approval must be another administrator's", admin.ID, r.ID)
		}
	}
	required := max(r.ApprovalsRequired, 1)
	if given := len(r.Approvals) + 1; given < required {
		return r.next(ReimbursementApprovalRecorded{ReimbursementID: r.ID, AdministratorID: admin.ID, Note: note, ApprovedAt: now.UTC(),
			Approvals: given, ApprovalsRequired: required}), nil
	}
	return r.next(ReimbursementApproved{ReimbursementID: r.ID, AdministratorID: admin.ID, Note: note, ApprovedAt: now.UTC()}), nil
}

// checkNote validates an approval's optional note: "" is none.
func checkNote(note string) error {
	if note == "" {
		return nil
	}
	var v validation
	checkText(&v, "note", note, MaxDescriptionLength)
	return v.err()
}

// Deny decides a denial, with the reason the member will read. Either
// administrator of a dual approval may deny, before or after the first
// approval.
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

// Withdraw decides that the member takes back their claim: only the member
// who submitted it (EForbidden), only while it is pending (EConflict).
func (r *Reimbursement) Withdraw(memberID uuid.UUID, now time.Time) (PendingEvent, error) {
	if memberID != r.MemberID {
		return PendingEvent{}, Errorf(EForbidden, "member %s did not submit reimbursement %s", memberID, r.ID)
	}
	if r.Status != StatusPending {
		return PendingEvent{}, Errorf(EConflict, "reimbursement %s is already %s", r.ID, r.Status)
	}
	return r.next(ReimbursementWithdrawn{ReimbursementID: r.ID, BankMemberID: r.MemberID, WithdrawnAt: now.UTC()}), nil
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
	return PendingEvent{StreamID: r.ID, StreamType: StreamReimbursement, Version: r.Version + 1, Event: e, Subject: r.MemberID}
}

// Apply folds one recorded event of the reimbursement's story into its state.
// Events of its payment stream move the payment fields; MemberNotified
// changes nothing.
func (r *Reimbursement) Apply(rec RecordedEvent) error {
	e, err := rec.Decode()
	if err != nil {
		return err
	}
	r.ApplyEvent(rec, e)
	return nil
}

// ApplyEvent is Apply of an event already decoded from rec: the one
// transition function of a reimbursement, which the read models fold with
// too. It does not check the order: a caller that may see an event twice
// skips those at or below the versions it holds.
func (r *Reimbursement) ApplyEvent(rec RecordedEvent, e Event) {
	switch e := e.(type) {
	case ReimbursementSubmitted:
		*r = Reimbursement{
			ID: e.ReimbursementID, BankID: e.BankID, MemberID: e.BankMemberID, AccountID: e.BankAccountID,
			Amount: e.Amount.Decimal, Currency: e.Currency, Description: e.Description,
			Status: StatusPending, SubmittedAt: e.SubmittedAt, ApprovalsRequired: e.ApprovalsRequired,
			PaymentStatus: PaymentStatusNone,
		}
	case ReceiptAttached:
		r.Receipts = append(r.Receipts, Receipt{ID: e.ReceiptID, SHA256: e.SHA256, Size: e.Size, ContentType: e.ContentType, AttachedAt: e.AttachedAt})
		r.ReceiptCount++
	case ReimbursementApprovalRecorded:
		r.Approvals = append(r.Approvals, Approval{AdministratorID: e.AdministratorID, ApprovedAt: e.ApprovedAt, Note: e.Note})
	case ReimbursementApproved:
		r.Approvals = append(r.Approvals, Approval{AdministratorID: e.AdministratorID, ApprovedAt: e.ApprovedAt, Note: e.Note})
		r.Status, r.DecidedAt, r.DecidedBy = StatusApproved, &e.ApprovedAt, &e.AdministratorID
	case ReimbursementDenied:
		r.Status, r.DecidedAt, r.DecidedBy, r.DenialReason = StatusDenied, &e.DeniedAt, &e.AdministratorID, e.Reason
	case ReimbursementWithdrawn:
		r.Status, r.WithdrawnAt = StatusWithdrawn, &e.WithdrawnAt
	case PaymentRequested, PaymentSent, PaymentSettled, PaymentFailed, PaymentReturned:
		// The payment's own fold says where the payout stands.
		p := Payment{Attempt: r.PaymentAttempt, Status: r.PaymentStatus, FailureReason: r.PaymentFailureReason}
		p.apply(e)
		r.PaymentStatus, r.PaymentAttempt, r.PaymentFailureReason = p.Status, p.Attempt, p.FailureReason
	}
	if rec.StreamType == StreamReimbursement {
		r.Version = rec.StreamVersion
	}
	r.Position = max(r.Position, rec.Position)
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

// ReimbursementOf returns the reimbursement whose story an event belongs to
// (its own stream, its payment's and its notifications'); false for any
// other event.
func ReimbursementOf(e Event) (uuid.UUID, bool) {
	switch e := e.(type) {
	case ReimbursementSubmitted:
		return e.ReimbursementID, true
	case ReceiptAttached:
		return e.ReimbursementID, true
	case ReimbursementApprovalRecorded:
		return e.ReimbursementID, true
	case ReimbursementApproved:
		return e.ReimbursementID, true
	case ReimbursementDenied:
		return e.ReimbursementID, true
	case ReimbursementWithdrawn:
		return e.ReimbursementID, true
	case PaymentRequested:
		return e.ReimbursementID, true
	case PaymentSent:
		return e.ReimbursementID, true
	case PaymentSettled:
		return e.ReimbursementID, true
	case PaymentFailed:
		return e.ReimbursementID, true
	case PaymentReturned:
		return e.ReimbursementID, true
	case MemberNotified:
		return e.ReimbursementID, true
	}
	return uuid.Nil, false
}
