package app

import (
	"context"
	"fmt"
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

// Submit records a new reimbursement. The account must exist (EInvalid
// naming bank_account_id otherwise); the member and bank come from it.
//
// A submission starts a new stream, so there is nothing to load and nothing
// to lock: UNIQUE (stream_id, stream_version) refuses a second first event.
// Outside a transaction the event store may share the append's commit with
// concurrent submissions'.
func (a *App) Submit(ctx context.Context, p Principal, cmd SubmitCommand) (r *ledger.Reimbursement, err error) {
	defer ledger.Wrap(&err, "Submit(account %s)", cmd.AccountID)
	acct, err := a.directory().Account(ctx, cmd.AccountID)
	if ledger.ErrorCode(err) == ledger.ENotFound {
		return nil, &ledger.Error{Code: ledger.EInvalid, Message: "the request names an account that does not exist",
			Fields: []ledger.FieldError{{Field: "bank_account_id", Message: fmt.Sprintf("no account has id %s", cmd.AccountID)}}}
	}
	if err != nil {
		return nil, err
	}
	event, err := ledger.Submit(ledger.Submission{ID: cmd.ID, Account: acct, Amount: cmd.Amount, Description: cmd.Description, Now: a.now()})
	if err != nil {
		return nil, err
	}
	meta := cmd.Meta
	meta.Actor = p.Actor()
	if p.Role == RoleUnverified {
		meta.Actor = Member(acct.MemberID).Actor() // the account's owner claims
	}
	recorded, err := a.events().Append(ctx, meta, event)
	if err != nil {
		return nil, err
	}
	return ledger.FoldReimbursement(cmd.ID, recorded)
}

// DecideCommand is an administrator's approval or denial.
type DecideCommand struct {
	ReimbursementID uuid.UUID
	// Reason is required to deny and ignored to approve.
	Reason string
	// IfMatch, when not nil, lists the versions the administrator accepts
	// (the one they saw): deciding fails with EPreconditionFailed when the
	// reimbursement is at none of them.
	IfMatch []int64
	Meta    ledger.Metadata
}

// Approve records an approval by the administrator p. Errors: ENotFound
// (reimbursement), EInvalid (no such administrator), EForbidden (not an
// administrator, or another bank's), EPreconditionFailed (If-Match names
// another version), EConflict (already decided, or another decision
// committed first).
func (a *App) Approve(ctx context.Context, p Principal, cmd DecideCommand) (r *ledger.Reimbursement, err error) {
	defer ledger.Wrap(&err, "Approve(%s)", cmd.ReimbursementID)
	return a.decide(ctx, p, cmd, func(r *ledger.Reimbursement, admin ledger.Administrator) (ledger.PendingEvent, error) {
		return r.Approve(admin, a.now())
	})
}

// Deny records a denial; it fails as Approve does, and with EInvalid for a
// missing or over-long reason.
func (a *App) Deny(ctx context.Context, p Principal, cmd DecideCommand) (r *ledger.Reimbursement, err error) {
	defer ledger.Wrap(&err, "Deny(%s)", cmd.ReimbursementID)
	return a.decide(ctx, p, cmd, func(r *ledger.Reimbursement, admin ledger.Administrator) (ledger.PendingEvent, error) {
		return r.Deny(admin, cmd.Reason, a.now())
	})
}

type decision func(r *ledger.Reimbursement, admin ledger.Administrator) (ledger.PendingEvent, error)

func (a *App) decide(ctx context.Context, p Principal, cmd DecideCommand, decide decision) (*ledger.Reimbursement, error) {
	if p.Role != RoleAdministrator {
		return nil, ledger.Errorf(ledger.EForbidden, "only a bank's administrators decide reimbursements")
	}
	var r *ledger.Reimbursement
	err := a.transact(ctx, func(tx Tx) error {
		var err error
		if r, err = (Streams{Events: tx.Events}).Reimbursement(ctx, cmd.ReimbursementID); err != nil {
			return err
		}
		admin, err := tx.Directory.Administrator(ctx, p.ID)
		if ledger.ErrorCode(err) == ledger.ENotFound {
			return &ledger.Error{Code: ledger.EInvalid, Message: "the request names an administrator that does not exist",
				Fields: []ledger.FieldError{{Field: "administrator_id", Message: fmt.Sprintf("no administrator has id %s", p.ID)}}}
		}
		if err != nil {
			return err
		}
		if cmd.IfMatch != nil && !slices.Contains(cmd.IfMatch, r.Version) {
			return &ledger.Error{Code: ledger.EPreconditionFailed, CurrentVersion: r.Version,
				Message: fmt.Sprintf("reimbursement %s is at version %d, which If-Match does not name", r.ID, r.Version)}
		}
		event, err := decide(r, admin)
		if err != nil {
			return err
		}
		meta := cmd.Meta
		meta.Actor = p.Actor()
		recorded, err := tx.Events.Append(ctx, meta, event)
		if err != nil {
			return err
		}
		return r.Apply(recorded[0])
	})
	return r, err
}

// Reimbursement returns a reimbursement's current state, folded from the
// event store: always up to date, unlike the lists.
func (a *App) Reimbursement(ctx context.Context, p Principal, id uuid.UUID) (*ledger.Reimbursement, error) {
	return a.streams().Reimbursement(ctx, id)
}

// Story returns every event of a reimbursement, its payment and its
// notification, in position order; ENotFound for an unknown reimbursement.
func (a *App) Story(ctx context.Context, p Principal, id uuid.UUID) (story []ledger.RecordedEvent, err error) {
	defer ledger.Wrap(&err, "Story(%s)", id)
	story, err = a.events().Load(ctx, id, ledger.PaymentID(id), ledger.NotificationStreamID(id))
	if err != nil {
		return nil, err
	}
	if len(story) == 0 {
		return nil, ledger.Errorf(ledger.ENotFound, "reimbursement %s not found", id)
	}
	return story, nil
}

// ListReimbursements reads a page of a bank's or a member's reimbursements
// from the read model, newest submission first; ENotFound when the bank or
// member does not exist.
func (a *App) ListReimbursements(ctx context.Context, p Principal, q ListQuery) (page ListPage, err error) {
	defer ledger.Wrap(&err, "ListReimbursements")
	if page, err = a.stores.Reimbursements.ListReimbursements(ctx, q); err != nil {
		return ListPage{}, err
	}
	// Only an empty page can hide an unknown bank or member: look it up then.
	if len(page.Items) == 0 {
		if q.BankID != uuid.Nil {
			_, err = a.stores.Directory.Bank(ctx, q.BankID)
		} else {
			_, err = a.stores.Directory.Member(ctx, q.MemberID)
		}
		if err != nil {
			return ListPage{}, err
		}
	}
	return page, nil
}
