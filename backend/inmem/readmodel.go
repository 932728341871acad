package inmem

import (
	"cmp"
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// ReadModel answers the reimbursement lists by folding the committed events
// on every call: it is never behind, where PostgreSQL's read model waits for
// its projector.
type ReadModel struct {
	db *DB
}

var _ app.ReadModel = (*ReadModel)(nil)

// ListReimbursements reads a page, newest submission first: by
// submitted_at, then id, both descending.
func (m *ReadModel) ListReimbursements(ctx context.Context, q app.ListQuery) (page app.ListPage, err error) {
	defer ledger.Wrap(&err, "ReadModel.ListReimbursements")
	rows, err := m.selected(ctx, q)
	if err != nil {
		return app.ListPage{}, err
	}
	page = app.ListPage{Items: []ledger.Reimbursement{}}
	for _, r := range rows[:min(len(rows), max(q.Limit, 0))] {
		item := *r
		item.Position = 0 // PostgreSQL's read model keeps versions, not positions
		page.Items = append(page.Items, item)
	}
	if len(rows) > q.Limit && q.Limit > 0 {
		page.NextBefore = app.SubmissionKey(*rows[q.Limit-1])
	}
	return page, nil
}

// CountReimbursements counts the reimbursements q selects.
func (m *ReadModel) CountReimbursements(ctx context.Context, q app.ListQuery) (n int64, err error) {
	defer ledger.Wrap(&err, "ReadModel.CountReimbursements")
	q.Before = app.PageKey{}
	rows, err := m.selected(ctx, q)
	return int64(len(rows)), err
}

// selects reports whether q selects r: its bank or member, and its filters.
func selects(q app.ListQuery, r *ledger.Reimbursement) bool {
	return (q.BankID != uuid.Nil || q.MemberID != uuid.Nil) &&
		(q.BankID == uuid.Nil || r.BankID == q.BankID) && (q.MemberID == uuid.Nil || r.MemberID == q.MemberID) &&
		(q.Status == "" || r.Status == q.Status) && (q.PaymentStatus == "" || r.PaymentStatus == q.PaymentStatus) &&
		(q.SubmittedFrom.IsZero() || !r.SubmittedAt.Before(q.SubmittedFrom)) &&
		(q.SubmittedBefore.IsZero() || r.SubmittedAt.Before(q.SubmittedBefore)) &&
		(!q.AmountMin.Valid || r.Amount.GreaterThanOrEqual(q.AmountMin.Decimal)) &&
		(!q.AmountMax.Valid || r.Amount.LessThanOrEqual(q.AmountMax.Decimal))
}

// selected folds every committed reimbursement and returns those q selects
// that come after q.Before, newest submission first.
func (m *ReadModel) selected(ctx context.Context, q app.ListQuery) ([]*ledger.Reimbursement, error) {
	var rows []*ledger.Reimbursement
	err := m.db.read(ctx, nil, func() error {
		for _, e := range m.db.log {
			if e.Type != ledger.TypeReimbursementSubmitted {
				continue
			}
			story := append(slices.Clone(m.db.streams[e.StreamID]), m.db.streams[ledger.PaymentID(e.StreamID)]...)
			slices.SortFunc(story, func(a, b *storedEvent) int { return cmp.Compare(a.Position, b.Position) })
			recs := make([]ledger.RecordedEvent, len(story))
			for i, s := range story {
				recs[i] = s.out()
			}
			r, err := ledger.FoldReimbursement(e.StreamID, recs)
			if err != nil {
				return err
			}
			if selects(q, r) && (q.Before.IsZero() || compareKeys(app.SubmissionKey(*r), q.Before) < 0) {
				rows = append(rows, r)
			}
		}
		return nil
	})
	slices.SortFunc(rows, func(x, y *ledger.Reimbursement) int {
		return compareKeys(app.SubmissionKey(*y), app.SubmissionKey(*x))
	})
	return rows, err
}

// Reached reports whether the read model shows the event at position: as
// soon as it is committed, since this read model is never behind. ENotFound
// when no committed event has the position.
func (m *ReadModel) Reached(ctx context.Context, position int64) (reached bool, err error) {
	defer ledger.Wrap(&err, "ReadModel.Reached(%d)", position)
	err = m.db.read(ctx, nil, func() error {
		if _, found := slices.BinarySearchFunc(m.db.log, position, func(e *storedEvent, p int64) int { return cmp.Compare(e.Position, p) }); !found {
			return ledger.Errorf(ledger.ENotFound, "no event has position %d", position)
		}
		return nil
	})
	return err == nil, err
}

// projections writes no read model: ReadModel folds the committed log
// itself, so a projector has nothing to write.
type projections struct{}

var _ app.ProjectionWriter = projections{}

func (projections) Project(ctx context.Context, p app.Projection, events []ledger.RecordedEvent) error {
	return ctx.Err()
}
