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
// first.
func (m *ReadModel) ListReimbursements(ctx context.Context, q app.ListQuery) (_ app.ListPage, err error) {
	defer ledger.Wrap(&err, "ReadModel.ListReimbursements")
	args := []any{q.Limit + 1}
	var conds []string
	if q.BankID != uuid.Nil {
		args = append(args, q.BankID)
		conds = append(conds, fmt.Sprintf(`bank_id = $%d`, len(args)))
	}
	if q.MemberID != uuid.Nil {
		args = append(args, q.MemberID)
		conds = append(conds, fmt.Sprintf(`bank_member_id = $%d`, len(args)))
	}
	if len(conds) == 0 {
		return app.ListPage{}, errors.New("a list names a bank or a member")
	}
	where := strings.Join(conds, " AND ")
	if q.Status != "" {
		args = append(args, q.Status)
		where += fmt.Sprintf(` AND status = $%d`, len(args))
	}
	if q.Before > 0 {
		args = append(args, q.Before)
		where += fmt.Sprintf(` AND submitted_position < $%d`, len(args))
	}
	rows, err := m.q.QueryContext(ctx, `
		SELECT id, bank_id, bank_member_id, bank_account_id, amount, currency, description, status, submitted_at,
			submitted_position, decided_at, decided_by, coalesce(denial_reason, ''), payment_status, version
		FROM reimbursements_view WHERE `+where+` ORDER BY submitted_position DESC LIMIT $1`, args...)
	if err != nil {
		return app.ListPage{}, err
	}
	defer rows.Close()
	page := app.ListPage{Items: []ledger.Reimbursement{}}
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
			return app.ListPage{}, err
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
