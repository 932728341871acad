package postgres

import (
	"context"
	"database/sql"
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
// to lock: outside a caller's transaction its event joins the INSERT and the
// commit of concurrent submissions' (appendFirst), and UNIQUE (stream_id,
// stream_version) still refuses a second first event. Accounts never change
// once opened, so they are read from a cache.
func (db *DB) Submit(ctx context.Context, cmd SubmitCommand) (*ledger.Reimbursement, error) {
	if _, inTx := ctx.Value(txKey{}).(*sql.Tx); !inTx {
		return db.submit(ctx, db.db, cmd)
	}
	var r *ledger.Reimbursement
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = db.submit(ctx, tx, cmd)
		return err
	})
	return r, err
}

func (db *DB) submit(ctx context.Context, q querier, cmd SubmitCommand) (*ledger.Reimbursement, error) {
	var r *ledger.Reimbursement
	err := func() error {
		acct, err := db.cachedAccount(ctx, q, cmd.AccountID)
		if ledger.ErrorCode(err) == ledger.ENotFound {
			return &ledger.Error{Code: ledger.EInvalid, Message: "the request names an account that does not exist",
				Fields: []ledger.FieldError{{Field: "bank_account_id", Message: fmt.Sprintf("no account has id %s", cmd.AccountID)}}}
		}
		if err != nil {
			return err
		}
		event, err := ledger.Submit(ledger.Submission{ID: cmd.ID, Account: acct, Amount: cmd.Amount, Description: cmd.Description, Now: db.now()})
		if err != nil {
			return err
		}
		if cmd.Meta.Actor == "" {
			cmd.Meta.Actor = "member:" + acct.MemberID.String()
		}
		var recorded []ledger.RecordedEvent
		if _, inTx := q.(*sql.Tx); inTx {
			recorded, err = db.appendEvents(ctx, q, cmd.Meta, event)
		} else {
			recorded, err = db.appendFirst(ctx, cmd.Meta, event)
		}
		if err != nil {
			return err
		}
		r, err = ledger.FoldReimbursement(cmd.ID, recorded)
		return err
	}()
	return r, err
}

// DecideCommand is an administrator's approval or denial.
type DecideCommand struct {
	ReimbursementID uuid.UUID
	AdministratorID uuid.UUID
	// Reason is required to deny and ignored to approve.
	Reason string
	// IfMatch, when not nil, lists the versions the administrator accepts
	// (the one they saw): deciding fails with EPreconditionFailed when the
	// reimbursement is at none of them.
	IfMatch []int64
	Meta    ledger.Metadata
}

// Approve records an approval. Errors: ENotFound (reimbursement), EInvalid
// (no such administrator), EForbidden (another bank's administrator),
// EPreconditionFailed (stale ExpectedVersion), EConflict (already decided,
// or another decision committed first).
func (db *DB) Approve(ctx context.Context, cmd DecideCommand) (*ledger.Reimbursement, error) {
	return db.decide(ctx, cmd, func(r *ledger.Reimbursement, admin ledger.Administrator) (ledger.PendingEvent, error) {
		return r.Approve(admin, db.now())
	})
}

// Deny records a denial; it fails as Approve does, and with EInvalid for a
// missing or over-long reason.
func (db *DB) Deny(ctx context.Context, cmd DecideCommand) (*ledger.Reimbursement, error) {
	return db.decide(ctx, cmd, func(r *ledger.Reimbursement, admin ledger.Administrator) (ledger.PendingEvent, error) {
		return r.Deny(admin, cmd.Reason, db.now())
	})
}

type decision func(r *ledger.Reimbursement, admin ledger.Administrator) (ledger.PendingEvent, error)

func (db *DB) decide(ctx context.Context, cmd DecideCommand, decide decision) (*ledger.Reimbursement, error) {
	var r *ledger.Reimbursement
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		story, err := loadStreams(ctx, tx, cmd.ReimbursementID, ledger.PaymentID(cmd.ReimbursementID))
		if err != nil {
			return err
		}
		if r, err = ledger.FoldReimbursement(cmd.ReimbursementID, story); err != nil {
			return err
		}
		admin, err := administrator(ctx, tx, cmd.AdministratorID)
		if ledger.ErrorCode(err) == ledger.ENotFound {
			return &ledger.Error{Code: ledger.EInvalid, Message: "the request names an administrator that does not exist",
				Fields: []ledger.FieldError{{Field: "administrator_id", Message: fmt.Sprintf("no administrator has id %s", cmd.AdministratorID)}}}
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
		if cmd.Meta.Actor == "" {
			cmd.Meta.Actor = "administrator:" + admin.ID.String()
		}
		recorded, err := db.appendEvents(ctx, tx, cmd.Meta, event)
		if err != nil {
			return err
		}
		return r.Apply(recorded[0])
	})
	return r, err
}

// Reimbursement returns a reimbursement's current state, folded from its
// stream and its payment's stream: always up to date, unlike the lists.
func (db *DB) Reimbursement(ctx context.Context, id uuid.UUID) (*ledger.Reimbursement, error) {
	story, err := loadStreams(ctx, db.db, id, ledger.PaymentID(id))
	if err != nil {
		return nil, err
	}
	return ledger.FoldReimbursement(id, story)
}

// Story returns every event of a reimbursement, its payment and its
// notification, in position order; ENotFound for an unknown reimbursement.
func (db *DB) Story(ctx context.Context, id uuid.UUID) ([]ledger.RecordedEvent, error) {
	story, err := loadStreams(ctx, db.db, id, ledger.PaymentID(id), ledger.NotificationStreamID(id))
	if err != nil {
		return nil, err
	}
	if len(story) == 0 {
		return nil, ledger.Errorf(ledger.ENotFound, "reimbursement %s not found", id)
	}
	return story, nil
}

// Payment returns a payment folded from its stream.
func (db *DB) Payment(ctx context.Context, id uuid.UUID) (*ledger.Payment, error) {
	stream, err := loadStreams(ctx, db.db, id)
	if err != nil {
		return nil, err
	}
	return ledger.FoldPayment(id, stream)
}

// StreamVersion returns the version of a stream, 0 when it has no events.
func (db *DB) StreamVersion(ctx context.Context, streamID uuid.UUID) (int64, error) {
	var v int64
	err := db.db.QueryRowContext(ctx, `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`, streamID).Scan(&v)
	return v, err
}

// Append appends events decided outside a command (by the sagas) in one
// transaction; ledger.ErrVersionConflict when a version is taken.
func (db *DB) Append(ctx context.Context, meta ledger.Metadata, events ...ledger.PendingEvent) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := db.appendEvents(ctx, tx, meta, events...)
		return err
	})
}
