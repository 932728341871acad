package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// ReadModel reads the reimbursements read model.
type ReadModel struct {
	q querier
}

var _ app.ReadModel = (*ReadModel)(nil)

// ListReimbursements reads a page from the read model, newest submission
// first: (submitted_at, id) descending, the order of the indexes of
// migration 00018, which a page after a cursor enters at its key.
func (m *ReadModel) ListReimbursements(ctx context.Context, q app.ListQuery) (_ app.ListPage, err error) {
	defer ledger.Wrap(&err, "ReadModel.ListReimbursements")
	args := []any{q.Limit + 1}
	where, args, err := listWhere(q, args)
	if err != nil {
		return app.ListPage{}, err
	}
	if !q.Before.IsZero() {
		args = append(args, q.Before.CreatedAt, q.Before.ID)
		where += fmt.Sprintf(` AND (submitted_at, id) < ($%d, $%d)`, len(args)-1, len(args))
	}
	rows, err := m.q.QueryContext(ctx, `
		SELECT id, bank_id, bank_member_id, bank_account_id, amount, currency, description, status, submitted_at,
			decided_at, decided_by, coalesce(denial_reason, ''), payment_status, version,
			approvals_required, approvals, withdrawn_at, payment_attempt, coalesce(payment_failure_reason, ''), receipt_count
		FROM reimbursements_view WHERE `+where+` ORDER BY submitted_at DESC, id DESC LIMIT $1`, args...)
	if err != nil {
		return app.ListPage{}, err
	}
	defer rows.Close()
	page := app.ListPage{Items: []ledger.Reimbursement{}}
	for rows.Next() {
		if len(page.Items) == q.Limit {
			page.NextBefore = app.SubmissionKey(page.Items[len(page.Items)-1])
			break
		}
		var r ledger.Reimbursement
		var amount decimal.Decimal
		var decidedAt, withdrawnAt sql.NullTime
		var decidedBy uuid.NullUUID
		var approvals []byte
		if err := rows.Scan(&r.ID, &r.BankID, &r.MemberID, &r.AccountID, &amount, &r.Currency, &r.Description, &r.Status,
			&r.SubmittedAt, &decidedAt, &decidedBy, &r.DenialReason, &r.PaymentStatus, &r.Version,
			&r.ApprovalsRequired, &approvals, &withdrawnAt, &r.PaymentAttempt, &r.PaymentFailureReason, &r.ReceiptCount); err != nil {
			return app.ListPage{}, err
		}
		if r.Approvals, err = scanApprovals(approvals); err != nil {
			return app.ListPage{}, err
		}
		if withdrawnAt.Valid {
			t := withdrawnAt.Time.UTC()
			r.WithdrawnAt = &t
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
	return page, rows.Err()
}

// listWhere returns the condition selecting q's bank or member and
// filters, its arguments numbered after args.
func listWhere(q app.ListQuery, args []any) (string, []any, error) {
	var conds []string
	cond := func(format string, arg any) {
		args = append(args, arg)
		conds = append(conds, fmt.Sprintf(format, len(args)))
	}
	if q.BankID != uuid.Nil {
		cond(`bank_id = $%d`, q.BankID)
	}
	if q.MemberID != uuid.Nil {
		cond(`bank_member_id = $%d`, q.MemberID)
	}
	if len(conds) == 0 {
		return "", nil, errors.New("a list names a bank or a member")
	}
	if q.Status != "" {
		cond(`status = $%d`, q.Status)
	}
	if q.PaymentStatus != "" {
		cond(`payment_status = $%d`, q.PaymentStatus)
	}
	if !q.SubmittedFrom.IsZero() {
		cond(`submitted_at >= $%d`, q.SubmittedFrom)
	}
	if !q.SubmittedBefore.IsZero() {
		cond(`submitted_at < $%d`, q.SubmittedBefore)
	}
	// Passed as text and compared as numeric: exact, never a float.
	if q.AmountMin.Valid {
		cond(`amount >= $%d::numeric`, q.AmountMin.Decimal.String())
	}
	if q.AmountMax.Valid {
		cond(`amount <= $%d::numeric`, q.AmountMax.Decimal.String())
	}
	return strings.Join(conds, " AND "), args, nil
}

// CountReimbursements counts the rows q selects.
func (m *ReadModel) CountReimbursements(ctx context.Context, q app.ListQuery) (n int64, err error) {
	defer ledger.Wrap(&err, "ReadModel.CountReimbursements")
	where, args, err := listWhere(q, nil)
	if err != nil {
		return 0, err
	}
	err = m.q.QueryRowContext(ctx, `SELECT count(*) FROM reimbursements_view WHERE `+where, args...).Scan(&n)
	return n, err
}

// Reached reports whether the reimbursements projector has processed the
// event at position. Subscribers read in commit order, (transaction_id,
// position), so the projector has processed the event once its stored
// offset is at or after the event's own (transaction_id, position); its
// rows commit in the same transaction as that offset. A group that never
// ran has processed nothing.
func (m *ReadModel) Reached(ctx context.Context, position int64) (reached bool, err error) {
	defer ledger.Wrap(&err, "ReadModel.Reached(%d)", position)
	var r sql.NullBool
	err = m.q.QueryRowContext(ctx, `
		SELECT (SELECT (o.last_processed_transaction_id, o.offset_acked) >= (e.transaction_id, e.position)
			FROM subscription_offsets o WHERE o.consumer_group = $2)
		FROM events e WHERE e.position = $1`, position, ReimbursementsProjection.Group).Scan(&r)
	if err != nil {
		return false, notFound(err, "no event has position %d", position)
	}
	return r.Valid && r.Bool, nil
}
