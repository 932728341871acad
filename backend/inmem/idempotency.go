package inmem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/reimbursement-ledger/ledger/backend/app"
	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// IdempotencyKeys stores the answers of commands sent with an
// Idempotency-Key: outside any transaction, or bound to one.
type IdempotencyKeys struct {
	db *DB
	tx *txn
}

var _ app.IdempotencyKeys = (*IdempotencyKeys)(nil)

// storedKey is a row of idempotency_keys; the headers are kept as the JSON
// the column holds, so they read back as PostgreSQL's do.
type storedKey struct {
	fingerprint, headers, body []byte
	status                     int
	createdAt                  time.Time
}

// Lock takes key until the transaction ends; false while another
// transaction holds it. Like pg_try_advisory_xact_lock it never waits, a
// transaction may take a key it holds again, and outside a transaction it
// holds the key for no longer than the call.
func (k *IdempotencyKeys) Lock(ctx context.Context, key string) (locked bool, err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.Lock")
	err = k.db.read(ctx, k.tx, func() error {
		holder := k.db.locks[key]
		locked = holder == nil || holder == k.tx
		if k.tx != nil && holder == nil {
			k.db.locks[key] = k.tx
			k.tx.locks = append(k.tx.locks, key)
		}
		return nil
	})
	return locked, err
}

// Find returns the answer stored under key after since. The bound is
// exclusive, as backend/postgres's created_at > since is.
func (k *IdempotencyKeys) Find(ctx context.Context, key string, since time.Time) (resp app.StoredResponse, found bool, err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.Find")
	var row *storedKey
	err = k.db.read(ctx, k.tx, func() error {
		row = k.db.key(k.tx, key)
		return nil
	})
	if err != nil || row == nil || !row.createdAt.After(timestamptz(since)) {
		return app.StoredResponse{}, false, err
	}
	resp = app.StoredResponse{Fingerprint: bytes.Clone(row.fingerprint), Status: row.status, Body: bytes.Clone(row.body)}
	return resp, true, json.Unmarshal(row.headers, &resp.Headers)
}

// key returns the row stored under key as tx sees it; nil when there is none.
func (db *DB) key(tx *txn, key string) *storedKey {
	if tx != nil {
		if k, ok := tx.keys[key]; ok {
			return k // nil when tx deleted it
		}
	}
	return db.keys[key]
}

// Save stores an answer under key, replacing the one stored before.
func (k *IdempotencyKeys) Save(ctx context.Context, key string, resp app.StoredResponse, at time.Time) (err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.Save")
	headers, err := json.Marshal(resp.Headers)
	if err != nil {
		return err
	}
	return k.db.write(ctx, k.tx, func(tx *txn) error {
		if resp.Fingerprint == nil || resp.Body == nil {
			return tx.abort(errors.New("null value violates not-null constraint of idempotency_keys"))
		}
		if err := k.db.claim(ctx, tx, "idempotency key "+key); err != nil {
			return err
		}
		tx.putKey(key, &storedKey{fingerprint: bytes.Clone(resp.Fingerprint), headers: headers, body: bytes.Clone(resp.Body),
			status: resp.Status, createdAt: timestamptz(at)})
		return nil
	})
}

func (tx *txn) putKey(key string, k *storedKey) {
	if tx.keys == nil {
		tx.keys = map[string]*storedKey{}
	}
	tx.keys[key] = k
}

// Prune deletes answers stored before before and reports how many.
func (k *IdempotencyKeys) Prune(ctx context.Context, before time.Time) (n int64, err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.Prune")
	before = timestamptz(before)
	return k.deleteWhere(ctx, func(row *storedKey) bool { return row.createdAt.Before(before) })
}

// ForgetMentioning deletes the answers whose body holds text.
func (k *IdempotencyKeys) ForgetMentioning(ctx context.Context, text string) (n int64, err error) {
	defer ledger.Wrap(&err, "IdempotencyKeys.ForgetMentioning")
	return k.deleteWhere(ctx, func(row *storedKey) bool { return bytes.Contains(row.body, []byte(text)) })
}

// deleteWhere deletes the answers that match and reports how many. A row
// another transaction is replacing is looked at again once that one ends,
// as PostgreSQL's DELETE does.
func (k *IdempotencyKeys) deleteWhere(ctx context.Context, match func(*storedKey) bool) (n int64, err error) {
	err = k.db.write(ctx, k.tx, func(tx *txn) error {
		var candidates []string
		for key := range k.db.keys {
			candidates = append(candidates, key)
		}
		for key := range tx.keys {
			candidates = append(candidates, key)
		}
		for _, key := range candidates {
			if row := k.db.key(tx, key); row == nil || !match(row) {
				continue
			}
			if err := k.db.claim(ctx, tx, "idempotency key "+key); err != nil {
				return err
			}
			if row := k.db.key(tx, key); row != nil && match(row) {
				tx.putKey(key, nil)
				n++
			}
		}
		return nil
	})
	return n, err
}
