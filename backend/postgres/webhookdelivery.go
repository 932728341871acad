package postgres

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

var _ app.WebhookQueue = (*Webhooks)(nil)

// EnqueueDeliveries writes a pending delivery for each enabled endpoint of
// the bank that subscribes to the type; the webhooks group writes in its
// batch transaction (app.Tx.Deliveries). A redelivered event writes
// nothing twice.
func (w *Webhooks) EnqueueDeliveries(ctx context.Context, e app.WebhookEnqueue) (err error) {
	defer ledger.Wrap(&err, "Webhooks.EnqueueDeliveries")
	_, err = w.q.ExecContext(ctx, `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, payload, status, next_attempt_at, created_at)
		SELECT gen_random_uuid(), id, $2, $3, $4, 'pending', $5, $5 FROM webhook_endpoints
		WHERE bank_id = $1 AND $3 = ANY (event_types) AND disabled_at IS NULL
		ON CONFLICT (endpoint_id, event_id) DO NOTHING`, e.BankID, e.EventID, e.EventType, string(e.Payload), e.At)
	return err
}

// Listeners reads which banks have an enabled endpoint subscribing to each
// of types. The webhooks group asks once a batch, in its batch
// transaction, and folds and enqueues only what someone listens to.
func (w *Webhooks) Listeners(ctx context.Context, types []string) (_ app.WebhookListeners, err error) {
	defer ledger.Wrap(&err, "Webhooks.Listeners")
	rows, err := w.q.QueryContext(ctx, `SELECT DISTINCT t, bank_id FROM webhook_endpoints CROSS JOIN LATERAL unnest(event_types) AS t
		WHERE disabled_at IS NULL AND t = ANY ($1)`, pq.Array(types))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := app.WebhookListeners{}
	for rows.Next() {
		var typ string
		var bank uuid.UUID
		if err := rows.Scan(&typ, &bank); err != nil {
			return nil, err
		}
		if out[typ] == nil {
			out[typ] = map[uuid.UUID]bool{}
		}
		out[typ][bank] = true
	}
	return out, rows.Err()
}

// ClaimDue claims up to limit due deliveries of endpoints not in busy, and
// holds them until lease has passed: a worker that dies mid-send lets them
// go, and another sends them.
func (w *Webhooks) ClaimDue(ctx context.Context, now time.Time, busy []uuid.UUID, limit int, lease time.Duration) (_ []app.DueDelivery, err error) {
	defer ledger.Wrap(&err, "Webhooks.ClaimDue")
	if busy == nil {
		busy = []uuid.UUID{}
	}
	busyText := make([]string, len(busy))
	for i, id := range busy {
		busyText[i] = id.String()
	}
	rows, err := w.q.QueryContext(ctx, `WITH due AS (
			SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
			WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.claimed_until IS NULL OR d.claimed_until < $1)
			  AND e.disabled_at IS NULL AND NOT (d.endpoint_id = ANY ($2::uuid[]))
			ORDER BY d.next_attempt_at LIMIT $3 FOR UPDATE OF d SKIP LOCKED)
		UPDATE webhook_deliveries d SET claimed_until = $4, first_attempt_at = coalesce(d.first_attempt_at, $1)
		FROM due, webhook_endpoints e WHERE d.id = due.id AND e.id = d.endpoint_id
		RETURNING `+deliveryColumns("d")+`, d.payload, `+prefixed("e", endpointColumns),
		now, pq.Array(busyText), limit, now.Add(lease))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.DueDelivery
	for rows.Next() {
		var dd app.DueDelivery
		var payload string
		var prev, reason sql.NullString
		var prevExpires, disabled sql.NullTime
		dest := append(deliveryDest(&dd.WebhookDelivery), &payload)
		e := &dd.Endpoint
		dest = append(dest, &e.ID, &e.BankID, &e.URL, pq.Array(&e.EventTypes), &e.Description, &e.Secret, &prev,
			&prevExpires, &disabled, &reason, &e.CreatedAt)
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		e.PreviousSecret = prev.String
		if prevExpires.Valid {
			e.PreviousSecretExpiresAt = prevExpires.Time
		}
		dd.Payload = []byte(payload)
		out = append(out, dd)
	}
	return out, rows.Err()
}

// RecordAttempt records one attempt and its outcome, releasing the claim.
func (w *Webhooks) RecordAttempt(ctx context.Context, deliveryID, endpointID uuid.UUID, o app.WebhookOutcome) (err error) {
	defer ledger.Wrap(&err, "Webhooks.RecordAttempt(%s)", deliveryID)
	tx, err := w.pool.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	err = func() error {
		a := o.Attempt
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_us, answer, error)
			VALUES ($1, $2, $3, $4, $5, $6)`, deliveryID, a.At, a.StatusCode, a.Latency.Microseconds(), validText([]byte(a.Answer)), a.Error); err != nil {
			return err
		}
		var next sql.NullTime
		if o.Status == app.WebhookPending {
			next = sql.NullTime{Time: o.NextAttemptAt, Valid: true}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, next_attempt_at = $3, claimed_until = NULL
			WHERE id = $1`, deliveryID, string(o.Status), next); err != nil {
			return err
		}
		if o.DisableReason != "" {
			_, err = tx.ExecContext(ctx, `UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3 WHERE id = $1 AND disabled_at IS NULL`,
				endpointID, a.At, o.DisableReason)
		}
		return err
	}()
	if err != nil {
		return err
	}
	return tx.Commit()
}

// Deliveries lists an endpoint's deliveries before q.Before, newest first,
// with their attempts (at most q.Limit deliveries).
func (w *Webhooks) Deliveries(ctx context.Context, q app.DeliveryQuery) (_ []app.WebhookDelivery, err error) {
	defer ledger.Wrap(&err, "Webhooks.Deliveries")
	cond, args := "true", []any{q.EndpointID, q.Limit}
	if !q.Before.IsZero() {
		cond, args = "(created_at, id) < ($3, $4)", append(args, q.Before.CreatedAt, q.Before.ID)
	}
	rows, err := w.q.QueryContext(ctx, `SELECT `+deliveryColumns("d")+` FROM webhook_deliveries d WHERE endpoint_id = $1 AND `+cond+`
		ORDER BY created_at DESC, id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, err
	}
	var out []app.WebhookDelivery
	byID := map[uuid.UUID]int{}
	for rows.Next() {
		var d app.WebhookDelivery
		if err := rows.Scan(deliveryDest(&d)...); err != nil {
			rows.Close()
			return nil, err
		}
		byID[d.ID] = len(out)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	ids := make([]string, 0, len(out))
	for _, d := range out {
		ids = append(ids, d.ID.String())
	}
	arows, err := w.q.QueryContext(ctx, `SELECT delivery_id, attempted_at, status_code, latency_us, answer, error
		FROM webhook_attempts WHERE delivery_id = ANY ($1::uuid[]) ORDER BY id`, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	defer arows.Close()
	for arows.Next() {
		var id uuid.UUID
		var a app.WebhookAttempt
		var latency int64
		if err := arows.Scan(&id, &a.At, &a.StatusCode, &latency, &a.Answer, &a.Error); err != nil {
			return nil, err
		}
		a.At, a.Latency = a.At.UTC(), time.Duration(latency)*time.Microsecond
		out[byID[id]].Attempts = append(out[byID[id]].Attempts, a)
	}
	return out, arows.Err()
}

// Redeliver makes a delivery of the endpoint due now, on a fresh schedule;
// ENotFound for another endpoint's.
func (w *Webhooks) Redeliver(ctx context.Context, endpointID, deliveryID uuid.UUID, now time.Time) (err error) {
	defer ledger.Wrap(&err, "Webhooks.Redeliver")
	res, err := w.q.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3, first_attempt_at = NULL
		WHERE endpoint_id = $1 AND id = $2`, endpointID, deliveryID, now)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return notFound(sql.ErrNoRows, "webhook delivery %s not found", deliveryID)
	}
	return nil
}

// OldestPending is, for each endpoint with pending deliveries, when the
// oldest was created.
func (w *Webhooks) OldestPending(ctx context.Context) (_ map[uuid.UUID]time.Time, err error) {
	defer ledger.Wrap(&err, "Webhooks.OldestPending")
	rows, err := w.q.QueryContext(ctx, `SELECT endpoint_id, min(created_at) FROM webhook_deliveries WHERE status = 'pending' GROUP BY endpoint_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uuid.UUID]time.Time{}
	for rows.Next() {
		var id uuid.UUID
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		out[id] = at
	}
	return out, rows.Err()
}

func deliveryColumns(alias string) string {
	return prefixed(alias, `id, endpoint_id, event_id, event_type, status, attempts, first_attempt_at, next_attempt_at, created_at`)
}

func deliveryDest(d *app.WebhookDelivery) []any {
	return []any{&d.ID, &d.EndpointID, &d.EventID, &d.EventType, (*string)(&d.Status), &d.AttemptCount, optionalTime{&d.FirstAttemptAt}, optionalTime{&d.NextAttemptAt}, &d.CreatedAt}
}

// optionalTime scans a nullable timestamp into a time, the zero time for NULL.
type optionalTime struct{ t *time.Time }

func (n optionalTime) Scan(src any) error {
	var nt sql.NullTime
	if err := nt.Scan(src); err != nil {
		return err
	}
	*n.t = time.Time{}
	if nt.Valid {
		*n.t = nt.Time.UTC()
	}
	return nil
}

func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// validText keeps a receiver's answer storable: PostgreSQL text takes
// neither invalid UTF-8 nor NUL.
func validText(b []byte) string {
	return strings.ReplaceAll(strings.ToValidUTF8(string(b), "\uFFFD"), "\x00", "\uFFFD")
}
