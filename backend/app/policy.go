package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// SetApprovalPolicyCommand is an operator setting a bank's dual control.
type SetApprovalPolicyCommand struct {
	BankID uuid.UUID
	// SecondApprovalAbove is a decimal string in Currency: claims above it
	// need two administrators' approvals.
	SecondApprovalAbove string
	Currency            string
	// ReceiptRequiredAbove, when not nil, is a decimal string in Currency:
	// claims above it need a receipt before they may be approved.
	ReceiptRequiredAbove *string
	Meta                 ledger.Metadata
}

// SetApprovalPolicy records a bank's new approval policy (ApprovalPolicySet,
// with the operator as its actor, so the auditors' feed shows who changed
// it and when); operators only. It applies to claims submitted from then
// on. Errors: EForbidden, ENotFound (no such bank), EInvalid, EConflict (a
// concurrent change committed first).
func (a *App) SetApprovalPolicy(ctx context.Context, p Principal, cmd SetApprovalPolicyCommand) (policy ledger.ApprovalPolicy, err error) {
	defer ledger.Wrap(&err, "SetApprovalPolicy(bank %s)", cmd.BankID)
	if err := p.must(RoleOperator); err != nil {
		return ledger.ApprovalPolicy{}, err
	}
	if a.tx != nil {
		// What the rest of the transaction reads of the policy is not
		// committed yet: keep it out of the cache (policycache.go).
		a.wrotePolicy = true
	}
	err = a.transact(ctx, func(tx Tx) error {
		if _, err := tx.Directory.Bank(ctx, cmd.BankID); err != nil {
			return err
		}
		// Without the policy cache: the policy it reads after appending is
		// not committed yet.
		streams := Streams{Events: tx.Events}
		current, err := streams.ApprovalPolicy(ctx, cmd.BankID)
		if err != nil {
			return err
		}
		event, err := ledger.DecideApprovalPolicy(current, cmd.BankID, ledger.PolicyTerms{SecondApprovalAbove: cmd.SecondApprovalAbove,
			Currency: cmd.Currency, ReceiptRequiredAbove: cmd.ReceiptRequiredAbove}, a.now())
		if err != nil {
			return err
		}
		if _, err := tx.Events.Append(ctx, p.metadata(cmd.Meta), event); err != nil {
			return err
		}
		policy, err = streams.ApprovalPolicy(ctx, cmd.BankID)
		return err
	})
	return policy, err
}

// ApprovalPolicy returns a bank's approval policy (the zero policy when it
// never set one) to an operator or to the bank's own administrators;
// ENotFound for anyone else's bank and for a bank that does not exist.
func (a *App) ApprovalPolicy(ctx context.Context, p Principal, bankID uuid.UUID) (ledger.ApprovalPolicy, error) {
	if _, err := a.Bank(ctx, p, bankID); err != nil {
		return ledger.ApprovalPolicy{}, err
	}
	return a.streams().ApprovalPolicy(ctx, bankID)
}
