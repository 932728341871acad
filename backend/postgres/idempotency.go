package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// IdempotencyKeys stores the answers of commands sent with an
// Idempotency-Key: over the pool, or bound to one transaction.
type IdempotencyKeys struct {
	q querier
}

var _ app.IdempotencyKeys = (*IdempotencyKeys)(nil)

// Lock takes a transaction-level advisory lock on key.
func (k *IdempotencyKeys) Lock(ctx context.Context, key string) (locked bool, err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.Lock")
	err = k.q.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7))`, key).Scan(&locked)
	return locked, err
}

// Find returns the answer stored under key at or after since.
func (k *IdempotencyKeys) Find(ctx context.Context, key string, since time.Time) (resp app.StoredResponse, found bool, err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.Find")
	var headers []byte
	err = k.q.QueryRowContext(ctx, `
		SELECT fingerprint, status, headers, body FROM idempotency_keys WHERE key = $1 AND created_at > $2`,
		key, since).Scan(&resp.Fingerprint, &resp.Status, &headers, &resp.Body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return app.StoredResponse{}, false, nil
	case err != nil:
		return app.StoredResponse{}, false, err
	}
	return resp, true, json.Unmarshal(headers, &resp.Headers)
}

// Save stores an answer under key, replacing an expired one.
func (k *IdempotencyKeys) Save(ctx context.Context, key string, resp app.StoredResponse, at time.Time) (err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.Save")
	headerJSON, err := json.Marshal(resp.Headers)
	if err != nil {
		return err
	}
	_, err = k.q.ExecContext(ctx, `
		INSERT INTO idempotency_keys (key, fingerprint, status, headers, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,
			headers = excluded.headers, body = excluded.body, created_at = excluded.created_at`,
		key, resp.Fingerprint, resp.Status, string(headerJSON), resp.Body, at)
	return err
}

// Prune deletes answers stored before before and reports how many.
func (k *IdempotencyKeys) Prune(ctx context.Context, before time.Time) (n int64, err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.Prune")
	res, err := k.q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, before)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ForgetMentioning deletes the answers whose body holds text.
func (k *IdempotencyKeys) ForgetMentioning(ctx context.Context, text string) (n int64, err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.ForgetMentioning")
	res, err := k.q.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE position(convert_to($1, 'UTF8') in body) > 0`, text)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
