// Package wire holds the JSON the ledger sends out of the process in more
// than one place: the reimbursement, as the API answers it and as the
// webhooks carry it, and the webhook message around it. The API
// (backend/httpapi) and the webhook deliveries (backend/worker) both write
// these types, so a client and a receiver read one shape, the one
// docs/openapi.yaml describes.
package wire

import (
	"time"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Reimbursement is a reimbursement on the wire (docs/openapi.yaml,
// Reimbursement): ids as UUID strings, the amount a decimal string with the
// currency's decimal places, times RFC 3339 in UTC, absent values null.
type Reimbursement struct {
	ID                uuid.UUID  `json:"id"`
	BankID            uuid.UUID  `json:"bank_id"`
	BankMemberID      uuid.UUID  `json:"bank_member_id"`
	BankAccountID     uuid.UUID  `json:"bank_account_id"`
	Amount            string     `json:"amount"`
	Currency          string     `json:"currency"`
	Description       string     `json:"description"`
	Status            string     `json:"status"`
	SubmittedAt       time.Time  `json:"submitted_at"`
	ApprovalsRequired int        `json:"approvals_required"`
	Approvals         []Approval `json:"approvals"`
	DecidedAt         *time.Time `json:"decided_at"`
	DecidedBy         *uuid.UUID `json:"decided_by"`
	DenialReason      *string    `json:"denial_reason"`
	WithdrawnAt       *time.Time `json:"withdrawn_at"`
	PaymentStatus     string     `json:"payment_status"`
	// PaymentAttempt is the latest payout attempt's number, 0 before any.
	PaymentAttempt       int     `json:"payment_attempt"`
	PaymentFailureReason *string `json:"payment_failure_reason"`
	Version              int64   `json:"version"`
	// ReceiptCount is how many receipts the member attached.
	ReceiptCount int `json:"receipt_count"`
	// Sequence counts the claim's events this state folds, its payment's
	// included: a single reimbursement's read and each webhook carry it,
	// the lists do not (0, left out).
	Sequence int64 `json:"sequence,omitempty"`
}

// Approval is one administrator's approval, with their note (null when
// they gave none).
type Approval struct {
	AdministratorID uuid.UUID `json:"administrator_id"`
	ApprovedAt      time.Time `json:"approved_at"`
	Note            *string   `json:"note"`
}

// NewClaim returns r as it goes on the wire with its sequence: the
// reimbursement as of the sequence-th event of its claim.
func NewClaim(r *ledger.Reimbursement, sequence int64) Reimbursement {
	out := NewReimbursement(*r)
	out.Sequence = sequence
	return out
}

// NewReimbursement returns r as it goes on the wire.
func NewReimbursement(r ledger.Reimbursement) Reimbursement {
	out := Reimbursement{
		ID: r.ID, BankID: r.BankID, BankMemberID: r.MemberID, BankAccountID: r.AccountID,
		Amount: ledger.FormatAmount(r.Amount, r.Currency), Currency: r.Currency, Description: r.Description,
		Status: string(r.Status), SubmittedAt: r.SubmittedAt, ApprovalsRequired: max(r.ApprovalsRequired, 1),
		Approvals: make([]Approval, 0, len(r.Approvals)), DecidedAt: r.DecidedAt, DecidedBy: r.DecidedBy,
		WithdrawnAt: r.WithdrawnAt, PaymentStatus: string(r.PaymentStatus), PaymentAttempt: r.PaymentAttempt, Version: r.Version,
		ReceiptCount: r.ReceiptCount,
	}
	for _, a := range r.Approvals {
		approval := Approval{AdministratorID: a.AdministratorID, ApprovedAt: a.ApprovedAt}
		if a.Note != "" {
			approval.Note = &a.Note
		}
		out.Approvals = append(out.Approvals, approval)
	}
	if r.Status == ledger.StatusDenied {
		reason := r.DenialReason
		out.DenialReason = &reason
	}
	if r.PaymentStatus == ledger.PaymentStatusFailed || r.PaymentStatus == ledger.PaymentStatusReturned {
		reason := r.PaymentFailureReason
		out.PaymentFailureReason = &reason
	}
	return out
}
