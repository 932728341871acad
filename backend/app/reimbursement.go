package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// SubmitCommand is a member's claim against one of their accounts.
type SubmitCommand struct {
	ID          uuid.UUID
	AccountID   uuid.UUID
	Amount      string
	Description string
	Meta        ledger.Metadata
}

// Submit records a new reimbursement by the member p. The account must be
// one of p's (EInvalid naming bank_account_id otherwise, the same answer as
// for an account that does not exist); the bank comes from it.
//
// A submission starts a new stream, so there is nothing to load and nothing
// to lock: UNIQUE (stream_id, stream_version) refuses a second first event,
// and the append checks that the bank's approval policy is still the one
// it was decided on (PendingEvent.Given).
// Outside a transaction the event store may share the append's commit with
// concurrent submissions'.
func (a *App) Submit(ctx context.Context, p Principal, cmd SubmitCommand) (r *ledger.Reimbursement, err error) {
	defer ledger.Wrap(&err, "Submit(account %s)", cmd.AccountID)
	ctx, end := startSpan(ctx, "app.Submit", cmd.Meta)
	defer func() { end(err) }()
	if err := p.must(RoleMember); err != nil {
		return nil, err
	}
	acct, err := a.directory().Account(ctx, cmd.AccountID)
	if ledger.ErrorCode(err) == ledger.ENotFound || (err == nil && acct.MemberID != p.ID) {
		return nil, &ledger.Error{Code: ledger.EInvalid, Message: "the request names an account that does not exist",
			Fields: []ledger.FieldError{{Field: "bank_account_id", Message: fmt.Sprintf("no account has id %s", cmd.AccountID)}}}
	}
	if err != nil {
		return nil, err
	}
	// The policy in force at submission decides how many approvals the
	// claim needs, as expense products apply approval rules when a report
	// is submitted: a later change does not reach claims already waiting.
	// The submission decides on the policy kept and is appended only while
	// the policy's stream is at that version; when it moved on, the
	// submission is decided again on the policy as it is.
	for round := 1; ; round++ {
		streams := a.streams()
		policy, err := streams.keptApprovalPolicy(ctx, acct.BankID)
		if err != nil {
			return nil, err
		}
		event, err := ledger.Submit(ledger.Submission{ID: cmd.ID, Account: acct, Amount: cmd.Amount, Description: cmd.Description, Policy: policy, Now: a.now()})
		if err != nil {
			return nil, err
		}
		event.Given = givenPolicy(policy)
		recorded, err := a.events().Append(ctx, p.metadata(cmd.Meta), event)
		if errors.Is(err, ledger.ErrStaleRead) && round < maxDecisionRounds {
			streams.forgetApprovalPolicy(policy)
			continue
		}
		if err != nil {
			return nil, err
		}
		return ledger.FoldReimbursement(cmd.ID, recorded)
	}
}

// DecideCommand is an administrator's approval or denial.
type DecideCommand struct {
	ReimbursementID uuid.UUID
	// Reason is required to deny and ignored to approve.
	Reason string
	// Note is an approval's optional note; ignored to deny.
	Note string
	// IfMatch, when not nil, lists the versions the administrator accepts
	// (the one they saw): deciding fails with EPreconditionFailed when the
	// reimbursement is at none of them.
	IfMatch []int64
	Meta    ledger.Metadata
}

// Approve records an approval by the administrator p: the deciding one, or
// a first one that leaves the reimbursement pending when its bank's policy
// asks for two. Errors: EForbidden (not an administrator), ENotFound (no
// such reimbursement at p's bank: another bank's answers the same, before
// anything else is checked), EPreconditionFailed (If-Match names another
// version), EInvalid (a blank or over-long note), EConflict (already
// decided, or p already approved it).
//
// Two administrators approving at once are both recorded: the one who
// comes second is decided again on the first one's approval.
func (a *App) Approve(ctx context.Context, p Principal, cmd DecideCommand) (r *ledger.Reimbursement, err error) {
	defer ledger.Wrap(&err, "Approve(%s)", cmd.ReimbursementID)
	ctx, end := startSpan(ctx, "app.Approve", cmd.Meta)
	defer func() { end(err) }()
	return a.decide(ctx, p, cmd, func(s Streams, r *ledger.Reimbursement, admin ledger.Administrator) (ledger.PendingEvent, error) {
		// The policy in force now says whether the claim needs a receipt.
		policy, err := s.ApprovalPolicy(ctx, r.BankID)
		if err != nil {
			return ledger.PendingEvent{}, err
		}
		return r.ApproveUnder(policy, admin, cmd.Note, a.now())
	})
}

// Deny records a denial; it fails as Approve does, and with EInvalid for a
// missing or over-long reason.
func (a *App) Deny(ctx context.Context, p Principal, cmd DecideCommand) (r *ledger.Reimbursement, err error) {
	defer ledger.Wrap(&err, "Deny(%s)", cmd.ReimbursementID)
	ctx, end := startSpan(ctx, "app.Deny", cmd.Meta)
	defer func() { end(err) }()
	return a.decide(ctx, p, cmd, func(_ Streams, r *ledger.Reimbursement, admin ledger.Administrator) (ledger.PendingEvent, error) {
		return r.Deny(admin, cmd.Reason, a.now())
	})
}

type decision func(s Streams, r *ledger.Reimbursement, admin ledger.Administrator) (ledger.PendingEvent, error)

func (a *App) decide(ctx context.Context, p Principal, cmd DecideCommand, decide decision) (*ledger.Reimbursement, error) {
	if err := p.must(RoleAdministrator); err != nil {
		return nil, err
	}
	return a.onReimbursement(ctx, p, cmd.ReimbursementID, cmd.IfMatch, cmd.Meta, func(s Streams, r *ledger.Reimbursement) (ledger.PendingEvent, error) {
		return decide(s, r, ledger.Administrator{ID: p.ID, BankID: p.BankID})
	})
}

// WithdrawCommand is a member taking back a pending claim.
type WithdrawCommand struct {
	ReimbursementID uuid.UUID
	// IfMatch is as for DecideCommand.
	IfMatch []int64
	Meta    ledger.Metadata
}

// Withdraw records that the member p takes back their pending claim.
// Errors: EForbidden (not a member), ENotFound (not p's claim),
// EPreconditionFailed, EConflict (decided or withdrawn: a decision that
// commits first wins).
func (a *App) Withdraw(ctx context.Context, p Principal, cmd WithdrawCommand) (r *ledger.Reimbursement, err error) {
	defer ledger.Wrap(&err, "Withdraw(%s)", cmd.ReimbursementID)
	ctx, end := startSpan(ctx, "app.Withdraw", cmd.Meta)
	defer func() { end(err) }()
	if err := p.must(RoleMember); err != nil {
		return nil, err
	}
	return a.onReimbursement(ctx, p, cmd.ReimbursementID, cmd.IfMatch, cmd.Meta, func(_ Streams, r *ledger.Reimbursement) (ledger.PendingEvent, error) {
		return r.Withdraw(p.ID, a.now())
	})
}

// onReimbursement decides a command on a reimbursement's current state and
// appends the event: load it, check that p may see it and that If-Match
// names its version, decide, append. The append may share its commit with
// concurrent commands' (see decided).
func (a *App) onReimbursement(ctx context.Context, p Principal, id uuid.UUID, ifMatch []int64, meta ledger.Metadata,
	decide func(s Streams, r *ledger.Reimbursement) (ledger.PendingEvent, error)) (*ledger.Reimbursement, error) {
	return a.decideOnReimbursement(ctx, a.decided, p, id, ifMatch, meta, decide)
}

// decideOnReimbursement is onReimbursement run by run: decided, or
// decidedInTransaction for a command that reads the directory, whose
// records a transaction reads as committed and the stores keep cached.
func (a *App) decideOnReimbursement(ctx context.Context, run func(context.Context, func(Streams) error) error,
	p Principal, id uuid.UUID, ifMatch []int64, meta ledger.Metadata,
	decide func(s Streams, r *ledger.Reimbursement) (ledger.PendingEvent, error)) (*ledger.Reimbursement, error) {
	var r *ledger.Reimbursement
	err := run(ctx, func(streams Streams) error {
		var err error
		if r, err = streams.Reimbursement(ctx, id); err != nil {
			return err
		}
		if !p.sees(r) {
			return notFound(id)
		}
		if ifMatch != nil && !slices.Contains(ifMatch, r.Version) {
			return &ledger.Error{Code: ledger.EPreconditionFailed, CurrentVersion: r.Version,
				Message: fmt.Sprintf("reimbursement %s is at version %d, which If-Match does not name", r.ID, r.Version)}
		}
		event, err := decide(streams, r)
		if err != nil {
			return err
		}
		recorded, err := streams.Events.Append(ctx, p.metadata(meta), event)
		if err != nil {
			return err
		}
		return r.Apply(recorded[0])
	})
	return r, err
}

// maxDecisionRounds bounds how often a command is decided again after
// losing its stream version to another.
const maxDecisionRounds = 3

// decided runs fn, which decides on a stream's state and appends one event.
//
// Bound to a transaction (an Idempotency-Key's), fn runs there, once: when
// another command appended to the stream first, the conflict aborted that
// transaction, decided returns it, and the client may send the request
// again.
//
// Otherwise fn reads committed state over the pool and its append may share
// a commit with concurrent commands' (the event store's group commit). The
// stream's next version is the arbiter, as in a transaction: when another
// command took it first (ledger.ErrVersionConflict), fn runs again on the
// state that won, so that the domain accepts the command (a second
// administrator's approval after the first) or refuses it (EConflict: a
// decision after a withdrawal).
func (a *App) decided(ctx context.Context, fn func(Streams) error) error {
	if a.tx != nil {
		return a.decidedInTransaction(ctx, fn)
	}
	for round := 1; ; round++ {
		err := fn(a.streams())
		if round == maxDecisionRounds || !errors.Is(err, ledger.ErrVersionConflict) {
			return err
		}
	}
}

// decidedInTransaction runs fn as decided does, but always in a
// transaction of its own (or in a's, once), so that what fn reads of the
// directory is as committed, not as the stores keep it cached.
func (a *App) decidedInTransaction(ctx context.Context, fn func(Streams) error) error {
	for round := 1; ; round++ {
		err := a.transact(ctx, func(tx Tx) error { return fn(Streams{Events: tx.Events, Directory: tx.Directory}) })
		if a.tx != nil || round == maxDecisionRounds || !errors.Is(err, ledger.ErrVersionConflict) {
			return err
		}
	}
}

// RetryPayoutCommand asks for another attempt to pay an approved
// reimbursement whose last attempt failed.
type RetryPayoutCommand struct {
	ReimbursementID uuid.UUID
	Meta            ledger.Metadata
}

// RetryPayout records another payment attempt (PaymentRequested with the
// next attempt number), which the payment saga pays under that attempt's
// own idempotency key. Only an administrator of the reimbursement's bank,
// only when the last attempt failed: EConflict while an attempt is in
// flight or once one settled, so that at most one is ever in flight and at
// most one ever settles. ENotFound for another bank's reimbursement.
func (a *App) RetryPayout(ctx context.Context, p Principal, cmd RetryPayoutCommand) (r *ledger.Reimbursement, err error) {
	defer ledger.Wrap(&err, "RetryPayout(%s)", cmd.ReimbursementID)
	ctx, end := startSpan(ctx, "app.RetryPayout", cmd.Meta)
	defer func() { end(err) }()
	if err := p.must(RoleAdministrator); err != nil {
		return nil, err
	}
	// In a transaction: the member's record says whether they were erased,
	// and an erasure must not hide behind a cached copy of it.
	return a.decideOnReimbursement(ctx, a.decidedInTransaction, p, cmd.ReimbursementID, nil, cmd.Meta, func(streams Streams, r *ledger.Reimbursement) (ledger.PendingEvent, error) {
		if r.PaymentStatus == ledger.PaymentStatusNone {
			return ledger.PendingEvent{}, ledger.Errorf(ledger.EConflict, "reimbursement %s is %s and has no payout to retry", r.ID, r.Status)
		}
		payment, err := streams.Payment(ctx, ledger.PaymentID(r.ID))
		if err != nil {
			return ledger.PendingEvent{}, err
		}
		// A transfer names its member: once their personal data is erased
		// the ledger can no longer pay them by itself.
		if member, err := streams.Member(ctx, r.MemberID); err != nil {
			return ledger.PendingEvent{}, err
		} else if member.ErasedAt != nil {
			return ledger.PendingEvent{}, ledger.Errorf(ledger.EConflict,
				"member %s's personal data was erased: the bank pays them outside the ledger", r.MemberID)
		}
		return payment.Retry(a.now())
	})
}

// laterNotificationStreams lists the notification streams a claim's story
// points to beyond its first: each retried payout attempt's e-mail has a
// stream of its own, and so has each e-mail about a returned ACH credit.
func laterNotificationStreams(story []ledger.RecordedEvent) ([]uuid.UUID, error) {
	var streams []uuid.UUID
	for _, rec := range story {
		if rec.Type != ledger.TypePaymentReturned && (rec.Type != ledger.TypePaymentRequested || rec.StreamVersion == 1) {
			continue
		}
		e, err := rec.Decode()
		if err != nil {
			return nil, err
		}
		switch e := e.(type) {
		case ledger.PaymentRequested:
			streams = append(streams, ledger.AttemptNotificationStreamID(e.ReimbursementID, e.Attempt))
		case ledger.PaymentReturned:
			streams = append(streams, ledger.ReturnNotificationStreamID(e.ReimbursementID, e.Attempt))
		}
	}
	return streams, nil
}

// notFound is the answer for a reimbursement that does not exist or that
// the principal may not see: the same, so that ids cannot be probed.
func notFound(id uuid.UUID) error {
	return ledger.Errorf(ledger.ENotFound, "reimbursement %s not found", id)
}

// Reimbursement returns a reimbursement's current state, folded from the
// event store: always up to date, unlike the lists. Its member, its bank's
// administrators and the auditors may read it; ENotFound for anyone else.
func (a *App) Reimbursement(ctx context.Context, p Principal, id uuid.UUID) (*ledger.Reimbursement, error) {
	if err := p.must(RoleMember, RoleAdministrator, RoleAuditor); err != nil {
		return nil, err
	}
	r, err := a.streams().Reimbursement(ctx, id)
	if err == nil && !p.sees(r) {
		return nil, notFound(id)
	}
	return r, err
}

// Claim is Reimbursement with its sequence: how many events of the claim
// (its own and its payment's) the state folds, as its webhooks carry it.
func (a *App) Claim(ctx context.Context, p Principal, id uuid.UUID) (Claim, error) {
	if err := p.must(RoleMember, RoleAdministrator, RoleAuditor); err != nil {
		return Claim{}, err
	}
	c, err := a.streams().Claim(ctx, id)
	if err == nil && !p.sees(c.Reimbursement) {
		return Claim{}, notFound(id)
	}
	return c, err
}

// Story returns every event of a reimbursement, its payment and its
// notifications, in position order, to those who may read the
// reimbursement; ENotFound otherwise.
func (a *App) Story(ctx context.Context, p Principal, id uuid.UUID) (story []ledger.RecordedEvent, err error) {
	defer ledger.Wrap(&err, "Story(%s)", id)
	if err := p.must(RoleMember, RoleAdministrator, RoleAuditor); err != nil {
		return nil, err
	}
	story, err = a.events().Load(ctx, id, ledger.PaymentID(id), ledger.NotificationStreamID(id))
	if err != nil {
		return nil, err
	}
	retried, err := laterNotificationStreams(story)
	if err != nil {
		return nil, err
	}
	if len(retried) > 0 {
		more, err := a.events().Load(ctx, retried...)
		if err != nil {
			return nil, err
		}
		story = append(story, more...)
		slices.SortFunc(story, func(a, b ledger.RecordedEvent) int { return cmp.Compare(a.Position, b.Position) })
	}
	var own []ledger.RecordedEvent
	for _, e := range story {
		if e.StreamID == id {
			own = append(own, e)
		}
	}
	r, err := ledger.FoldReimbursement(id, own)
	if ledger.ErrorCode(err) == ledger.ENotFound || (err == nil && !p.sees(r)) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	return story, nil
}

// ListReimbursements reads a page of a bank's or a member's reimbursements
// from the read model, newest submission first. A bank's list is its
// administrators'; a member's is theirs, and their bank's administrators
// see the part at their bank. ENotFound when the bank or member does not
// exist or is not the principal's to list. With q.MinPosition, once the
// principal may list, it first waits for the read model to reach that
// event (see awaitReadModel): ErrBadPositionToken for a token not sealed
// for the principal's tenant, ErrUnknownPosition, ErrNotCaughtUp.
func (a *App) ListReimbursements(ctx context.Context, p Principal, q ListQuery) (page ListPage, err error) {
	defer ledger.Wrap(&err, "ListReimbursements")
	switch {
	case q.BankID != uuid.Nil:
		if err := p.must(RoleAdministrator); err != nil {
			return ListPage{}, err
		}
		if q.BankID != p.BankID {
			return ListPage{}, ledger.Errorf(ledger.ENotFound, "bank %s not found", q.BankID)
		}
	case p.is(RoleMember):
		if q.MemberID != p.ID {
			return ListPage{}, ledger.Errorf(ledger.ENotFound, "member %s not found", q.MemberID)
		}
	case p.is(RoleAdministrator):
		if err := a.memberOfBank(ctx, p, q.MemberID); err != nil {
			return ListPage{}, err
		}
		q.BankID = p.BankID
	default:
		return ListPage{}, p.must(RoleMember, RoleAdministrator)
	}
	if err := a.awaitToken(ctx, p, q.MinPosition); err != nil {
		return ListPage{}, err
	}
	if page, err = a.stores.Reimbursements.ListReimbursements(ctx, q); err != nil {
		return ListPage{}, err
	}
	if err := a.personal.openReimbursements(ctx, a.stores.SubjectKeys, page.Items); err != nil {
		return ListPage{}, err
	}
	// Only an empty page can hide an unknown bank or member: look it up then.
	if len(page.Items) == 0 {
		if q.MemberID != uuid.Nil {
			_, err = a.stores.Directory.Member(ctx, q.MemberID)
		} else {
			_, err = a.stores.Directory.Bank(ctx, q.BankID)
		}
		if err != nil {
			return ListPage{}, err
		}
	}
	return page, nil
}

// ExportReimbursements returns every reimbursement of bank q.BankID that
// q's filters select, newest submission first, a batch at a time as it
// reads them from the read model: however many there are, an export holds
// one batch (Config.ExportBatch). A bank's administrators may export its
// reimbursements, and the operator (the command line) any bank's; another
// bank, or one that does not exist, is ENotFound before anything is read.
// With q.MinPosition it first waits for the read model, as
// ListReimbursements does. q.Limit and q.Before are ignored.
//
// The batches are read one after another, not in one snapshot: a
// reimbursement decided while an export runs shows as its batch found it,
// and one submitted meanwhile is left out (it is newer than the first batch).
func (a *App) ExportReimbursements(ctx context.Context, p Principal, q ListQuery) (_ iter.Seq2[[]ledger.Reimbursement, error], err error) {
	defer ledger.Wrap(&err, "ExportReimbursements(bank %s)", q.BankID)
	if err := a.exporter(ctx, p, q.BankID); err != nil {
		return nil, err
	}
	if err := a.awaitToken(ctx, p, q.MinPosition); err != nil {
		return nil, err
	}
	q.MemberID, q.Limit, q.Before, q.MinPosition = uuid.Nil, a.exportBatch, PageKey{}, ""
	return func(yield func([]ledger.Reimbursement, error) bool) {
		for {
			page, err := a.stores.Reimbursements.ListReimbursements(ctx, q)
			if err == nil {
				err = a.personal.openReimbursements(ctx, a.stores.SubjectKeys, page.Items)
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if len(page.Items) > 0 && !yield(page.Items, nil) || page.NextBefore.IsZero() {
				return
			}
			q.Before = page.NextBefore
		}
	}, nil
}

// CountReimbursements counts what ExportReimbursements would return, for
// those who may export it.
func (a *App) CountReimbursements(ctx context.Context, p Principal, q ListQuery) (n int64, err error) {
	defer ledger.Wrap(&err, "CountReimbursements(bank %s)", q.BankID)
	if err := a.exporter(ctx, p, q.BankID); err != nil {
		return 0, err
	}
	q.MemberID = uuid.Nil
	return a.stores.Reimbursements.CountReimbursements(ctx, q)
}

// exporter returns nil when p may export the bank's reimbursements: an
// administrator of the bank, or the operator.
func (a *App) exporter(ctx context.Context, p Principal, bankID uuid.UUID) error {
	if err := p.must(RoleAdministrator, RoleOperator); err != nil {
		return err
	}
	if p.is(RoleAdministrator) && bankID != p.BankID {
		return ledger.Errorf(ledger.ENotFound, "bank %s not found", bankID)
	}
	_, err := a.stores.Directory.Bank(ctx, bankID)
	return err
}
