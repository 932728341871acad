package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"

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
	// Apply writes the changes to table in tx. Live it must be idempotent:
	// a redelivered batch brings events the table may already show.
	Apply(ctx context.Context, tx *sql.Tx, table string) error
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

// handles reports whether the projection folds events of the type.
func (p *Projection) handles(eventType string) bool { return slices.Contains(p.Types, eventType) }

// Project applies a delivered batch of events in tx, the subscriber's batch
// transaction, so the rows and the subscriber's position commit together.
func (p *Projection) Project(ctx context.Context, tx *sql.Tx, events []ledger.RecordedEvent) error {
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
	Types: []string{ledger.TypeReimbursementSubmitted, ledger.TypeReimbursementApproved, ledger.TypeReimbursementDenied,
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
	status                          ledger.Status
	submittedAt                     time.Time
	submittedPosition               int64
	decision                        *viewDecision
	payment                         *viewPayment
	version                         int64
}

type viewDecision struct {
	status  ledger.Status
	at      time.Time
	by      uuid.UUID
	reason  sql.NullString
	version int64
}

type viewPayment struct {
	status  ledger.PaymentStatus
	version int64
}

// viewBatch is a fold of events not yet written.
type viewBatch struct {
	// bulk is set for a rebuild, whose table holds no row of the batch yet:
	// decisions and payments fold into the batch's new rows, which are
	// copied in. Live, a redelivered batch may find its rows stored already
	// (by an earlier write of the same events), so new rows are inserted
	// unless present and every decision and payment is applied as a guarded
	// patch after them.
	bulk      bool
	rows      map[uuid.UUID]*viewRow
	order     []uuid.UUID
	decisions map[uuid.UUID]*viewDecision
	payments  map[uuid.UUID]*viewPayment
}

func newViewBatch(bulk bool) *viewBatch {
	return &viewBatch{bulk: bulk, rows: map[uuid.UUID]*viewRow{}, decisions: map[uuid.UUID]*viewDecision{}, payments: map[uuid.UUID]*viewPayment{}}
}

// Add folds an event decoded from rec; types the read model ignores change nothing.
func (b *viewBatch) Add(rec ledger.RecordedEvent, e ledger.Event) {
	switch e := e.(type) {
	case ledger.ReimbursementSubmitted:
		if _, seen := b.rows[e.ReimbursementID]; !seen {
			b.rows[e.ReimbursementID] = &viewRow{
				id: e.ReimbursementID, bankID: e.BankID, memberID: e.BankMemberID, accountID: e.BankAccountID,
				amount: e.Amount.Decimal, currency: e.Currency, description: e.Description, status: ledger.StatusPending,
				submittedAt: e.SubmittedAt, submittedPosition: rec.Position, version: rec.StreamVersion,
			}
			b.order = append(b.order, e.ReimbursementID)
		}
	case ledger.ReimbursementApproved:
		b.decide(e.ReimbursementID, &viewDecision{status: ledger.StatusApproved, at: e.ApprovedAt, by: e.AdministratorID, version: rec.StreamVersion})
	case ledger.ReimbursementDenied:
		b.decide(e.ReimbursementID, &viewDecision{status: ledger.StatusDenied, at: e.DeniedAt, by: e.AdministratorID,
			reason: sql.NullString{String: e.Reason, Valid: true}, version: rec.StreamVersion})
	case ledger.PaymentRequested:
		b.pay(e.ReimbursementID, &viewPayment{status: ledger.PaymentStatusRequested, version: rec.StreamVersion})
	case ledger.PaymentSettled:
		b.pay(e.ReimbursementID, &viewPayment{status: ledger.PaymentStatusSettled, version: rec.StreamVersion})
	case ledger.PaymentFailed:
		b.pay(e.ReimbursementID, &viewPayment{status: ledger.PaymentStatusFailed, version: rec.StreamVersion})
	}
}

func (b *viewBatch) decide(id uuid.UUID, d *viewDecision) {
	if row, ok := b.rows[id]; ok && b.bulk {
		if d.version > row.version {
			row.decision, row.status, row.version = d, d.status, d.version
		}
		return
	}
	if cur, ok := b.decisions[id]; !ok || d.version > cur.version {
		b.decisions[id] = d
	}
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
// idempotent: a row moves only for an event newer than the version it shows.
func (b *viewBatch) Apply(ctx context.Context, tx *sql.Tx, table string) error {
	if len(b.rows) > 0 {
		if err := b.insertRows(ctx, tx, table); err != nil {
			return err
		}
	}
	if len(b.decisions) > 0 {
		var ids, statuses, by []string
		var at []time.Time
		var reasons []sql.NullString
		var versions []int64
		for id, d := range b.decisions {
			ids, statuses, at, by = append(ids, id.String()), append(statuses, string(d.status)), append(at, d.at), append(by, d.by.String())
			reasons, versions = append(reasons, d.reason), append(versions, d.version)
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE `+table+` AS t SET status = u.status, decided_at = u.decided_at, decided_by = u.decided_by,
				denial_reason = u.reason, version = u.version
			FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::text[], $6::bigint[])
				AS u(id, status, decided_at, decided_by, reason, version)
			WHERE t.id = u.id AND t.version < u.version`,
			pq.Array(ids), pq.Array(statuses), pq.Array(at), pq.Array(by), pq.Array(reasons), pq.Array(versions))
		if err != nil {
			return fmt.Errorf("project decisions: %w", err)
		}
	}
	if len(b.payments) > 0 {
		var ids, statuses []string
		var versions []int64
		for id, p := range b.payments {
			ids, statuses, versions = append(ids, id.String()), append(statuses, string(p.status)), append(versions, p.version)
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE `+table+` AS t SET payment_status = u.status, payment_version = u.version
			FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS u(id, status, version)
			WHERE t.id = u.id AND t.payment_version < u.version`,
			pq.Array(ids), pq.Array(statuses), pq.Array(versions))
		if err != nil {
			return fmt.Errorf("project payments: %w", err)
		}
	}
	return nil
}

var viewColumns = []string{"id", "bank_id", "bank_member_id", "bank_account_id", "amount", "currency", "description", "status",
	"submitted_at", "submitted_position", "decided_at", "decided_by", "denial_reason", "payment_status", "version", "payment_version"}

func (r *viewRow) values() []any {
	var decidedAt, decidedBy, reason any
	if d := r.decision; d != nil {
		decidedAt, decidedBy = d.at, d.by.String()
		if d.reason.Valid {
			reason = d.reason.String
		}
	}
	paymentStatus, paymentVersion := ledger.PaymentStatusNone, int64(0)
	if p := r.payment; p != nil {
		paymentStatus, paymentVersion = p.status, p.version
	}
	return []any{r.id.String(), r.bankID.String(), r.memberID.String(), r.accountID.String(), r.amount.String(), r.currency,
		r.description, string(r.status), r.submittedAt, r.submittedPosition, decidedAt, decidedBy, reason,
		string(paymentStatus), r.version, paymentVersion}
}

// insertRows copies the new rows in when bulk, and otherwise inserts them
// with one statement, skipping rows already there.
func (b *viewBatch) insertRows(ctx context.Context, tx *sql.Tx, table string) error {
	if !b.bulk {
		n := len(b.order)
		ids, banks, members, accounts := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amounts, currencies, descriptions := make([]string, n), make([]string, n), make([]string, n)
		submittedAt, positions, versions := make([]time.Time, n), make([]int64, n), make([]int64, n)
		for i, id := range b.order {
			r := b.rows[id]
			ids[i], banks[i], members[i], accounts[i] = r.id.String(), r.bankID.String(), r.memberID.String(), r.accountID.String()
			amounts[i], currencies[i], descriptions[i] = r.amount.String(), r.currency, r.description
			submittedAt[i], positions[i], versions[i] = r.submittedAt, r.submittedPosition, r.version
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO `+table+` (id, bank_id, bank_member_id, bank_account_id, amount, currency, description,
				submitted_at, submitted_position, version, status, payment_status)
			SELECT u.*, $11, $12
			FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::numeric[], $6::text[], $7::text[],
				$8::timestamptz[], $9::bigint[], $10::bigint[]) AS u
			ON CONFLICT (id) DO NOTHING`,
			pq.Array(ids), pq.Array(banks), pq.Array(members), pq.Array(accounts), pq.Array(amounts), pq.Array(currencies),
			pq.Array(descriptions), pq.Array(submittedAt), pq.Array(positions), pq.Array(versions),
			string(ledger.StatusPending), string(ledger.PaymentStatusNone))
		if err != nil {
			return fmt.Errorf("project submissions: %w", err)
		}
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, viewColumns...))
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
