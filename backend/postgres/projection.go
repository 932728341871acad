package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Projection is a read model kept from the events, registered once (see
// AllProjections). The live projector applies each delivered batch with it
// in the subscriber's transaction (Project), and a rebuild folds the whole
// log with it into a table beside the live one, then swaps them
// (Rebuilds.Run). Adding a projection is one Projection value and the
// migration that creates its table.
type Projection struct {
	// Name is what operators call it: `ledger projections rebuild NAME`.
	Name string
	// Group is the consumer group of its live projector. Renaming it
	// replays the projection from the first event.
	Group string
	// Table is its table, created by a migration, with a primary key. A
	// rebuild fills Table+"_rebuild" and swaps it in.
	Table string
	// Types are the event types it folds; it skips others undecoded.
	Types []string
	// Fold returns an empty batch of changes to the table. bulk is set for a
	// rebuild, whose table holds none of the batch's rows yet.
	Fold func(bulk bool) ProjectionBatch
}

// ProjectionBatch is events folded into changes not yet written.
type ProjectionBatch interface {
	// Add folds one event, decoded from rec. Live and in a rebuild, rec
	// carries the event's envelope (ids, stream, version, type, data,
	// recording time); its metadata only live.
	Add(rec ledger.RecordedEvent, e ledger.Event)
	// Apply writes the changes to table in tx, a transaction. Live it must
	// be idempotent: a redelivered batch brings events the table may
	// already show.
	Apply(ctx context.Context, tx Querier, table string) error
}

// AllProjections lists the ledger's projections, for the worker and the
// rebuild command.
func AllProjections() []*Projection { return []*Projection{ReimbursementsProjection} }

// FindProjection returns the projection named name; ENotFound otherwise.
func FindProjection(projections []*Projection, name string) (*Projection, error) {
	var names []string
	for _, p := range projections {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return nil, ledger.Errorf(ledger.ENotFound, "no projection named %q (known: %s)", name, strings.Join(names, ", "))
}

// ConsumerGroup names the live projector's consumer group.
func (p *Projection) ConsumerGroup() string { return p.Group }

var _ app.Projection = (*Projection)(nil)

// projectionWriter writes projections in a transaction (app.Tx.Projections).
type projectionWriter struct{ tx Querier }

var _ app.ProjectionWriter = projectionWriter{}

func (w projectionWriter) Project(ctx context.Context, p app.Projection, events []ledger.RecordedEvent) error {
	proj, ok := p.(*Projection)
	if !ok {
		return fmt.Errorf("projection %s is not a PostgreSQL projection", p.ConsumerGroup())
	}
	return proj.project(ctx, w.tx, events)
}

// handles reports whether the projection folds events of the type.
func (p *Projection) handles(eventType string) bool { return slices.Contains(p.Types, eventType) }

// project applies a delivered batch of events in tx, the subscriber's batch
// transaction, so the rows and the subscriber's position commit together.
func (p *Projection) project(ctx context.Context, tx Querier, events []ledger.RecordedEvent) error {
	b := p.Fold(false)
	for _, rec := range events {
		if !p.handles(rec.Type) {
			continue
		}
		e, err := rec.Decode()
		if err != nil {
			return fmt.Errorf("%s: event %d: %w", p.Name, rec.Position, err)
		}
		b.Add(rec, e)
	}
	return b.Apply(ctx, tx, p.Table)
}

// ReimbursementsProjection keeps reimbursements_view, which the lists read.
var ReimbursementsProjection = &Projection{
	Name:  "reimbursements",
	Group: "projector.reimbursements",
	Table: "reimbursements_view",
	Types: []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementApprovalRecorded, ledger.TypeReimbursementApproved,
		ledger.TypeReimbursementDenied, ledger.TypeReimbursementWithdrawn,
		ledger.TypePaymentRequested, ledger.TypePaymentSettled, ledger.TypePaymentFailed},
	Fold: func(bulk bool) ProjectionBatch { return newViewBatch(bulk) },
}

// The reimbursements read model is built by one fold, used both by the live
// projector (a delivered batch at a time, in the subscriber's transaction)
// and by a rebuild (thousands at a time): events fold into new rows and into
// patches for rows already stored; applying them is idempotent because every
// patch is guarded by the version it brings.

type viewRow struct {
	id, bankID, memberID, accountID uuid.UUID
	amount                          decimal.Decimal
	currency, description           string
	submittedAt                     time.Time
	submittedPosition               int64
	approvalsRequired               int
	// state is what the reimbursement's own stream says after the
	// submission; its version is the row's version.
	state   viewState
	payment *viewPayment
}

// viewState is what the events of a reimbursement's stream after its
// submission change. In a patch, fields no event of the batch set are
// left as the row has them.
type viewState struct {
	status      ledger.Status // "" in a patch: unchanged
	decidedAt   *time.Time
	decidedBy   *uuid.UUID
	reason      *string
	withdrawnAt *time.Time
	// approvals are those the events brought, each with its version.
	approvals []viewApproval
	version   int64
}

type viewApproval struct {
	AdministratorID uuid.UUID `json:"administrator_id"`
	ApprovedAt      time.Time `json:"approved_at"`
	Note            string    `json:"note"`
	Version         int64     `json:"version"`
}

// scanApprovals reads the approvals column, oldest first, for ReadModel.
func scanApprovals(column []byte) ([]ledger.Approval, error) {
	var stored []viewApproval
	if err := json.Unmarshal(column, &stored); err != nil {
		return nil, fmt.Errorf("approvals: %w", err)
	}
	var approvals []ledger.Approval
	for _, a := range stored {
		approvals = append(approvals, ledger.Approval{AdministratorID: a.AdministratorID, ApprovedAt: a.ApprovedAt.UTC(), Note: a.Note})
	}
	return approvals, nil
}

// fold applies one event of the reimbursement's stream at version; an
// event the state already shows changes nothing.
func (s *viewState) fold(version int64, e ledger.Event) {
	if version <= s.version {
		return
	}
	s.version = version
	switch e := e.(type) {
	case ledger.ReimbursementApprovalRecorded:
		s.approvals = append(s.approvals, viewApproval{e.AdministratorID, e.ApprovedAt, e.Note, version})
	case ledger.ReimbursementApproved:
		s.approvals = append(s.approvals, viewApproval{e.AdministratorID, e.ApprovedAt, e.Note, version})
		s.status, s.decidedAt, s.decidedBy = ledger.StatusApproved, &e.ApprovedAt, &e.AdministratorID
	case ledger.ReimbursementDenied:
		s.status, s.decidedAt, s.decidedBy, s.reason = ledger.StatusDenied, &e.DeniedAt, &e.AdministratorID, &e.Reason
	case ledger.ReimbursementWithdrawn:
		s.status, s.withdrawnAt = ledger.StatusWithdrawn, &e.WithdrawnAt
	}
}

// approvalsJSON is the approvals as the approvals column holds them.
func (s *viewState) approvalsJSON() string {
	if len(s.approvals) == 0 {
		return "[]"
	}
	b, err := json.Marshal(s.approvals)
	if err != nil {
		panic(err) // ids, times and strings always encode
	}
	return string(b)
}

// viewPayment is the payment's latest event: it alone says where the
// payout stands.
type viewPayment struct {
	status  ledger.PaymentStatus
	attempt int
	reason  *string
	version int64
}

// viewBatch is a fold of events not yet written.
type viewBatch struct {
	// bulk is set for a rebuild, whose table holds no row of the batch yet:
	// later events fold into the batch's new rows, which are copied in.
	// Live, a redelivered batch may find its rows stored already (by an
	// earlier write of the same events), so new rows are inserted unless
	// present and every later event is applied as a guarded patch after
	// them.
	bulk     bool
	rows     map[uuid.UUID]*viewRow
	order    []uuid.UUID
	patches  map[uuid.UUID]*viewState
	payments map[uuid.UUID]*viewPayment
}

func newViewBatch(bulk bool) *viewBatch {
	return &viewBatch{bulk: bulk, rows: map[uuid.UUID]*viewRow{}, patches: map[uuid.UUID]*viewState{}, payments: map[uuid.UUID]*viewPayment{}}
}

// Add folds an event decoded from rec; types the read model ignores change nothing.
func (b *viewBatch) Add(rec ledger.RecordedEvent, e ledger.Event) {
	switch e := e.(type) {
	case ledger.ReimbursementSubmitted:
		if _, seen := b.rows[e.ReimbursementID]; !seen {
			b.rows[e.ReimbursementID] = &viewRow{
				id: e.ReimbursementID, bankID: e.BankID, memberID: e.BankMemberID, accountID: e.BankAccountID,
				amount: e.Amount.Decimal, currency: e.Currency, description: e.Description, approvalsRequired: e.ApprovalsRequired,
				submittedAt: e.SubmittedAt, submittedPosition: rec.Position,
				state: viewState{status: ledger.StatusPending, version: rec.StreamVersion},
			}
			b.order = append(b.order, e.ReimbursementID)
		}
	case ledger.ReimbursementApprovalRecorded:
		b.change(e.ReimbursementID, rec.StreamVersion, e)
	case ledger.ReimbursementApproved:
		b.change(e.ReimbursementID, rec.StreamVersion, e)
	case ledger.ReimbursementDenied:
		b.change(e.ReimbursementID, rec.StreamVersion, e)
	case ledger.ReimbursementWithdrawn:
		b.change(e.ReimbursementID, rec.StreamVersion, e)
	case ledger.PaymentRequested:
		b.pay(e.ReimbursementID, &viewPayment{status: ledger.PaymentStatusRequested, attempt: e.Attempt, version: rec.StreamVersion})
	case ledger.PaymentSettled:
		b.pay(e.ReimbursementID, &viewPayment{status: ledger.PaymentStatusSettled, attempt: e.Attempt, version: rec.StreamVersion})
	case ledger.PaymentFailed:
		b.pay(e.ReimbursementID, &viewPayment{status: ledger.PaymentStatusFailed, attempt: e.Attempt, reason: &e.Reason, version: rec.StreamVersion})
	}
}

// change folds an event of a reimbursement's stream after its submission.
func (b *viewBatch) change(id uuid.UUID, version int64, e ledger.Event) {
	if row, ok := b.rows[id]; ok && b.bulk {
		row.state.fold(version, e)
		return
	}
	patch, ok := b.patches[id]
	if !ok {
		patch = &viewState{}
		b.patches[id] = patch
	}
	patch.fold(version, e)
}

func (b *viewBatch) pay(id uuid.UUID, p *viewPayment) {
	if row, ok := b.rows[id]; ok && b.bulk {
		if row.payment == nil || p.version > row.payment.version {
			row.payment = p
		}
		return
	}
	if cur, ok := b.payments[id]; !ok || p.version > cur.version {
		b.payments[id] = p
	}
}

// Apply writes the batch to table: new rows first, then the patches. It is
// idempotent: a row moves only for an event newer than the version it
// shows, and gains only the approvals newer than it.
func (b *viewBatch) Apply(ctx context.Context, tx Querier, table string) error {
	if len(b.rows) > 0 {
		if err := b.insertRows(ctx, tx, table); err != nil {
			return err
		}
	}
	if len(b.patches) > 0 {
		n := len(b.patches)
		ids, statuses, reasons, approvals := make([]string, 0, n), make([]sql.NullString, 0, n), make([]sql.NullString, 0, n), make([]string, 0, n)
		decidedAt, decidedBy, withdrawnAt := make([]sql.NullTime, 0, n), make([]sql.NullString, 0, n), make([]sql.NullTime, 0, n)
		versions := make([]int64, 0, n)
		for id, p := range b.patches {
			ids, versions, approvals = append(ids, id.String()), append(versions, p.version), append(approvals, p.approvalsJSON())
			statuses = append(statuses, sql.NullString{String: string(p.status), Valid: p.status != ""})
			reasons = append(reasons, nullString(p.reason))
			decidedAt, withdrawnAt = append(decidedAt, nullTime(p.decidedAt)), append(withdrawnAt, nullTime(p.withdrawnAt))
			by := sql.NullString{}
			if p.decidedBy != nil {
				by = sql.NullString{String: p.decidedBy.String(), Valid: true}
			}
			decidedBy = append(decidedBy, by)
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE `+table+` AS t SET status = coalesce(u.status, t.status),
				decided_at = coalesce(u.decided_at, t.decided_at), decided_by = coalesce(u.decided_by, t.decided_by),
				denial_reason = coalesce(u.reason, t.denial_reason), withdrawn_at = coalesce(u.withdrawn_at, t.withdrawn_at),
				approvals = t.approvals || coalesce((SELECT jsonb_agg(a ORDER BY (a->>'version')::bigint)
					FROM jsonb_array_elements(u.approvals) AS a WHERE (a->>'version')::bigint > t.version), '[]'),
				version = u.version
			FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::text[], $6::timestamptz[], $7::jsonb[], $8::bigint[])
				AS u(id, status, decided_at, decided_by, reason, withdrawn_at, approvals, version)
			WHERE t.id = u.id AND t.version < u.version`,
			pq.Array(ids), pq.Array(statuses), pq.Array(decidedAt), pq.Array(decidedBy), pq.Array(reasons), pq.Array(withdrawnAt),
			pq.Array(approvals), pq.Array(versions))
		if err != nil {
			return fmt.Errorf("project decisions: %w", err)
		}
	}
	if len(b.payments) > 0 {
		var ids, statuses []string
		var reasons []sql.NullString
		var attempts, versions []int64
		for id, p := range b.payments {
			ids, statuses, versions = append(ids, id.String()), append(statuses, string(p.status)), append(versions, p.version)
			attempts, reasons = append(attempts, int64(p.attempt)), append(reasons, nullString(p.reason))
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE `+table+` AS t SET payment_status = u.status, payment_attempt = u.attempt,
				payment_failure_reason = u.reason, payment_version = u.version
			FROM unnest($1::uuid[], $2::text[], $3::integer[], $4::text[], $5::bigint[]) AS u(id, status, attempt, reason, version)
			WHERE t.id = u.id AND t.payment_version < u.version`,
			pq.Array(ids), pq.Array(statuses), pq.Array(attempts), pq.Array(reasons), pq.Array(versions))
		if err != nil {
			return fmt.Errorf("project payments: %w", err)
		}
	}
	return nil
}

func nullString(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: *t, Valid: true}
}

var viewColumns = []string{"id", "bank_id", "bank_member_id", "bank_account_id", "amount", "currency", "description", "status",
	"submitted_at", "submitted_position", "decided_at", "decided_by", "denial_reason", "payment_status", "version", "payment_version",
	"approvals_required", "approvals", "withdrawn_at", "payment_attempt", "payment_failure_reason"}

func (r *viewRow) values() []any {
	var decidedBy, reason any
	if s := r.state; s.decidedBy != nil {
		decidedBy = s.decidedBy.String()
	}
	if r.state.reason != nil {
		reason = *r.state.reason
	}
	paymentStatus, paymentVersion, attempt := ledger.PaymentStatusNone, int64(0), 0
	var failure any
	if p := r.payment; p != nil {
		paymentStatus, paymentVersion, attempt = p.status, p.version, p.attempt
		if p.reason != nil {
			failure = *p.reason
		}
	}
	return []any{r.id.String(), r.bankID.String(), r.memberID.String(), r.accountID.String(), r.amount.String(), r.currency,
		r.description, string(r.state.status), r.submittedAt, r.submittedPosition, nullTime(r.state.decidedAt), decidedBy, reason,
		string(paymentStatus), r.state.version, paymentVersion,
		r.approvalsRequired, r.state.approvalsJSON(), nullTime(r.state.withdrawnAt), attempt, failure}
}

// insertRows copies the new rows in when bulk, and otherwise inserts them
// with one statement, skipping rows already there.
func (b *viewBatch) insertRows(ctx context.Context, tx Querier, table string) error {
	if !b.bulk {
		n := len(b.order)
		ids, banks, members, accounts := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amounts, currencies, descriptions := make([]string, n), make([]string, n), make([]string, n)
		submittedAt, positions, versions, required := make([]time.Time, n), make([]int64, n), make([]int64, n), make([]int64, n)
		for i, id := range b.order {
			r := b.rows[id]
			ids[i], banks[i], members[i], accounts[i] = r.id.String(), r.bankID.String(), r.memberID.String(), r.accountID.String()
			amounts[i], currencies[i], descriptions[i] = r.amount.String(), r.currency, r.description
			submittedAt[i], positions[i], versions[i], required[i] = r.submittedAt, r.submittedPosition, r.state.version, int64(r.approvalsRequired)
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO `+table+` (id, bank_id, bank_member_id, bank_account_id, amount, currency, description,
				submitted_at, submitted_position, version, approvals_required, status, payment_status)
			SELECT u.*, $12, $13
			FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::numeric[], $6::text[], $7::text[],
				$8::timestamptz[], $9::bigint[], $10::bigint[], $11::smallint[]) AS u
			ON CONFLICT (id) DO NOTHING`,
			pq.Array(ids), pq.Array(banks), pq.Array(members), pq.Array(accounts), pq.Array(amounts), pq.Array(currencies),
			pq.Array(descriptions), pq.Array(submittedAt), pq.Array(positions), pq.Array(versions), pq.Array(required),
			string(ledger.StatusPending), string(ledger.PaymentStatusNone))
		if err != nil {
			return fmt.Errorf("project submissions: %w", err)
		}
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `COPY `+table+` (`+strings.Join(viewColumns, ", ")+`) FROM STDIN`)
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	for _, id := range b.order {
		if _, err := stmt.ExecContext(ctx, b.rows[id].values()...); err != nil {
			stmt.Close()
			return fmt.Errorf("copy into %s: %w", table, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		stmt.Close()
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return stmt.Close()
}
