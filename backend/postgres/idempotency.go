package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// StoredResponse is the answer to a command, kept for replays of its
// Idempotency-Key.
type StoredResponse struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// Errors of Idempotently.
var (
	ErrIdempotencyInProgress = ledger.Errorf(ledger.EConflict, "a request with this Idempotency-Key is still being processed; retry shortly")
	ErrIdempotencyMismatch   = &ledger.Error{Code: ledger.EInvalid, Message: "this Idempotency-Key was used for a different request",
		Fields: []ledger.FieldError{{Field: "Idempotency-Key", Message: "was used with another method, path or body"}}}
)

type txKey struct{}

// Idempotently runs a command once per key. In one transaction it takes a
// lock on the key (ErrIdempotencyInProgress when a request with the key is
// running), then either replays the stored answer (replayed is true; a
// different fingerprint is ErrIdempotencyMismatch) or runs the command and
// stores its answer. run's commands join the transaction through ctx, so
// the key is recorded together with the command's events or not at all.
// Only successful answers are stored: a refused request left no effect and
// may be retried with the same key.
func (db *DB) Idempotently(ctx context.Context, key string, fingerprint []byte, ttl time.Duration,
	run func(ctx context.Context) (StoredResponse, error)) (resp StoredResponse, replayed bool, err error) {
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		var locked bool
		if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 7))`, key).Scan(&locked); err != nil {
			return fmt.Errorf("lock idempotency key: %w", err)
		}
		if !locked {
			return ErrIdempotencyInProgress
		}
		var stored []byte
		var headers []byte
		err := tx.QueryRowContext(ctx, `
			SELECT fingerprint, status, headers, body FROM idempotency_keys WHERE key = $1 AND created_at > $2`,
			key, db.now().Add(-ttl)).Scan(&stored, &resp.Status, &headers, &resp.Body)
		switch {
		case err == nil:
			if !bytes.Equal(stored, fingerprint) {
				return ErrIdempotencyMismatch
			}
			replayed = true
			return json.Unmarshal(headers, &resp.Headers)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("look up idempotency key: %w", err)
		}
		if resp, err = run(context.WithValue(ctx, txKey{}, tx)); err != nil {
			return err
		}
		if resp.Status >= 300 {
			return nil
		}
		headerJSON, err := json.Marshal(resp.Headers)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO idempotency_keys (key, fingerprint, status, headers, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,
				headers = excluded.headers, body = excluded.body, created_at = excluded.created_at`,
			key, fingerprint, resp.Status, string(headerJSON), resp.Body, db.now())
		if err != nil {
			return fmt.Errorf("store idempotency key: %w", err)
		}
		return nil
	})
	return resp, replayed, err
}

// PruneIdempotencyKeys deletes keys older than ttl and reports how many.
func (db *DB) PruneIdempotencyKeys(ctx context.Context, ttl time.Duration) (int64, error) {
	res, err := db.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, db.now().Add(-ttl))
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
