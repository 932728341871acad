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
	// CopiesNewRows says that a rebuild's batch (Fold(true)) writes the
	// rows its events submit with COPY alone, needing no index, and reads
	// and patches only rows stored earlier. A rebuild then bulk-loads a bare
	// table and builds its primary key once, after the first chunk; without
	// it, the key is there from the start (a batch may upsert).
	CopiesNewRows bool
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
	Types: ledger.TypesOf(ledger.StreamReimbursement, ledger.StreamPayment),
	Fold:  func(bulk bool) ProjectionBatch { return newViewBatch(bulk) },
	// viewBatch.Apply copies the rows submitted in a rebuild's batch in.
	CopiesNewRows: true,
}

// The reimbursements read model is folded by the domain: each row is a
// ledger.Reimbursement, and the batch moves it with Reimbursement.ApplyEvent,
// the transitions the commands decide on, so the lists and a claim's story
// cannot disagree. The live projector (a delivered batch at a time, in the
// subscriber's transaction) and a rebuild (thousands at a time) share it:
// the batch reads the rows its events concern, applies the events each row
// does not show yet, and writes back the rows that moved.

// viewRow is one row of reimbursements_view: the reimbursement as the
// domain folds it, and where its stored story ends.
type viewRow struct {
	r ledger.Reimbursement
	// submittedPosition orders the lists; paymentVersion is the version of
	// the payment's stream the row shows (r.Version is its own stream's).
	submittedPosition int64
	paymentVersion    int64
	stored, changed   bool
}

// apply folds one event unless the row shows it already: an event at or
// below the version the row holds of its stream changes nothing, so a
// redelivered batch leaves the row as it is.
func (row *viewRow) apply(ev viewEvent) {
	rec := ev.rec
	switch rec.StreamType {
	case ledger.StreamPayment:
		if rec.StreamVersion <= row.paymentVersion {
			return
		}
		row.paymentVersion = rec.StreamVersion
	case ledger.StreamReimbursement:
		if rec.StreamVersion <= row.r.Version {
			return
		}
	default:
		return // its notifications move nothing the row shows
	}
	if _, submitted := ev.e.(ledger.ReimbursementSubmitted); submitted {
		row.submittedPosition = rec.Position
	} else if row.r.ID == uuid.Nil {
		return // no submission to fold onto: nothing to show
	}
	row.r.ApplyEvent(rec, ev.e)
	row.r.Position, row.changed = 0, true
}

// viewApproval is an approval as the approvals column holds it. Rows
// written before the domain folded them also hold each approval's version,
// which nothing reads now.
type viewApproval struct {
	AdministratorID uuid.UUID `json:"administrator_id"`
	ApprovedAt      time.Time `json:"approved_at"`
	Note            string    `json:"note"`
}

// scanApprovals reads the approvals column, oldest first.
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

// approvalsJSON is the approvals as the approvals column holds them.
func approvalsJSON(approvals []ledger.Approval) string {
	stored := make([]viewApproval, len(approvals))
	for i, a := range approvals {
		stored[i] = viewApproval{AdministratorID: a.AdministratorID, ApprovedAt: a.ApprovedAt, Note: a.Note}
	}
	b, err := json.Marshal(stored)
	if err != nil {
		panic(err) // ids, times and strings always encode
	}
	return string(b)
}

// viewEvent is an event of the batch, decoded.
type viewEvent struct {
	rec ledger.RecordedEvent
	e   ledger.Event
}

// viewBatch is the events of a batch, by reimbursement, not yet folded.
type viewBatch struct {
	// bulk is set for a rebuild, whose table holds no row submitted in the
	// batch: those rows are folded from nothing and copied in. Live, a
	// redelivered batch may find any of its rows stored already, so every
	// row is read first.
	bulk   bool
	events map[uuid.UUID][]viewEvent
	order  []uuid.UUID
	// folded are, in a rebuild, the rows submitted in the batch, folded as
	// their events arrive: a rebuild's batch spans hundreds of thousands of
	// events, and a row takes less memory than the events it folds.
	folded map[uuid.UUID]*viewRow
}

func newViewBatch(bulk bool) *viewBatch {
	return &viewBatch{bulk: bulk, events: map[uuid.UUID][]viewEvent{}, folded: map[uuid.UUID]*viewRow{}}
}

// Add keeps an event decoded from rec for Apply; events of no
// reimbursement's story change nothing.
func (b *viewBatch) Add(rec ledger.RecordedEvent, e ledger.Event) {
	id, ok := ledger.ReimbursementOf(e)
	if !ok {
		return
	}
	rec.Data = nil // decoded already: a rebuild's batch need not hold it twice
	if b.bulk {
		if row := b.folded[id]; row != nil {
			row.apply(viewEvent{rec, e})
			return
		}
		if _, submitted := e.(ledger.ReimbursementSubmitted); submitted {
			if _, seen := b.events[id]; !seen {
				row := &viewRow{}
				row.apply(viewEvent{rec, e})
				b.folded[id] = row
				b.order = append(b.order, id)
				return
			}
		}
	}
	if _, seen := b.events[id]; !seen {
		b.order = append(b.order, id)
	}
	b.events[id] = append(b.events[id], viewEvent{rec, e})
}

// Apply reads the rows the batch concerns, folds their events onto them and
// writes those that moved: new rows of a rebuild are copied in, the others
// written with one upsert. It is idempotent: a row shows each event once.
func (b *viewBatch) Apply(ctx context.Context, tx Querier, table string) error {
	var read []uuid.UUID
	for _, id := range b.order {
		if b.folded[id] == nil {
			read = append(read, id)
		}
	}
	rows, err := readViewRows(ctx, tx, table, read)
	if err != nil {
		return err
	}
	var copied, upserted []*viewRow
	for _, id := range b.order {
		row := b.folded[id]
		if row == nil {
			if row = rows[id]; row == nil {
				row = &viewRow{}
			}
			for _, ev := range b.events[id] {
				row.apply(ev)
			}
		}
		switch {
		case !row.changed:
		case b.bulk && !row.stored:
			copied = append(copied, row)
		default:
			upserted = append(upserted, row)
		}
	}
	if len(copied) > 0 {
		if err := copyViewRows(ctx, tx, table, copied); err != nil {
			return err
		}
	}
	if len(upserted) > 0 {
		if err := upsertViewRows(ctx, tx, table, upserted); err != nil {
			return err
		}
	}
	return nil
}

var viewColumns = []string{"id", "bank_id", "bank_member_id", "bank_account_id", "amount", "currency", "description", "status",
	"submitted_at", "submitted_position", "decided_at", "decided_by", "denial_reason", "payment_status", "version", "payment_version",
	"approvals_required", "approvals", "withdrawn_at", "payment_attempt", "payment_failure_reason",
	"receipt_count"}

// readViewRows reads the stored rows of ids.
func readViewRows(ctx context.Context, tx Querier, table string, ids []uuid.UUID) (map[uuid.UUID]*viewRow, error) {
	found := map[uuid.UUID]*viewRow{}
	if len(ids) == 0 {
		return found, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(viewColumns, ", ")+` FROM `+table+` WHERE id = ANY($1::uuid[])`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		row := &viewRow{stored: true}
		r := &row.r
		var decidedAt, withdrawnAt sql.NullTime
		var decidedBy uuid.NullUUID
		var reason, failure sql.NullString
		var approvals []byte
		if err := rows.Scan(&r.ID, &r.BankID, &r.MemberID, &r.AccountID, &r.Amount, &r.Currency, &r.Description, &r.Status,
			&r.SubmittedAt, &row.submittedPosition, &decidedAt, &decidedBy, &reason, &r.PaymentStatus, &r.Version, &row.paymentVersion,
			&r.ApprovalsRequired, &approvals, &withdrawnAt, &r.PaymentAttempt, &failure, &r.ReceiptCount); err != nil {
			return nil, fmt.Errorf("read %s: %w", table, err)
		}
		if r.Approvals, err = scanApprovals(approvals); err != nil {
			return nil, err
		}
		r.SubmittedAt = r.SubmittedAt.UTC()
		r.DecidedAt, r.WithdrawnAt = utcTime(decidedAt), utcTime(withdrawnAt)
		if decidedBy.Valid {
			r.DecidedBy = &decidedBy.UUID
		}
		r.DenialReason, r.PaymentFailureReason = reason.String, failure.String
		found[r.ID] = row
	}
	return found, rows.Err()
}

func utcTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// values are the row's columns, in viewColumns' order.
func (row *viewRow) values() []any {
	r := &row.r
	var decidedBy any
	if r.DecidedBy != nil {
		decidedBy = r.DecidedBy.String()
	}
	return []any{r.ID.String(), r.BankID.String(), r.MemberID.String(), r.AccountID.String(), r.Amount.String(), r.Currency,
		r.Description, string(r.Status), r.SubmittedAt, row.submittedPosition, nullTime(r.DecidedAt), decidedBy, nullIfEmpty(r.DenialReason),
		string(r.PaymentStatus), r.Version, row.paymentVersion,
		r.ApprovalsRequired, approvalsJSON(r.Approvals), nullTime(r.WithdrawnAt), r.PaymentAttempt, nullIfEmpty(r.PaymentFailureReason),
		r.ReceiptCount}
}

// upsertViewRows writes rows with one statement: a new row is inserted,
// a stored one takes the columns that events move. A row never moves back
// to an older version of either stream.
func upsertViewRows(ctx context.Context, tx Querier, table string, rows []*viewRow) error {
	columns := make([][]any, len(viewColumns))
	for _, row := range rows {
		for i, v := range row.values() {
			columns[i] = append(columns[i], v)
		}
	}
	args := make([]any, len(columns))
	for i, c := range columns {
		args[i] = pq.GenericArray{A: c}
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO `+table+` AS t (`+strings.Join(viewColumns, ", ")+`)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::numeric[], $6::text[], $7::text[], $8::text[],
			$9::timestamptz[], $10::bigint[], $11::timestamptz[], $12::uuid[], $13::text[], $14::text[], $15::bigint[], $16::bigint[],
			$17::smallint[], $18::jsonb[], $19::timestamptz[], $20::integer[], $21::text[], $22::integer[])
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, decided_at = excluded.decided_at, decided_by = excluded.decided_by,
			denial_reason = excluded.denial_reason, withdrawn_at = excluded.withdrawn_at, approvals = excluded.approvals,
			version = excluded.version, payment_status = excluded.payment_status, payment_attempt = excluded.payment_attempt,
			payment_failure_reason = excluded.payment_failure_reason, payment_version = excluded.payment_version,
			receipt_count = excluded.receipt_count
		WHERE t.version <= excluded.version AND t.payment_version <= excluded.payment_version`, args...)
	if err != nil {
		return fmt.Errorf("project into %s: %w", table, err)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t *time.Time) sql.NullTime {
	if t == nil {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: *t, Valid: true}
}

// copyViewRows copies a rebuild's new rows in, with COPY.
func copyViewRows(ctx context.Context, tx Querier, table string, rows []*viewRow) error {
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, viewColumns...))
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	for _, row := range rows {
		if _, err := stmt.ExecContext(ctx, row.values()...); err != nil {
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
