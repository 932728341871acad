package postgres

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// Webhooks stores the banks' webhook endpoints.
type Webhooks struct {
	q    querier
	pool *sql.DB
}

var _ app.WebhookEndpoints = (*Webhooks)(nil)

const endpointColumns = `id, bank_id, url, event_types, description, secret, previous_secret,
	previous_secret_expires_at, disabled_at, disabled_reason, created_at`

// AddEndpoint stores an endpoint.
func (w *Webhooks) AddEndpoint(ctx context.Context, e app.WebhookEndpoint) (err error) {
	defer ledger.Wrap(&err, "Webhooks.AddEndpoint")
	_, err = w.q.ExecContext(ctx, `INSERT INTO webhook_endpoints (id, bank_id, url, event_types, description, secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.ID, e.BankID, e.URL, pq.Array(e.EventTypes), e.Description, e.Secret, e.CreatedAt)
	if constraintViolated(err, "webhook_endpoints_pkey") {
		return ledger.Errorf(ledger.EConflict, "webhook endpoint %s already exists", e.ID)
	}
	return err
}

// Endpoint returns one of a bank's endpoints.
func (w *Webhooks) Endpoint(ctx context.Context, bankID, id uuid.UUID) (app.WebhookEndpoint, error) {
	e, err := scanEndpoint(w.q.QueryRowContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE bank_id = $1 AND id = $2`, bankID, id))
	return e, notFound(err, "webhook endpoint %s not found", id)
}

// Endpoints lists a bank's endpoints, oldest first.
func (w *Webhooks) Endpoints(ctx context.Context, bankID uuid.UUID) (_ []app.WebhookEndpoint, err error) {
	defer ledger.Wrap(&err, "Webhooks.Endpoints")
	rows, err := w.q.QueryContext(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE bank_id = $1 ORDER BY created_at, id`, bankID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []app.WebhookEndpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteEndpoint removes one of a bank's endpoints.
func (w *Webhooks) DeleteEndpoint(ctx context.Context, bankID, id uuid.UUID) (err error) {
	defer ledger.Wrap(&err, "Webhooks.DeleteEndpoint")
	res, err := w.q.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE bank_id = $1 AND id = $2`, bankID, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return notFound(sql.ErrNoRows, "webhook endpoint %s not found", id)
	}
	_, err = w.q.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE endpoint_id = $1`, id)
	return err
}

// RotateSecret makes secret current and keeps the current one until expires.
func (w *Webhooks) RotateSecret(ctx context.Context, bankID, id uuid.UUID, secret string, expires time.Time) (app.WebhookEndpoint, error) {
	e, err := scanEndpoint(w.q.QueryRowContext(ctx, `UPDATE webhook_endpoints
		SET previous_secret = secret, previous_secret_expires_at = $3, secret = $4
		WHERE bank_id = $1 AND id = $2 RETURNING `+endpointColumns, bankID, id, expires, secret))
	return e, notFound(err, "webhook endpoint %s not found", id)
}

// Enable clears an endpoint's disabling.
func (w *Webhooks) Enable(ctx context.Context, bankID, id uuid.UUID) (app.WebhookEndpoint, error) {
	e, err := scanEndpoint(w.q.QueryRowContext(ctx, `UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL
		WHERE bank_id = $1 AND id = $2 RETURNING `+endpointColumns, bankID, id))
	return e, notFound(err, "webhook endpoint %s not found", id)
}

func scanEndpoint(row interface{ Scan(...any) error }) (app.WebhookEndpoint, error) {
	var e app.WebhookEndpoint
	var prev, reason sql.NullString
	var prevExpires, disabled sql.NullTime
	err := row.Scan(&e.ID, &e.BankID, &e.URL, pq.Array(&e.EventTypes), &e.Description, &e.Secret, &prev,
		&prevExpires, &disabled, &reason, &e.CreatedAt)
	e.PreviousSecret, e.DisabledReason = prev.String, reason.String
	if prevExpires.Valid {
		e.PreviousSecretExpiresAt = prevExpires.Time.UTC()
	}
	if disabled.Valid {
		e.DisabledAt = disabled.Time.UTC()
	}
	e.CreatedAt = e.CreatedAt.UTC()
	return e, err
}
