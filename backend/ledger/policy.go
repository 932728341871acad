package ledger

import (
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// ApprovalPolicy is a bank's rule of dual control: a reimbursement above
// SecondApprovalAbove needs the approvals of two different administrators.
// It is folded from the bank's approval policy stream; a bank that never
// set one has the zero policy, under which one approval decides any amount.
type ApprovalPolicy struct {
	BankID              uuid.UUID
	SecondApprovalAbove decimal.Decimal
	Currency            string
	// ReceiptRequiredAbove, when set, is the amount (in Currency) above
	// which a claim needs a receipt before it may be approved.
	ReceiptRequiredAbove *decimal.Decimal
	// SetAt and SetBy say when and by whom (the event's actor) the policy
	// in force was set.
	SetAt   time.Time
	SetBy   string
	Version int64
	// Position is the position of the event that set it.
	Position int64
}

// IsSet reports whether the bank has set a policy.
func (p ApprovalPolicy) IsSet() bool { return p.Version > 0 }

// ApprovalsRequired returns how many administrators must approve a claim
// of amount in currency: 2 above the threshold, 1 otherwise. Without
// exchange rates an amount in another currency cannot be compared with the
// threshold, so under a policy it needs two approvals: dual control must
// not be avoidable by claiming in another currency.
func (p ApprovalPolicy) ApprovalsRequired(amount decimal.Decimal, currency string) int {
	switch {
	case !p.IsSet():
		return 1
	case currency != p.Currency, amount.GreaterThan(p.SecondApprovalAbove):
		return 2
	}
	return 1
}

// SetApprovalPolicy decides a bank's new approval policy: amounts above
// secondApprovalAbove (a decimal string with the currency's decimal
// places, from 0 to MaxAmount) in currency need two approvals. current is
// the policy in force; the new one replaces it.
func SetApprovalPolicy(current ApprovalPolicy, bankID uuid.UUID, secondApprovalAbove, currency string, now time.Time) (PendingEvent, error) {
	return DecideApprovalPolicy(current, bankID, PolicyTerms{SecondApprovalAbove: secondApprovalAbove, Currency: currency}, now)
}

// PolicyTerms are an approval policy as an operator sets it: decimal
// strings in Currency, ReceiptRequiredAbove nil when no receipt is required.
type PolicyTerms struct {
	SecondApprovalAbove  string
	Currency             string
	ReceiptRequiredAbove *string
}

// DecideApprovalPolicy is SetApprovalPolicy with every term: amounts above
// ReceiptRequiredAbove, when given, need a receipt before an approval.
func DecideApprovalPolicy(current ApprovalPolicy, bankID uuid.UUID, terms PolicyTerms, now time.Time) (PendingEvent, error) {
	var v validation
	cur, ok := LookupCurrency(terms.Currency)
	if !ok {
		v.add("currency", "must be a supported ISO 4217 code such as USD")
		return PendingEvent{}, v.err()
	}
	threshold := policyAmount(&v, "second_approval_above", terms.SecondApprovalAbove, cur)
	var receipts *Amount
	if terms.ReceiptRequiredAbove != nil {
		a := NewAmount(policyAmount(&v, "receipt_required_above", *terms.ReceiptRequiredAbove, cur), cur)
		receipts = &a
	}
	if err := v.err(); err != nil {
		return PendingEvent{}, err
	}
	return PendingEvent{StreamID: ApprovalPolicyStreamID(bankID), StreamType: StreamApprovalPolicy, Version: current.Version + 1,
		Event: ApprovalPolicySet{BankID: bankID, SecondApprovalAbove: NewAmount(threshold, cur), Currency: cur.Code, SetAt: now.UTC(),
			ReceiptRequiredAbove: receipts}}, nil
}

// policyAmount parses one of a policy's amounts, from 0 to MaxAmount.
func policyAmount(v *validation, field, s string, cur Currency) decimal.Decimal {
	d, err := parseDecimal(s, cur)
	if err != nil {
		v.add(field, "%s", err.Error())
	} else if d.GreaterThan(MaxAmount) {
		v.add(field, "must not exceed %s, the largest amount a reimbursement may claim", MaxAmount.StringFixed(2))
	}
	return d
}

// FoldApprovalPolicy returns a bank's approval policy from its stream: the
// zero policy (of the bank) when the stream is empty.
func FoldApprovalPolicy(bankID uuid.UUID, stream []RecordedEvent) (ApprovalPolicy, error) {
	p := ApprovalPolicy{BankID: bankID}
	for _, rec := range stream {
		e, err := rec.Decode()
		if err != nil {
			return ApprovalPolicy{}, err
		}
		if set, ok := e.(ApprovalPolicySet); ok {
			p = ApprovalPolicy{BankID: bankID, SecondApprovalAbove: set.SecondApprovalAbove.Decimal, Currency: set.Currency,
				SetAt: set.SetAt, SetBy: rec.Metadata.Actor}
			if set.ReceiptRequiredAbove != nil {
				above := set.ReceiptRequiredAbove.Decimal
				p.ReceiptRequiredAbove = &above
			}
		}
		p.Version, p.Position = rec.StreamVersion, rec.Position
	}
	return p, nil
}
