package app

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Streams loads aggregates by folding their streams and appends the events
// decided on them. The use cases read through it, and the sagas use it as
// their store: they act for the ledger itself, not for a caller.
type Streams struct {
	Events    EventStore
	Directory Directory
	// policies, when set, keeps folded approval policies by their stream's
	// version (policycache.go).
	policies *policyCache
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

// Claim is a reimbursement as of one of its events, with its sequence: how
// many events of the claim (its own and its payment's) it folds. Each
// event of a claim has a higher sequence than the one before it.
type Claim struct {
	*ledger.Reimbursement
	Sequence int64
}

// Claim returns a reimbursement's current state with its sequence;
// ENotFound for an unknown id.
func (s Streams) Claim(ctx context.Context, id uuid.UUID) (c Claim, err error) {
	defer ledger.Wrap(&err, "Streams.Claim(%s)", id)
	story, err := s.Events.Load(ctx, id, ledger.PaymentID(id))
	if err != nil {
		return Claim{}, err
	}
	r, err := ledger.FoldReimbursement(id, story)
	if err != nil {
		return Claim{}, err
	}
	return Claim{Reimbursement: r, Sequence: int64(len(story))}, nil
}

// ClaimAt returns a reimbursement as of its event eventID: folded from its
// stream and its payment's up to and including that event, whatever came
// after it. ENotFound for an unknown reimbursement or an event not of it.
func (s Streams) ClaimAt(ctx context.Context, id, eventID uuid.UUID) (c Claim, err error) {
	defer ledger.Wrap(&err, "Streams.ClaimAt(%s, %s)", id, eventID)
	story, err := s.Events.Load(ctx, id, ledger.PaymentID(id))
	if err != nil {
		return Claim{}, err
	}
	return claimAt(id, story, eventID)
}

// claimAt folds a reimbursement's story, its stream's and its payment's
// events in position order, up to and including its event eventID.
func claimAt(id uuid.UUID, story []ledger.RecordedEvent, eventID uuid.UUID) (Claim, error) {
	at := slices.IndexFunc(story, func(rec ledger.RecordedEvent) bool { return rec.EventID == eventID })
	if at < 0 {
		return Claim{}, ledger.Errorf(ledger.ENotFound, "reimbursement %s has no event %s", id, eventID)
	}
	r, err := ledger.FoldReimbursement(id, story[:at+1])
	if err != nil {
		return Claim{}, err
	}
	return Claim{Reimbursement: r, Sequence: int64(at + 1)}, nil
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

// Account returns an account of the directory.
func (s Streams) Account(ctx context.Context, id uuid.UUID) (ledger.Account, error) {
	return s.Directory.Account(ctx, id)
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
// the zero policy when the bank never set one. With a policy cache it
// first reads the stream's version and answers the policy folded at that
// version when it has it: what the stream shows now, in this process or
// after a change by any other.
// keptApprovalPolicy is the bank's approval policy as kept, without reading
// its stream's version, or ApprovalPolicy when none is kept. A decision on
// it must be appended with PendingEvent.Given at the policy's version
// (givenPolicy), and forget it on ledger.ErrStaleRead.
func (s Streams) keptApprovalPolicy(ctx context.Context, bankID uuid.UUID) (ledger.ApprovalPolicy, error) {
	if s.policies != nil {
		if p, ok := s.policies.kept(bankID); ok {
			return p, nil
		}
	}
	return s.ApprovalPolicy(ctx, bankID)
}

// forgetApprovalPolicy drops the kept policy a decision found stale.
func (s Streams) forgetApprovalPolicy(p ledger.ApprovalPolicy) {
	if s.policies != nil {
		s.policies.forget(p.BankID, p.Version)
	}
}

// givenPolicy is the policy's stream at the version p folds.
func givenPolicy(p ledger.ApprovalPolicy) *ledger.StreamAt {
	return &ledger.StreamAt{StreamID: ledger.ApprovalPolicyStreamID(p.BankID), Version: p.Version}
}

func (s Streams) ApprovalPolicy(ctx context.Context, bankID uuid.UUID) (p ledger.ApprovalPolicy, err error) {
	defer ledger.Wrap(&err, "Streams.ApprovalPolicy(%s)", bankID)
	streamID := ledger.ApprovalPolicyStreamID(bankID)
	if s.policies != nil {
		version, err := s.Events.StreamVersion(ctx, streamID)
		if err != nil {
			return ledger.ApprovalPolicy{}, err
		}
		if p, ok := s.policies.get(bankID, version); ok {
			return p, nil
		}
	}
	stream, err := s.Events.Load(ctx, streamID)
	if err != nil {
		return ledger.ApprovalPolicy{}, err
	}
	if p, err = ledger.FoldApprovalPolicy(bankID, stream); err != nil {
		return ledger.ApprovalPolicy{}, err
	}
	if s.policies != nil {
		s.policies.put(p)
	}
	return p, nil
}
