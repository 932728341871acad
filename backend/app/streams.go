package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Streams loads aggregates by folding their streams and appends the events
// decided on them. The use cases read through it, and the sagas use it as
// their store: they act for the ledger itself, not for a caller.
type Streams struct {
	Events    EventStore
	Directory Directory
}

// Reimbursement returns a reimbursement's current state, folded from its
// stream and its payment's stream; ENotFound for an unknown id.
func (s Streams) Reimbursement(ctx context.Context, id uuid.UUID) (r *ledger.Reimbursement, err error) {
	defer ledger.Wrap(&err, "Streams.Reimbursement(%s)", id)
	story, err := s.Events.Load(ctx, id, ledger.PaymentID(id))
	if err != nil {
		return nil, err
	}
	return ledger.FoldReimbursement(id, story)
}

// Payment returns a payment folded from its stream; ENotFound for an unknown id.
func (s Streams) Payment(ctx context.Context, id uuid.UUID) (p *ledger.Payment, err error) {
	defer ledger.Wrap(&err, "Streams.Payment(%s)", id)
	stream, err := s.Events.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	return ledger.FoldPayment(id, stream)
}

// Member returns a member of the directory.
func (s Streams) Member(ctx context.Context, id uuid.UUID) (ledger.Member, error) {
	return s.Directory.Member(ctx, id)
}

// StreamVersion returns the version of a stream, 0 when it has no events.
func (s Streams) StreamVersion(ctx context.Context, streamID uuid.UUID) (int64, error) {
	return s.Events.StreamVersion(ctx, streamID)
}

// Append records events; ledger.ErrVersionConflict when a version is taken.
func (s Streams) Append(ctx context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) error {
	_, err := s.Events.Append(ctx, meta, events...)
	return err
}

// ApprovalPolicy returns a bank's approval policy, folded from its stream:
// the zero policy when the bank never set one.
func (s Streams) ApprovalPolicy(ctx context.Context, bankID uuid.UUID) (p ledger.ApprovalPolicy, err error) {
	defer ledger.Wrap(&err, "Streams.ApprovalPolicy(%s)", bankID)
	stream, err := s.Events.Load(ctx, ledger.ApprovalPolicyStreamID(bankID))
	if err != nil {
		return ledger.ApprovalPolicy{}, err
	}
	return ledger.FoldApprovalPolicy(bankID, stream)
}
