package postgres

import (
	"context"
	"database/sql"
	"errors"

	"github.com/reimbursement-ledger/ledger/backend/ledger"
)

// DevKeys keeps the development token issuer's one signing key.
type DevKeys struct {
	pool *sql.DB
}

// Key returns the development signing key, storing the one generate makes
// when there is none yet. Concurrent first calls agree on one key.
func (k *DevKeys) Key(ctx context.Context, generate func() (kid string, pkcs8 []byte, err error)) (kid string, pkcs8 []byte, err error) {
	defer ledger.Wrap(&err, "DevKeys.Key")
	err = k.pool.QueryRowContext(ctx, `SELECT kid, private_key FROM dev_issuer_keys WHERE id = 1`).Scan(&kid, &pkcs8)
	if !errors.Is(err, sql.ErrNoRows) {
		return kid, pkcs8, err
	}
	newKID, newKey, err := generate()
	if err != nil {
		return "", nil, err
	}
	if _, err := k.pool.ExecContext(ctx, `INSERT INTO dev_issuer_keys (id, kid, private_key) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING`,
		newKID, newKey); err != nil {
		return "", nil, err
	}
	err = k.pool.QueryRowContext(ctx, `SELECT kid, private_key FROM dev_issuer_keys WHERE id = 1`).Scan(&kid, &pkcs8)
	return kid, pkcs8, err
}
