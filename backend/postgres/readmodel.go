package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// ProjectReimbursements applies a delivered batch of events to the
// reimbursements read model in tx, the subscriber's batch transaction, so the
// rows and the subscriber's position commit together: folded first, then
// written with one statement for the new rows and one for each kind of
// patch. It is idempotent: a row moves only for an event newer than the
// version it shows, so a redelivered event changes nothing.
func ProjectReimbursements(ctx context.Context, tx *sql.Tx, events []ledger.RecordedEvent) error {
	b := newViewBatch(false)
	for _, rec := range events {
		if err := b.add(rec); err != nil {
			return err
		}
	}
	if b.empty() {
		return nil
	}
	return b.apply(ctx, tx, viewTable)
}

// ListQuery selects a page of one bank's or one member's reimbursements.
type ListQuery struct {
	BankID   uuid.UUID // one of BankID and MemberID is set
	MemberID uuid.UUID
	Status   ledger.Status // "" for every status
	Limit    int
	// Before is the cursor: the submission position of the last item of the
	// previous page; 0 for the first page.
	Before int64
}

// ListPage is a page of reimbursements, newest first.
type ListPage struct {
	Items []ledger.Reimbursement
	// NextBefore is the cursor of the next page, 0 when this is the last.
	NextBefore int64
}

// ListReimbursements reads a page from the read model, newest submission
// first. It returns ENotFound when the bank or member does not exist.
func (db *DB) ListReimbursements(ctx context.Context, q ListQuery) (ListPage, error) {
	owner, ownerArg := "bank_member_id", q.MemberID
	if q.BankID != uuid.Nil {
		owner, ownerArg = "bank_id", q.BankID
	}
	args := []any{ownerArg, q.Limit + 1}
	where := owner + ` = $1`
	if q.Status != "" {
		args = append(args, q.Status)
		where += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	if q.Before > 0 {
		args = append(args, q.Before)
		where += fmt.Sprintf(` AND submitted_position < $%d`, len(args))
	}
	rows, err := db.db.QueryContext(ctx, `
		SELECT id, bank_id, bank_member_id, bank_account_id, amount, currency, description, status, submitted_at,
			submitted_position, decided_at, decided_by, coalesce(denial_reason, ''), payment_status, version
		FROM reimbursements_view WHERE `+where+` ORDER BY submitted_position DESC LIMIT $2`, args...)
	if err != nil {
		return ListPage{}, fmt.Errorf("list reimbursements: %w", err)
	}
	defer rows.Close()
	page := ListPage{Items: []ledger.Reimbursement{}}
	var lastPosition int64
	for rows.Next() {
		if len(page.Items) == q.Limit {
			page.NextBefore = lastPosition
			break
		}
		var r ledger.Reimbursement
		var amount decimal.Decimal
		var decidedAt sql.NullTime
		var decidedBy uuid.NullUUID
		if err := rows.Scan(&r.ID, &r.BankID, &r.MemberID, &r.AccountID, &amount, &r.Currency, &r.Description, &r.Status,
			&r.SubmittedAt, &lastPosition, &decidedAt, &decidedBy, &r.DenialReason, &r.PaymentStatus, &r.Version); err != nil {
			return ListPage{}, fmt.Errorf("list reimbursements: %w", err)
		}
		r.Amount = amount
		r.SubmittedAt = r.SubmittedAt.UTC()
		if decidedAt.Valid {
			t := decidedAt.Time.UTC()
			r.DecidedAt = &t
		}
		if decidedBy.Valid {
			r.DecidedBy = &decidedBy.UUID
		}
		page.Items = append(page.Items, r)
	}
	if err := rows.Err(); err != nil {
		return ListPage{}, err
	}
	// Only an empty page can hide an unknown bank or member: look it up then.
	if len(page.Items) == 0 {
		var err error
		if q.BankID != uuid.Nil {
			_, err = db.Bank(ctx, q.BankID)
		} else {
			_, err = db.Member(ctx, q.MemberID)
		}
		if err != nil {
			return ListPage{}, err
		}
	}
	return page, nil
}
